package pbx

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"

	"github.com/switchhook/switchhook/internal/dialplan"
	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/media"
	"github.com/switchhook/switchhook/internal/registrar"
)

// callState is where a call is in its life: routed → ringing → answered →
// ended. Hold is tracked beside it, since it only exists while answered.
type callState int

const (
	stateRouted callState = iota
	stateRinging
	stateAnswered
	stateEnded
)

// call is one caller's attempt: an A-leg toward the caller and one B-leg per
// contact rung. The PBX answering itself (an IVR) is a call whose answering
// party is the PBX; ring groups are more B-legs. Events are emitted under mu,
// which is what keeps a call's events in order.
type call struct {
	p          *PBX
	id         string
	caller     string // the caller's extension number
	callerName string
	dialed     string
	route      dialplan.Route
	created    time.Time
	relay      *media.Relay
	a          *leg

	mu         sync.Mutex
	state      callState
	legs       []*leg
	answered   *leg
	answeredAt time.Time
	held       [2]bool // by side: caller (A), callee (B)
	updating   bool    // a re-INVITE or UPDATE is being relayed
	alerted    bool    // the caller has heard 180 Ringing
	early      bool    // the caller has early media (183 with SDP)
}

// leg is one SIP dialog of a call.
type leg struct {
	c       *call
	id      string
	side    media.Side
	number  string // the extension of the party on this leg
	created time.Time

	server  *sipgo.DialogServerSession // the A-leg's dialog
	binding registrar.Binding          // a B-leg's contact
	cancel  context.CancelFunc         // stops a B-leg ringing

	// Under c.mu.
	client *sipgo.DialogClientSession // a B-leg's dialog once sent
	rang   bool
	origin media.Origin // of the SDP the PBX sends this leg's party
	sdp    []byte       // the last SDP the PBX sent this leg's party
	state  string
}

func newCall(p *PBX, caller, dialed string, route dialplan.Route) *call {
	c := &call{
		p: p, id: uuid.NewString(), caller: caller, callerName: p.cfg.exts[caller].Name,
		dialed: dialed, route: route, created: time.Now(),
	}
	c.a = c.newLeg(media.SideA, caller)
	c.a.state = "routed"
	return c
}

func (c *call) newLeg(side media.Side, number string) *leg {
	return &leg{
		c: c, id: uuid.NewString(), side: side, number: number, created: time.Now(),
		origin: media.Origin{SessionID: rand.Uint64N(1 << 62), Version: 1},
		state:  "ringing",
	}
}

// party is who is on the leg.
func (l *leg) party() events.Party {
	if l.side == media.SideA {
		return events.Caller
	}
	return events.Callee
}

// otherLocked returns the leg at the other end of an answered call. c.mu held.
func (l *leg) otherLocked() *leg {
	if l.side == media.SideA {
		return l.c.answered
	}
	return l.c.a
}

// event makes an event of the call; c.mu held.
func (c *call) event(kind events.Kind, at time.Time, dest string, l *leg) events.Event {
	return events.Event{
		Kind: kind, CallUUID: c.id, SessionUUID: c.id, CallerIDNumber: c.caller,
		DestinationNumber: dest, OccurredAt: at, Direction: events.Internal,
		LegUUID: l.id, Source: sourceName,
	}
}

// emitLocked hands e to the sink; c.mu held.
func (c *call) emitLocked(e events.Event) {
	ctx, cancel := c.p.emitCtx()
	defer cancel()
	if err := c.p.sink.Emit(ctx, e); err != nil {
		c.p.log.Error("emit call event", "event", e.Kind, "call_uuid", c.id, "err", err)
	}
}

// currentCalleeLocked is the number the events of an answered call name.
func (c *call) currentCalleeLocked() string {
	if c.answered != nil {
		return c.answered.number
	}
	return c.dialed
}

// end ends the call once: it emits CALL_HANGUP, forgets the call and
// releases its media ports. It reports whether this call ended it. The
// signalling toward the parties is the caller's job.
func (c *call) end(h events.Hangup, l *leg) bool {
	c.mu.Lock()
	if c.state == stateEnded {
		c.mu.Unlock()
		return false
	}
	c.state = stateEnded
	e := c.event(events.CallHangup, time.Now(), c.currentCalleeLocked(), l)
	e.Hangup = &h
	c.emitLocked(e)
	c.mu.Unlock()
	c.p.forget(c)
	// Outside mu: the relay's goroutines take mu to report DTMF.
	if c.relay != nil {
		c.relay.Close()
	}
	c.p.log.Debug("call ended", "call_uuid", c.id, "cause", h.Cause, "sip_code", h.SIPCode, "by", h.By)
	return true
}

// onDTMF reports a digit from the relay as CALL_INPUT while answered.
func (c *call) onDTMF(from media.Side, d media.Digit) {
	at := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inputLocked(from, d, at)
}

func (c *call) inputLocked(from media.Side, d media.Digit, at time.Time) {
	if c.state != stateAnswered {
		return
	}
	l := c.a
	if from == media.SideB {
		l = c.answered
	}
	e := c.event(events.CallInput, at, c.currentCalleeLocked(), l)
	e.Digit, e.DigitDuration, e.Party = d.Digit, d.Duration, l.party()
	c.emitLocked(e)
}

// setHoldLocked records whether the party on l holds the call and emits
// CALL_HOLD or CALL_UNHOLD when the call as a whole changes: held while
// either party holds.
func (c *call) setHoldLocked(l *leg, held bool, at time.Time) {
	if c.state != stateAnswered {
		return
	}
	before := c.held[0] || c.held[1]
	c.held[l.side] = held
	after := c.held[0] || c.held[1]
	if before == after {
		return
	}
	kind := events.CallHold
	if !after {
		kind = events.CallUnhold
	}
	e := c.event(kind, at, c.currentCalleeLocked(), l)
	e.Party = l.party()
	c.emitLocked(e)
}

// hangupFrom ends an answered call on a BYE received on l and sends BYE to
// the other party.
func (c *call) hangupFrom(l *leg) {
	c.mu.Lock()
	other := l.otherLocked()
	answered := c.state == stateAnswered
	c.mu.Unlock()
	if !answered || !c.end(events.Hangup{Cause: events.CauseNormalClearing, SIPCode: sip.StatusOK, By: l.party()}, l) {
		return
	}
	if other != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(c.p.ctx), byeTimeout)
		defer cancel()
		other.bye(ctx)
	}
}

// byeTimeout bounds the wait for a BYE's answer.
const byeTimeout = 10 * time.Second

// bye sends BYE on the leg's dialog.
func (l *leg) bye(ctx context.Context) {
	var err error
	if l.server != nil {
		err = l.server.Bye(ctx)
	} else {
		l.c.mu.Lock()
		cs := l.client
		l.c.mu.Unlock()
		if cs != nil {
			err = cs.Bye(ctx)
		}
	}
	if err != nil {
		l.c.p.log.Debug("bye", "call_uuid", l.c.id, "leg_uuid", l.id, "err", err)
	}
}

// shutdown ends the call because the PBX stops. A call still being set up
// is ended by its setup goroutine, which watches the PBX's context.
func (c *call) shutdown(ctx context.Context) {
	c.mu.Lock()
	answered := c.state == stateAnswered
	other := c.answered
	c.mu.Unlock()
	if !answered {
		return
	}
	if !c.end(events.Hangup{Cause: events.CauseSystemShutdown, SIPCode: sip.StatusOK, By: events.System}, c.a) {
		return
	}
	var wg sync.WaitGroup
	for _, l := range []*leg{c.a, other} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.bye(ctx)
		}()
	}
	wg.Wait()
}

// pbxAddr is the relay address the party on side s is told.
func (c *call) pbxAddr(s media.Side) netip.AddrPort {
	return netip.AddrPortFrom(c.p.cfg.advertise, uint16(c.relay.Port(s)))
}

// sdpForLocked rewrites d for the party on l, bumping the version of the PBX's
// description toward that party. c.mu held.
func (c *call) sdpForLocked(l *leg, d *media.Description) ([]byte, error) {
	l.origin.Version++
	out, err := d.Rewrite(l.origin, c.pbxAddr(l.side))
	if err == nil {
		l.sdp = out
	}
	return out, err
}

func (c *call) channels() []Channel {
	c.mu.Lock()
	defer c.mu.Unlock()
	legs := append([]*leg{c.a}, c.legs...)
	out := make([]Channel, 0, len(legs))
	for _, l := range legs {
		ch := Channel{
			CallUUID: c.id, LegUUID: l.id, Party: l.party(), Number: l.number, Direction: events.Internal,
			State: l.state, CreatedAt: l.created.UTC(),
		}
		if c.relay != nil {
			ch.RTPPort = c.relay.Port(l.side)
		}
		if l.server != nil {
			ch.Remote = l.server.InviteRequest.Source()
		} else {
			ch.Remote = l.binding.Contact.String()
		}
		if c.state == stateAnswered && (l == c.a || l == c.answered) {
			at := c.answeredAt.UTC()
			ch.AnsweredAt = &at
			if c.held[0] || c.held[1] {
				ch.State = "held"
			}
		}
		out = append(out, ch)
	}
	return out
}
