package callrules

import (
	"errors"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/events"
)

var t0 = time.Date(2026, 1, 27, 12, 0, 0, 0, time.UTC)

// step is one event offered to a Life: kind, leg, seconds after t0, and
// whether the rules admit it.
type step struct {
	kind  events.Kind
	leg   string
	at    int
	admit bool
}

func TestLifeRules(t *testing.T) {
	t.Parallel()
	for name, steps := range map[string][]step{
		"routed first": {{events.CallRinging, "b", 0, false}, {events.CallRouted, "a", 0, true}, {events.CallRouted, "a", 0, false}},
		"ringing once per leg": {{events.CallRouted, "a", 0, true}, {events.CallRinging, "b", 0, true}, {events.CallRinging, "b", 1, false},
			{events.CallRinging, "c", 1, true}},
		"answer once per leg, one per destination": {{events.CallRouted, "a", 0, true}, {events.CallAnswer, "a", 1, true},
			{events.CallAnswer, "a", 1, false}, {events.CallAnswer, "b", 2, true}},
		"hold only answered, alternating": {{events.CallRouted, "a", 0, true}, {events.CallHold, "a", 0, false}, {events.CallUnhold, "a", 0, false},
			{events.CallAnswer, "b", 1, true}, {events.CallUnhold, "a", 2, false}, {events.CallHold, "a", 2, true},
			{events.CallHold, "b", 3, false}, {events.CallUnhold, "b", 4, true}},
		"nothing after the hangup": {{events.CallRouted, "a", 0, true}, {events.CallHangup, "a", 1, true}, {events.CallHangup, "a", 1, false},
			{events.CallRouted, "a", 2, false}, {events.CallRinging, "b", 2, false}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var l Life
			var seq int64
			for i, s := range steps {
				e := events.Event{Kind: s.kind, LegUUID: s.leg, OccurredAt: t0.Add(time.Duration(s.at) * time.Second)}
				err := l.Apply(&e)
				if (err == nil) != s.admit {
					t.Fatalf("step %d %s leg %s: err %v, want admitted %v", i, s.kind, s.leg, err, s.admit)
				}
				if err != nil && !errors.Is(err, ErrRefused) {
					t.Errorf("step %d: %v does not wrap ErrRefused", i, err)
				}
				if err == nil {
					seq++
					if e.Sequence != seq {
						t.Errorf("step %d: sequence %d, want %d", i, e.Sequence, seq)
					}
				}
			}
		})
	}
}

// CALL_HANGUP's bookkeeping comes from the call's own events.
func TestLifeHangupBookkeeping(t *testing.T) {
	t.Parallel()
	var l Life
	for _, e := range []events.Event{
		{Kind: events.CallRouted, OccurredAt: t0},
		{Kind: events.CallAnswer, LegUUID: "b", DestinationNumber: "1002", OccurredAt: t0.Add(3 * time.Second)},
		{Kind: events.CallAnswer, LegUUID: "c", DestinationNumber: "1003", OccurredAt: t0.Add(5 * time.Second)},
	} {
		if err := l.Apply(&e); err != nil {
			t.Fatal(err)
		}
	}
	h := events.Event{Kind: events.CallHangup, OccurredAt: t0.Add(10 * time.Second)}
	if err := l.Apply(&h); err != nil {
		t.Fatal(err)
	}
	if got := *h.Hangup; got.Duration != 10 || got.Billsec != 7 || got.AnsweredBy != "1002" || got.Cause != events.CauseNormalUnspecified || got.By != events.System {
		t.Errorf("hangup = %+v", got)
	}
	if r := Replay([]events.Event{{Kind: events.CallRouted, OccurredAt: t0, Sequence: 1}, {Kind: events.CallAnswer, LegUUID: "b", OccurredAt: t0, Sequence: 2}}); !r.Answered() || r.Sequence() != 2 || r.Over() {
		t.Errorf("Replay: answered %v seq %d over %v", r.Answered(), r.Sequence(), r.Over())
	}
}

// Held while either party holds, per EVENTS.md.
func TestHolds(t *testing.T) {
	t.Parallel()
	var h Holds
	for i, s := range []struct {
		p    events.Party
		on   bool
		want events.Kind
	}{
		{events.Caller, true, events.CallHold}, {events.Caller, true, ""}, {events.Callee, true, ""},
		{events.Caller, false, ""}, {events.Callee, false, events.CallUnhold}, {events.Callee, false, ""},
		{events.Callee, true, events.CallHold},
	} {
		if got := h.Set(s.p, s.on); got != s.want {
			t.Errorf("step %d: %s holds %v gave %q, want %q", i, s.p, s.on, got, s.want)
		}
	}
}

// The caller's name of CALL_ROUTED is on every later event, also on those of
// a Life replayed after a restart.
func TestLifeCallerName(t *testing.T) {
	t.Parallel()
	routed := events.Event{Kind: events.CallRouted, CallerIDName: "Alice", OccurredAt: t0, Sequence: 1}
	fresh := Life{}
	if err := fresh.Apply(&routed); err != nil {
		t.Fatal(err)
	}
	for name, l := range map[string]*Life{"live": &fresh, "replayed": Replay([]events.Event{routed})} {
		for _, k := range []events.Kind{events.CallAnswer, events.CallHangup} {
			e := events.Event{Kind: k, LegUUID: "b", OccurredAt: t0.Add(time.Second)}
			if err := l.Apply(&e); err != nil {
				t.Fatal(err)
			}
			if e.CallerIDName != "Alice" {
				t.Errorf("%s: %s has caller_id_name %q, want Alice", name, k, e.CallerIDName)
			}
		}
	}
	var none Life
	for _, k := range []events.Kind{events.CallRouted, events.CallHangup} {
		e := events.Event{Kind: k, OccurredAt: t0}
		if err := none.Apply(&e); err != nil || e.CallerIDName != "" {
			t.Errorf("a caller with no name: %s has %q (err %v)", k, e.CallerIDName, err)
		}
	}
}
