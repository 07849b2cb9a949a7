package e2e

import (
	"fmt"
	"testing"
)

// Call forwarding of the built-in PBX through the real process: SIPp
// phones, the carrier SIPp on carrierIP, both profiles' receivers checked
// field by field. 1001 calls 1002, whose forwarding (config) moves the call.

// startForwardServer runs the PBX with extensions 1001-1003, 1002's
// forwarding given as YAML (a flow mapping), 1003's as given too, and the
// routing config's carrier.
func startForwardServer(t *testing.T, rs map[string]*Receiver, forward1002, forward1003 string) *pbxServer {
	t.Helper()
	port := freeUDPPort(t)
	cfg := pbxConfig(rs, port)
	cfg.WriteString("extensions:\n")
	fmt.Fprintf(cfg, "  - {number: \"1001\", password: secret-1001}\n")
	fmt.Fprintf(cfg, "  - {number: \"1002\", password: secret-1002, forward: %s}\n", forward1002)
	fmt.Fprintf(cfg, "  - {number: \"1003\", password: secret-1003, forward: %s}\n", forward1003)
	cfg.WriteString("ring_timeout: 5s\n" + routingConfig(carrierPort(t), ""))
	return launchPBX(t, cfg.String(), port)
}

// moved is the extended fields of a destination the call moved to.
func moved(from, reason string) map[string]any {
	return map[string]any{"diverted_from": from, "diversion_reason": reason}
}

func TestPBXForwardUnconditional(t *testing.T) {
	rs := bothProfiles(t)
	s := startForwardServer(t, rs, `{unconditional: "1003"}`, `{}`)
	answers := s.phone(t, "1003", "callee_answer.xml")
	s.dial(t, "caller_bye.xml", "1001", "1002", "-d", "300")()
	answers()
	c := routedCall{caller: "1001", direction: "internal"}
	checkRouted(t, rs, 5, func(h []Webhook) []hookWant {
		return []hookWant{
			c.routed("1002", "extension", "1002"),
			c.want("CALL_RINGING", "B", "1003", moved("1002", "unconditional")),
			c.want("CALL_ANSWER", "B", "1003", moved("1002", "unconditional")),
			c.input("A", "1003", "1", 280),
			c.hangup(t, h[4], "A", "1003", "NORMAL_CLEARING", 200, "caller", "1003"),
		}
	})
}

func TestPBXForwardBusy(t *testing.T) {
	rs := bothProfiles(t)
	s := startForwardServer(t, rs, `{user_busy: "1003"}`, `{}`)
	busy := s.phone(t, "1002", "callee_busy.xml")
	answers := s.phone(t, "1003", "callee_answer.xml")
	s.dial(t, "caller_bye.xml", "1001", "1002", "-d", "300")()
	busy()
	answers()
	c := routedCall{caller: "1001", direction: "internal"}
	checkRouted(t, rs, 5, func(h []Webhook) []hookWant {
		return []hookWant{
			c.routed("1002", "extension", "1002"),
			c.want("CALL_RINGING", "B", "1003", moved("1002", "user_busy")),
			c.want("CALL_ANSWER", "B", "1003", moved("1002", "user_busy")),
			c.input("A", "1003", "1", 280),
			c.hangup(t, h[4], "A", "1003", "NORMAL_CLEARING", 200, "caller", "1003"),
		}
	})
}

// 1002 rings for its no-answer delay (1s, shorter than the 5s ring
// timeout): its own CALL_RINGING comes first, then the forward's.
func TestPBXForwardNoAnswer(t *testing.T) {
	rs := bothProfiles(t)
	s := startForwardServer(t, rs, `{no_answer: "1003", no_answer_after: 1s}`, `{}`)
	rings := s.phone(t, "1002", "callee_ring.xml")
	answers := s.phone(t, "1003", "callee_answer.xml")
	s.dial(t, "caller_bye.xml", "1001", "1002", "-d", "300")()
	rings()
	answers()
	c := routedCall{caller: "1001", direction: "internal"}
	checkRouted(t, rs, 6, func(h []Webhook) []hookWant {
		return []hookWant{
			c.routed("1002", "extension", "1002"),
			c.want("CALL_RINGING", "B1002", "1002", nil),
			c.want("CALL_RINGING", "B1003", "1003", moved("1002", "no_answer")),
			c.want("CALL_ANSWER", "B1003", "1003", moved("1002", "no_answer")),
			c.input("A", "1003", "1", 280),
			c.hangup(t, h[5], "A", "1003", "NORMAL_CLEARING", 200, "caller", "1003"),
		}
	})
}

// No phone of 1002 is registered.
func TestPBXForwardUnavailable(t *testing.T) {
	rs := bothProfiles(t)
	s := startForwardServer(t, rs, `{unavailable: "1003"}`, `{}`)
	answers := s.phone(t, "1003", "callee_answer.xml")
	s.dial(t, "caller_bye.xml", "1001", "1002", "-d", "300")()
	answers()
	c := routedCall{caller: "1001", direction: "internal"}
	checkRouted(t, rs, 5, func(h []Webhook) []hookWant {
		return []hookWant{
			c.routed("1002", "extension", "1002"),
			c.want("CALL_RINGING", "B", "1003", moved("1002", "unavailable")),
			c.want("CALL_ANSWER", "B", "1003", moved("1002", "unavailable")),
			c.input("A", "1003", "1", 280),
			c.hangup(t, h[4], "A", "1003", "NORMAL_CLEARING", 200, "caller", "1003"),
		}
	})
}

// A forward to an outside number goes out through the carrier with a
// Diversion header naming 1002 and the original caller in From, which the
// carrier's scenario checks. The call keeps the direction it was routed
// with.
func TestPBXForwardOutThroughGateway(t *testing.T) {
	rs := bothProfiles(t)
	port := freeUDPPort(t)
	cport := carrierPort(t)
	cfg := pbxConfig(rs, port)
	cfg.WriteString("extensions:\n  - {number: \"1001\", password: secret-1001}\n  - {number: \"1002\", password: secret-1002, forward: {unconditional: \"915551234567\"}}\n")
	cfg.WriteString("ring_timeout: 5s\n" + routingConfig(cport, ""))
	s := launchPBX(t, cfg.String(), port)
	carrier := s.sipp(t, "carrier_diversion.xml", "", cport, "-i", carrierIP, "-s", "carrier", "-key", "user", "trunkuser", "-key", "password", "trunk-secret")
	s.dial(t, "caller_bye.xml", "1001", "1002", "-d", "300")()
	carrier()
	c := routedCall{caller: "1001", direction: "internal"}
	checkRouted(t, rs, 5, func(h []Webhook) []hookWant {
		return []hookWant{
			c.routed("1002", "extension", "1002"),
			c.want("CALL_RINGING", "B", "15551234567", moved("1002", "unconditional")),
			c.want("CALL_ANSWER", "B", "15551234567", moved("1002", "unconditional")),
			c.input("A", "15551234567", "1", 280),
			c.hangup(t, h[4], "A", "15551234567", "NORMAL_CLEARING", 200, "caller", "15551234567"),
		}
	})
}

// 1002 forwards to 1003, which forwards back to 1002: the loop is cut, the
// caller hears 482 Loop Detected and the call ends NO_ROUTE_DESTINATION at
// 1003, the number it was at.
func TestPBXForwardLoopIsCut(t *testing.T) {
	rs := bothProfiles(t)
	s := startForwardServer(t, rs, `{unconditional: "1003"}`, `{unconditional: "1002"}`)
	s.dial(t, "caller_reject_482.xml", "1001", "1002")()
	c := routedCall{caller: "1001", direction: "internal"}
	checkRouted(t, rs, 2, func(h []Webhook) []hookWant {
		return []hookWant{
			c.routed("1002", "extension", "1002"),
			c.hangup(t, h[1], "A", "1003", "NO_ROUTE_DESTINATION", 482, "system", ""),
		}
	})
}
