package pbx

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/dialplan"
	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/gateway"
)

// carrierIP is where carriers are: loopback, but not the phones' address.
const carrierIP = "127.0.0.2"

// carrierPort returns a UDP port free on carrierIP a moment ago.
func carrierPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", carrierIP+":0")
	if err != nil {
		t.Skipf("%s is not a loopback address here: %v", carrierIP, err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// routing gives the PBX a sequential and a simultaneous group, two IVRs, a
// carrier at port on carrierIP with a route and a DID, and a ring timeout
// of two seconds; edit changes it further.
func routing(port int, edit func(*Config)) func(*Config) {
	return func(c *Config) {
		c.RingTimeout = 2 * time.Second
		c.RingGroups = []dialplan.RingGroup{
			{Number: "600", Strategy: dialplan.Simultaneous, Members: []string{"1001", "1002"}, Timeout: 2 * time.Second},
			{Number: "601", Strategy: dialplan.Sequential, Members: []string{"1004", "1001", "1002"}, Timeout: 5 * time.Second, MemberTimeout: 500 * time.Millisecond},
		}
		c.IVRs = []dialplan.IVR{
			{Number: "700", DigitTimeout: 300 * time.Millisecond, Options: map[string]string{"1": "1001", "6": "600", "9": "701"}, Default: "1002"},
			{Number: "701", DigitTimeout: 300 * time.Millisecond, Default: "1002"},
		}
		c.Gateways = []gateway.Config{{Name: "carrier", Address: fmt.Sprintf("%s:%d", carrierIP, port), Username: "trunkuser", Password: "trunk-secret"}}
		c.Routes = []dialplan.OutboundRoute{{Match: `9(\d{4,15})`, Gateway: "carrier", Number: "$1"}}
		c.Inbound = []dialplan.Inbound{{DID: "8556900900", To: "700"}}
		if edit != nil {
			edit(c)
		}
	}
}

// dial runs caller 1003's scenario to number and waits for it and for
// the call to end.
func (tp *testPBX) dial(t *testing.T, scenario, number string, args ...string) {
	t.Helper()
	tp.sipp(t, scenario, tp.udp, 0, append([]string{"-s", number, "-key", "caller", "1003", "-au", "1003", "-ap", "pw-1003"}, args...)...).wait(t, tp.dir)
}

// only returns the events of the one call there was.
func (tp *testPBX) only(t *testing.T) []events.Event {
	t.Helper()
	tp.events.waitHangups(t, 1, 10*time.Second)
	calls := byCall(tp.events.all())
	if len(calls) != 1 {
		t.Fatalf("%d calls:\n%s", len(calls), dump(tp.events.all()))
	}
	return calls[0]
}

// phone registers ext on a free port and runs scenario there.
func (tp *testPBX) phone(t *testing.T, ext, scenario string) *sippRun {
	t.Helper()
	port := freePort(t)
	tp.register(t, ext, port, "udp")
	r := tp.sipp(t, scenario, "", port, "-s", ext)
	r.waitBound(t, tp.dir)
	return r
}

func target(kind events.TargetType, to string) *events.Target {
	return &events.Target{Type: kind, Target: to}
}

func hangup(cause string, code int, by events.Party) *events.Hangup {
	return &events.Hangup{Cause: cause, SIPCode: code, By: by}
}

// The part-1 gap: a caller's BYE on the early dialog (after 180, before
// any answer) is the caller giving up, like a CANCEL.
func TestCallerByeBeforeAnswer(t *testing.T) {
	tp := startPBX(t, nil)
	callee := tp.phone(t, "1002", "callee_ring.xml")
	start := time.Now()
	tp.dial(t, "caller_bye_early.xml", "1002")
	callee.wait(t, tp.dir)
	checkCall(t, tp.only(t), "1003", start, []want{
		{kind: events.CallRouted, dest: "1002", leg: "A", routed: target(events.Extension, "1002")},
		{kind: events.CallRinging, dest: "1002", leg: "B"},
		{kind: events.CallHangup, dest: "1002", leg: "A", hangup: hangup(events.CauseOriginatorCancel, 487, events.Caller)},
	})
}

// A sequential group skips a member with no phone (1004), moves on at
// once from a busy one (1001) and connects the next who answers (1002).
func TestSequentialGroupBusyThenAnswer(t *testing.T) {
	tp := startPBX(t, routing(carrierPort(t), nil))
	busy := tp.phone(t, "1001", "callee_busy.xml")
	answers := tp.phone(t, "1002", "callee_answer.xml")
	start := time.Now()
	tp.dial(t, "caller_bye.xml", "601", "-d", "200")
	busy.wait(t, tp.dir)
	answers.wait(t, tp.dir)
	checkCall(t, tp.only(t), "1003", start, []want{
		{kind: events.CallRouted, dest: "601", leg: "A", routed: target(events.RingGroup, "601")},
		{kind: events.CallRinging, dest: "1002", leg: "B"},
		{kind: events.CallAnswer, dest: "1002", leg: "B"},
		{kind: events.CallInput, dest: "1002", leg: "A", party: events.Caller, digit: "1", dur: 280 * time.Millisecond},
		{kind: events.CallHangup, dest: "1002", leg: "A", hangup: hangup(events.CauseNormalClearing, 200, events.Caller)},
	})
}

// Every member of a sequential group rings its turn and none answers: the
// caller hears 480 and the call ends with NO_ANSWER, naming the group.
func TestSequentialGroupNoAnswer(t *testing.T) {
	// Each member must have rung (answered 180) within its turn: on a
	// loaded machine SIPp has taken longer than the 500 ms of the other
	// tests to answer.
	tp := startPBX(t, routing(carrierPort(t), func(c *Config) {
		c.RingGroups[1].MemberTimeout, c.RingGroups[1].Timeout = 3*time.Second, 20*time.Second
	}))
	first := tp.phone(t, "1001", "callee_ring.xml")
	second := tp.phone(t, "1002", "callee_ring.xml")
	start := time.Now()
	tp.dial(t, "caller_reject_480.xml", "601")
	first.wait(t, tp.dir)
	second.wait(t, tp.dir)
	checkCall(t, tp.only(t), "1003", start, []want{
		{kind: events.CallRouted, dest: "601", leg: "A", routed: target(events.RingGroup, "601")},
		{kind: events.CallRinging, dest: "1001", leg: "B1"},
		{kind: events.CallRinging, dest: "1002", leg: "B2"},
		{kind: events.CallHangup, dest: "601", leg: "A", hangup: hangup(events.CauseNoAnswer, 480, events.System)},
	})
}

// A group none of whose members has a phone registered.
func TestRingGroupNotRegistered(t *testing.T) {
	for _, group := range []string{"600", "601"} {
		t.Run(group, func(t *testing.T) {
			tp := startPBX(t, routing(carrierPort(t), nil))
			start := time.Now()
			tp.dial(t, "caller_reject_480.xml", group)
			checkCall(t, tp.only(t), "1003", start, []want{
				{kind: events.CallRouted, dest: group, leg: "A", routed: target(events.RingGroup, group)},
				{kind: events.CallHangup, dest: group, leg: "A", hangup: hangup(events.CauseUserNotRegistered, 480, events.System)},
			})
		})
	}
}

// An IVR with no default hangs up on a caller who presses nothing.
func TestIVRWithoutDefaultHangsUp(t *testing.T) {
	tp := startPBX(t, routing(carrierPort(t), func(c *Config) { c.IVRs[0].Default = "" }))
	start := time.Now()
	tp.dial(t, "caller_ivr_wait.xml", "700")
	checkCall(t, tp.only(t), "1003", start, []want{
		{kind: events.CallRouted, dest: "700", leg: "A", routed: target(events.IVR, "700")},
		{kind: events.CallAnswer, dest: "700", leg: "IVR"},
		{kind: events.CallHangup, dest: "700", leg: "A", hangup: hangup(events.CauseNormalClearing, 200, events.System)},
	})
}

// One IVR routes to another, which answers too (a second CALL_ANSWER) and
// times out to its default.
func TestIVRToIVR(t *testing.T) {
	tp := startPBX(t, routing(carrierPort(t), nil))
	callee := tp.phone(t, "1002", "callee_answer_bye.xml")
	start := time.Now()
	tp.dial(t, "caller_ivr_info.xml", "700", "-key", "digit", "9")
	callee.wait(t, tp.dir)
	checkCall(t, tp.only(t), "1003", start, []want{
		{kind: events.CallRouted, dest: "700", leg: "A", routed: target(events.IVR, "700")},
		{kind: events.CallAnswer, dest: "700", leg: "IVR700"},
		{kind: events.CallInput, dest: "700", leg: "A", party: events.Caller, digit: "9", dur: 160 * time.Millisecond},
		{kind: events.CallAnswer, dest: "701", leg: "IVR701"},
		{kind: events.CallRinging, dest: "1002", leg: "B"},
		{kind: events.CallAnswer, dest: "1002", leg: "B"},
		{kind: events.CallHangup, dest: "1002", leg: "B", hangup: hangup(events.CauseNormalClearing, 200, events.Callee)},
	})
}

// The caller, answered by the IVR, hangs up while the IVR's choice rings:
// the ringing phone is cancelled and the call ends naming it.
func TestIVRCallerHangsUpWhileRinging(t *testing.T) {
	tp := startPBX(t, routing(carrierPort(t), nil))
	callee := tp.phone(t, "1001", "callee_ring.xml")
	start := time.Now()
	tp.dial(t, "caller_bye.xml", "700", "-d", "600")
	callee.wait(t, tp.dir)
	checkCall(t, tp.only(t), "1003", start, []want{
		{kind: events.CallRouted, dest: "700", leg: "A", routed: target(events.IVR, "700")},
		{kind: events.CallAnswer, dest: "700", leg: "IVR"},
		{kind: events.CallInput, dest: "700", leg: "A", party: events.Caller, digit: "1", dur: 280 * time.Millisecond},
		{kind: events.CallRinging, dest: "1001", leg: "B"},
		{kind: events.CallHangup, dest: "1001", leg: "A", hangup: hangup(events.CauseNormalClearing, 200, events.Caller)},
	})
}

// A carrier that refuses the number: the caller hears what it said, and
// the cause is the table's.
func TestGatewayRefuses(t *testing.T) {
	for _, c := range []struct {
		code           int
		cause          string
		callerScenario string
	}{
		{404, events.CauseUnallocatedNumber, "caller_reject_404.xml"},
		{484, events.CauseInvalidNumberFormat, "caller_reject_484.xml"},
	} {
		t.Run(fmt.Sprint(c.code), func(t *testing.T) {
			port := carrierPort(t)
			tp := startPBX(t, routing(port, nil))
			carrier := tp.sipp(t, fmt.Sprintf("carrier_%d.xml", c.code), "", port, "-i", carrierIP, "-s", "carrier")
			start := time.Now()
			tp.dial(t, c.callerScenario, "915551234567")
			carrier.wait(t, tp.dir)
			checkCall(t, tp.only(t), "1003", start, []want{
				{kind: events.CallRouted, dest: "915551234567", leg: "A", routed: target(events.Gateway, "carrier"), dir: events.Outbound},
				{kind: events.CallHangup, dest: "15551234567", leg: "A", hangup: hangup(c.cause, c.code, events.Callee), dir: events.Outbound},
			})
		})
	}
}

// A carrier that does not answer at all: after the ring timeout the call
// ends with RECOVERY_ON_TIMER_EXPIRE, and the INVITE is abandoned rather
// than held for its whole transaction timeout.
func TestGatewayTimeout(t *testing.T) {
	silent, err := net.ListenPacket("udp", carrierIP+":0")
	if err != nil {
		t.Skipf("%s is not a loopback address here: %v", carrierIP, err)
	}
	defer silent.Close()
	got := make(chan string, 16)
	go func() {
		buf := make([]byte, 65535)
		for {
			n, _, err := silent.ReadFrom(buf)
			if err != nil {
				return
			}
			line, _, _ := strings.Cut(string(buf[:n]), "\r\n")
			got <- line
		}
	}()
	tp := startPBX(t, routing(silent.LocalAddr().(*net.UDPAddr).Port, func(c *Config) { c.RingTimeout = time.Second }))
	start := time.Now()
	tp.dial(t, "caller_reject_408.xml", "915551234567")
	checkCall(t, tp.only(t), "1003", start, []want{
		{kind: events.CallRouted, dest: "915551234567", leg: "A", routed: target(events.Gateway, "carrier"), dir: events.Outbound},
		{kind: events.CallHangup, dest: "15551234567", leg: "A", hangup: hangup(events.CauseRecoveryOnTimerExpire, 408, events.System), dir: events.Outbound},
	})
	if line := <-got; !strings.HasPrefix(line, "INVITE sip:15551234567@"+carrierIP) {
		t.Errorf("the carrier got %q", line)
	}
	tp.stop()
	for len(got) > 0 {
		if line := <-got; strings.HasPrefix(line, "CANCEL") {
			t.Errorf("a CANCEL was sent for an INVITE that got no response")
		}
	}
}

// A carrier whose proxy challenges with 407 gets Proxy-Authorization.
func TestGatewayProxyAuth(t *testing.T) {
	port := carrierPort(t)
	tp := startPBX(t, routing(port, nil))
	carrier := tp.sipp(t, "carrier_proxy_auth.xml", "", port, "-i", carrierIP, "-s", "carrier", "-key", "user", "trunkuser")
	start := time.Now()
	tp.dial(t, "caller_bye.xml", "915551234567", "-d", "200")
	carrier.wait(t, tp.dir)
	out := []want{
		{kind: events.CallRouted, dest: "915551234567", leg: "A", routed: target(events.Gateway, "carrier")},
		{kind: events.CallRinging, dest: "15551234567", leg: "B"},
		{kind: events.CallAnswer, dest: "15551234567", leg: "B"},
		{kind: events.CallInput, dest: "15551234567", leg: "A", party: events.Caller, digit: "1", dur: 280 * time.Millisecond},
		{kind: events.CallHangup, dest: "15551234567", leg: "A", hangup: hangup(events.CauseNormalClearing, 200, events.Caller)},
	}
	for i := range out {
		out[i].dir = events.Outbound
	}
	checkCall(t, tp.only(t), "1003", start, out)
	if gws := tp.Gateways(); len(gws) != 1 || gws[0].Name != "carrier" || gws[0].Register || gws[0].Registered {
		t.Errorf("Gateways() = %+v", gws)
	}
}

// A carrier's address is trusted only for the DIDs routed inbound: no
// challenge, and 404 for anything else, the PBX's own extensions
// included. Anyone else calling a DID is challenged like any caller.
func TestGatewayInboundRefusals(t *testing.T) {
	port := carrierPort(t)
	tp := startPBX(t, routing(port, nil))
	carrier := newWireFrom(t, net.ParseIP(carrierIP), tp.udp)
	for _, to := range []string{"8556900901", "1001", "915551234567"} {
		res := carrier.send(carrier.request("INVITE", "sip:"+to+"@pbx.test", "+15557654321", to, []string{"Content-Type: application/sdp"}, g711Offer), 2*time.Second)
		if !strings.HasPrefix(status(res), "SIP/2.0 404") {
			t.Errorf("carrier to %s: %s", to, status(res))
		}
		if warn := header(res, "Warning"); len(warn) == 0 || !strings.Contains(warn[0], "is not routed from gateway carrier") {
			t.Errorf("carrier to %s: Warning %q", to, warn)
		}
	}
	phone := newWire(t, tp.udp)
	res := phone.send(phone.request("INVITE", "sip:8556900900@pbx.test", "1001", "8556900900", []string{"Content-Type: application/sdp"}, g711Offer), 2*time.Second)
	if !strings.HasPrefix(status(res), "SIP/2.0 407") {
		t.Errorf("a phone dialling the DID: %s", status(res))
	}
	time.Sleep(200 * time.Millisecond)
	if evs := tp.events.all(); len(evs) != 0 {
		t.Errorf("refused calls emitted events:\n%s", dump(evs))
	}
}
