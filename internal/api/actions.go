package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/switchhook/switchhook/internal/api/apitypes"
	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/store"
)

func (a *API) testEndpoint(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	var in apitypes.TestEvent
	if err := decodeBody(w, r, &in, true); err != nil {
		return err
	}
	if in.Event != "" {
		if _, err := events.ParseKind(string(in.Event)); err != nil {
			return invalid("event", "event: %v", err)
		}
	}
	ep, err := a.endpoint(r)
	if err != nil {
		return err
	}
	if ep.Disabled {
		return errorf(http.StatusConflict, "id", "endpoint %s is disabled; enable it before sending a test event", ep.ID)
	}
	if a.sink == nil {
		return errorf(http.StatusServiceUnavailable, "", "test events are not available: no event recorder is running")
	}
	kind := in.Event
	if kind == "" {
		kind = events.CallRouted
		if len(ep.Events) > 0 {
			kind = ep.Events[0]
		}
	}
	e := testEvent(kind, ep.ID, time.Now())
	if err := a.sink.Record(r.Context(), e); err != nil {
		return fmt.Errorf("record test event: %w", err)
	}
	a.log.Info("test event sent", "endpoint", ep.ID, "event", kind, "event_id", e.ID)
	writeJSON(w, http.StatusAccepted, apitypes.TestEventResult{EventID: e.ID, CallUUID: e.CallUUID})
	return nil
}

// testEvent is a plausible event of kind between extensions 1001 and 1002,
// of a call of its own, for endpointID only.
func testEvent(kind events.Kind, endpointID string, now time.Time) events.Event {
	callUUID := uuid.NewString()
	e := events.Event{
		ID:                "evt_" + strings.ReplaceAll(uuid.Must(uuid.NewV7()).String(), "-", ""),
		Kind:              kind,
		CallUUID:          callUUID,
		SessionUUID:       callUUID,
		CallerIDNumber:    "1001",
		DestinationNumber: "1002",
		OccurredAt:        now,
		Direction:         events.Internal,
		LegUUID:           uuid.NewString(),
		Source:            "test",
		Endpoint:          endpointID,
	}
	switch kind {
	case events.CallRouted:
		e.RoutedTo = &events.Target{Type: events.Extension, Target: "1002"}
	case events.CallInput:
		e.Digit, e.DigitDuration, e.Party = "1", 250*time.Millisecond, events.Caller
	case events.CallHold, events.CallUnhold:
		e.Party = events.Caller
	case events.CallHangup:
		e.Hangup = &events.Hangup{Cause: events.CauseNormalClearing, SIPCode: 200, By: events.Caller}
	}
	return e
}

// replayBody is apitypes.Replay with the times as text, so that a bad one
// is reported by its field name.
type replayBody struct {
	Since  string        `json:"since"`
	Until  string        `json:"until"`
	Events []events.Kind `json:"events"`
}

func (a *API) replay(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	var in replayBody
	if err := decodeBody(w, r, &in, false); err != nil {
		return err
	}
	now := time.Now().UTC()
	if in.Since == "" {
		return invalid("since", "since is required: an RFC 3339 time like 2026-01-27T12:02:30Z")
	}
	var f store.ReplayFilter
	var err error
	if f.Since, err = time.Parse(time.RFC3339Nano, in.Since); err != nil {
		return invalid("since", "since %q is not an RFC 3339 time like 2026-01-27T12:02:30Z", in.Since)
	}
	f.Until = now
	if in.Until != "" {
		if f.Until, err = time.Parse(time.RFC3339Nano, in.Until); err != nil {
			return invalid("until", "until %q is not an RFC 3339 time like 2026-01-27T12:02:30Z", in.Until)
		}
	}
	if err := timeRange(f.Since, f.Until); err != nil {
		return err
	}
	if f.Kinds, err = checkKinds("events", in.Events); err != nil {
		return err
	}
	ep, err := a.endpoint(r)
	if err != nil {
		return err
	}
	n, err := a.store.Replay(r.Context(), ep.ID, f, now)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("id", "endpoint %q not found", ep.ID)
	}
	if err != nil {
		return fmt.Errorf("replay to endpoint %s: %w", ep.ID, err)
	}
	a.wake()
	a.log.Info("events replayed", "endpoint", ep.ID, "since", f.Since, "until", f.Until, "deliveries", n)
	writeJSON(w, http.StatusAccepted, apitypes.ReplayResult{Deliveries: n})
	return nil
}
