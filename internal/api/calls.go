package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/switchhook/switchhook/internal/api/apitypes"
	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/store"
)

func (a *API) listEvents(w http.ResponseWriter, r *http.Request) error {
	q, t, err := timedQuery(r, "call_uuid", "newest")
	if err != nil {
		return err
	}
	f := store.EventFilter{CallUUID: q.Get("call_uuid"), Kind: t.kind, Since: t.since, Until: t.until, Limit: t.limit}
	switch q.Get("newest") {
	case "", "false":
	case "true":
		f.Newest = true
	default:
		return invalid("newest", "newest %q is not true or false", q.Get("newest"))
	}
	evs, err := a.store.ListEvents(r.Context(), f)
	if err != nil {
		return fmt.Errorf("list events: %w", err)
	}
	out, err := a.renderEvents(evs)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// renderEvents renders events in the extended profile, exactly as an
// extended endpoint receives them.
func (a *API) renderEvents(evs []events.Event) ([]json.RawMessage, error) {
	out := make([]json.RawMessage, len(evs))
	for i := range evs {
		b, err := evs[i].Payload(events.Extended, a.loc)
		if err != nil {
			return nil, fmt.Errorf("render event %s: %w", evs[i].ID, err)
		}
		out[i] = b
	}
	return out, nil
}

func (a *API) listCalls(w http.ResponseWriter, r *http.Request) error {
	q, t, err := timedQuery(r, "number", "session")
	if err != nil {
		return err
	}
	f := store.CallFilter{Number: q.Get("number"), Session: q.Get("session"), Kind: t.kind, Since: t.since, Until: t.until, Limit: t.limit}
	calls, err := a.store.ListCalls(r.Context(), f)
	if err != nil {
		return fmt.Errorf("list calls: %w", err)
	}
	out := make([]*apitypes.Call, len(calls))
	for i, c := range calls {
		out[i] = callView(c)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// callDetail is apitypes.CallDetail with the events already rendered.
type callDetail struct {
	Call         *apitypes.Call                `json:"call"`
	Events       []json.RawMessage             `json:"events"`
	Endpoints    []apitypes.EndpointDeliveries `json:"endpoints"`
	Moves        []apitypes.Move               `json:"moves"`
	SessionCalls []*apitypes.Call              `json:"session_calls"`
}

func (a *API) getCall(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	ctx, id := r.Context(), r.PathValue("call_uuid")
	var out callDetail
	c, err := a.store.GetCall(ctx, id)
	switch {
	case err == nil:
		out.Call = callView(c)
	case !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("get call %s: %w", id, err)
	}
	evs, err := a.store.ListEvents(ctx, store.EventFilter{CallUUID: id})
	if err != nil {
		return fmt.Errorf("list events of call %s: %w", id, err)
	}
	// A test event's call has events but no call row; only a call with
	// neither does not exist.
	if out.Call == nil && len(evs) == 0 {
		return notFound("call_uuid", "call %q not found", id)
	}
	if out.Events, err = a.renderEvents(evs); err != nil {
		return err
	}
	out.Moves = moves(evs)
	out.SessionCalls = []*apitypes.Call{}
	if out.Call != nil {
		calls, err := a.store.ListCalls(ctx, store.CallFilter{Session: out.Call.CallSessionUUID, Limit: maxLimit})
		if err != nil {
			return fmt.Errorf("list the calls of session %s: %w", out.Call.CallSessionUUID, err)
		}
		// The store lists newest first; a session reads oldest first.
		slices.Reverse(calls)
		for _, c := range calls {
			out.SessionCalls = append(out.SessionCalls, callView(c))
		}
	}
	ds, err := a.store.ListDeliveries(ctx, store.DeliveryFilter{CallUUID: id})
	if err != nil {
		return fmt.Errorf("list deliveries of call %s: %w", id, err)
	}
	// The store lists newest first; a call reads oldest first.
	slices.Reverse(ds)
	out.Endpoints = []apitypes.EndpointDeliveries{}
	byEndpoint := map[string]int{}
	for _, d := range ds {
		v, err := a.deliveryWithAttempts(r, d)
		if err != nil {
			return err
		}
		i, ok := byEndpoint[d.EndpointID]
		if !ok {
			i = len(out.Endpoints)
			byEndpoint[d.EndpointID] = i
			out.Endpoints = append(out.Endpoints, apitypes.EndpointDeliveries{EndpointID: d.EndpointID})
		}
		out.Endpoints[i].Deliveries = append(out.Endpoints[i].Deliveries, v)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// moves lists where a call went, from the diversions its events carry:
// one move per destination it moved to, at the first event that shows it.
func moves(evs []events.Event) []apitypes.Move {
	out := []apitypes.Move{}
	seen := map[apitypes.Move]bool{}
	for _, e := range evs {
		d := e.Diversion
		if d == nil {
			continue
		}
		key := apitypes.Move{Reason: d.Reason, From: d.From, To: e.DestinationNumber}
		if seen[key] {
			continue
		}
		seen[key] = true
		m := key
		m.At = e.OccurredAt.UTC()
		out = append(out, m)
	}
	return out
}

func callView(c *store.Call) *apitypes.Call {
	return &apitypes.Call{
		CallUUID:          c.CallUUID,
		CallSessionUUID:   c.SessionUUID,
		Node:              c.Node,
		Source:            c.Source,
		CallerIDNumber:    c.CallerIDNumber,
		DestinationNumber: c.DestinationNumber,
		Direction:         c.Direction,
		StartedAt:         c.StartedAt.UTC(),
		AnsweredAt:        optTime(c.AnsweredAt),
		AnsweredBy:        c.AnsweredBy,
		EndedAt:           optTime(c.EndedAt),
		HangupCause:       c.HangupCause,
		LastSequence:      c.LastSequence,
	}
}
