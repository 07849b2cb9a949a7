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

// Each of the four forwards of 1002 moves the call to 1003, which answers:
// the same call goes on, 1003's events saying where it came from and why;
// 1002's own CALL_RINGING appears only if it rang (no answer: for its
// delay of 1s, shorter than the 5s ring timeout).
func TestPBXForward(t *testing.T) {
	for _, tc := range []struct {
		name, forward string
		phone1002     string // 1002's scenario; none: not registered
		reason        string
	}{
		{"unconditional", `{unconditional: "1003"}`, "callee_ring.xml", "unconditional"},
		{"busy", `{user_busy: "1003"}`, "callee_busy.xml", "user_busy"},
		{"no answer", `{no_answer: "1003", no_answer_after: 1s}`, "callee_ring.xml", "no_answer"},
		{"unavailable", `{unavailable: "1003"}`, "", "unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := bothProfiles(t)
			s := startForwardServer(t, rs, tc.forward, `{}`)
			if tc.phone1002 != "" {
				// An unconditional forward never rings it: the phone is
				// registered but not waited for.
				phone := s.phone(t, "1002", tc.phone1002)
				if tc.reason != "unconditional" {
					defer phone()
				}
			}
			answers := s.phone(t, "1003", "callee_answer.xml")
			s.dial(t, "caller_bye.xml", "1001", "1002", "-d", "300")()
			answers()
			rang := tc.reason == "no_answer"
			n := 5
			if rang {
				n = 6
			}
			c := routedCall{caller: "1001", direction: "internal"}
			checkRouted(t, rs, n, func(h []Webhook) []hookWant {
				w := []hookWant{c.routed("1002", "extension", "1002")}
				if rang {
					w = append(w, c.want("CALL_RINGING", "B1002", "1002", nil))
				}
				return append(w,
					c.want("CALL_RINGING", "B1003", "1003", moved("1002", tc.reason)),
					c.want("CALL_ANSWER", "B1003", "1003", moved("1002", tc.reason)),
					c.input("A", "1003", "1", 280),
					c.hangup(t, h[n-1], "A", "1003", "NORMAL_CLEARING", 200, "caller", "1003"),
				)
			})
		})
	}
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
