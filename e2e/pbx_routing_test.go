package e2e

import (
	"fmt"
	"net"
	"testing"
	"time"
)

// Ring groups, IVRs and gateways of the built-in PBX, through the real
// process: phones and carriers are SIPp, the carrier on 127.0.0.2 as
// another host would be, and both profiles' receivers get every event with
// every field.

// carrierIP is the carrier's address: loopback, but not the phones'.
const carrierIP = "127.0.0.2"

// routingConfig is the dialplan of these tests, with the carrier at port
// on carrierIP; extra adds to the gateway's keys.
func routingConfig(port int, extra string) string {
	return fmt.Sprintf(`ring_groups:
  - {number: "600", strategy: simultaneous, members: ["1001", "1002"], timeout: 5s}
  - {number: "601", strategy: sequential, members: ["1001", "1002"], timeout: 5s, member_timeout: 1s}
ivrs:
  - number: "700"
    digit_timeout: 1s
    options: {"1": "1001", "2": "600"}
    default: "1002"
gateways:
  - {name: carrier, address: "%s:%d", username: trunkuser, password: trunk-secret%s}
routes:
  - {match: "^9(\\d{4,15})$", gateway: carrier, number: "$1"}
inbound:
  - {did: "8556900900", to: "700"}
`, carrierIP, port, extra)
}

// startRoutingServer is startPBXServer's process with three extensions and
// the routing config (its carrier's port from carrierPort, which skips the
// test where carrierIP is not loopback), and one endpoint per profile.
func startRoutingServer(t *testing.T, receivers map[string]*Receiver, routing string) *pbxServer {
	t.Helper()
	port := freeUDPPort(t)
	cfg := pbxConfig(receivers, port)
	cfg.WriteString("extensions:\n")
	for _, e := range []string{"1001", "1002", "1003"} {
		fmt.Fprintf(cfg, "  - {number: %q, password: secret-%s}\n", e, e)
	}
	cfg.WriteString("ring_timeout: 5s\n" + routing)
	return launchPBX(t, cfg.String(), port)
}

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

// call builds the wants of one call: every event names caller and, in the
// extended profile, direction.
type routedCall struct {
	caller, direction string
}

func (c routedCall) want(event, leg, dest string, ext map[string]any) hookWant {
	w := hookWant{event: event, leg: leg, std: map[string]any{"caller_id_number": c.caller, "destination_number": dest}, ext: map[string]any{"direction": c.direction}}
	for k, v := range ext {
		w.ext[k] = v
	}
	return w
}

func (c routedCall) input(leg, dest, digit string, ms float64) hookWant {
	w := c.want("CALL_INPUT", leg, dest, map[string]any{"party": "caller"})
	w.std["digit"], w.std["digit_duration"] = digit, ms
	return w
}

func (c routedCall) routed(dest, kind, target string) hookWant {
	return c.want("CALL_ROUTED", "A", dest, map[string]any{"routed_to": map[string]any{"type": kind, "target": target}})
}

// hangup is CALL_HANGUP's want; duration and billsec are checked against
// each other here and then taken as they came.
func (c routedCall) hangup(t *testing.T, got Webhook, leg, dest, cause string, code int, by, answeredBy string) hookWant {
	t.Helper()
	dur, _ := got.Body["duration"].(float64)
	bill, _ := got.Body["billsec"].(float64)
	if got.Body["event"] == "CALL_HANGUP" && got.Body["duration"] != nil && (bill < 0 || dur < bill || dur > 30 || (answeredBy == "" && bill != 0)) {
		t.Errorf("duration %v billsec %v for a call of a few seconds answered by %q", dur, bill, answeredBy)
	}
	return c.want("CALL_HANGUP", leg, dest, map[string]any{
		"hangup_cause": cause, "sip_code": float64(code), "hangup_by": by, "answered_by": answeredBy,
		"duration": got.Body["duration"], "billsec": got.Body["billsec"],
	})
}

// checkRouted waits for n webhooks of one call in each profile and checks
// them against wants, made from the extended profile's webhooks (which
// carry duration and billsec).
func checkRouted(t *testing.T, receivers map[string]*Receiver, n int, wants func(ext []Webhook) []hookWant) {
	t.Helper()
	ext := receivers["extended"].WaitCount(t, n, 20*time.Second)
	checkCalls(t, ext)
	w := wants(ext)
	for profile, r := range receivers {
		hooks := r.WaitCount(t, n, 20*time.Second)
		checkPBXCall(t, profile, hooks, w)
		if r.BadSignatures() != 0 {
			t.Errorf("%s: %d bad signatures", profile, r.BadSignatures())
		}
	}
	// Nothing more comes: one CALL_HANGUP, no stray event after it.
	time.Sleep(300 * time.Millisecond)
	if got := receivers["extended"].Accepted(); len(got) != n {
		t.Errorf("%d webhooks, want %d: %v", len(got), n, Events(got))
	}
}

func bothProfiles(t *testing.T) map[string]*Receiver {
	return map[string]*Receiver{"standard": NewReceiver(t), "extended": NewReceiver(t)}
}

// A simultaneous ring group rings both members; the first to answer gets
// the call and the other is cancelled.
func TestPBXRingGroupSimultaneous(t *testing.T) {
	rs := bothProfiles(t)
	s := startRoutingServer(t, rs, routingConfig(carrierPort(t), ""))
	answers := s.phone(t, "1001", "callee_answer.xml")
	rings := s.phone(t, "1002", "callee_ring.xml")
	s.dial(t, "caller_bye.xml", "1003", "600", "-d", "300")()
	answers()
	rings()

	c := routedCall{caller: "1003", direction: "internal"}
	checkRouted(t, rs, 6, func(h []Webhook) []hookWant {
		// Both members ring; which rings first is up to the network.
		first, second := "1001", "1002"
		if h[1].Body["destination_number"] == "1002" {
			first, second = second, first
		}
		return []hookWant{
			c.routed("600", "ring_group", "600"),
			c.want("CALL_RINGING", "B"+first, first, nil),
			c.want("CALL_RINGING", "B"+second, second, nil),
			c.want("CALL_ANSWER", "B1001", "1001", nil),
			c.input("A", "1001", "1", 280),
			c.hangup(t, h[5], "A", "1001", "NORMAL_CLEARING", 200, "caller", "1001"),
		}
	})
}

// A sequential ring group rings its first member for the member timeout,
// then the second, who answers.
func TestPBXRingGroupSequential(t *testing.T) {
	rs := bothProfiles(t)
	s := startRoutingServer(t, rs, routingConfig(carrierPort(t), ""))
	rings := s.phone(t, "1001", "callee_ring.xml")
	answers := s.phone(t, "1002", "callee_answer.xml")
	s.dial(t, "caller_bye.xml", "1003", "601", "-d", "300")()
	rings()
	answers()

	c := routedCall{caller: "1003", direction: "internal"}
	checkRouted(t, rs, 6, func(h []Webhook) []hookWant {
		return []hookWant{
			c.routed("601", "ring_group", "601"),
			c.want("CALL_RINGING", "B1001", "1001", nil),
			c.want("CALL_RINGING", "B1002", "1002", nil),
			c.want("CALL_ANSWER", "B1002", "1002", nil),
			c.input("A", "1002", "1", 280),
			c.hangup(t, h[5], "A", "1002", "NORMAL_CLEARING", 200, "caller", "1002"),
		}
	})
}

// The IVR answers, hears 1 (RFC 4733) and puts the call through to 1001,
// who answers and hangs up.
func TestPBXIVRDigit(t *testing.T) {
	rs := bothProfiles(t)
	s := startRoutingServer(t, rs, routingConfig(carrierPort(t), ""))
	callee := s.phone(t, "1001", "callee_answer_bye.xml")
	s.dial(t, "caller_ivr_2833.xml", "1003", "700")()
	callee()

	c := routedCall{caller: "1003", direction: "internal"}
	checkRouted(t, rs, 6, func(h []Webhook) []hookWant {
		return []hookWant{
			c.routed("700", "ivr", "700"),
			c.want("CALL_ANSWER", "IVR", "700", nil),
			c.input("A", "700", "1", 280),
			c.want("CALL_RINGING", "B", "1001", nil),
			c.want("CALL_ANSWER", "B", "1001", nil),
			c.hangup(t, h[5], "B", "1001", "NORMAL_CLEARING", 200, "callee", "700"),
		}
	})
}

// No digit within the IVR's digit timeout: the call goes to its default.
func TestPBXIVRTimeout(t *testing.T) {
	rs := bothProfiles(t)
	s := startRoutingServer(t, rs, routingConfig(carrierPort(t), ""))
	callee := s.phone(t, "1002", "callee_answer_bye.xml")
	s.dial(t, "caller_ivr_wait.xml", "1003", "700")()
	callee()

	c := routedCall{caller: "1003", direction: "internal"}
	checkRouted(t, rs, 5, func(h []Webhook) []hookWant {
		return []hookWant{
			c.routed("700", "ivr", "700"),
			c.want("CALL_ANSWER", "IVR", "700", nil),
			c.want("CALL_RINGING", "B", "1002", nil),
			c.want("CALL_ANSWER", "B", "1002", nil),
			c.hangup(t, h[4], "B", "1002", "NORMAL_CLEARING", 200, "callee", "700"),
		}
	})
}

// A digit with no option (5, by SIP INFO) goes to the default too.
func TestPBXIVRInvalidDigit(t *testing.T) {
	rs := bothProfiles(t)
	s := startRoutingServer(t, rs, routingConfig(carrierPort(t), ""))
	callee := s.phone(t, "1002", "callee_answer_bye.xml")
	s.dial(t, "caller_ivr_info.xml", "1003", "700", "-key", "digit", "5")()
	callee()

	c := routedCall{caller: "1003", direction: "internal"}
	checkRouted(t, rs, 6, func(h []Webhook) []hookWant {
		return []hookWant{
			c.routed("700", "ivr", "700"),
			c.want("CALL_ANSWER", "IVR", "700", nil),
			c.input("A", "700", "5", 160),
			c.want("CALL_RINGING", "B", "1002", nil),
			c.want("CALL_ANSWER", "B", "1002", nil),
			c.hangup(t, h[5], "B", "1002", "NORMAL_CLEARING", 200, "callee", "700"),
		}
	})
}

// An extension dials 9 and a number: the route sends it to the carrier
// with the 9 stripped; the carrier challenges, checks the credentials and
// the number, and answers.
func TestPBXGatewayOutbound(t *testing.T) {
	rs := bothProfiles(t)
	cport := carrierPort(t)
	s := startRoutingServer(t, rs, routingConfig(cport, ""))
	carrier := s.sipp(t, "carrier_auth.xml", "", cport, "-i", carrierIP, "-s", "carrier", "-key", "user", "trunkuser", "-key", "password", "trunk-secret")
	s.dial(t, "caller_bye.xml", "1001", "915551234567", "-d", "300")()
	carrier()

	c := routedCall{caller: "1001", direction: "outbound"}
	checkRouted(t, rs, 5, func(h []Webhook) []hookWant {
		return []hookWant{
			c.routed("915551234567", "gateway", "carrier"),
			c.want("CALL_RINGING", "B", "15551234567", nil),
			c.want("CALL_ANSWER", "B", "15551234567", nil),
			c.input("A", "15551234567", "1", 280),
			c.hangup(t, h[4], "A", "15551234567", "NORMAL_CLEARING", 200, "caller", "15551234567"),
		}
	})
}

// A carrier that answers 503: the call ends with NORMAL_TEMPORARY_FAILURE,
// and the caller hears 500, not the carrier's 503.
func TestPBXGatewayUnavailable(t *testing.T) {
	rs := bothProfiles(t)
	cport := carrierPort(t)
	s := startRoutingServer(t, rs, routingConfig(cport, ""))
	carrier := s.sipp(t, "carrier_503.xml", "", cport, "-i", carrierIP, "-s", "carrier")
	s.dial(t, "caller_reject_500.xml", "1001", "915551234567")()
	carrier()

	c := routedCall{caller: "1001", direction: "outbound"}
	checkRouted(t, rs, 2, func(h []Webhook) []hookWant {
		return []hookWant{
			c.routed("915551234567", "gateway", "carrier"),
			c.hangup(t, h[1], "A", "15551234567", "NORMAL_TEMPORARY_FAILURE", 503, "callee", ""),
		}
	})
}

// The carrier calls the DID of the IVR without credentials; the caller
// presses 1 and is put through to 1001, who answers and hangs up.
func TestPBXGatewayInboundToIVR(t *testing.T) {
	rs := bothProfiles(t)
	cport := carrierPort(t)
	s := startRoutingServer(t, rs, routingConfig(cport, ""))
	callee := s.phone(t, "1001", "callee_answer_bye.xml")
	s.sipp(t, "carrier_inbound.xml", s.sip, cport, "-i", carrierIP, "-s", "8556900900")()
	callee()

	c := routedCall{caller: "+15557654321", direction: "inbound"}
	checkRouted(t, rs, 6, func(h []Webhook) []hookWant {
		return []hookWant{
			c.routed("8556900900", "ivr", "700"),
			c.want("CALL_ANSWER", "IVR", "700", nil),
			c.input("A", "700", "1", 280),
			c.want("CALL_RINGING", "B", "1001", nil),
			c.want("CALL_ANSWER", "B", "1001", nil),
			c.hangup(t, h[5], "B", "1001", "NORMAL_CLEARING", 200, "callee", "700"),
		}
	})
}

// A gateway that registers: the carrier challenges and grants 2 seconds,
// the PBX refreshes in time, GET /v1/sources shows it registered, and the
// registration is withdrawn when the process stops.
func TestPBXGatewayRegistration(t *testing.T) {
	rs := map[string]*Receiver{"extended": NewReceiver(t)}
	cport := carrierPort(t)
	dir := t.TempDir()
	registrar := (&pbxServer{dir: dir}).sipp(t, "carrier_register.xml", "", cport, "-i", carrierIP, "-s", "carrier", "-key", "user", "trunkuser", "-key", "password", "trunk-secret")
	s := startRoutingServer(t, rs, routingConfig(cport, ", register: true"))

	var gw map[string]any
	waitUntil(t, 15*time.Second, "the gateway registered and refreshed", func() bool {
		var srcs []map[string]any
		s.API("GET", "/v1/sources", nil, 200, &srcs)
		for _, src := range srcs {
			if src["kind"] == "gateway" {
				gw = src
			}
		}
		exp, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(gw["expires_at"]))
		// Granted 300 s by the refresh, 2 s before it.
		return gw["registered"] == true && time.Until(exp) > time.Minute
	})
	for k, v := range map[string]any{"name": "carrier", "kind": "gateway", "address": fmt.Sprintf("%s:%d", carrierIP, cport), "transport": "udp", "register": true, "last_error": ""} {
		if gw[k] != v {
			t.Errorf("gateway %s = %v, want %v (%v)", k, gw[k], v, gw)
		}
	}
	if err := s.Stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
	registrar()
}
