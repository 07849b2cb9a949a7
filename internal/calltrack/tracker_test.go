package calltrack

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/switchhook/switchhook/internal/callrules"
	"github.com/switchhook/switchhook/internal/connector/connectortest"
	"github.com/switchhook/switchhook/internal/events"
)

// ending is a connector's own state of a call in these tests: the cause it
// would report.
type ending struct{ cause string }

type (
	tcall = Call[ending]
	tleg  = Leg[ending]
)

var t0 = time.Date(2026, 1, 27, 12, 2, 30, 0, time.UTC)

func newTestTracker() *Tracker[ending] {
	return New[ending]("test/t1", slog.New(slog.DiscardHandler))
}

// startCall tracks a call from 1001 dialling dest, with its caller's leg.
func startCall(tr *Tracker[ending], callerLeg, dest string, related ...string) (*tcall, *tleg) {
	c := tr.NewCall(callerLeg, related...)
	c.Caller, c.Dest, c.Direction = "1001", dest, events.Internal
	l := &tleg{ID: callerLeg, Caller: true}
	tr.Join(c, l)
	return c, l
}

func addCallee(tr *Tracker[ending], c *tcall, id, number string) *tleg {
	l := &tleg{ID: id, Number: number}
	tr.Join(c, l)
	return l
}

func hangup(c *tcall) *events.Hangup {
	return &events.Hangup{Cause: c.Engine.cause, SIPCode: callrules.SIPCode(c.Engine.cause, c.Answered()), By: callrules.HangupBy(c.Engine.cause, c.By, c.Answered())}
}

func summary(e events.Event) string { return connectortest.Summary(e, 0) }

// assertEvents compares the events of one call with want.
func assertEvents(t *testing.T, got []events.Event, want ...string) {
	t.Helper()
	connectortest.AssertEvents(t, got, want, 0)
	connectortest.AssertOneCall(t, got, "test/t1")
}

// A call a callee answers: routed once, one ringing however often the leg
// rings, the engine's answer of the caller's leg (bridging) not counted,
// holds only as changes, and one hangup when the last leg goes.
func TestCalleeAnsweredCall(t *testing.T) {
	tr := newTestTracker()
	c, a := startCall(tr, "a1", "1002")
	var out []events.Event
	add := func(evs ...events.Event) { out = append(out, evs...) }
	add(tr.Route(c, t0, &events.Target{Type: events.Extension, Target: "1002"})...)
	add(tr.EnsureRouted(c, t0)...)
	b := addCallee(tr, c, "b1", "1002")
	add(tr.Ring(b, t0)...)
	add(tr.Ring(b, t0)...)
	add(tr.Ring(a, t0)...)
	add(tr.Answer(b, t0.Add(time.Second), "")...)
	add(tr.Answer(b, t0.Add(time.Second), "")...)
	add(tr.Answer(a, t0.Add(time.Second), "1002")...)
	add(tr.Input(b, t0.Add(2*time.Second), "5", 100*time.Millisecond)...)
	// Held while either party holds: the caller holds, then the callee
	// too, the caller lets go (still held), then the callee.
	add(tr.Hold(a, t0.Add(3*time.Second), true)...)
	add(tr.Hold(a, t0.Add(3*time.Second), true)...)
	add(tr.Hold(b, t0.Add(3*time.Second), true)...)
	add(tr.Hold(a, t0.Add(4*time.Second), false)...)
	add(tr.Hold(b, t0.Add(4*time.Second), false)...)
	add(tr.Hold(b, t0.Add(4*time.Second), false)...)
	c.By, c.Engine.cause = a.Party(), events.CauseNormalClearing
	add(tr.Drop(b, t0.Add(5*time.Second), hangup)...)
	if c.Over() {
		t.Fatal("call over with its caller's leg up")
	}
	add(tr.Drop(a, t0.Add(5*time.Second), hangup)...)
	assertEvents(t, out,
		"CALL_ROUTED 1001>1002 leg=a1 internal to=extension:1002",
		"CALL_RINGING 1001>1002 leg=b1 internal",
		"CALL_ANSWER 1001>1002 leg=b1 internal",
		"CALL_INPUT 1001>1002 leg=b1 internal digit=5 100ms callee",
		"CALL_HOLD 1001>1002 leg=a1 internal caller",
		"CALL_UNHOLD 1001>1002 leg=b1 internal callee",
		"CALL_HANGUP 1001>1002 leg=a1 internal NORMAL_CLEARING 200 caller",
	)
	if !c.Over() || tr.Leg("a1") != nil || tr.Leg("b1") != nil {
		t.Fatalf("after the last leg: over %v, legs %v %v", c.Over(), tr.Leg("a1"), tr.Leg("b1"))
	}
}

// The engine answering the caller's leg with no callee up is the engine as
// the destination (an IVR): the call is routed to it and answered as the
// number the connector names.
func TestEngineAnswersCall(t *testing.T) {
	tr := newTestTracker()
	c, a := startCall(tr, "a1", "5000")
	var out []events.Event
	out = append(out, tr.Answer(a, t0, "5000")...)
	out = append(out, tr.Input(a, t0, "x", time.Millisecond)...) // not a DTMF digit: skipped
	out = append(out, tr.Input(a, t0, "#", 150*time.Millisecond)...)
	// A transfer from the IVR to an extension.
	b := addCallee(tr, c, "b1", "1002")
	out = append(out, tr.Ring(b, t0)...)
	out = append(out, tr.Answer(b, t0, "")...)
	c.Engine.cause = events.CauseNormalClearing
	out = append(out, tr.Drop(a, t0, hangup)...)
	out = append(out, tr.Drop(b, t0, hangup)...)
	assertEvents(t, out,
		"CALL_ROUTED 1001>5000 leg=a1 internal to=ivr:5000",
		"CALL_ANSWER 1001>5000 leg=a1 internal",
		"CALL_INPUT 1001>5000 leg=a1 internal digit=# 150ms caller",
		"CALL_RINGING 1001>1002 leg=b1 internal",
		"CALL_ANSWER 1001>1002 leg=b1 internal",
		"CALL_HANGUP 1001>1002 leg=b1 internal NORMAL_CLEARING 200 system",
	)
}

// A call that shows it was routed before the engine said where to (a
// callee rings or answers, a digit comes, the connector joins mid-call)
// gets its CALL_ROUTED first, with no target.
func TestRoutedFirst(t *testing.T) {
	for name, step := range map[string]func(tr *Tracker[ending], c *tcall, a *tleg) []events.Event{
		"ring": func(tr *Tracker[ending], c *tcall, _ *tleg) []events.Event {
			return tr.Ring(addCallee(tr, c, "b1", "1002"), t0)
		},
		"answer": func(tr *Tracker[ending], c *tcall, _ *tleg) []events.Event {
			return tr.Answer(addCallee(tr, c, "b1", "1002"), t0, "")
		},
		"digit":  func(tr *Tracker[ending], _ *tcall, a *tleg) []events.Event { return tr.Input(a, t0, "1", 0) },
		"joined": func(tr *Tracker[ending], c *tcall, _ *tleg) []events.Event { return tr.EnsureRouted(c, t0) },
	} {
		t.Run(name, func(t *testing.T) {
			tr := newTestTracker()
			c, a := startCall(tr, "a1", "1002")
			out := step(tr, c, a)
			if len(out) == 0 || summary(out[0]) != "CALL_ROUTED 1001>1002 leg=a1 internal" || !c.Routed() {
				t.Fatalf("events %v", out)
			}
			if again := tr.EnsureRouted(c, t0); len(again) != 0 {
				t.Fatalf("routed twice: %v", again)
			}
		})
	}
}

// Holds count only on an answered call.
func TestHoldBeforeAnswer(t *testing.T) {
	tr := newTestTracker()
	c, a := startCall(tr, "a1", "1002")
	tr.Route(c, t0, nil)
	if out := tr.Hold(a, t0, true); len(out) != 0 || c.Held() {
		t.Fatalf("hold before answer: %v", out)
	}
}

// A gateway target makes an internal call outbound; an inbound call stays
// inbound.
func TestGatewayTarget(t *testing.T) {
	tr := newTestTracker()
	gw := &events.Target{Type: events.Gateway, Target: "carrier1"}
	c, _ := startCall(tr, "a1", "915551234567")
	assertEvents(t, tr.Route(c, t0, gw),
		"CALL_ROUTED 1001>915551234567 leg=a1 outbound to=gateway:carrier1")
	in, _ := startCall(tr, "a2", "915551234567")
	in.Direction = events.Inbound
	assertEvents(t, tr.Route(in, t0, gw),
		"CALL_ROUTED 1001>915551234567 leg=a2 inbound to=gateway:carrier1")
}

// A call never routed emitted nothing and ends with nothing.
func TestUnroutedCallEndsSilently(t *testing.T) {
	tr := newTestTracker()
	_, a := startCall(tr, "a1", "999")
	out := tr.Drop(a, t0, func(*tcall) *events.Hangup {
		t.Fatal("hangup worked out for a call never routed")
		return nil
	})
	if len(out) != 0 || !a.Call.Over() {
		t.Fatalf("events %v, over %v", out, a.Call.Over())
	}
}

func TestNewCallUUID(t *testing.T) {
	tr := newTestTracker()
	v4 := "3f2a9c1e-5b7d-4e8a-9c21-7d4b6a0e1f01"
	if got := tr.NewCall(v4).UUID; got != v4 {
		t.Errorf("v4 leg id: call UUID %s, want it kept", got)
	}
	if got := tr.NewCall(strings.ToUpper(v4)).UUID; got != v4 {
		t.Errorf("upper-case v4 leg id: call UUID %s, want %s", got, v4)
	}
	for _, id := range []string{
		"1769515350.101",                         // Asterisk's channel ids
		"6ba7b810-9dad-11d1-80b4-00c04fd430c8",   // version 1
		"{3f2a9c1e-5b7d-4e8a-9c21-7d4b6a0e1f01}", // parses, but not in the plain form
		"",
	} {
		c := tr.NewCall(id)
		u, err := uuid.Parse(c.UUID)
		if err != nil || u.Version() != 4 || u.String() != c.UUID || c.UUID == id {
			t.Errorf("leg id %q: call UUID %q, want a fresh lower-case v4 UUID", id, c.UUID)
		}
		if c.Session != c.UUID || c.CallerLeg != id {
			t.Errorf("leg id %q: session %s, caller leg %q", id, c.Session, c.CallerLeg)
		}
	}
}

// A call made from a leg of an ended call carries that call's session: the
// first related leg the tracker remembers decides.
func TestSessionOfRelatedCall(t *testing.T) {
	tr := newTestTracker()
	first, a := startCall(tr, "11111111-1111-4111-8111-111111111111", "1002")
	second, b := startCall(tr, "22222222-2222-4222-8222-222222222222", "1003")
	tr.Drop(a, t0, hangup)
	tr.Drop(b, t0, hangup)
	if c := tr.NewCall("c", "unknown", b.ID, a.ID); c.Session != second.UUID || c.UUID == second.UUID {
		t.Fatalf("session %s, want %s; call %s", c.Session, second.UUID, c.UUID)
	}
	if c := tr.NewCall("d", a.ID); c.Session != first.UUID {
		t.Fatalf("session %s, want %s", c.Session, first.UUID)
	}
	if c := tr.NewCall("e", "unknown"); c.Session != c.UUID {
		t.Fatalf("unrelated call: session %s, want its own %s", c.Session, c.UUID)
	}
}

// The tracker remembers a bounded number of ended legs, the latest ones.
func TestEndedLegsBounded(t *testing.T) {
	tr := newTestTracker()
	var firstSession, lastSession string
	for i := range rememberEnded + 1 {
		c, l := startCall(tr, fmt.Sprintf("leg-%d", i), "1002")
		tr.Drop(l, t0, hangup)
		if i == 0 {
			firstSession = c.Session
		}
		lastSession = c.Session
	}
	if len(tr.ended) != rememberEnded || len(tr.endedOrder) != rememberEnded {
		t.Fatalf("remembers %d legs (%d in order), want %d", len(tr.ended), len(tr.endedOrder), rememberEnded)
	}
	if c := tr.NewCall("x", "leg-0"); c.Session == firstSession {
		t.Fatal("the oldest ended leg is still remembered")
	}
	if c := tr.NewCall("y", fmt.Sprintf("leg-%d", rememberEnded)); c.Session != lastSession {
		t.Fatal("the latest ended leg is forgotten")
	}
}

// Reconcile ends the legs the engine no longer lists and no event on this
// connection reported, call by call, the caller's leg first, and gives the
// legs still listed the events they missed, callees first.
func TestReconcile(t *testing.T) {
	tr := newTestTracker()
	c1, a1 := startCall(tr, "33333333-3333-4333-8333-333333333333", "1002")
	b1 := addCallee(tr, c1, "b1", "1002")
	c2, a2 := startCall(tr, "11111111-1111-4111-8111-111111111111", "1003")
	b2 := addCallee(tr, c2, "b2", "1003")
	c3, a3 := startCall(tr, "22222222-2222-4222-8222-222222222222", "1004")
	for _, c := range []*tcall{c1, c2, c3} {
		tr.Route(c, t0, nil)
	}
	for _, l := range []*tleg{a1, b1, a2, b2, a3} {
		l.Seen = true
	}
	tr.Unsee()
	a3.Seen = true // an event on the new connection reported it
	var gone []string
	live := map[string]Channel{b2.ID: {ID: b2.ID, Up: true}, a2.ID: {ID: a2.ID, Up: true}}
	listed := func(id string) (Channel, bool) { ch, ok := live[id]; return ch, ok }
	out := tr.Reconcile(listed, t0.Add(time.Second), func(l *tleg) []events.Event {
		gone = append(gone, l.ID)
		l.Call.Engine.cause = events.CauseNormalUnspecified
		return tr.Drop(l, t0, hangup)
	})
	if want := []string{a1.ID, "b1"}; strings.Join(gone, " ") != strings.Join(want, " ") {
		t.Fatalf("gone %v, want %v", gone, want)
	}
	// b2 answered while the connector was away: one CALL_ANSWER, and the
	// engine's answer of a2 (bridging) is not taken for an IVR's.
	connectortest.AssertEvents(t, out, []string{
		"CALL_HANGUP 1001>1002 leg=b1 internal NORMAL_UNSPECIFIED 0 system",
		"CALL_ANSWER 1001>1003 leg=b2 internal",
	}, 0)
	if tr.Leg(b2.ID) == nil || tr.Leg(a3.ID) == nil || c2.Over() || c3.Over() {
		t.Fatal("a live or reported leg was ended")
	}
}

// Gap.End stamps a hangup worked out after a gap with the last time the
// call was known up, and says SYSTEM_SHUTDOWN only when the engine started
// after that.
func TestGapEnd(t *testing.T) {
	tr := newTestTracker()
	c, _ := startCall(tr, "a1", "1002")
	tr.Route(c, t0, nil)
	for _, tc := range []struct {
		gap       Gap
		wantAt    time.Time
		wantCause string
	}{
		{Gap{}, t0, events.CauseNormalUnspecified},
		{Gap{LastHeard: t0.Add(5 * time.Second)}, t0.Add(5 * time.Second), events.CauseNormalUnspecified},
		{Gap{LastHeard: t0.Add(5 * time.Second), EngineStart: t0.Add(time.Second)}, t0.Add(5 * time.Second), events.CauseNormalUnspecified},
		{Gap{LastHeard: t0.Add(5 * time.Second), EngineStart: t0.Add(8 * time.Second)}, t0.Add(5 * time.Second), events.CauseSystemShutdown},
	} {
		if at, cause := tc.gap.End(c); !at.Equal(tc.wantAt) || cause != tc.wantCause {
			t.Errorf("%+v.End = %v %s, want %v %s", tc.gap, at, cause, tc.wantAt, tc.wantCause)
		}
	}
}

// A call the previous run left open is taken up from its recorded events:
// its legs, answer and hold, so the engine's next events go on with it.
func TestResume(t *testing.T) {
	tr := newTestTracker()
	recorded := []events.Event{
		{Kind: events.CallRouted, CallUUID: "c1", SessionUUID: "c1", CallerIDNumber: "1001", CallerIDName: "Alice", DestinationNumber: "1002", LegUUID: "a1", Direction: events.Internal, OccurredAt: t0, Sequence: 1},
		{Kind: events.CallRinging, CallUUID: "c1", DestinationNumber: "1002", LegUUID: "b1", OccurredAt: t0, Sequence: 2},
		{Kind: events.CallAnswer, CallUUID: "c1", DestinationNumber: "1002", LegUUID: "b1", OccurredAt: t0.Add(time.Second), Sequence: 3},
		{Kind: events.CallHold, CallUUID: "c1", DestinationNumber: "1002", LegUUID: "b1", Party: events.Callee, OccurredAt: t0.Add(2 * time.Second), Sequence: 4},
	}
	c := tr.Resume(recorded)
	if c == nil || tr.Leg("a1") == nil || !tr.Leg("a1").Caller || tr.Leg("b1") == nil || !tr.Leg("b1").Answered || !c.Answered() || !c.Held() {
		t.Fatalf("resumed %+v", c)
	}
	b := tr.Leg("b1")
	var out []events.Event
	out = append(out, tr.Answer(b, t0.Add(3*time.Second), "")...)
	out = append(out, tr.Hold(b, t0.Add(3*time.Second), false)...)
	c.By, c.Engine.cause = events.Callee, events.CauseNormalClearing
	out = append(out, tr.Drop(b, t0.Add(4*time.Second), hangup)...)
	out = append(out, tr.Drop(tr.Leg("a1"), t0.Add(4*time.Second), hangup)...)
	connectortest.AssertEvents(t, out, []string{
		"CALL_UNHOLD 1001>1002 leg=b1 internal callee",
		"CALL_HANGUP 1001>1002 leg=a1 internal NORMAL_CLEARING 200 callee",
	}, 0)
	if out[0].CallUUID != "c1" {
		t.Errorf("call_uuid %s, want c1", out[0].CallUUID)
	}
	if c.CallerName != "Alice" || out[0].CallerIDName != "Alice" || out[1].CallerIDName != "Alice" {
		t.Errorf("caller's name %q, events %q %q; want Alice", c.CallerName, out[0].CallerIDName, out[1].CallerIDName)
	}
	if tr.Resume(recorded[1:]) != nil {
		t.Error("resumed events that do not start with CALL_ROUTED")
	}
}

// Legs yields each tracked leg once; a call's Legs, its live ones.
func TestLegs(t *testing.T) {
	tr := newTestTracker()
	c, a := startCall(tr, "a1", "1002")
	addCallee(tr, c, "b1", "1002")
	startCall(tr, "a2", "1003")
	tr.Drop(a, t0, hangup)
	var all, ofCall []string
	for l := range tr.Legs() {
		all = append(all, l.ID)
	}
	for l := range c.Legs() {
		ofCall = append(ofCall, l.ID)
	}
	if len(all) != 2 || len(ofCall) != 1 || ofCall[0] != "b1" {
		t.Fatalf("tracker legs %v, call legs %v", all, ofCall)
	}
}
