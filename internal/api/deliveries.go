package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/switchhook/switchhook/internal/api/apitypes"
	"github.com/switchhook/switchhook/internal/store"
)

func (a *API) listDeliveries(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "endpoint_id", "status", "call_uuid", "event_id", "limit")
	if err != nil {
		return err
	}
	f := store.DeliveryFilter{
		EndpointID: q.Get("endpoint_id"),
		Status:     store.DeliveryStatus(q.Get("status")),
		CallUUID:   q.Get("call_uuid"),
		EventID:    q.Get("event_id"),
	}
	switch f.Status {
	case "", store.Pending, store.Succeeded, store.Failed:
	default:
		return invalid("status", "status %q is not pending, succeeded or failed", f.Status)
	}
	if f.Limit, err = limitParam(q); err != nil {
		return err
	}
	ds, err := a.store.ListDeliveries(r.Context(), f)
	if err != nil {
		return fmt.Errorf("list deliveries: %w", err)
	}
	out := make([]apitypes.Delivery, len(ds))
	for i, d := range ds {
		out[i] = deliveryView(d)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// delivery reads the delivery named by the request's {id}.
func (a *API) delivery(r *http.Request) (*store.Delivery, error) {
	s := r.PathValue("id")
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 {
		return nil, invalid("id", "delivery id %q is not a positive whole number", s)
	}
	d, err := a.store.GetDelivery(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("id", "delivery %d not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get delivery %d: %w", id, err)
	}
	return d, nil
}

func (a *API) getDelivery(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	d, err := a.delivery(r)
	if err != nil {
		return err
	}
	return a.writeDelivery(w, r, http.StatusOK, d)
}

func (a *API) retryDelivery(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	d, err := a.delivery(r)
	if err != nil {
		return err
	}
	if err := a.store.RetryDelivery(r.Context(), d.ID, time.Now()); err != nil {
		return fmt.Errorf("retry delivery %d: %w", d.ID, err)
	}
	a.wake()
	a.log.Info("delivery retried", "id", d.ID, "endpoint", d.EndpointID)
	if d, err = a.delivery(r); err != nil {
		return err
	}
	return a.writeDelivery(w, r, http.StatusAccepted, d)
}

// writeDelivery answers with a delivery and its attempts.
func (a *API) writeDelivery(w http.ResponseWriter, r *http.Request, status int, d *store.Delivery) error {
	v, err := a.deliveryWithAttempts(r, d)
	if err != nil {
		return err
	}
	writeJSON(w, status, v)
	return nil
}

func (a *API) deliveryWithAttempts(r *http.Request, d *store.Delivery) (apitypes.Delivery, error) {
	v := deliveryView(d)
	atts, err := a.store.ListAttempts(r.Context(), d.ID)
	if err != nil {
		return v, fmt.Errorf("list attempts of delivery %d: %w", d.ID, err)
	}
	v.Attempts = make([]apitypes.Attempt, len(atts))
	for i, at := range atts {
		v.Attempts[i] = apitypes.Attempt{
			ID:         at.ID,
			At:         at.At.UTC(),
			StatusCode: at.StatusCode,
			LatencyMS:  float64(at.Latency.Microseconds()) / 1000,
			Error:      at.Error,
			Response:   at.Response,
		}
	}
	return v, nil
}

func deliveryView(d *store.Delivery) apitypes.Delivery {
	v := apitypes.Delivery{
		ID:           d.ID,
		EventID:      d.EventID,
		EndpointID:   d.EndpointID,
		CallUUID:     d.CallUUID,
		Event:        d.Kind,
		Status:       string(d.Status),
		AttemptCount: d.Attempts,
		LastError:    d.LastError,
		LeaseOwner:   d.LeaseOwner,
		LeaseUntil:   optTime(d.LeaseUntil),
		CreatedAt:    d.CreatedAt.UTC(),
		UpdatedAt:    d.UpdatedAt.UTC(),
		CompletedAt:  optTime(d.CompletedAt),
	}
	if d.Status == store.Pending {
		v.NextAttemptAt = optTime(d.NextAttemptAt)
	}
	return v
}
