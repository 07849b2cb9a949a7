package calltrack

import (
	"cmp"
	"iter"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/switchhook/switchhook/internal/callrules"
	"github.com/switchhook/switchhook/internal/events"
)

// rememberEnded bounds how many legs of ended calls a Tracker remembers for
// session correlation.
const rememberEnded = 4096

// Call is one caller's attempt: the caller's leg and every leg the engine
// made for it. E is the connector's own state of the call, such as what
// its engine has said of how the call is ending.
type Call[E any] struct {
	UUID      string // call_uuid
	Session   string // call_session_uuid
	CallerLeg string // the id of the caller's leg
	Caller    string // caller_id_number
	// CallerName is the caller's display name (caller_id_name), "" when
	// the caller has none.
	CallerName string
	Dest       string // the number as dialled
	Callee     string // the destination answered last
	Direction  events.Direction
	// By is who ended the call, once the connector has seen a far end hang
	// up; empty until then.
	By     events.Party
	Engine E

	legs   map[string]*Leg[E] // live legs
	life   callrules.Life
	holds  callrules.Holds
	queue  *queueStay // nil until the call enters a queue
	heldAt time.Time  // when the call last became held
	// divert is set once the call moves on from its callee (a transfer):
	// the destinations rung after it say so.
	divert *diversion
	// End, when set, is how the call ends whatever its legs say: a
	// consultation call joined to another by an attended transfer.
	End  *events.Hangup
	over bool
}

// diversion is a move of a call and the legs it had then.
type diversion struct {
	events.Diversion
	before map[string]bool
}

// queueStay is a call's time in a queue.
type queueStay struct {
	number     string // the number the caller dialled to reach the queue
	entered    time.Time
	left       time.Time // when an agent answered or the caller moved on; zero while waiting
	answered   bool
	overflowed bool // the caller moved on to the queue's overflow destination
}

// Routed reports whether CALL_ROUTED is out.
func (c *Call[E]) Routed() bool { return c.life.Routed() }

// Answered reports whether the call has had a CALL_ANSWER.
func (c *Call[E]) Answered() bool { return c.life.Answered() }

// Held reports whether the call is held.
func (c *Call[E]) Held() bool { return c.life.Held() }

// LastAt is the last time the call was known as its events say.
func (c *Call[E]) LastAt() time.Time { return c.life.LastAt() }

// Leg is one engine channel of a call.
type Leg[E any] struct {
	ID string
	// Name is the engine's name of the channel (e.g.
	// PJSIP/1002-00000002), kept where a connector relates legs by it.
	Name     string
	Call     *Call[E]
	Caller   bool   // the caller's leg, else one the engine made for the call
	Number   string // a callee leg: the number it rings
	Rang     bool
	Answered bool
	Seen     bool // reported on the current connection (for reconciliation)
	// Transferred is set on a leg whose party transferred the call away:
	// its hangup is not the call's end by that party.
	Transferred bool
}

// Party is who l is in its call: the caller or a callee.
func (l *Leg[E]) Party() events.Party {
	if l.Caller {
		return events.Caller
	}
	return events.Callee
}

// Legs yields c's live legs, in no particular order.
func (c *Call[E]) Legs() iter.Seq[*Leg[E]] { return maps.Values(c.legs) }

// Over reports whether c's last leg has been dropped.
func (c *Call[E]) Over() bool { return c.over }

// current is the call's callee now: the destination answered last, else
// the number dialled.
func (c *Call[E]) current() string { return cmp.Or(c.Callee, c.Dest) }

// Tracker keeps the calls of one engine and builds their events. It is used
// by one goroutine at a time.
type Tracker[E any] struct {
	source string
	log    *slog.Logger
	// Refused, when set, is told of each event the rules refused; the
	// event is dropped and the call goes on.
	Refused func(events.Event, error)
	legs    map[string]*Leg[E]
	// ended maps legs of finished calls to their session, so that a new call
	// a leg of an ended call made carries that call's session.
	ended      map[string]string
	endedOrder []string
	heard      time.Time // the engine last said something
}

// New returns a Tracker whose events carry Source source.
func New[E any](source string, log *slog.Logger) *Tracker[E] {
	return &Tracker[E]{source: source, log: log, legs: map[string]*Leg[E]{}, ended: map[string]string{}}
}

// Leg returns the tracked leg id, or nil.
func (t *Tracker[E]) Leg(id string) *Leg[E] { return t.legs[id] }

// Legs yields every tracked leg, in no particular order.
func (t *Tracker[E]) Legs() iter.Seq[*Leg[E]] { return maps.Values(t.legs) }

// NewCall starts a call, with no legs yet, whose caller is the leg
// callerLeg. The call keeps the leg's id (in lower case) as its UUID when
// that is a version 4 UUID, so receivers can match webhooks with the
// engine's own records; otherwise it gets a fresh one. Its session is that of the
// ended call of the first of related that the Tracker remembers (a call
// made from a leg of another, such as a transfer's), else its own UUID.
func (t *Tracker[E]) NewCall(callerLeg string, related ...string) *Call[E] {
	c := &Call[E]{CallerLeg: callerLeg, UUID: callUUID(callerLeg), legs: map[string]*Leg[E]{}}
	c.Session = c.UUID
	for _, r := range related {
		if s, ok := t.ended[r]; ok {
			c.Session = s
			break
		}
	}
	return c
}

func callUUID(id string) string {
	if u, err := uuid.Parse(id); err == nil && u.Version() == 4 && u.Variant() == uuid.RFC4122 && len(id) == 36 {
		return u.String()
	}
	return uuid.NewString()
}

// EndedLeg reports whether id is a leg of a call that ended (among the
// latest the Tracker remembers): a leg the engine makes for it afterwards
// must not open the call again.
func (t *Tracker[E]) EndedLeg(id string) bool {
	_, ok := t.ended[id]
	return ok
}

// Source is the name the Tracker's events carry.
func (t *Tracker[E]) Source() string { return t.source }

// Resumer hands over, once, the recorded events of the calls of a source
// that the previous run of the process left open (ingest.Recorder does).
type Resumer interface {
	Resume(source string) [][]events.Event
}

// ResumeFrom takes up the calls sink remembers for the Tracker's source,
// when sink is a Resumer; init sets up each call's connector state. It
// returns how many calls it took up.
func (t *Tracker[E]) ResumeFrom(sink events.Sink, init func(*Call[E])) int {
	r, ok := sink.(Resumer)
	if !ok {
		return 0
	}
	n := 0
	for _, evs := range r.Resume(t.source) {
		if c := t.Resume(evs); c != nil {
			init(c)
			n++
		}
	}
	return n
}

// Join adds l to c and tracks it.
func (t *Tracker[E]) Join(c *Call[E], l *Leg[E]) {
	l.Call = c
	c.legs[l.ID] = l
	t.legs[l.ID] = l
}

// Route marks c routed to "to" (nil when the engine does not say) and
// returns its CALL_ROUTED, about the caller's leg. A gateway target makes
// an internal call outbound.
func (t *Tracker[E]) Route(c *Call[E], at time.Time, to *events.Target) []events.Event {
	if to != nil && to.Type == events.Gateway && c.Direction == events.Internal {
		c.Direction = events.Outbound
	}
	if c.Session == c.UUID && c.Caller != "" {
		// EVENTS.md: a call placed by an extension that has an answered
		// call on hold is a consultation call in that call's session (the
		// most recently held one).
		var held *Call[E]
		for l := range t.Legs() {
			o := l.Call
			party := o.Callee == c.Caller || o.Caller == c.Caller
			if o != c && l.Caller && !o.over && o.Answered() && o.Held() && party && (held == nil || o.heldAt.After(held.heldAt)) {
				held = o
			}
		}
		if held != nil {
			c.Session = held.Session
		}
	}
	e := t.event(c, events.CallRouted, at, nil, c.Dest)
	e.LegUUID = c.CallerLeg
	e.RoutedTo = to
	return t.apply(c, e)
}

// apply passes e through the rules of c's life: it returns e when they
// admit it, nothing when they refuse it (told to Refused, or logged).
func (t *Tracker[E]) apply(c *Call[E], e events.Event) []events.Event {
	if err := c.life.Apply(&e); err != nil {
		if t.Refused != nil {
			t.Refused(e, err)
		} else {
			t.log.Warn("call event refused", "err", err, "call_uuid", e.CallUUID, "leg", e.LegUUID)
		}
		return nil
	}
	e.Sequence = 0 // the recorder numbers the events it records
	return []events.Event{e}
}

// EnsureRouted returns c's CALL_ROUTED if c shows it was routed before the
// engine said where to: a leg was made for it, it rang or was answered, or
// the connector joined it mid-call.
func (t *Tracker[E]) EnsureRouted(c *Call[E], at time.Time) []events.Event {
	if c.Routed() {
		return nil
	}
	return t.Route(c, at, nil)
}

// EnterQueue records that c waits in a queue reached at number, from at:
// every later event of c carries the stay (EVENTS.md's queue field), the
// agents' rings and answers say diversion_reason queue, and the hangup
// says how the stay ended. A call enters one queue once.
func (t *Tracker[E]) EnterQueue(c *Call[E], number string, at time.Time) {
	if c.queue == nil {
		c.queue = &queueStay{number: number, entered: at}
	}
}

// LeaveQueue records that c, waiting in its queue, moved on without an
// agent answering (the queue's limit passed, or it was full): the
// destinations rung from now on say diversion_reason queue_overflow, and
// the stay's outcome is overflow.
func (t *Tracker[E]) LeaveQueue(c *Call[E], at time.Time) {
	q := c.queue
	if q == nil || q.answered || q.overflowed {
		return
	}
	q.overflowed, q.left = true, at
	before := map[string]bool{}
	for l := range c.Legs() {
		before[l.ID] = true
	}
	c.divert = &diversion{Diversion: events.Diversion{From: q.number, Reason: events.DivertQueueOverflow}, before: before}
}

// InQueue reports whether c waits in a queue: entered, no agent answered,
// not moved on.
func (c *Call[E]) InQueue() bool {
	return c.queue != nil && !c.queue.answered && !c.queue.overflowed
}

// diverted marks e, of callee leg l, as an agent's when c waits in a
// queue, or as a destination the call was transferred to.
func (c *Call[E]) diverted(e *events.Event, l *Leg[E]) {
	if l.Caller {
		return
	}
	if d := c.divert; d != nil && !d.before[l.ID] {
		e.Diversion = &d.Diversion
		return
	}
	if c.InQueue() {
		e.Diversion = &events.Diversion{From: c.queue.number, Reason: events.DivertQueue}
	}
}

// Transfer records that the party on leg by, a callee of c, transferred c
// blindly (EVENTS.md "Blind transfer by the callee"): by leaves, and the
// destinations rung from now on say diversion_reason transfer, from the
// number the call was at. A held call gets its CALL_UNHOLD first.
func (t *Tracker[E]) Transfer(c *Call[E], by *Leg[E], at time.Time) []events.Event {
	by.Transferred = true
	before := map[string]bool{}
	for l := range c.Legs() {
		before[l.ID] = true
	}
	c.divert = &diversion{Diversion: events.Diversion{From: c.current(), Reason: events.DivertTransfer}, before: before}
	return t.unhold(c, by, at)
}

// TransferByCaller records that c's caller, on leg by, transferred it
// (EVENTS.md "Transfer by the caller"): the caller leaves, so c ends with
// cause BLIND_TRANSFER (ATTENDED_TRANSFER when attended) by the caller once
// by is gone, and the callee left forms a new call in c's session, its
// caller the party who stayed, routed when the engine sends it on. It
// returns the new call, nil when c had no callee up.
func (t *Tracker[E]) TransferByCaller(c *Call[E], by *Leg[E], cause string) *Call[E] {
	by.Transferred = true
	c.End = transferEnd(cause)
	var stayed *Leg[E]
	for l := range c.Legs() {
		if !l.Caller && l.Answered {
			stayed = l
		}
	}
	if stayed == nil {
		return nil
	}
	nc := &Call[E]{UUID: uuid.NewString(), Session: c.Session, CallerLeg: stayed.ID, Caller: stayed.Number,
		Direction: c.Direction, legs: map[string]*Leg[E]{}}
	delete(c.legs, stayed.ID)
	*stayed = Leg[E]{ID: stayed.ID, Name: stayed.Name, Caller: true, Seen: stayed.Seen}
	t.Join(nc, stayed)
	return nc
}

// transferEnd is the end of a call its caller left by transferring it:
// answered, ended by BYEs (200), by the caller.
func transferEnd(cause string) *events.Hangup {
	return &events.Hangup{Cause: cause, SIPCode: 200, By: events.Caller}
}

// JoinAnswered moves target, an answered callee leg of another call, into
// c as its callee and returns c's CALL_ROUTED (to target's number, if c
// was not routed) and CALL_ANSWER: the parties an attended transfer by a
// caller joined, answered already.
func (t *Tracker[E]) JoinAnswered(c *Call[E], target *Leg[E], at time.Time) []events.Event {
	delete(target.Call.legs, target.ID)
	target.Call = c
	c.legs[target.ID] = target
	target.Answered = false
	var out []events.Event
	if !c.Routed() {
		c.Dest = target.Number
		out = t.Route(c, at, &events.Target{Type: events.Extension, Target: target.Number})
	}
	return append(out, t.Answer(target, at, "")...)
}

// unhold emits CALL_UNHOLD, by l's party, when c is held, and forgets the
// holds: the party who held is gone.
func (t *Tracker[E]) unhold(c *Call[E], l *Leg[E], at time.Time) []events.Event {
	if !c.Held() {
		c.holds.Clear()
		return nil
	}
	c.holds.Clear()
	e := t.event(c, events.CallUnhold, at, l, c.current())
	e.Party = l.Party()
	return t.apply(c, e)
}

// Replace joins target, an answered leg of the consultation call made by
// c's callee on leg by, to c (EVENTS.md "Attended transfer by the
// callee"): c goes on with CALL_UNHOLD if held, then CALL_ANSWER of the
// target (no CALL_RINGING: it answered already), diversion_reason
// attended_transfer; the consultation call ends with cause
// ATTENDED_TRANSFER by its caller, the transferring party.
func (t *Tracker[E]) Replace(c *Call[E], by, target *Leg[E], at time.Time) []events.Event {
	by.Transferred = true
	consult := target.Call
	if consult == c {
		return nil
	}
	consult.End = transferEnd(events.CauseAttendedTransfer)
	for l := range consult.Legs() {
		if l.Caller {
			l.Transferred = true
		}
	}
	delete(consult.legs, target.ID)
	target.Caller, target.Rang = false, true
	target.Call = c
	c.legs[target.ID] = target
	c.divert = &diversion{Diversion: events.Diversion{From: c.current(), Reason: events.DivertAttendedTransfer}, before: map[string]bool{}}
	out := t.unhold(c, by, at)
	c.Callee = target.Number
	e := t.event(c, events.CallAnswer, at, target, target.Number)
	c.diverted(&e, target)
	target.Answered = true
	return append(out, t.apply(c, e)...)
}

// Ring returns the CALL_RINGING of callee leg l's first ring, after
// CALL_ROUTED if due; the caller's leg and later rings give nothing.
func (t *Tracker[E]) Ring(l *Leg[E], at time.Time) []events.Event {
	if l.Caller || l.Rang {
		return nil
	}
	l.Rang = true
	e := t.event(l.Call, events.CallRinging, at, l, l.Number)
	l.Call.diverted(&e, l)
	return append(t.EnsureRouted(l.Call, at), t.apply(l.Call, e)...)
}

// Answer returns the CALL_ANSWER of l's first answer, after CALL_ROUTED if
// due. Engines answer the caller's leg themselves when a callee answers,
// and under load may report that before the callee's own answer, so an
// answer of the caller's leg counts only while the call has no callee leg
// at all: then the engine itself is the destination (an IVR), answering as
// self, and a call not routed yet is routed to it.
func (t *Tracker[E]) Answer(l *Leg[E], at time.Time, self string) []events.Event {
	if l.Answered {
		return nil
	}
	l.Answered = true
	c := l.Call
	if l.Caller {
		for _, o := range c.legs {
			if !o.Caller {
				// A callee leg is up or on its way: the engine answers
				// the caller to bridge them, whichever answer it reports
				// first.
				return nil
			}
		}
		var out []events.Event
		if !c.Routed() {
			out = t.Route(c, at, &events.Target{Type: events.IVR, Target: c.Dest})
		}
		c.Callee = self
		return append(out, t.apply(c, t.event(c, events.CallAnswer, at, l, self))...)
	}
	out := t.EnsureRouted(c, at)
	c.Callee = l.Number
	e := t.event(c, events.CallAnswer, at, l, l.Number)
	c.diverted(&e, l)
	if c.InQueue() {
		c.queue.answered, c.queue.left = true, at
		e.Queue = c.queueStay(at)
	}
	return append(out, t.apply(c, e)...)
}

// Input returns the CALL_INPUT of a digit sent on l, lasting d, after
// CALL_ROUTED if due. A digit that is not one of 0-9 * # A-D is logged and
// skipped.
func (t *Tracker[E]) Input(l *Leg[E], at time.Time, digit string, d time.Duration) []events.Event {
	c := l.Call
	e := t.event(c, events.CallInput, at, l, c.current())
	e.Digit, e.DigitDuration, e.Party = digit, d, l.Party()
	if err := e.Validate(); err != nil {
		t.log.Warn("DTMF event skipped", "err", err, "leg", l.ID)
		return nil
	}
	out := t.EnsureRouted(c, at)
	return append(out, t.apply(c, e)...)
}

// Hold records that l's party holds (hold) or no longer holds its call and
// returns CALL_HOLD or CALL_UNHOLD, by that party, when that changes
// whether the answered call is held: held while either party holds.
func (t *Tracker[E]) Hold(l *Leg[E], at time.Time, hold bool) []events.Event {
	c := l.Call
	if !c.Answered() {
		return nil
	}
	kind := c.holds.Set(l.Party(), hold)
	if kind == "" {
		return nil
	}
	if kind == events.CallHold {
		c.heldAt = at
	}
	e := t.event(c, kind, at, l, c.current())
	e.Party = l.Party()
	return t.apply(c, e)
}

// Drop forgets l, which the engine no longer has. When l was its call's
// last leg the call is over; if it was routed, Drop returns its
// CALL_HANGUP, about l, with the Cause, SIPCode and By that hangup works
// out from the call. A call never routed emitted nothing and ends so.
func (t *Tracker[E]) Drop(l *Leg[E], at time.Time, hangup func(*Call[E]) *events.Hangup) []events.Event {
	c := l.Call
	delete(c.legs, l.ID)
	delete(t.legs, l.ID)
	t.remember(l.ID, c.Session)
	if len(c.legs) > 0 {
		return nil
	}
	c.over = true
	if !c.Routed() {
		return nil
	}
	e := t.event(c, events.CallHangup, at, l, c.current())
	if c.End != nil {
		h := *c.End
		e.Hangup = &h
	} else {
		e.Hangup = hangup(c)
	}
	if q := c.queue; q != nil {
		switch {
		case q.answered:
			e.Queue.Outcome = events.QueueAnswered
		case q.overflowed:
			e.Queue.Outcome = events.QueueOverflow
		case e.Hangup.By == events.Caller:
			e.Queue.Outcome = events.QueueAbandoned
		default:
			e.Queue.Outcome = events.QueueOverflow
		}
	}
	return t.apply(c, e)
}

func (t *Tracker[E]) remember(id, session string) {
	if _, ok := t.ended[id]; ok {
		return
	}
	t.ended[id] = session
	t.endedOrder = append(t.endedOrder, id)
	if len(t.endedOrder) > rememberEnded {
		delete(t.ended, t.endedOrder[0])
		t.endedOrder = t.endedOrder[1:]
	}
}

// Heard records that the engine said something at at (any event or
// heartbeat): until the connection is lost, every call it carries was known
// to be as its events say at that time.
func (t *Tracker[E]) Heard(at time.Time) {
	if at.After(t.heard) {
		t.heard = at
	}
}

// LastHeard is when the engine last said something.
func (t *Tracker[E]) LastHeard() time.Time { return t.heard }

// Unsee marks every leg as not yet reported on a new connection, and
// returns when the engine was last heard on the previous one (zero on the
// first connection).
func (t *Tracker[E]) Unsee() time.Time {
	for _, l := range t.legs {
		l.Seen = false
	}
	return t.heard
}

// Channel is one channel the engine has, as its channel list tells.
type Channel struct {
	ID      string
	Created time.Time
	Up      bool // answered
	Ringing bool
}

// Gap is what is known of a time the connector was away from its engine.
type Gap struct {
	// LastHeard is when the engine was last heard on the previous
	// connection; zero if this process never heard it.
	LastHeard time.Time
	// EngineStart is when the engine last started, zero if unknown.
	EngineStart time.Time
}

// End is how a call that ended unseen during the gap is told: stamped with
// the last time the call was known up (its last event, or the engine last
// heard while it carried it), not the reconnection, so that duration and
// billsec leave the gap out; cause SYSTEM_SHUTDOWN when the engine started
// after that time (it restarted and dropped the call), else
// NORMAL_UNSPECIFIED: nobody can tell any more.
func (g Gap) End(c interface{ LastAt() time.Time }) (time.Time, string) {
	at := c.LastAt()
	if g.LastHeard.After(at) {
		at = g.LastHeard
	}
	if !g.EngineStart.IsZero() && g.EngineStart.After(at) {
		return at, events.CauseSystemShutdown
	}
	return at, events.CauseNormalUnspecified
}

// Reconcile brings the calls up to date with the engine's channels listed
// on this connection (live tells of one by its id). A leg neither listed
// nor reported by an event on this connection ended while the connector
// was away: gone ends it (Drop, with the cause the connector can still
// tell, else the time and cause gap.End gives). A leg still listed gets
// the events it missed: its ring, its answer (callees' first, so that the
// engine's answer of the caller's leg is not taken for an IVR's; a caller
// answered with no callee answers as the number dialled). Legs go in a
// stable order: by call, the caller's leg first.
func (t *Tracker[E]) Reconcile(live func(id string) (Channel, bool), now time.Time, gone func(*Leg[E]) []events.Event) []events.Event {
	var out []events.Event
	legs := t.sortedLegs()
	for _, l := range legs {
		if _, ok := live(l.ID); ok || l.Seen || t.legs[l.ID] == nil {
			continue
		}
		out = append(out, gone(l)...)
	}
	for _, callers := range []bool{false, true} {
		for _, l := range legs {
			ch, ok := live(l.ID)
			if !ok || l.Seen || l.Caller != callers || t.legs[l.ID] == nil {
				continue
			}
			if ch.Ringing && !l.Rang {
				out = append(out, t.Ring(l, now)...)
			}
			if ch.Up && !l.Answered {
				out = append(out, t.Answer(l, now, l.Call.Dest)...)
			}
		}
	}
	return out
}

// Resume takes up a call the previous run of the process left open, from
// its recorded events (oldest first): its caller's leg (CALL_ROUTED's), the
// callee legs that rang or answered, whether it is answered and held, so
// that the engine's next events of those legs go on with the same call.
// It returns nil for events that do not start with a CALL_ROUTED.
func (t *Tracker[E]) Resume(evs []events.Event) *Call[E] {
	if len(evs) == 0 || evs[0].Kind != events.CallRouted || evs[0].LegUUID == "" {
		return nil
	}
	r := evs[0]
	c := &Call[E]{
		UUID: r.CallUUID, Session: r.SessionUUID, CallerLeg: r.LegUUID, Caller: r.CallerIDNumber, CallerName: r.CallerIDName,
		Dest: r.DestinationNumber, Direction: r.Direction, legs: map[string]*Leg[E]{},
		life: *callrules.Replay(evs),
	}
	t.Join(c, &Leg[E]{ID: r.LegUUID, Caller: true})
	for _, e := range evs[1:] {
		if e.LegUUID == "" {
			continue
		}
		l := t.legs[e.LegUUID]
		if l == nil {
			l = &Leg[E]{ID: e.LegUUID, Number: e.DestinationNumber}
			t.Join(c, l)
		}
		if q := e.Queue; q != nil && c.queue == nil {
			c.queue = &queueStay{number: q.Number, entered: e.OccurredAt.Add(-time.Duration(q.Wait) * time.Second)}
		}
		switch e.Kind {
		case events.CallRinging:
			l.Rang = true
		case events.CallAnswer:
			l.Answered, c.Callee = true, e.DestinationNumber
			if d := e.Diversion; d != nil && d.Reason == events.DivertQueue && c.queue != nil {
				c.queue.answered, c.queue.left = true, e.OccurredAt
			}
		case events.CallHold:
			c.holds.Set(e.Party, true)
		case events.CallUnhold:
			c.holds.Clear()
		}
	}
	return c
}

func (t *Tracker[E]) sortedLegs() []*Leg[E] {
	return slices.SortedFunc(maps.Values(t.legs), func(a, b *Leg[E]) int {
		if c := strings.Compare(a.Call.UUID, b.Call.UUID); c != 0 {
			return c
		}
		if a.Caller != b.Caller {
			if a.Caller {
				return -1
			}
			return 1
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// event builds an event of c with destination dest, about leg l when not
// nil.
func (t *Tracker[E]) event(c *Call[E], k events.Kind, at time.Time, l *Leg[E], dest string) events.Event {
	e := events.Event{
		Kind:              k,
		CallUUID:          c.UUID,
		SessionUUID:       c.Session,
		CallerIDNumber:    c.Caller,
		CallerIDName:      c.CallerName,
		DestinationNumber: dest,
		OccurredAt:        at,
		Direction:         c.Direction,
		Source:            t.source,
	}
	if l != nil {
		e.LegUUID = l.ID
	}
	e.Queue = c.queueStay(at)
	return e
}

// queueStay is c's queue field at at: nil when c never entered a queue.
func (c *Call[E]) queueStay(at time.Time) *events.QueueStay {
	q := c.queue
	if q == nil {
		return nil
	}
	until := at
	if !q.left.IsZero() {
		until = q.left
	}
	wait := int64(0)
	if d := until.Sub(q.entered); d > 0 {
		wait = int64(d / time.Second)
	}
	return &events.QueueStay{Number: q.number, Wait: wait}
}
