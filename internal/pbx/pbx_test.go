package pbx

import (
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
