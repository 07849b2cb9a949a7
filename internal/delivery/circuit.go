package delivery

import (
	"fmt"
	"time"

	"github.com/switchhook/switchhook/internal/store"
)

// succeeded closes ep's circuit.
func (r *runner) succeeded(ep *endpoint) {
	c := &ep.circuit
	if c.State == store.CircuitClosed && c.ConsecutiveFailures == 0 && c.FailingSince.IsZero() {
		return
	}
	if c.State != store.CircuitClosed {
		r.e.log.Info("endpoint recovered: circuit closed", "endpoint", ep.ep.ID, "failures", c.ConsecutiveFailures)
	}
	*c = store.Circuit{State: store.CircuitClosed}
	r.dirty[ep.ep.ID] = true
}

// failed counts a failure against ep: after CircuitFailures in a row its
// circuit opens, and a failed probe of a half-open circuit opens it again
// for longer. An endpoint failing for DisableAfter is disabled.
func (r *runner) failed(ep *endpoint, at, now time.Time) {
	o := &r.e.o
	c := &ep.circuit
	if c.FailingSince.IsZero() {
		c.FailingSince = at
	}
	r.dirty[ep.ep.ID] = true
	// Requests that were in flight when the circuit opened say nothing
	// new; counting them would make the next pause jump by one doubling
	// per request.
	if c.State != store.CircuitOpen {
		c.ConsecutiveFailures++
	}
	if c.State == store.CircuitHalfOpen || (c.State == store.CircuitClosed && c.ConsecutiveFailures >= o.CircuitFailures) {
		c.State = store.CircuitOpen
		c.PausedUntil = now.Add(r.pause(c.ConsecutiveFailures))
		r.wakeAt = earliest(r.wakeAt, c.PausedUntil)
		r.e.log.Warn("endpoint keeps failing: circuit open", "endpoint", ep.ep.ID,
			"failures", c.ConsecutiveFailures, "paused_until", c.PausedUntil)
	}
	if failing := now.Sub(c.FailingSince); failing >= o.DisableAfter && !ep.disabled {
		r.e.log.Warn("endpoint failing for too long: disabling it", "endpoint", ep.ep.ID,
			"failing_since", c.FailingSince, "disable_after", o.DisableAfter)
		r.disable[ep.ep.ID] = fmt.Sprintf("no successful delivery since %s (more than %v)",
			c.FailingSince.UTC().Format(time.RFC3339), o.DisableAfter)
		ep.disabled = true
	}
}

// pause is how long a circuit stays open after its failures-th failure in a
// row: CircuitPause at first, doubling with each failed probe, at most
// MaxCircuitPause. It is computed from the count the store keeps, so it keeps
// growing across processes and restarts.
func (r *runner) pause(failures int) time.Duration {
	o := &r.e.o
	p := o.CircuitPause
	for i := o.CircuitFailures; i < failures && p < o.MaxCircuitPause; i++ {
		p *= 2
	}
	return min(p, o.MaxCircuitPause)
}

// halfOpen lets through one probe to each endpoint whose pause is over.
func (r *runner) halfOpen(now time.Time) {
	for id, ep := range r.eps {
		if c := &ep.circuit; c.State == store.CircuitOpen && !c.PausedUntil.After(now) {
			c.State = store.CircuitHalfOpen
			r.dirty[id] = true
		}
	}
}
