package pbx

import (
	"strings"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/events"
)

// Extension to extension: both registered with digest auth, the caller's
// INVITE challenged and authenticated, ring, answer, DTMF 1 and # by RFC
// 4733, the caller holds and unholds and hangs up.
func TestCallerDTMFHoldHangup(t *testing.T) {
	tp := startPBX(t, nil)
	calleePort := freePort(t)
	tp.register(t, "1002", calleePort, "udp")
	if regs := tp.Registrations(); len(regs) != 1 || regs[0].Extension != "1002" {
		t.Fatalf("registrations = %+v", regs)
	}
	start := time.Now()
	callee := tp.sipp(t, "callee_answer.xml", "", calleePort, "-s", "1002")
	caller := tp.sipp(t, "caller_dtmf_hold.xml", tp.udp, 0, "-s", "1002", "-key", "caller", "1001", "-au", "1001", "-ap", "pw-1001")
	caller.wait(t, tp.dir)
	callee.wait(t, tp.dir)
	tp.events.waitHangups(t, 1, 5*time.Second)

	calls := byCall(tp.events.all())
	if len(calls) != 1 {
		t.Fatalf("%d calls:\n%s", len(calls), dump(tp.events.all()))
	}
	checkCall(t, calls[0], "1001", start, []want{
		{kind: events.CallRouted, dest: "1002", leg: "A", routed: &events.Target{Type: events.Extension, Target: "1002"}},
		{kind: events.CallRinging, dest: "1002", leg: "B"},
		{kind: events.CallAnswer, dest: "1002", leg: "B"},
		{kind: events.CallInput, dest: "1002", leg: "A", party: events.Caller, digit: "1", dur: 280 * time.Millisecond},
		{kind: events.CallInput, dest: "1002", leg: "A", party: events.Caller, digit: "#", dur: 280 * time.Millisecond},
		{kind: events.CallHold, dest: "1002", leg: "A", party: events.Caller},
		{kind: events.CallUnhold, dest: "1002", leg: "A", party: events.Caller},
		{kind: events.CallHangup, dest: "1002", leg: "A", hangup: &events.Hangup{Cause: events.CauseNormalClearing, SIPCode: 200, By: events.Caller}},
	})
}

// The callee holds and unholds, sends DTMF by SIP INFO and hangs up.
func TestCalleeHoldInfoHangup(t *testing.T) {
	tp := startPBX(t, nil)
	calleePort := freePort(t)
	tp.register(t, "1002", calleePort, "udp")
	start := time.Now()
	callee := tp.sipp(t, "callee_hold_info.xml", "", calleePort, "-s", "1002")
	caller := tp.sipp(t, "caller_passive.xml", tp.udp, 0, "-s", "1002", "-key", "caller", "1001", "-au", "1001", "-ap", "pw-1001")
	callee.wait(t, tp.dir)
	caller.wait(t, tp.dir)
	tp.events.waitHangups(t, 1, 5*time.Second)

	calls := byCall(tp.events.all())
	if len(calls) != 1 {
		t.Fatalf("%d calls:\n%s", len(calls), dump(tp.events.all()))
	}
	checkCall(t, calls[0], "1001", start, []want{
		{kind: events.CallRouted, dest: "1002", leg: "A", routed: &events.Target{Type: events.Extension, Target: "1002"}},
		{kind: events.CallRinging, dest: "1002", leg: "B"},
		{kind: events.CallAnswer, dest: "1002", leg: "B"},
		{kind: events.CallHold, dest: "1002", leg: "B", party: events.Callee},
		{kind: events.CallUnhold, dest: "1002", leg: "B", party: events.Callee},
		{kind: events.CallInput, dest: "1002", leg: "B", party: events.Callee, digit: "5", dur: 160 * time.Millisecond},
		{kind: events.CallHangup, dest: "1002", leg: "B", hangup: &events.Hangup{Cause: events.CauseNormalClearing, SIPCode: 200, By: events.Callee}},
	})
}

// failedCall runs a caller scenario that is refused, with an optional
// callee scenario, and checks the call's events.
func failedCall(t *testing.T, edit func(*Config), dial, calleeScenario, callerScenario string, wants []want) {
	t.Helper()
	tp := startPBX(t, edit)
	var callee *sippRun
	if calleeScenario != "" {
		port := freePort(t)
		tp.register(t, "1002", port, "udp")
		callee = tp.sipp(t, calleeScenario, "", port, "-s", "1002")
	}
	start := time.Now()
	caller := tp.sipp(t, callerScenario, tp.udp, 0, "-s", dial, "-key", "caller", "1001", "-au", "1001", "-ap", "pw-1001")
	caller.wait(t, tp.dir)
	if callee != nil {
		callee.wait(t, tp.dir)
	}
	if len(wants) == 0 {
		// Give a wrongly routed call the time to show up.
		time.Sleep(200 * time.Millisecond)
		if evs := tp.events.all(); len(evs) != 0 {
			t.Fatalf("an unrouted call emitted events:\n%s", dump(evs))
		}
		return
	}
	tp.events.waitHangups(t, 1, 10*time.Second)
	calls := byCall(tp.events.all())
	if len(calls) != 1 {
		t.Fatalf("%d calls:\n%s", len(calls), dump(tp.events.all()))
	}
	checkCall(t, calls[0], "1001", start, wants)
}

var routed1002 = want{kind: events.CallRouted, dest: "1002", leg: "A", routed: &events.Target{Type: events.Extension, Target: "1002"}}

func TestCallerCancels(t *testing.T) {
	failedCall(t, nil, "1002", "callee_ring.xml", "caller_cancel.xml", []want{
		routed1002,
		{kind: events.CallRinging, dest: "1002", leg: "B"},
		{kind: events.CallHangup, dest: "1002", leg: "A", hangup: &events.Hangup{Cause: events.CauseOriginatorCancel, SIPCode: 487, By: events.Caller}},
	})
}

func TestCalleeBusy(t *testing.T) {
	failedCall(t, nil, "1002", "callee_busy.xml", "caller_reject_486.xml", []want{
		routed1002,
		{kind: events.CallHangup, dest: "1002", leg: "A", hangup: &events.Hangup{Cause: events.CauseUserBusy, SIPCode: 486, By: events.Callee}},
	})
}

// A phone that answers 480 (do not disturb, say) is unavailable; the
// caller hears 480 and the cause is FreeSWITCH's for it.
func TestCalleeUnavailable(t *testing.T) {
	failedCall(t, nil, "1002", "callee_unavailable.xml", "caller_reject_480.xml", []want{
		routed1002,
		{kind: events.CallHangup, dest: "1002", leg: "A", hangup: &events.Hangup{Cause: "NO_USER_RESPONSE", SIPCode: 480, By: events.Callee}},
	})
}

// A callee's 183 with SDP reaches the caller as early media and counts as
// ringing.
func TestEarlyMedia(t *testing.T) {
	tp := startPBX(t, nil)
	calleePort := freePort(t)
	tp.register(t, "1002", calleePort, "udp")
	start := time.Now()
	callee := tp.sipp(t, "callee_early.xml", "", calleePort, "-s", "1002")
	caller := tp.sipp(t, "caller_dtmf_hold.xml", tp.udp, 0, "-s", "1002", "-key", "caller", "1001", "-au", "1001", "-ap", "pw-1001")
	caller.wait(t, tp.dir)
	callee.wait(t, tp.dir)
	if !strings.Contains(caller.out.String(), "183 <----------         1") {
		t.Errorf("the caller did not get the 183:\n%s", caller.out.String())
	}
	tp.events.waitHangups(t, 1, 5*time.Second)
	got := byCall(tp.events.all())[0]
	if len(got) < 3 || got[1].Kind != events.CallRinging || got[2].Kind != events.CallAnswer {
		t.Fatalf("want CALL_RINGING on the 183, then CALL_ANSWER:\n%s", dump(got))
	}
	checkCall(t, got[:3], "1001", start, []want{
		routed1002,
		{kind: events.CallRinging, dest: "1002", leg: "B"},
		{kind: events.CallAnswer, dest: "1002", leg: "B"},
	})
}

func TestNoAnswer(t *testing.T) {
	failedCall(t, func(c *Config) { c.RingTimeout = time.Second }, "1002", "callee_ring.xml", "caller_reject_480.xml", []want{
		routed1002,
		{kind: events.CallRinging, dest: "1002", leg: "B"},
		{kind: events.CallHangup, dest: "1002", leg: "A", hangup: &events.Hangup{Cause: events.CauseNoAnswer, SIPCode: 480, By: events.System}},
	})
}

func TestCalleeNotRegistered(t *testing.T) {
	failedCall(t, nil, "1002", "", "caller_reject_480.xml", []want{
		routed1002,
		{kind: events.CallHangup, dest: "1002", leg: "A", hangup: &events.Hangup{Cause: events.CauseUserNotRegistered, SIPCode: 480, By: events.System}},
	})
}

func TestUnknownNumber(t *testing.T) {
	failedCall(t, nil, "9999", "", "caller_reject_404.xml", nil)
}

// An extension registered from two phones rings both; the first to answer
// gets the call and the other is cancelled.
func TestTwoContactsRingBoth(t *testing.T) {
	tp := startPBX(t, nil)
	answerPort, ringPort := freePort(t), freePort(t)
	tp.register(t, "1002", answerPort, "udp")
	tp.register(t, "1002", ringPort, "udp")
	if regs := tp.Registrations(); len(regs) != 2 {
		t.Fatalf("registrations = %+v", regs)
	}
	start := time.Now()
	answers := tp.sipp(t, "callee_answer.xml", "", answerPort, "-s", "1002")
	rings := tp.sipp(t, "callee_ring.xml", "", ringPort, "-s", "1002")
	caller := tp.sipp(t, "caller_bye.xml", tp.udp, 0, "-s", "1002", "-key", "caller", "1001", "-au", "1001", "-ap", "pw-1001", "-d", "300")
	caller.wait(t, tp.dir)
	answers.wait(t, tp.dir)
	rings.wait(t, tp.dir)
	tp.events.waitHangups(t, 1, 5*time.Second)

	calls := byCall(tp.events.all())
	if len(calls) != 1 {
		t.Fatalf("%d calls:\n%s", len(calls), dump(tp.events.all()))
	}
	got := calls[0]
	// Both legs ring; which rings first is up to the network.
	if len(got) != 6 || got[1].Kind != events.CallRinging || got[2].Kind != events.CallRinging || got[1].LegUUID == got[2].LegUUID {
		t.Fatalf("want two CALL_RINGING on two legs:\n%s", dump(got))
	}
	answered := got[3].LegUUID
	if got[1].LegUUID != answered {
		got[1], got[2] = got[2], got[1]
	}
	checkCall(t, append(got[:2:2], got[3:]...), "1001", start, []want{
		routed1002,
		{kind: events.CallRinging, dest: "1002", leg: "B"},
		{kind: events.CallAnswer, dest: "1002", leg: "B"},
		{kind: events.CallInput, dest: "1002", leg: "A", party: events.Caller, digit: "1", dur: 280 * time.Millisecond},
		{kind: events.CallHangup, dest: "1002", leg: "A", hangup: &events.Hangup{Cause: events.CauseNormalClearing, SIPCode: 200, By: events.Caller}},
	})
}

// Stopping the PBX hangs up a live call: both parties get BYE and the call
// ends with SYSTEM_SHUTDOWN.
func TestShutdownEndsLiveCall(t *testing.T) {
	tp := startPBX(t, nil)
	calleePort := freePort(t)
	tp.register(t, "1002", calleePort, "udp")
	start := time.Now()
	callee := tp.sipp(t, "callee_answer.xml", "", calleePort, "-s", "1002")
	caller := tp.sipp(t, "caller_passive.xml", tp.udp, 0, "-s", "1002", "-key", "caller", "1001", "-au", "1001", "-ap", "pw-1001")
	tp.events.waitEvents(t, 3, 10*time.Second) // answered
	deadline := time.Now().Add(10 * time.Second)
	// The owner publishes the call's channels once the message that
	// answered it is handled, just after the events it emitted.
	chans := tp.Channels()
	for len(chans) != 2 || chans[0].State != "answered" {
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
		chans = tp.Channels()
	}
	if len(chans) != 2 || chans[0].State != "answered" || chans[0].Party != events.Caller || chans[1].Party != events.Callee || chans[0].RTPPort == 0 {
		t.Errorf("channels = %+v", chans)
	}
	tp.stop()
	caller.wait(t, tp.dir)
	callee.wait(t, tp.dir)
	calls := byCall(tp.events.all())
	checkCall(t, calls[0], "1001", start, []want{
		routed1002,
		{kind: events.CallRinging, dest: "1002", leg: "B"},
		{kind: events.CallAnswer, dest: "1002", leg: "B"},
		{kind: events.CallHangup, dest: "1002", leg: "A", hangup: &events.Hangup{Cause: events.CauseSystemShutdown, SIPCode: 200, By: events.System}},
	})
}

// The same call over TCP: both phones register and talk over TCP.
func TestCallOverTCP(t *testing.T) {
	tp := startPBX(t, nil)
	calleePort := freePort(t)
	tp.register(t, "1002", calleePort, "tcp")
	if regs := tp.Registrations(); len(regs) != 1 || regs[0].Transport != "TCP" {
		t.Fatalf("registrations = %+v", regs)
	}
	start := time.Now()
	callee := tp.sipp(t, "callee_answer.xml", "", calleePort, "-s", "1002", "-t", "t1")
	caller := tp.sipp(t, "caller_bye.xml", tp.tcp, 0, "-s", "1002", "-key", "caller", "1001", "-au", "1001", "-ap", "pw-1001", "-d", "200", "-t", "t1")
	caller.wait(t, tp.dir)
	callee.wait(t, tp.dir)
	tp.events.waitHangups(t, 1, 5*time.Second)
	checkCall(t, byCall(tp.events.all())[0], "1001", start, []want{
		routed1002,
		{kind: events.CallRinging, dest: "1002", leg: "B"},
		{kind: events.CallAnswer, dest: "1002", leg: "B"},
		{kind: events.CallInput, dest: "1002", leg: "A", party: events.Caller, digit: "1", dur: 280 * time.Millisecond},
		{kind: events.CallHangup, dest: "1002", leg: "A", hangup: &events.Hangup{Cause: events.CauseNormalClearing, SIPCode: 200, By: events.Caller}},
	})
}

// A callee that rang and then answers neither the call nor the PBX's
// CANCEL holds its leg past the shutdown grace, when the SIP stack is
// closed under it: the call has ended with SYSTEM_SHUTDOWN, and the CANCEL's
// transaction closing under it (sipgo then gives neither a response nor an
// error) does not bring the process down.
func TestShutdownWhileACancelGoesUnanswered(t *testing.T) {
	tp := startPBX(t, nil)
	calleePort := freePort(t)
	tp.register(t, "1002", calleePort, "udp")
	tp.sipp(t, "callee_ring_deaf.xml", "", calleePort, "-s", "1002")
	start := time.Now()
	caller := tp.sipp(t, "caller_reject_503.xml", tp.udp, 0, "-s", "1002", "-key", "caller", "1001", "-au", "1001", "-ap", "pw-1001")
	tp.events.waitEvents(t, 2, 10*time.Second) // ringing
	tp.stop()
	caller.wait(t, tp.dir)
	calls := byCall(tp.events.all())
	checkCall(t, calls[0], "1001", start, []want{
		routed1002,
		{kind: events.CallRinging, dest: "1002", leg: "B"},
		{kind: events.CallHangup, dest: "1002", leg: "A", hangup: &events.Hangup{Cause: events.CauseSystemShutdown, SIPCode: 503, By: events.System}},
	})
}
