package pbx

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"

	"github.com/switchhook/switchhook/internal/dialplan"
	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/media"
)

// call is one caller's attempt, owned by one goroutine (run) from its
// INVITE to its end. What the call is (its id, caller, direction) is fixed
// at the start; what it is connected to is its bridge and legs, which only
// the owner reads or changes. Everything else reaches the owner as a
// message in its inbox.
type call struct {
	p          *PBX
	id         string
	session    string // call_session_uuid: its own id, or a held call's for a consultation call
	caller     string // the calling number: an extension, or a carrier's caller ID
	callerName string
	dialed     string
	route      dialplan.Route
	direction  events.Direction
	created    time.Time
	dialogs    []string // ids of the call's dialogs in p.dialogs; under p.mu

	inbox chan msg
	done  chan struct{} // closed when the owner returns
	// ctx ends when the call does, stopping what plays to the caller and
	// the requests relayed for it.
	ctx  context.Context
	stop context.CancelFunc
	view atomic.Pointer[[]Channel] // the legs as the API shows them
	// dropped counts media messages (DTMF) lost because the inbox was full:
	// the relay never waits for the owner.
	dropped atomic.Uint64

	// Owned by run.
	state      state
	a          *dialogLeg            // the caller's leg
	inviteTx   sip.ServerTransaction // the caller's INVITE
	legs       []Leg                 // every leg, the caller's first
	br         *bridge
	answeredAt time.Time
	// callerAnswered is set once the caller's INVITE is answered (by a
	// callee or an app leg): from then on the caller's dialog stays,
	// whatever the PBX connects it to.
	callerAnswered bool
	callerWait     <-chan struct{} // the caller's INVITE ending unanswered
	shutdown       <-chan struct{} // the PBX stopping
	alerted        bool            // the caller has heard 180 Ringing
	early          bool            // the caller has early media (183 with SDP)
	// dest is the number events name while no party is connected: the
	// number dialled, the number sent to a gateway, or an IVR's choice.
	dest string
	// path is the numbers the call was at, the dialled one first; it grows
	// as forwarding moves the call. diversion is the last move, reported
	// on the CALL_RINGING and CALL_ANSWER of the destinations after it.
	path      dialplan.Path
	diversion *events.Diversion
	// xfer is the blind transfer under way or done, nil before any.
	xfer *transfer
	// acked is set once the caller acknowledged the PBX's answer; a
	// consultation call asked to hand its callee over before that waits
	// for it in pendingReplace, since the caller's dialog can be ended
	// only once it is confirmed.
	acked          bool
	pendingReplace *msgReplace
	// waitingOffers are the callee's offers (holds) that came before the
	// caller's ACK; they are relayed once it came.
	waitingOffers []*request
	// reofferCaller is the PBX's own offer to the caller (its media moved
	// by a transfer) that came due before the caller's ACK, made once it
	// came.
	reofferCaller bool
	// offer is what callees are offered: the caller's offer, narrowed to
	// one codec once an app leg has answered with it (codec).
	offer *media.Description
	codec media.Codec

	steps     []step
	failure   *failure // of the last ring step that failed
	round     *round   // the ring step ringing now
	rounds    int
	dialing   int // callee INVITEs without their final outcome
	ivr       *ivrRun
	queue     *queueStay // the queue the call is or was in
	ivrVisits int
	timers    [numTimers]*time.Timer
	timerGen  [numTimers]uint64
	playing   *playback
	playGen   uint64
	mw        mediaWatch
	dirty     bool // the API's view needs publishing
	emitting  emitBound
}

func newCall(p *PBX, caller, callerName, dialed string, route dialplan.Route, dir events.Direction) *call {
	id := uuid.NewString()
	c := &call{
		p: p, id: id, session: p.sessionFor(caller, id), caller: caller, callerName: callerName,
		dialed: dialed, route: route, direction: dir, created: time.Now(), dest: dialed, path: dialplan.Path{dialed},
		inbox: make(chan msg, inboxSize), done: make(chan struct{}),
	}
	if route.Target.Type == events.Gateway {
		c.dest = route.Number
	}
	if route.Target.Type == events.Queue {
		// Every event of a call that enters a queue says so, CALL_ROUTED
		// included; the wait starts there.
		c.queue = &queueStay{number: route.Target.Target, joined: c.created}
	}
	c.ctx, c.stop = context.WithCancel(context.WithoutCancel(p.ctx))
	c.a = newDialogLeg(c, caller, events.Caller, LegRouted)
	c.legs = []Leg{c.a}
	return c
}

// inboxSize bounds the messages waiting for a call's owner. SIP handlers
// and dialling legs wait for room; the relay's DTMF is dropped (and
// counted) instead, so media never waits on a slow owner.
const inboxSize = 64

// msg is what reaches a call's owner. Each kind is a type of its own, and
// each state handler is a switch over them.
type msg interface{ isMsg() }

type (
	// msgStart starts a routed call with the caller's offer.
	msgStart struct{ offer *media.Description }
	// msgDial is a callee INVITE's provisional response, or its final
	// outcome (final set), once.
	msgDial struct {
		leg   *dialogLeg
		sess  *sipgo.DialogClientSession
		res   *sip.Response
		err   error
		final bool
	}
	// msgDTMF is a digit that ended in the RTP from side's party.
	msgDTMF struct {
		side media.Side
		d    media.Digit
		at   time.Time
	}
	// msgTimer is a timer of the call firing; stale generations are
	// ignored.
	msgTimer struct {
		kind timerKind
		gen  uint64
	}
	// msgPlayed is a prompt that finished playing.
	msgPlayed struct{ gen uint64 }
	// msgCallerGone is the caller's INVITE ending before it was answered:
	// a CANCEL, or its transaction failed.
	msgCallerGone struct{ cause error }
	// msgCallerAnswered is the outcome of answering the caller: its ACK
	// came (err nil), or not.
	msgCallerAnswered struct{ err error }
	// msgRelayed is the other party's answer to a request relayed to it.
	msgRelayed struct {
		r     *request
		to    *dialogLeg
		offer media.Stream // the offer relayed, for a re-INVITE or UPDATE
		res   *sip.Response
		err   error
	}
	// msgRefreshed is the party's answer to the PBX's session refresh.
	msgRefreshed struct {
		leg *dialogLeg
		res *sip.Response
		err error
	}
	// msgShutdown is the PBX stopping.
	msgShutdown struct{}
)

func (msgStart) isMsg()          {}
func (msgDial) isMsg()           {}
func (msgDTMF) isMsg()           {}
func (msgTimer) isMsg()          {}
func (msgPlayed) isMsg()         {}
func (msgCallerGone) isMsg()     {}
func (msgCallerAnswered) isMsg() {}
func (msgRelayed) isMsg()        {}
func (msgRefreshed) isMsg()      {}
func (msgShutdown) isMsg()       {}
func (*request) isMsg()          {}

// request is an in-dialog request (BYE, re-INVITE, UPDATE, INFO) of one of
// the call's dialogs. The SIP handler that posted it waits until it is
// answered, since sipgo ends a transaction its handler returns from.
type request struct {
	leg      *dialogLeg
	req      *sip.Request
	tx       sip.ServerTransaction
	at       time.Time
	se       *sessionExpires // what a re-INVITE or UPDATE asked of its session timer
	once     sync.Once
	answered chan struct{}
}

// respond answers the request, once: later answers are dropped.
func (r *request) respond(res *sip.Response) {
	r.once.Do(func() {
		r.tx.Respond(res)
		close(r.answered)
	})
}

func (r *request) reply(code int, reason, why string) {
	res := sip.NewResponseFromRequest(r.req, code, reason, nil)
	if why != "" {
		res.AppendHeader(warning(why))
	}
	r.respond(res)
}

// readBye answers a BYE through its dialog, which ends it.
func (r *request) readBye() error {
	var err error
	r.once.Do(func() {
		if r.leg.server != nil {
			err = r.leg.server.ReadBye(r.req, r.tx)
		} else {
			err = r.leg.client.ReadBye(r.req, r.tx)
		}
		close(r.answered)
	})
	return err
}

// deliver posts an in-dialog request to the call's owner and waits for its
// answer; a call that is over answers 481.
func (c *call) deliver(l *dialogLeg, req *sip.Request, tx sip.ServerTransaction) {
	r := &request{leg: l, req: req, tx: tx, at: time.Now(), answered: make(chan struct{})}
	if !c.post(r) {
		r.reply(sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", "")
		return
	}
	select {
	case <-r.answered:
	case <-c.done:
		r.reply(sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", "")
	}
}

// post hands m to the owner, waiting for room; false once the call is over.
func (c *call) post(m msg) bool {
	select {
	case c.inbox <- m:
		return true
	case <-c.done:
		return false
	}
}

// onDTMF is the relay's digit callback: it runs on the relay's reader and
// never waits.
func (c *call) onDTMF(from media.Side, d media.Digit) {
	select {
	case c.inbox <- msgDTMF{side: from, d: d, at: time.Now()}:
	default:
		c.dropped.Add(1)
	}
}

// run is the call's owner: it handles the call's messages, one at a time,
// until the call is over. It runs on the goroutine of the caller's INVITE,
// which sipgo keeps until the handler returns.
//
// first starts the call: msgStart for a caller's INVITE, msgMoved for the
// call a caller's transfer leaves behind.
func (c *call) run(first msg) {
	defer close(c.done)
	c.publish()
	c.shutdown = c.p.ctx.Done()
	c.dispatch(first)
	for c.state != stateEnded {
		var m msg
		select {
		case m = <-c.inbox:
		case <-c.callerWait:
			m = msgCallerGone{cause: context.Cause(c.a.server.Context())}
			c.callerWait = nil
		case <-c.shutdown:
			m = msgShutdown{}
			c.shutdown = nil
		}
		c.dispatch(m)
	}
	if n := c.dropped.Load(); n > 0 {
		c.p.log.Warn("digits lost while the call was busy", "call_uuid", c.id, "dropped", n)
	}
}

// dispatch hands m to the handler of the current state and moves to the
// state it returns.
func (c *call) dispatch(m msg) {
	var next state
	switch c.state {
	case stateRouting:
		next = c.routing(m)
	case stateForking:
		next = c.forking(m)
	case stateEarly:
		next = c.earlyMedia(m)
	case stateConnected:
		next = c.connected(m)
	case stateAppAnswered:
		next = c.appAnswered(m)
	case stateQueued:
		next = c.queued(m)
	case stateEnding:
		next = c.ending(m)
	}
	if next == stateEnding && c.dialing == 0 {
		next = stateEnded
	}
	if next != c.state {
		if c.p.debugging() {
			c.p.log.Debug("call state", "call_uuid", c.id, "from", c.state, "to", next)
		}
		c.state = next
		c.dirty = true
	}
	if c.dirty && c.state < stateEnding {
		c.publish()
	}
}

// event makes an event of the call.
func (c *call) event(kind events.Kind, at time.Time, dest string, l Leg) events.Event {
	e := events.Event{
		Kind: kind, CallUUID: c.id, SessionUUID: c.session, CallerIDNumber: c.caller, CallerIDName: c.callerName,
		DestinationNumber: dest, OccurredAt: at, Direction: c.direction,
		LegUUID: l.ID(), Source: sourceName,
	}
	if d := c.diversion; d != nil && (kind == events.CallRinging || kind == events.CallAnswer) {
		moved := *d
		e.Diversion = &moved
	}
	if c.queue != nil {
		e.Queue = c.queue.stay(at)
	}
	return e
}

// emit hands e to the sink. Only the owner emits, holding no lock, so a
// call's events are in order and a slow sink slows only this call's owner.
func (c *call) emit(e events.Event) {
	ctx := c.emitting.start(c.p.ctx, emitTimeout)
	err := c.p.sink.Emit(ctx, e)
	c.emitting.stop()
	if err != nil {
		c.p.log.Error("emit call event", "event", e.Kind, "call_uuid", c.id, "err", err)
	}
}

// emitTimeout bounds an Emit: events of a call must still reach the sink
// while the PBX shuts down, but a stuck sink must not hold a call forever.
const emitTimeout = 10 * time.Second

// emitBound is the context of a call's Emits: each gets emitTimeout, as
// with a context.WithTimeout of its own, but one context and one timer
// serve all of a call's events while none runs out of time.
type emitBound struct {
	ctx    context.Context
	cancel context.CancelFunc
	timer  *time.Timer
}

// start is the context for the next Emit, which has d from now.
func (b *emitBound) start(base context.Context, d time.Duration) context.Context {
	if b.ctx == nil {
		b.ctx, b.cancel = context.WithCancel(context.WithoutCancel(base))
		b.timer = time.AfterFunc(d, b.cancel)
	} else {
		b.timer.Reset(d)
	}
	return b.ctx
}

// stop ends the Emit's time; a context that ran out is not used again.
func (b *emitBound) stop() {
	if !b.timer.Stop() {
		b.cancel()
		b.ctx = nil
	}
}

// currentCallee is the number the events of the call name: the party
// connected, else the number being reached.
func (c *call) currentCallee() string {
	if c.br != nil {
		if b := c.br.ends[media.SideB]; b != nil {
			return b.Number()
		}
	}
	return c.dest
}

// ended is how a call ends: what CALL_HANGUP reports, the leg it is about
// (the caller's when nil), the reason phrase of the final response to a
// caller still waiting, and the leg whose party left already (its BYE is
// answered, so it is sent none).
type ended struct {
	events.Hangup
	reason string
	about  Leg
	left   Leg
}

// shutdownEnd is how a call still up when the PBX stops ends.
var shutdownEnd = ended{Hangup: events.Hangup{Cause: events.CauseSystemShutdown, SIPCode: sip.StatusOK, By: events.System}}

// terminate is the one way a call ends: it emits CALL_HANGUP, forgets the
// call, stops its media, cancels the legs still ringing, and sends each
// party what it needs (BYE once answered, the final response to a caller
// still waiting). The owner then waits, in ending, for the ringing legs'
// outcomes.
func (c *call) terminate(e ended) state {
	if c.state >= stateEnding {
		return c.state
	}
	c.leaveQueue()
	about := e.about
	if about == nil {
		about = c.a
	}
	ev := c.event(events.CallHangup, time.Now(), c.currentCallee(), about)
	ev.Hangup = &e.Hangup
	c.emit(ev)
	for k := range c.timers {
		c.stopTimer(timerKind(k))
	}
	c.stopPlay()
	c.cancelLegs(nil)
	c.stop()
	// A caller answered but not yet acknowledging keeps its dialog in the
	// index until the BYE is through: sipgo sends the BYE once the ACK
	// confirmed the dialog, and the ACK finds the dialog by the index.
	unconfirmed := c.callerAnswered && !c.acked && e.left != Leg(c.a) && c.a.server != nil
	if unconfirmed {
		c.p.keepDialog(c, c.a)
	}
	c.p.forget(c)
	if c.br != nil {
		c.br.relay.Close()
	}
	if c.p.debugging() {
		c.p.log.Debug("call ended", "call_uuid", c.id, "cause", e.Cause, "sip_code", e.SIPCode, "by", e.By)
	}
	if code, reason := e.SIPCode, e.reason; code < 300 {
		// The call ended before the transfer's target answered: for the
		// transferor, the attempt was cut short.
		c.transferOver(sip.StatusRequestTerminated, "Request Terminated")
	} else {
		c.transferOver(code, reason)
	}
	switch {
	case !c.callerAnswered:
		c.respondCaller(e.SIPCode, e.reason, e.By)
	case unconfirmed:
		c.hangupLeg(c.a, func() { c.p.dropDialog(c.a.server.ID) })
	case e.left != Leg(c.a):
		c.hangupLeg(c.a)
	}
	if c.br != nil {
		if b := c.br.ends[media.SideB]; b != nil && b != e.left {
			c.hangupLeg(b)
		}
	}
	return stateEnding
}

// fail ends a call that was not connected.
func (c *call) fail(f failure) state {
	return c.terminate(ended{Hangup: events.Hangup{Cause: f.cause, SIPCode: f.code, By: f.by}, reason: f.reason})
}

// respondCaller sends the final failure response to a caller still waiting.
func (c *call) respondCaller(code int, reason string, by events.Party) {
	var hdrs []sip.Header
	if code == sip.StatusServiceUnavailable && by == events.Callee {
		// A 503 means "this server is overloaded, try another" to the
		// caller's phone (RFC 3261 §16.7 has proxies turn a relayed one
		// into 500): it is the callee's or carrier's server that is.
		hdrs = append(hdrs, warning("the callee answered 503 "+reason))
		code, reason = sip.StatusInternalServerError, "Server Internal Error"
	}
	// Straight on the INVITE's transaction, which absorbs the ACK: the
	// dialog's Respond would hold the owner until that ACK came.
	res := sip.NewResponseFromRequest(c.a.server.InviteRequest, code, reason, nil)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	if err := c.inviteTx.Respond(res); err != nil {
		c.p.log.Debug("final response to caller", "call_uuid", c.id, "code", code, "err", err)
	}
}

// byeTimeout bounds the wait for a BYE's answer.
const byeTimeout = 10 * time.Second

// hangupLeg releases l on a goroutine of its own: the owner does not wait
// for a party's answer to a BYE.
//
// after, if given, runs once the BYE is through or given up on.
func (c *call) hangupLeg(l Leg, after ...func()) {
	c.p.wg.Add(1)
	go func() {
		defer c.p.wg.Done()
		for _, f := range after {
			defer f()
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(c.p.ctx), byeTimeout)
		defer cancel()
		if err := l.hangup(ctx); err != nil {
			c.p.log.Debug("bye", "call_uuid", c.id, "leg_uuid", l.ID(), "err", err)
		}
	}()
}

// pbxAddr is the relay address the party on l is told.
func (c *call) pbxAddr(l *dialogLeg) netip.AddrPort {
	return netip.AddrPortFrom(c.p.local.forRemote(l.remoteIP()), uint16(c.br.relay.Port(l.side())))
}

// sdpFor rewrites d for the party on l, bumping the version of the PBX's
// description toward that party.
func (c *call) sdpFor(l *dialogLeg, d *media.Description) ([]byte, error) {
	l.origin.Version++
	out, err := d.Rewrite(l.origin, c.pbxAddr(l))
	if err == nil {
		l.sdp = out
	}
	return out, err
}

// publish makes the API's view of the call's legs.
func (c *call) publish() {
	c.dirty = false
	up := c.state == stateConnected || c.state == stateAppAnswered || c.state == stateQueued && c.queue.music != nil
	out := make([]Channel, 0, len(c.legs))
	for _, l := range c.legs {
		ch := l.channel()
		if up {
			if _, ok := c.br.sideOf(l); ok {
				at := c.answeredAt.UTC()
				ch.AnsweredAt = &at
				// Shown on the leg whose party holds, not on the one held.
				if c.br.holds.By(l.Party()) {
					ch.State = "held"
				}
			}
		}
		out = append(out, ch)
	}
	c.view.Store(&out)
}

func (c *call) channels() []Channel {
	if v := c.view.Load(); v != nil {
		return *v
	}
	return nil
}

// timerKind names a timer of the call; each kind runs at most once at a time.
type timerKind int

const (
	timerRing     timerKind = iota // a ring step's timeout
	timerDigit                     // an IVR's wait for a digit
	timerMedia                     // the media watch's next look
	timerSessionA                  // the caller's session timer (RFC 4028)
	timerSessionB                  // the callee's
	numTimers
)

// setTimer (re)starts the timer of kind k: msgTimer after d.
func (c *call) setTimer(k timerKind, d time.Duration) {
	c.stopTimer(k)
	gen := c.timerGen[k]
	c.timers[k] = time.AfterFunc(d, func() { c.post(msgTimer{kind: k, gen: gen}) })
}

// stopTimer stops the timer of kind k; one already firing is ignored as
// stale.
func (c *call) stopTimer(k timerKind) {
	if c.timers[k] != nil {
		c.timers[k].Stop()
		c.timers[k] = nil
	}
	c.timerGen[k]++
}

// fired reports whether m is the live timer of its kind.
func (c *call) fired(m msgTimer) bool {
	if m.gen != c.timerGen[m.kind] || c.timers[m.kind] == nil {
		return false
	}
	c.timers[m.kind] = nil
	c.timerGen[m.kind]++
	return true
}
