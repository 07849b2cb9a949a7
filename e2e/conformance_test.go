package e2e

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/conformance"
	"github.com/switchhook/switchhook/internal/events"
)

// pbxSource plays the conformance suite on the built-in PBX of the real
// process, through SIP with SIPp: 1001 calls 1002, each side a SIPp
// scenario of the PBX's own tests.
type pbxSource struct{}

// pbxCalls names each scenario's callee and caller SIPp scenarios.
var pbxCalls = map[string][2]string{
	"callee-hold-digit":  {"callee_hold_info.xml", "caller_passive.xml"},
	"caller-digits-hold": {"callee_answer.xml", "caller_dtmf_hold.xml"},
	"busy":               {"callee_busy.xml", "caller_reject_486.xml"},
	"cancel":             {"callee_ring.xml", "caller_cancel.xml"},
	"no-answer":          {"callee_ring.xml", "caller_reject_480.xml"},
	"engine-restart":     {"callee_answer.xml", "caller_passive.xml"},
}

func (pbxSource) Play(t *testing.T, scenario string) ([]events.Event, map[string]string, bool) {
	switch scenario {
	case "blind-transfer-held":
		return blindTransferOfHeldCall(t), nil, true
	case "blind-transfer-by-caller":
		return blindTransferByCaller(t), nil, true
	case "attended-transfer-by-callee":
		return attendedTransferByCallee(t), nil, true
	case "attended-transfer-by-caller":
		return attendedTransferByCaller(t), nil, true
	case "queue-music-answered":
		// Queue 600 answers with its music; the agent hangs up.
		return queueAnswered(t, ""), map[string]string{"dialled": "600", "queue": "600", "by": "callee"}, true
	case "queue-ringback-answered":
		return queueAnswered(t, ", music: ringback"), map[string]string{"dialled": "600", "queue": "600", "by": "callee"}, true
	case "ivr":
		// SIPp's RFC 4733 digits last 280 ms.
		return ivrThenHold(t), map[string]string{"d1": "280", "d2": "280"}, true
	case "ring-group":
		return ringGroup(t), nil, true
	}
	call, ok := pbxCalls[scenario]
	if !ok {
		return nil, nil, false
	}
	rcv := NewReceiver(t)
	s := startPBXServer(t, map[string]*Receiver{"extended": rcv})
	callee := s.phone(t, "1002", call[0])
	caller := s.dial(t, call[1], "1001", "1002")
	if scenario == "engine-restart" {
		// The built-in PBX is the engine: its calls die with the process.
		rcv.WaitFor(t, 20*time.Second, "the answer", func(h []Webhook) bool { return slices.Contains(Events(h), "CALL_ANSWER") })
		s.Kill()
		s.Restart()
	} else {
		caller()
		callee()
	}
	hooks := rcv.WaitFor(t, 30*time.Second, "the hangup", func(h []Webhook) bool { return slices.Contains(Events(h), "CALL_HANGUP") })
	var out []events.Event
	for _, h := range ByCall(hooks)[hooks[0].CallUUID()] {
		out = append(out, eventOf(h.Body))
	}
	// The ring timeout (5 s) passed: the PBX answers the caller 480. The
	// SIPp caller's digits last 280 ms each.
	return out, map[string]string{"dialled": "1002", "sip": "480", "d1": "280", "d2": "280"}, true
}

// blindTransferOfHeldCall: 1002 is a test phone that answers, holds and
// REFERs the call to 1003, a SIPp phone that answers.
func blindTransferOfHeldCall(t *testing.T) []events.Event {
	rcv := NewReceiver(t)
	s := startTransferServer(t, map[string]*Receiver{"extended": rcv})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ph := testPhone(t, ctx, s, "1002")
	answers := s.phone(t, "1003", "callee_answer.xml")
	caller := s.dial(t, "caller_transferred.xml", "1001", "1002")
	first := answerHeld(t, ctx, ph)
	if res, err := ph.Refer(ctx, first, "<sip:1003@pbx.test>"); err != nil || res.StatusCode != 202 {
		t.Fatalf("REFER: %v %v", res, err)
	}
	waitNotify(t, ctx, ph, 200, first.InviteRequest.CallID().Value())
	caller()
	answers()
	hooks := rcv.WaitFor(t, 30*time.Second, "the hangup", func(h []Webhook) bool { return slices.Contains(Events(h), "CALL_HANGUP") })
	var out []events.Event
	for _, h := range ByCall(hooks)[hooks[0].CallUUID()] {
		out = append(out, eventOf(h.Body))
	}
	return out
}

// blindTransferByCaller: 1001 (SIPp) REFERs its answered call to 1003 and
// leaves; 1002 stays, 1003 answers and hangs up.
func blindTransferByCaller(t *testing.T) []events.Event {
	rcv := NewReceiver(t)
	s := startTransferServer(t, map[string]*Receiver{"extended": rcv})
	stays := s.phone(t, "1002", "callee_answer.xml")
	target := s.phone(t, "1003", "callee_answer_bye.xml")
	s.dial(t, "caller_refer.xml", "1001", "1002", "-key", "target", "1003")()
	target()
	stays()
	return allEvents(rcv.WaitFor(t, 30*time.Second, "both hangups", hangups(2)))
}

// attendedTransferByCallee: 1002 is a test phone that answers, holds, calls
// 1003 (a SIPp phone that answers) and REFERs the first call with Replaces
// naming the second.
func attendedTransferByCallee(t *testing.T) []events.Event {
	rcv := NewReceiver(t)
	s := startTransferServer(t, map[string]*Receiver{"extended": rcv})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ph := testPhone(t, ctx, s, "1002")
	answers := s.phone(t, "1003", "callee_answer.xml")
	caller := s.dial(t, "caller_transferred.xml", "1001", "1002")
	first := answerHeld(t, ctx, ph)
	consult, err := ph.Call(ctx, "1003")
	if err != nil {
		t.Fatal(err)
	}
	referReplacing(t, ctx, ph, first, consult)
	caller()
	answers()
	return allEvents(rcv.WaitFor(t, 30*time.Second, "both hangups", hangups(2)))
}

// attendedTransferByCaller: 1001 is a test phone that calls 1002 (SIPp,
// hangs up once the calls are joined), holds it, calls 1003 (SIPp, answers)
// and REFERs the first call with Replaces naming the second.
func attendedTransferByCaller(t *testing.T) []events.Event {
	rcv := NewReceiver(t)
	s := startTransferServer(t, map[string]*Receiver{"extended": rcv})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ph := testPhone(t, ctx, s, "1001")
	stays := s.phone(t, "1002", "callee_quiet_bye.xml")
	target := s.phone(t, "1003", "callee_answer.xml")
	first := callHeld(t, ctx, ph, "1002")
	consult, err := ph.Call(ctx, "1003")
	if err != nil {
		t.Fatal(err)
	}
	referReplacing(t, ctx, ph, first, consult)
	stays()
	target()
	return allEvents(rcv.WaitFor(t, 30*time.Second, "the three hangups", hangups(3)))
}

// queueAnswered: 1001 dials queue 600 (with music unless opts say
// otherwise), whose agent 1002 (a SIPp phone) answers and hangs up.
func queueAnswered(t *testing.T, opts string) []events.Event {
	rcv := NewReceiver(t)
	s := startQueueServer(t, map[string]*Receiver{"extended": rcv}, `  - {number: "600", agents: ["1002"]`+opts+`}
`)
	agent := s.agent(t, "1002", "callee_answer_bye.xml", 1)
	s.dial(t, "caller_ivr_wait.xml", "1001", "600")()
	agent()
	return allEvents(rcv.WaitFor(t, 30*time.Second, "the hangup", hangups(1)))
}

// menus is the dialplan of the IVR and ring group scenarios: the numbers
// FreeSWITCH's recording dialled.
const menus = `ivrs:
  - {number: "1010", digit_timeout: 5s, options: {"2": "1002"}, default: "1003"}
ring_groups:
  - {number: "600", strategy: simultaneous, members: ["1002", "1003"], timeout: 5s}
`

// ivrThenHold: 1001 (SIPp) dials IVR 1010 and presses 2; 1002 (SIPp)
// answers; 1001 sends #, holds, unholds and hangs up.
func ivrThenHold(t *testing.T) []events.Event {
	rcv := NewReceiver(t)
	s := startRoutingServer(t, map[string]*Receiver{"extended": rcv}, menus)
	callee := s.phone(t, "1002", "callee_answer.xml")
	s.dial(t, "caller_ivr_digit_hold.xml", "1001", "1010")()
	callee()
	return allEvents(rcv.WaitFor(t, 30*time.Second, "the hangup", hangups(1)))
}

// ringGroup: 1001 (SIPp) dials ring group 600; 1002 rings at once, 1003
// rings 300 ms later and answers; 1001 hangs up.
func ringGroup(t *testing.T) []events.Event {
	rcv := NewReceiver(t)
	s := startRoutingServer(t, map[string]*Receiver{"extended": rcv}, menus)
	rings := s.phone(t, "1002", "callee_ring.xml")
	answers := s.phone(t, "1003", "callee_late_answer.xml")
	s.dial(t, "caller_answered_bye.xml", "1001", "600", "-d", "3000")()
	answers()
	rings()
	return allEvents(rcv.WaitFor(t, 30*time.Second, "the hangup", hangups(1)))
}

// hangups is a condition on webhooks: n CALL_HANGUPs arrived.
func hangups(n int) func([]Webhook) bool {
	return func(h []Webhook) bool {
		got := 0
		for _, e := range Events(h) {
			if e == "CALL_HANGUP" {
				got++
			}
		}
		return got >= n
	}
}

// allEvents reads back every webhook's event once, in arrival order.
func allEvents(hooks []Webhook) []events.Event {
	seen := map[string]bool{}
	var out []events.Event
	for _, h := range hooks {
		if !seen[h.ID] {
			seen[h.ID] = true
			out = append(out, eventOf(h.Body))
		}
	}
	return out
}

// eventOf reads back the facts of an extended webhook's payload.
func eventOf(b map[string]any) events.Event {
	str := func(k string) string { s, _ := b[k].(string); return s }
	num := func(k string) float64 { n, _ := b[k].(float64); return n }
	e := events.Event{
		Kind: events.Kind(str("event")), CallUUID: str("call_uuid"), SessionUUID: str("call_session_uuid"), CallerIDNumber: str("caller_id_number"),
		DestinationNumber: str("destination_number"), Direction: events.Direction(str("direction")),
		Party: events.Party(str("party")), Digit: str("digit"), DigitDuration: time.Duration(num("digit_duration")) * time.Millisecond,
	}
	if to, ok := b["routed_to"].(map[string]any); ok {
		e.RoutedTo = &events.Target{Type: events.TargetType(to["type"].(string)), Target: to["target"].(string)}
	}
	if r := str("diversion_reason"); r != "" {
		e.Diversion = &events.Diversion{From: str("diverted_from"), Reason: events.DiversionReason(r)}
	}
	if e.Kind == events.CallHangup {
		e.Hangup = &events.Hangup{Cause: str("hangup_cause"), SIPCode: int(num("sip_code")), By: events.Party(str("hangup_by"))}
	}
	return e
}

// The built-in PBX passes the conformance suite the connectors pass.
func TestPBXConformance(t *testing.T) {
	conformance.Run(t, pbxSource{})
}
