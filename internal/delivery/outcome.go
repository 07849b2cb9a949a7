package delivery

import (
	"context"
	"log/slog"
	"time"

	"github.com/switchhook/switchhook/internal/store"
)

// decide turns a result into the delivery's outcome, and updates the
// endpoint's circuit and the metrics.
func (r *runner) decide(res result) store.Outcome {
	o := &r.e.o
	now := o.Now()
	out := store.Outcome{Attempt: res.attempt, Error: res.attempt.Error}
	// The endpoint may have been reloaded while the request ran; the
	// circuit to update is the current one.
	ep := r.eps[res.ep.ep.ID]
	if ep == nil {
		ep = res.ep
	}
	epID := ep.ep.ID
	if r.e.log.Enabled(context.Background(), slog.LevelDebug) {
		r.e.log.Debug("attempt", "endpoint", epID, "delivery", res.job.Delivery.ID, "event", res.job.Delivery.EventID,
			"status", res.attempt.StatusCode, "latency", res.attempt.Latency, "err", res.attempt.Error)
	}
	if m := o.Metrics; m != nil && res.attempt.StatusCode != 0 {
		m.AttemptLatency.WithLabelValues(epID).Observe(res.attempt.Latency.Seconds())
	}

	switch res.verdict {
	case accepted:
		out.Status = store.Succeeded
		r.succeeded(ep)
		if m := o.Metrics; m != nil {
			m.Deliveries.WithLabelValues(epID, "succeeded").Inc()
			m.EventToDelivery.Observe(res.attempt.At.Sub(res.job.Event.OccurredAt).Seconds())
		}
		return out

	case gone:
		// The delivery stays pending, due at once, for the day the
		// endpoint is enabled again.
		out.Status, out.NextAttemptAt = store.Pending, now
		if !ep.disabled {
			r.e.log.Warn("endpoint answered 410 Gone: disabling it", "endpoint", epID, "url", ep.ep.URL)
			r.disable[epID] = "the receiver answered 410 Gone at " + now.UTC().Format(time.RFC3339)
			ep.disabled = true
		}
		if m := o.Metrics; m != nil {
			m.Deliveries.WithLabelValues(epID, "retry").Inc()
		}
		return out
	}

	r.failed(ep, res.attempt.At, now)
	n := res.job.Delivery.Attempts + 1 // this attempt's number
	if n >= len(ep.schedule) {
		out.Status = store.Failed
		r.e.log.Warn("delivery failed after its last attempt", "endpoint", epID, "delivery", res.job.Delivery.ID,
			"event", res.job.Delivery.EventID, "attempts", n, "err", out.Error)
		if m := o.Metrics; m != nil {
			m.Deliveries.WithLabelValues(epID, "failed").Inc()
		}
		return out
	}
	delay := jitter(ep.schedule[n])
	if res.hasRetryAfter {
		// The receiver knows when it can take more; its Retry-After
		// replaces the schedule's delay, but adds no attempt.
		delay = res.retryAfter
	}
	out.Status, out.NextAttemptAt = store.Pending, now.Add(delay)
	r.wakeAt = earliest(r.wakeAt, out.NextAttemptAt)
	if m := o.Metrics; m != nil {
		m.Deliveries.WithLabelValues(epID, "retry").Inc()
	}
	return out
}
