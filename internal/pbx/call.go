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
	"github.com/switchhook/switchhook/internal/gateway"
	"github.com/switchhook/switchhook/internal/media"
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

// call is one caller's attempt: an A-leg toward the caller and one B-leg
// per destination rung (each contact of an extension or ring group member,
// or a gateway). An IVR is a B-leg too, one the PBX plays itself. Events
// are emitted under mu, which is what keeps a call's events in order.
type call struct {
	p          *PBX
	id         string
	caller     string // the calling number: an extension, or a carrier's caller ID
	callerName string
	dialed     string
	route      dialplan.Route
	direction  events.Direction
	created    time.Time
	a          *leg
	dialogs    []string // ids of the call's dialogs in p.dialogs; under p.mu

	// ctx ends when the call does, stopping what plays to the caller.
	ctx       context.Context
	stop      context.CancelFunc
	callerBye chan struct{} // closed when the caller hangs up before it is answered
	byeOnce   sync.Once
	digits    chan media.Digit // the caller's digits while an IVR listens

	mu         sync.Mutex
	relay      *media.Relay
	state      callState
	legs       []*leg
	answered   *leg // the party connected to the caller, if any
	answeredAt time.Time
	held       [2]bool // by side: caller (A), callee (B)
	updating   bool    // a re-INVITE or UPDATE is being relayed
	alerted    bool    // the caller has heard 180 Ringing
	early      bool    // the caller has early media (183 with SDP)
	// callerUp is set once the caller's INVITE is answered, by a callee
	// or an IVR: from then on the caller's dialog stays, whatever the PBX
	// connects it to.
	callerUp bool
	// dest is the number events name while no party is connected: the
	// number dialled, the number sent to a gateway, or an IVR's choice.
	dest string
	// offer is what callees are offered: the caller's offer, narrowed to
	// one codec once an IVR has answered with it (codec).
	offer *media.Description
	codec media.Codec
}

// leg is one SIP dialog of a call, or the PBX itself when an IVR answers.
type leg struct {
	c        *call
	id       string
	side     media.Side
	number   string // the extension, IVR or outside number of the party on this leg
	created  time.Time
	internal bool // the PBX answers on this leg (an IVR): there is no dialog

	server *sipgo.DialogServerSession // the A-leg's dialog
	target dialTarget                 // where a B-leg's INVITE goes
	cancel context.CancelCauseFunc    // stops a B-leg ringing

	// Under c.mu.
	client    *sipgo.DialogClientSession // a B-leg's dialog once sent
	responded bool                       // a B-leg's INVITE got a response
	rang      bool
	origin    media.Origin // of the SDP the PBX sends this leg's party
	sdp       []byte       // the last SDP the PBX sent this leg's party
	state     string
}

// dialTarget is where a B-leg's INVITE goes: a registered contact of an
// extension, or a gateway.
type dialTarget struct {
	uri       sip.Uri          // Request-URI
	to        sip.Uri          // To
	dest      string           // host:port the INVITE is sent to
	transport string           // "udp" or "tcp"
	gw        *gateway.Gateway // nil for an extension's phone
}

func newCall(p *PBX, caller, callerName, dialed string, route dialplan.Route, dir events.Direction) *call {
	c := &call{
		p: p, id: uuid.NewString(), caller: caller, callerName: callerName,
		dialed: dialed, route: route, direction: dir, created: time.Now(), dest: dialed,
		callerBye: make(chan struct{}), digits: make(chan media.Digit, 8),
	}
	if route.Target.Type == events.Gateway {
		c.dest = route.Number
	}
	c.ctx, c.stop = context.WithCancel(context.WithoutCancel(p.ctx))
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
		DestinationNumber: dest, OccurredAt: at, Direction: c.direction,
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

// currentCalleeLocked is the number the events of the call name: the
// party connected, else the number being reached.
func (c *call) currentCalleeLocked() string {
	if c.answered != nil {
		return c.answered.number
	}
	return c.dest
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
	relay := c.relay
	c.mu.Unlock()
	c.stop()
	c.p.forget(c)
	// Outside mu: the relay's goroutines take mu to report DTMF.
	if relay != nil {
		relay.Close()
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
	if l == c.a && c.answered.internal {
		// An IVR listens. A caller who presses faster than it routes
		// loses nothing up to the buffer; beyond it, keys are only
		// reported.
		select {
		case c.digits <- d:
		default:
		}
	}
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
// the other party. A caller answered by an IVR may also hang up while the
// IVR's choice rings: the ringing legs see the call end and stop.
func (c *call) hangupFrom(l *leg) {
	c.mu.Lock()
	other := l.otherLocked()
	up := c.state == stateAnswered || (l == c.a && c.callerUp && c.state != stateEnded)
	c.mu.Unlock()
	if !up || !c.end(events.Hangup{Cause: events.CauseNormalClearing, SIPCode: sip.StatusOK, By: l.party()}, l) {
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

// hangupEarly answers the caller's BYE on a dialog that is not answered
// yet (RFC 3261 §15: a caller may end an early dialog so) and has the
// call's setup end it as a cancelled call. It reports false, leaving the
// BYE to the usual path, once the caller is answered.
func (c *call) hangupEarly(req *sip.Request, tx sip.ServerTransaction) bool {
	c.mu.Lock()
	early := !c.callerUp && c.state != stateEnded
	c.mu.Unlock()
	if !early {
		return false
	}
	tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
	c.byeOnce.Do(func() { close(c.callerBye) })
	return true
}

// bye sends BYE on the leg's dialog; an IVR has none.
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
			CallUUID: c.id, LegUUID: l.id, Party: l.party(), Number: l.number, Direction: c.direction,
			State: l.state, CreatedAt: l.created.UTC(),
		}
		if c.relay != nil && !l.internal {
			ch.RTPPort = c.relay.Port(l.side)
		}
		switch {
		case l.server != nil:
			ch.Remote = l.server.InviteRequest.Source()
		case l.internal:
			ch.Remote = "ivr"
		default:
			ch.Remote = l.target.uri.String()
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
