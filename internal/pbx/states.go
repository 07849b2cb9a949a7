package pbx

import (
	"context"
	"errors"

	"github.com/emiago/sipgo/sip"

	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/media"
)

// state is where a call is in its life. Each state has one handler, a
// switch over the messages it expects, returning the next state; what no
// state handles specially goes to anyState.
//
//	routing ──► forking ◄──► early
//	   │  ▲        │  │        │
//	   │  └────────┘  └──► connected ──┐
//	   ▼  (next step)                  │
//	appAnswered (IVR) ──► routing      ├──► ending ──► ended
//	   └───────────────────────────────┘
//
// Every state can end: terminate moves to ending, which waits for the
// outcomes of the INVITEs still out, then ended.
type state int

const (
	// stateRouting walks the route to its next step.
	stateRouting state = iota
	// stateForking rings callee legs (RFC 3261 §16.7: a fork), the caller
	// hearing 180 or, once an app leg answered it, the PBX's ringback.
	stateForking
	// stateEarly is forking with a callee's early media reaching the
	// caller (183 with SDP, RFC 3960).
	stateEarly
	// stateConnected bridges the caller to a callee.
	stateConnected
	// stateAppAnswered bridges the caller to an app leg: the PBX answered
	// itself (an IVR).
	stateAppAnswered
	// stateQueued holds the caller in a call queue, on the queue's music
	// (an app leg) or ringback, while its agents are rung.
	stateQueued
	// stateEnding: CALL_HANGUP is out; the INVITEs still ringing finish.
	stateEnding
	// stateEnded: the owner returns.
	stateEnded
)

var stateNames = [...]string{"routing", "forking", "early", "connected", "app-answered", "queued", "ending", "ended"}

func (s state) String() string { return stateNames[s] }

// routing starts the call: CALL_ROUTED, 100 Trying, the caller's media
// anchored in a relay, then the route's first step.
func (c *call) routing(m msg) state {
	if mv, ok := m.(msgMoved); ok {
		return c.routeMoved(mv.joined)
	}
	start, ok := m.(msgStart)
	if !ok {
		return c.anyState(m)
	}
	p := c.p
	e := c.event(events.CallRouted, c.created, c.dialed, c.a)
	e.RoutedTo = &c.route.Target
	c.emit(e)
	c.offer = start.offer
	c.a.server.Respond(sip.StatusTrying, "Trying", nil)
	c.callerWait = c.a.server.Context().Done()

	relay, err := p.ports.NewRelay(c.onDTMF)
	if err != nil {
		p.log.Error("allocate media relay", "call_uuid", c.id, "err", err)
		return c.fail(failure{sip.StatusServiceUnavailable, "Service Unavailable", events.CauseNormalTemporaryFailure, events.System})
	}
	if err := relay.Start(); err != nil {
		relay.Close()
		p.log.Error("start media relay", "call_uuid", c.id, "err", err)
		return c.fail(failure{sip.StatusServiceUnavailable, "Service Unavailable", events.CauseNormalTemporaryFailure, events.System})
	}
	stream, _ := start.offer.Audio()
	c.br = newBridge(relay, c.a)
	c.br.setMedia(media.SideA, stream)
	c.startRoute(c.route)
	return c.walk()
}

// forking handles the callee legs of a ring step ringing.
func (c *call) forking(m msg) state {
	switch m := m.(type) {
	case msgDial:
		return c.onDial(m)
	case msgTimer:
		if m.kind != timerRing {
			return c.anyState(m)
		}
		if !c.fired(m) {
			return c.state
		}
		if c.round.heard {
			return c.roundOver(failure{sip.StatusTemporarilyUnavailable, "No Answer", events.CauseNoAnswer, events.System})
		}
		return c.roundOver(failure{sip.StatusRequestTimeout, "Request Timeout", events.CauseRecoveryOnTimerExpire, events.System})
	case msgCallerGone:
		if errors.Is(m.cause, sip.ErrTransactionCanceled) {
			return c.terminate(ended{Hangup: events.Hangup{Cause: events.CauseOriginatorCancel, SIPCode: sip.StatusRequestTerminated, By: events.Caller}, reason: "Request Terminated"})
		}
		// Not a CANCEL (which sipgo answered with 487): the INVITE
		// transaction itself failed, e.g. its connection closed.
		return c.terminate(ended{Hangup: events.Hangup{Cause: events.CauseRecoveryOnTimerExpire, SIPCode: sip.StatusRequestTimeout, By: events.System}, reason: "Request Timeout"})
	case *request:
		if c.fromTransferor(m) {
			return c.state
		}
		if m.req.Method == sip.REFER {
			m.reply(sip.StatusForbidden, "Forbidden", "the call is not answered: nothing to transfer yet")
			return c.state
		}
		if m.req.Method == sip.BYE && m.leg == c.a && !c.callerAnswered {
			// The caller ends its early dialog (RFC 3261 §15): a
			// cancelled call.
			m.reply(sip.StatusOK, "OK", "")
			return c.fail(failure{sip.StatusRequestTerminated, "Request Terminated", events.CauseOriginatorCancel, events.Caller})
		}
		if m.req.Method == sip.BYE {
			return c.byeFrom(m)
		}
		m.reply(sip.StatusRequestPending, "Request Pending", "the call is not answered yet")
		return c.state
	case msgShutdown:
		return c.fail(failure{sip.StatusServiceUnavailable, "Service Unavailable", events.CauseSystemShutdown, events.System})
	case msgPickup:
		return c.pickedUp(m)
	}
	return c.anyState(m)
}

// earlyMedia is forking while a callee's early media reaches the caller:
// the same messages, the same outcomes.
func (c *call) earlyMedia(m msg) state { return c.forking(m) }

// connected handles a caller bridged to a callee.
func (c *call) connected(m msg) state {
	switch m := m.(type) {
	case *request:
		return c.inDialog(m)
	case msgRelayed:
		return c.onRelayed(m)
	case msgDTMF:
		return c.input(m.side, m.d, m.at)
	case msgInviteReplaces:
		return c.replacedBy(m)
	case msgReplace:
		return c.replaced(m)
	case msgReoffered:
		return c.reoffered(m)
	case msgShutdown:
		return c.terminate(shutdownEnd)
	}
	return c.anyState(m)
}

// appAnswered handles a caller bridged to an app leg: an IVR playing its
// prompt and waiting for a digit.
func (c *call) appAnswered(m msg) state {
	switch m := m.(type) {
	case *request:
		return c.inDialog(m)
	case msgRelayed:
		return c.onRelayed(m)
	case msgDTMF:
		return c.input(m.side, m.d, m.at)
	case msgCallerAnswered:
		if m.err != nil {
			return c.callerNotAnswered(m.err)
		}
		c.acked = true
		c.playPrompt()
		return c.state
	case msgPlayed:
		if m.gen == c.playGen {
			c.setTimer(timerDigit, c.ivr.v.DigitTimeout)
		}
		return c.state
	case msgTimer:
		if m.kind != timerDigit {
			return c.anyState(m)
		}
		if !c.fired(m) {
			return c.state
		}
		return c.ivrChose("")
	case msgShutdown:
		return c.terminate(shutdownEnd)
	}
	return c.anyState(m)
}

// ending waits for the outcomes of the INVITEs still out, hanging up any
// that answers late; requests of the call's dialogs in flight are answered
// as the dialog's end.
func (c *call) ending(m msg) state {
	switch m := m.(type) {
	case *request:
		if m.req.Method == sip.BYE {
			m.readBye()
			return c.state
		}
		m.reply(sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", "")
		return c.state
	case msgRelayed:
		m.r.reply(sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", "")
		return c.state
	case msgDial:
		c.drain(m)
		return c.state
	}
	return c.state
}

// anyState handles what every live state handles alike: the late outcome
// of a callee rung in an earlier ring step, answering the caller failing,
// and what is of no interest in the state (DTMF while nothing listens, a
// stale timer).
func (c *call) anyState(m msg) state {
	switch m := m.(type) {
	case msgDial:
		c.drain(m)
	case msgCallerAnswered:
		if m.err != nil {
			return c.callerNotAnswered(m.err)
		}
		c.acked = true
		for _, r := range c.waitingOffers {
			if side, ok := c.br.sideOf(r.leg); ok {
				c.offerFrom(r, side)
			} else {
				r.reply(sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", "")
			}
		}
		c.waitingOffers = nil
		if c.reofferCaller {
			c.reofferCaller = false
			c.reoffer(c.a)
		}
		if r := c.pendingReplace; r != nil {
			c.pendingReplace = nil
			return c.replaced(*r)
		}
	case *request:
		m.reply(sip.StatusRequestPending, "Request Pending", "the call is not answered yet")
	case msgRelayed:
		c.br.updating = false
		m.r.reply(sip.StatusRequestTimeout, "Request Timeout", "the call changed while the request was relayed")
	case msgRefreshed:
		return c.onRefreshed(m)
	case msgTimer:
		if !c.fired(m) {
			return c.state
		}
		switch m.kind {
		case timerMedia:
			return c.checkMedia()
		case timerSessionA, timerSessionB:
			return c.sessionDue(media.Side(m.kind - timerSessionA))
		}
	case msgQueueOffer:
		// The queue's offer crossed the caller's leaving the queue.
		c.declineOffer(m)
	case msgShutdown:
		return c.fail(failure{sip.StatusServiceUnavailable, "Service Unavailable", events.CauseSystemShutdown, events.System})
	case msgPickup:
		// Answered already, or not ringing yet: nothing to pick up.
		m.done <- pickupResult{}
	case msgReplace:
		// Not connected: no callee to hand over.
		m.done <- nil
	case msgInviteReplaces:
		m.done <- nil
	case msgReoffered:
		return c.reoffered(m)
	}
	return c.state
}

// callerNotAnswered ends a call whose caller did not take the PBX's 2xx:
// it cancelled as the answer crossed, or never sent ACK.
func (c *call) callerNotAnswered(err error) state {
	h := events.Hangup{Cause: events.CauseRecoveryOnTimerExpire, SIPCode: sip.StatusRequestTimeout, By: events.System}
	if errors.Is(context.Cause(c.a.server.Context()), sip.ErrTransactionCanceled) {
		h = events.Hangup{Cause: events.CauseOriginatorCancel, SIPCode: sip.StatusRequestTerminated, By: events.Caller}
	}
	c.p.log.Debug("caller not answered", "call_uuid", c.id, "err", err)
	return c.terminate(ended{Hangup: h})
}

// byeFrom ends the call on a BYE from a party in it.
func (c *call) byeFrom(r *request) state {
	if err := r.readBye(); err != nil {
		c.p.log.Debug("read bye", "call_uuid", c.id, "err", err)
	}
	return c.terminate(ended{
		Hangup: events.Hangup{Cause: events.CauseNormalClearing, SIPCode: sip.StatusOK, By: r.leg.Party()},
		about:  r.leg, left: r.leg,
	})
}

// answerCaller answers the caller's INVITE with body on a goroutine of its
// own, since sipgo waits there for the caller's ACK; msgCallerAnswered
// reports how it went.
func (c *call) answerCaller(body []byte) {
	c.callerAnswered = true
	c.callerWait = nil
	res := sip.NewSDPResponseFromRequest(c.a.server.InviteRequest, body)
	if c.a.st != nil {
		for _, h := range c.a.st.uasHeaders() {
			res.AppendHeader(h)
		}
		c.armSession(c.a)
	}
	c.watchMedia()
	c.p.wg.Add(1)
	go func() {
		defer c.p.wg.Done()
		err := c.a.server.WriteResponse(res)
		c.post(msgCallerAnswered{err: err})
	}()
}

// failure is how a call that was not connected ends: the final response to
// the caller (when it is still waiting for one) and the hangup cause.
type failure struct {
	code   int
	reason string
	cause  string
	by     events.Party
}
