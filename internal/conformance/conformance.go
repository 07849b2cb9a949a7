package conformance

import (
	"fmt"
	"strings"
	"testing"

	"github.com/switchhook/switchhook/internal/events"
)

// Scenario is one call and the events it must give, one Line each, and
// the calls it makes in its session (a transfer by the caller), in the
// order of their first events. Placeholders in braces ({dialled}, {sip})
// are filled by each source.
type Scenario struct {
	Name string
	What string
	Want []string
	Then [][]string
}

// calleeHoldDigit is a call 1002 answers, holds and unholds, sends a digit
// in and hangs up.
var calleeHoldDigit = []string{
	"CALL_ROUTED 1001>1002 internal to=extension:1002",
	"CALL_RINGING 1001>1002 internal",
	"CALL_ANSWER 1001>1002 internal",
	"CALL_HOLD 1001>1002 internal callee",
	"CALL_UNHOLD 1001>1002 internal callee",
	"CALL_INPUT 1001>1002 internal digit=5 160ms callee",
	"CALL_HANGUP 1001>1002 internal NORMAL_CLEARING 200 callee",
}

// Scenarios is the suite.
var Scenarios = []Scenario{
	{Name: "callee-hold-digit", What: "1001 calls 1002, who answers, holds and unholds, sends SIP INFO 5 (160 ms) and hangs up", Want: calleeHoldDigit},
	// A connector's calls outlive switchhook (the engine carries them); the
	// built-in PBX's die with it, which engine-restart plays.
	{Name: "switchhook-restart", What: "the call of callee-hold-digit, switchhook stopped while 1002 rings and started again once 1002 answered: one call, the answer it missed", Want: calleeHoldDigit},
	{Name: "reconnect", What: "the call of callee-hold-digit, the connection to the engine cut once answered and made again", Want: calleeHoldDigit},
	{Name: "caller-digits-hold", What: "1001 calls 1002, who answers; 1001 sends RFC 4733 1 and # (lasting {d1} and {d2} ms), holds and unholds, hangs up", Want: []string{
		"CALL_ROUTED 1001>1002 internal to=extension:1002",
		"CALL_RINGING 1001>1002 internal",
		"CALL_ANSWER 1001>1002 internal",
		"CALL_INPUT 1001>1002 internal digit=1 {d1}ms caller",
		"CALL_INPUT 1001>1002 internal digit=# {d2}ms caller",
		"CALL_HOLD 1001>1002 internal caller",
		"CALL_UNHOLD 1001>1002 internal caller",
		"CALL_HANGUP 1001>1002 internal NORMAL_CLEARING 200 caller",
	}},
	{Name: "ivr", What: "1001 dials 1010, an IVR that answers; 1001 presses 2 (lasting {d1} ms), the IVR's option for 1002, who rings and answers; 1001 sends # ({d2} ms), holds, unholds and hangs up", Want: []string{
		"CALL_ROUTED 1001>1010 internal to=ivr:1010",
		"CALL_ANSWER 1001>1010 internal",
		"CALL_INPUT 1001>1010 internal digit=2 {d1}ms caller",
		"CALL_RINGING 1001>1002 internal",
		"CALL_ANSWER 1001>1002 internal",
		"CALL_INPUT 1001>1002 internal digit=# {d2}ms caller",
		"CALL_HOLD 1001>1002 internal caller",
		"CALL_UNHOLD 1001>1002 internal caller",
		"CALL_HANGUP 1001>1002 internal NORMAL_CLEARING 200 caller",
	}},
	{Name: "ring-group", What: "1001 dials 600, a ring group ringing 1002 and 1003 at once; 1002 rings first, 1003 rings and answers (1002 is cancelled); 1001 hangs up", Want: []string{
		"CALL_ROUTED 1001>600 internal to=ring_group:600",
		"CALL_RINGING 1001>1002 internal",
		"CALL_RINGING 1001>1003 internal",
		"CALL_ANSWER 1001>1003 internal",
		"CALL_HANGUP 1001>1003 internal NORMAL_CLEARING 200 caller",
	}},
	{Name: "blind-transfer-held", What: "1002 answers at once, holds 1001 and transfers it blind (REFER without Replaces) to 1003, who rings and answers; 1001 hangs up", Want: []string{
		"CALL_ROUTED 1001>1002 internal to=extension:1002",
		"CALL_ANSWER 1001>1002 internal",
		"CALL_HOLD 1001>1002 internal callee",
		"CALL_UNHOLD 1001>1002 internal callee",
		"CALL_RINGING 1001>1003 internal diverted=transfer<1002",
		"CALL_ANSWER 1001>1003 internal diverted=transfer<1002",
		"CALL_HANGUP 1001>1003 internal NORMAL_CLEARING 200 caller",
	}},
	{Name: "attended-transfer-by-callee", What: "1002 answers at once, holds 1001, calls 1003 (who rings and answers), and joins them (REFER with Replaces); 1001 hangs up", Want: []string{
		"CALL_ROUTED 1001>1002 internal to=extension:1002",
		"CALL_ANSWER 1001>1002 internal",
		"CALL_HOLD 1001>1002 internal callee",
		"CALL_UNHOLD 1001>1002 internal callee",
		"CALL_ANSWER 1001>1003 internal diverted=attended_transfer<1002",
		"CALL_HANGUP 1001>1003 internal NORMAL_CLEARING 200 caller",
	}, Then: [][]string{{
		"CALL_ROUTED 1002>1003 internal to=extension:1003",
		"CALL_RINGING 1002>1003 internal",
		"CALL_ANSWER 1002>1003 internal",
		"CALL_HANGUP 1002>1003 internal ATTENDED_TRANSFER 200 caller",
	}}},
	{Name: "attended-transfer-by-caller", What: "1002 answers 1001, who holds it, calls 1003 (who rings and answers) and joins them (REFER with Replaces on the first call); 1002 hangs up", Want: []string{
		"CALL_ROUTED 1001>1002 internal to=extension:1002",
		"CALL_RINGING 1001>1002 internal",
		"CALL_ANSWER 1001>1002 internal",
		"CALL_HOLD 1001>1002 internal caller",
		"CALL_HANGUP 1001>1002 internal ATTENDED_TRANSFER 200 caller",
	}, Then: [][]string{{
		"CALL_ROUTED 1001>1003 internal to=extension:1003",
		"CALL_RINGING 1001>1003 internal",
		"CALL_ANSWER 1001>1003 internal",
		"CALL_HANGUP 1001>1003 internal ATTENDED_TRANSFER 200 caller",
	}, {
		"CALL_ROUTED 1002>1003 internal to=extension:1003",
		"CALL_ANSWER 1002>1003 internal",
		"CALL_HANGUP 1002>1003 internal NORMAL_CLEARING 200 caller",
	}}},
	{Name: "blind-transfer-by-caller", What: "1002 answers, 1001 transfers it blind to 1003 and leaves; 1003 rings, answers and hangs up", Want: []string{
		"CALL_ROUTED 1001>1002 internal to=extension:1002",
		"CALL_RINGING 1001>1002 internal",
		"CALL_ANSWER 1001>1002 internal",
		"CALL_HANGUP 1001>1002 internal BLIND_TRANSFER 200 caller",
	}, Then: [][]string{{
		"CALL_ROUTED 1002>1003 internal to=extension:1003",
		"CALL_RINGING 1002>1003 internal",
		"CALL_ANSWER 1002>1003 internal",
		"CALL_HANGUP 1002>1003 internal NORMAL_CLEARING 200 callee",
	}}},
	{Name: "queue-music-answered", What: "1001 dials {dialled}, a queue that answers with music; its agent 1002 rings and answers; {by} hangs up", Want: []string{
		"CALL_ROUTED 1001>{dialled} internal to=queue:{queue}",
		"CALL_ANSWER 1001>{dialled} internal",
		"CALL_RINGING 1001>1002 internal diverted=queue<{dialled}",
		"CALL_ANSWER 1001>1002 internal diverted=queue<{dialled}",
		"CALL_HANGUP 1001>1002 internal NORMAL_CLEARING 200 {by}",
	}},
	{Name: "queue-ringback-answered", What: "1001 dials {dialled}, a queue that plays ringback (answers nothing itself); its agent 1002 rings and answers; {by} hangs up", Want: []string{
		"CALL_ROUTED 1001>{dialled} internal to=queue:{queue}",
		"CALL_RINGING 1001>1002 internal diverted=queue<{dialled}",
		"CALL_ANSWER 1001>1002 internal diverted=queue<{dialled}",
		"CALL_HANGUP 1001>1002 internal NORMAL_CLEARING 200 {by}",
	}},
	{Name: "busy", What: "1002 answers 486 Busy Here", Want: []string{
		"CALL_ROUTED 1001>1002 internal to=extension:1002",
		"CALL_HANGUP 1001>1002 internal USER_BUSY 486 callee",
	}},
	{Name: "cancel", What: "the caller cancels while 1002 rings", Want: []string{
		"CALL_ROUTED 1001>1002 internal to=extension:1002",
		"CALL_RINGING 1001>1002 internal",
		"CALL_HANGUP 1001>1002 internal ORIGINATOR_CANCEL 487 caller",
	}},
	{Name: "no-answer", What: "1002 rings until the ring timeout ({dialled} rings 1002)", Want: []string{
		"CALL_ROUTED 1001>{dialled} internal to=extension:1002",
		"CALL_RINGING 1001>1002 internal",
		"CALL_HANGUP 1001>{dialled} internal NO_ANSWER {sip} system",
	}},
	{Name: "engine-restart", What: "an answered call, and the engine (for the built-in PBX, switchhook) killed and started again", Want: []string{
		"CALL_ROUTED 1001>1002 internal to=extension:1002",
		"CALL_RINGING 1001>1002 internal",
		"CALL_ANSWER 1001>1002 internal",
		"CALL_HANGUP 1001>1002 internal SYSTEM_SHUTDOWN 0 system",
	}},
}

// Source plays scenarios. Play returns the events the source gave for the
// scenario's call (and the calls it made), in order, and the values of the scenario's
// placeholders; ok is false when the source has no way to play it (no
// recording of such a call), which the suite reports as skipped.
type Source interface {
	Play(t *testing.T, scenario string) (evs []events.Event, vars map[string]string, ok bool)
}

// Run plays every scenario on src, each in a subtest, and compares the
// events with the scenario's, call by call and field by field.
func Run(t *testing.T, src Source) {
	for _, sc := range Scenarios {
		t.Run(sc.Name, func(t *testing.T) {
			evs, vars, ok := src.Play(t, sc.Name)
			if !ok {
				t.Skipf("no way to play %q on this source", sc.What)
			}
			compare(t, sc, evs, vars)
		})
	}
}

// Compare checks evs, what a source gave for the scenario named name
// another way than its Source plays it (an engine's other mode of the same
// call), with vars its placeholders' values, as Run does.
func Compare(t *testing.T, name string, evs []events.Event, vars map[string]string) {
	t.Helper()
	for _, sc := range Scenarios {
		if sc.Name == name {
			compare(t, sc, evs, vars)
			return
		}
	}
	t.Fatalf("no scenario %q", name)
}

// compare checks evs against sc, call by call and field by field.
func compare(t *testing.T, sc Scenario, evs []events.Event, vars map[string]string) {
	t.Helper()
	var order []string
	byCall := map[string][]events.Event{}
	for _, e := range evs {
		if byCall[e.CallUUID] == nil {
			order = append(order, e.CallUUID)
		}
		byCall[e.CallUUID] = append(byCall[e.CallUUID], e)
	}
	calls := append([][]string{sc.Want}, sc.Then...)
	if len(order) != len(calls) {
		t.Fatalf("%s: %d calls, want %d:\n%s", sc.What, len(order), len(calls), lines(evs))
	}
	for i, id := range order {
		want := fill(t, calls[i], vars)
		if got := lines(byCall[id]); got != strings.Join(want, "\n") {
			t.Fatalf("%s, call %d:\n%s\nwant:\n%s", sc.What, i+1, got, strings.Join(want, "\n"))
		}
		if s := byCall[id][0].SessionUUID; i > 0 && s != byCall[order[0]][0].SessionUUID {
			t.Errorf("call %d is in session %s, not the first call's", i+1, s)
		}
		// The caller's name comes from each source's own configuration or
		// phones, so sources differ in it; but a call's events all carry
		// the one of its CALL_ROUTED.
		for _, e := range byCall[id] {
			if name := byCall[id][0].CallerIDName; e.CallerIDName != name {
				t.Errorf("call %d: %s has caller_id_name %q, CALL_ROUTED %q", i+1, e.Kind, e.CallerIDName, name)
			}
		}
	}
}

// fill replaces the placeholders of want with vars.
func fill(t *testing.T, want []string, vars map[string]string) []string {
	out := make([]string, len(want))
	for i, w := range want {
		for k, v := range vars {
			w = strings.ReplaceAll(w, "{"+k+"}", v)
		}
		if strings.Contains(w, "{") {
			t.Fatalf("the source left a placeholder unfilled: %s", w)
		}
		out[i] = w
	}
	return out
}

func lines(evs []events.Event) string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = Line(e)
	}
	return strings.Join(out, "\n")
}

// Line renders the facts of e every source must agree on: kind,
// caller>destination, direction, and what the kind adds (routed_to, the
// digit, its duration and who pressed it, who held, the diversion, the
// hangup's cause, SIP code and party). Ids and times differ by source and
// are left out.
func Line(e events.Event) string {
	s := fmt.Sprintf("%s %s>%s %s", e.Kind, e.CallerIDNumber, e.DestinationNumber, e.Direction)
	switch e.Kind {
	case events.CallRouted:
		if e.RoutedTo != nil {
			s += fmt.Sprintf(" to=%s:%s", e.RoutedTo.Type, e.RoutedTo.Target)
		}
	case events.CallInput:
		s += fmt.Sprintf(" digit=%s %dms %s", e.Digit, e.DigitDuration.Milliseconds(), e.Party)
	case events.CallHold, events.CallUnhold:
		s += " " + string(e.Party)
	case events.CallHangup:
		if h := e.Hangup; h != nil {
			s += fmt.Sprintf(" %s %d %s", h.Cause, h.SIPCode, h.By)
		}
	}
	if d := e.Diversion; d != nil {
		s += fmt.Sprintf(" diverted=%s<%s", d.Reason, d.From)
	}
	return s
}
