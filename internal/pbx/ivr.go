package pbx

import (
	"context"
	"errors"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/switchhook/switchhook/internal/dialplan"
	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/media"
)

// ivr answers the caller for v (unless an IVR before it has), emits
// CALL_ANSWER with v's number, plays v's prompt and waits for one digit. It
// returns the route the digit leads to, or v's default when the digit has
// no option or none comes in time; ok is false when the call is over,
// including when there is no default to go to.
func (c *call) ivr(v *dialplan.IVR) (next dialplan.Route, ok bool) {
	l := c.newLeg(media.SideB, v.Number)
	l.internal, l.state = true, "answered"
	c.mu.Lock()
	if c.state == stateEnded {
		c.mu.Unlock()
		return dialplan.Route{}, false
	}
	first := !c.callerUp
	var body []byte
	if first {
		// The PBX plays one codec: it answers with the caller's first
		// G.711 codec, and offers only that to whoever the IVR routes
		// to, so that the caller's media need not change.
		codec, err := c.offer.Narrow()
		if err == nil {
			c.codec = codec
			body, err = c.sdpForLocked(c.a, c.offer)
		}
		if err != nil {
			c.mu.Unlock()
			c.p.log.Info("cannot answer caller for ivr", "call_uuid", c.id, "ivr", v.Number, "err", err)
			c.fail(failure{sip.StatusNotAcceptableHere, "Not Acceptable Here", causeIncompatibleDestination, events.System})
			return dialplan.Route{}, false
		}
	}
	c.legs = append(c.legs, l)
	c.state, c.answered, c.answeredAt, c.callerUp = stateAnswered, l, time.Now(), true
	c.held = [2]bool{}
	c.a.state = "answered"
	c.emitLocked(c.event(events.CallAnswer, c.answeredAt, v.Number, l))
	c.mu.Unlock()
	if first {
		if err := c.a.server.RespondSDP(body); err != nil {
			// The caller cancelled as the IVR answered, or sent no ACK.
			h := events.Hangup{Cause: events.CauseRecoveryOnTimerExpire, SIPCode: sip.StatusRequestTimeout, By: events.System}
			if errors.Is(context.Cause(c.a.server.Context()), sip.ErrTransactionCanceled) {
				h = events.Hangup{Cause: events.CauseOriginatorCancel, SIPCode: sip.StatusRequestTerminated, By: events.Caller}
			}
			c.hangup(h)
			return dialplan.Route{}, false
		}
	}

	digit, ok := c.collect(v)
	if !ok {
		return dialplan.Route{}, false
	}
	to, chosen := v.Options[digit]
	if !chosen {
		to = v.Default
	}
	c.p.log.Debug("ivr routes", "call_uuid", c.id, "ivr", v.Number, "digit", digit, "to", to)
	if to == "" {
		c.hangup(events.Hangup{Cause: events.CauseNormalClearing, SIPCode: sip.StatusOK, By: events.System})
		return dialplan.Route{}, false
	}
	// Options are checked against the plan when the PBX is made.
	next, _ = c.p.cfg.plan.Local(to)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateEnded {
		return dialplan.Route{}, false
	}
	// The IVR leaves; until its choice answers, events name the number
	// being reached.
	l.state = "done"
	c.state, c.answered, c.dest = stateRinging, nil, to
	return next, true
}

// collect plays v's prompt to the caller and returns the first digit the
// caller presses, during the prompt or within v's digit timeout after it;
// "" when none comes. ok is false when the call ends first.
func (c *call) collect(v *dialplan.IVR) (digit string, ok bool) {
	played := make(chan struct{})
	stop := c.playNotify(c.p.cfg.prompts[v.Number], false, played)
	defer stop()
	var timeout <-chan time.Time
	for {
		select {
		case d := <-c.digits:
			return d.Digit, true
		case <-played:
			played = nil
			t := time.NewTimer(v.DigitTimeout)
			defer t.Stop()
			timeout = t.C
		case <-timeout:
			return "", true
		case <-c.ctx.Done():
			return "", false
		}
	}
}

// play plays pr to the caller on a goroutine of its own, over and over when
// loop is set, until the returned stop is called (which waits for it) or
// the call ends.
func (c *call) play(pr *media.Prompt, loop bool) (stop func()) {
	return c.playNotify(pr, loop, nil)
}

// playNotify is play that closes played, when not nil, once the prompt has
// stopped playing.
func (c *call) playNotify(pr *media.Prompt, loop bool, played chan<- struct{}) (stop func()) {
	ctx, cancel := context.WithCancel(c.ctx)
	c.mu.Lock()
	relay, codec := c.relay, c.codec
	c.mu.Unlock()
	done := make(chan struct{})
	c.p.wg.Add(1)
	go func() {
		defer c.p.wg.Done()
		defer close(done)
		if played != nil {
			// Also when playing fails: the caller still gets the digit
			// timeout to answer in.
			defer close(played)
		}
		for {
			err := relay.Play(ctx, media.SideA, pr, codec)
			if err != nil {
				if ctx.Err() == nil {
					c.p.log.Info("play to caller", "call_uuid", c.id, "err", err)
				}
				return
			}
			if !loop {
				return
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
