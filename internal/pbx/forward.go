package pbx

import (
	"context"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/switchhook/switchhook/internal/dialplan"
	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/siphdr"
)

// forwardStep moves the call on to another number at once: an extension's
// unconditional forward.
type forwardStep struct {
	from   string
	reason events.DiversionReason
	to     string
}

// forwardOnStep follows a ring step of an extension: when that step failed
// (busy, no answer, no phone registered) and the extension forwards that
// case, the call moves on; otherwise the failure stands.
type forwardOnStep struct {
	ext string
	f   dialplan.Forward
}

func (forwardStep) isStep()   {}
func (forwardOnStep) isStep() {}

// forwardLookupTimeout bounds reading an extension's forwarding: a store
// that does not answer leaves the config's (forwarding.Table.Forward).
const forwardLookupTimeout = 2 * time.Second

// forwardOf returns ext's forwarding for a call to it now.
func (c *call) forwardOf(ext string) dialplan.Forward {
	if c.p.conf().Forwards == nil {
		return dialplan.Forward{}
	}
	ctx, cancel := context.WithTimeout(c.ctx, forwardLookupTimeout)
	defer cancel()
	return c.p.conf().Forwards.Forward(ctx, ext)
}

// extensionSteps are the steps of a call routed to one extension: its
// unconditional forward, or ringing it (for its no-answer delay when it
// forwards unanswered calls) followed by its forwards on failure.
func (c *call) extensionSteps(ext string, timeout time.Duration) []step {
	f := c.forwardOf(ext)
	if f.Unconditional != "" {
		return []step{forwardStep{from: ext, reason: events.DivertUnconditional, to: f.Unconditional}}
	}
	if d := f.RingFor(); d > 0 && d < timeout {
		timeout = d
	}
	steps := []step{ringStep{exts: []string{ext}, timeout: timeout}}
	if !f.IsZero() {
		steps = append(steps, forwardOnStep{ext: ext, f: f})
	}
	return steps
}

// forwardOn moves the call on when the ring step before s failed in a way
// the extension forwards; ok is false when it does not.
func (c *call) forwardOn(s forwardOnStep) (next state, ok bool) {
	if c.failure == nil {
		return 0, false
	}
	var reason events.DiversionReason
	switch c.failure.cause {
	case events.CauseUserBusy:
		reason = events.DivertUserBusy
	case events.CauseNoAnswer, events.CauseRecoveryOnTimerExpire:
		reason = events.DivertNoAnswer
	case events.CauseUserNotRegistered:
		reason = events.DivertUnavailable
	default:
		return 0, false
	}
	to := s.f.To(reason)
	if to == "" {
		return 0, false
	}
	return c.divert(s.ext, reason, to), true
}

// divert moves the call from the number it is at to another, for reason:
// the destinations it rings from now on report the move (diverted_from,
// diversion_reason), and a gateway is told it in a Diversion header. A move
// back to a number the call was at, or past dialplan.MaxHops, ends the call
// with NO_ROUTE_DESTINATION.
func (c *call) divert(from string, reason events.DiversionReason, to string) state {
	path, err := c.path.Divert(to)
	if err != nil {
		c.p.log.Info("call forwarding cut", "call_uuid", c.id, "err", err)
		return c.fail(failure{sip.StatusLoopDetected, "Loop Detected", events.CauseNoRouteDestination, events.System})
	}
	r, ok := c.p.conf().plan.Route(to)
	if !ok {
		c.p.log.Info("call forwarded to a number that is not routed", "call_uuid", c.id, "from", from, "to", to)
		return c.fail(failure{sip.StatusNotFound, "Not Found", events.CauseNoRouteDestination, events.System})
	}
	c.path = path
	c.diversion = &events.Diversion{From: from, Reason: reason}
	c.dest = to
	if r.Gateway != "" {
		c.dest = r.Number
	}
	c.startRoute(r)
	return c.walk()
}

// diversionHeader is the Diversion header (RFC 5806) of an INVITE out
// through a gateway for a call that moved, "" for one that did not.
func (c *call) diversionHeader() string {
	if c.diversion == nil {
		return ""
	}
	return siphdr.Diversion(c.diversion.From, c.p.domain, c.diversion.Reason, len(c.path)-1)
}
