package pbx

import (
	"context"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/switchhook/switchhook/internal/dialplan"
	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/media"
)

// ivrRun is an IVR answering the call: its app leg plays the prompt and
// the owner takes the caller's first digit.
type ivrRun struct {
	v   *dialplan.IVR
	leg *appLeg
	// started is set once the prompt plays: when the IVR is the first to
	// answer the caller, only after the caller's ACK.
	started bool
}

// enterIVR answers the caller with v (unless an app leg answered it
// before), emits CALL_ANSWER with v's number and plays v's prompt.
func (c *call) enterIVR(v *dialplan.IVR) state {
	if c.ivrVisits == maxIVRVisits {
		c.p.log.Warn("call went through too many IVRs; hanging up", "call_uuid", c.id, "ivr", v.Number)
		return c.terminate(ended{Hangup: events.Hangup{Cause: events.CauseNormalClearing, SIPCode: sip.StatusOK, By: events.System}})
	}
	c.ivrVisits++
	l, first, ok := c.appAnswer(v.Number, "ivr")
	if !ok {
		return c.fail(failure{sip.StatusNotAcceptableHere, "Not Acceptable Here", causeIncompatibleDestination, events.System})
	}
	c.ivr = &ivrRun{v: v, leg: l}
	if !first {
		c.playPrompt()
	}
	return stateAppAnswered
}

// appAnswer puts an app leg for number (what plays: "ivr" or "queue") at
// side B and emits its CALL_ANSWER. Unless an app leg answered the caller
// before, it answers the caller's INVITE too (first): the PBX plays one
// codec, the caller's first G.711 one, and offers only that to whoever the
// call reaches next, so that the caller's media need not change; what the
// leg plays starts once the caller's ACK came. ok is false when the
// caller's offer has no codec the PBX plays.
func (c *call) appAnswer(number, what string) (l *appLeg, first, ok bool) {
	first = !c.callerAnswered
	var body []byte
	if first {
		codec, err := c.offer.Narrow()
		if err == nil {
			c.codec = codec
			body, err = c.sdpFor(c.a, c.offer)
		}
		if err != nil {
			c.p.log.Info("cannot answer caller", "call_uuid", c.id, "for", what, "number", number, "err", err)
			return nil, first, false
		}
	}
	l = newAppLeg(c, number)
	l.what = what
	c.legs = append(c.legs, l)
	c.br.join(media.SideB, l)
	c.br.holds.Clear()
	c.answeredAt = time.Now()
	c.a.state = LegAnswered
	c.emit(c.event(events.CallAnswer, c.answeredAt, number, l))
	// The app is where the call moved to, and it answered: a transferor
	// hears so and is released, and where the app sends the call next is
	// the app's own routing, not a move.
	c.transferOver(sip.StatusOK, "OK")
	c.diversion = nil
	if first {
		c.answerCaller(body)
	}
	return l, first, true
}

// playPrompt plays the IVR's prompt once; msgPlayed starts its wait for a
// digit.
func (c *call) playPrompt() {
	if c.ivr == nil || c.ivr.started {
		return
	}
	c.ivr.started = true
	c.play(c.p.conf().prompts[c.ivr.v.Number], false, true)
}

// ivrChose routes the call where the caller's digit leads: the IVR's
// option for it, else its default ("" is no digit in time). No default
// hangs up.
func (c *call) ivrChose(digit string) state {
	v := c.ivr.v
	to, chosen := v.Options[digit]
	if !chosen {
		to = v.Default
	}
	c.p.log.Debug("ivr routes", "call_uuid", c.id, "ivr", v.Number, "digit", digit, "to", to)
	if to == "" {
		return c.terminate(ended{Hangup: events.Hangup{Cause: events.CauseNormalClearing, SIPCode: sip.StatusOK, By: events.System}})
	}
	c.stopPlay()
	c.stopTimer(timerDigit)
	// The IVR leaves; until its choice answers, events name the number
	// being reached.
	c.ivr.leg.state = LegDone
	c.ivr = nil
	c.br.join(media.SideB, nil)
	c.dest = to
	c.dirty = true
	// Options are checked against the plan when the PBX is made.
	next, _ := c.p.conf().plan.Local(to)
	c.startRoute(next)
	return c.walk()
}

// playback is a prompt playing to the caller.
type playback struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// play plays pr to the caller on a goroutine of its own, over and over when
// loop is set, until stopPlay or the call's end; notify posts msgPlayed
// once it has stopped playing by itself (also when playing fails: the
// caller still gets the digit timeout to answer in). One prompt plays at a
// time.
func (c *call) play(pr *media.Prompt, loop, notify bool) {
	c.stopPlay()
	ctx, cancel := context.WithCancel(c.ctx)
	c.playGen++
	gen, relay, codec := c.playGen, c.br.relay, c.codec
	done := make(chan struct{})
	c.playing = &playback{cancel: cancel, done: done}
	c.p.wg.Add(1)
	go func() {
		defer c.p.wg.Done()
		defer close(done)
		for {
			err := relay.Play(ctx, media.SideA, pr, codec)
			if err != nil {
				if ctx.Err() == nil {
					c.p.log.Info("play to caller", "call_uuid", c.id, "err", err)
				}
				break
			}
			if !loop {
				break
			}
		}
		if notify {
			select {
			case c.inbox <- msgPlayed{gen: gen}:
			case <-ctx.Done():
			}
		}
	}()
}

// stopPlay stops what plays and waits until it has.
func (c *call) stopPlay() {
	if c.playing == nil {
		return
	}
	c.playing.cancel()
	<-c.playing.done
	c.playing = nil
}
