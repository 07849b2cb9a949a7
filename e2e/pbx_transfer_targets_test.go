package e2e

import (
	"fmt"
	"testing"
)

// Blind transfers by the callee to targets other than an extension: the
// target number is routed through the dialplan as the transferring phone
// would have dialled it. 1001 calls 1002, who answers and transfers the
// call blind (callee_refer.xml checks the 202, the NOTIFYs and the BYE
// that releases it); 1001 hangs up at the end.

// startTransferTargetsServer runs the PBX with extensions 1001-1004, ring
// group 600 (1003 and 1004 at once), IVR 700 (1: 1003, 1003 too after a
// second without a digit), queue 800 (agent 1003, music) and the carrier
// at cport on carrierIP behind the 9 prefix.
func startTransferTargetsServer(t *testing.T, rs map[string]*Receiver, cport int) *pbxServer {
	t.Helper()
	port := freeUDPPort(t)
	cfg := pbxConfig(rs, port)
	cfg.WriteString("extensions:\n")
	for _, e := range []string{"1001", "1002", "1003", "1004"} {
		fmt.Fprintf(cfg, "  - {number: %q, password: secret-%s}\n", e, e)
	}
	fmt.Fprintf(cfg, `ring_timeout: 5s
ring_groups:
  - {number: "600", strategy: simultaneous, members: ["1003", "1004"], timeout: 5s}
ivrs:
  - {number: "700", digit_timeout: 1s, options: {"1": "1003"}, default: "1003"}
queues:
  - {number: "800", agents: ["1003"]}
gateways:
  - {name: carrier, address: "%s:%d", username: trunkuser, password: trunk-secret}
routes:
  - {match: "^9(\\d{4,15})$", gateway: carrier, number: "$1"}
`, carrierIP, cport)
	return launchPBX(t, cfg.String(), port)
}

// transferTo runs the call of these tests: 1001 calls 1002, who transfers
// it blind to target once answered; 1001 hangs up after hold ms.
func (s *pbxServer) transferTo(t *testing.T, target, hold string) {
	t.Helper()
	transfers := s.phone(t, "1002", "callee_refer.xml", "-key", "target", target)
	s.dial(t, "caller_bye.xml", "1001", "1002", "-d", hold)()
	transfers()
}

// The first events of every call here: routed to 1002, which rang and
// answered; the caller's digit.
func (c routedCall) beforeTransfer() []hookWant {
	return []hookWant{
		c.routed("1002", "extension", "1002"),
		c.want("CALL_RINGING", "B1002", "1002", nil),
		c.want("CALL_ANSWER", "B1002", "1002", nil),
		c.input("A", "1002", "1", 280),
	}
}

// To a ring group: both members ring, each as the transfer's target; 1003
// answers and 1004 is cancelled.
func TestPBXBlindTransferToRingGroup(t *testing.T) {
	rs := bothProfiles(t)
	s := startTransferTargetsServer(t, rs, carrierPort(t))
	answers := s.phone(t, "1003", "callee_answer.xml")
	rings := s.phone(t, "1004", "callee_ring.xml")
	s.transferTo(t, "600", "3000")
	answers()
	rings()
	c := routedCall{caller: "1001", direction: "internal"}
	checkRouted(t, rs, 8, func(h []Webhook) []hookWant {
		// Both members ring; which rings first is up to the network.
		first, second := "1003", "1004"
		if h[4].Body["destination_number"] == "1004" {
			first, second = second, first
		}
		return append(c.beforeTransfer(),
			c.want("CALL_RINGING", "B"+first, first, moved("1002", "transfer")),
			c.want("CALL_RINGING", "B"+second, second, moved("1002", "transfer")),
			c.want("CALL_ANSWER", "B1003", "1003", moved("1002", "transfer")),
			c.hangup(t, h[7], "A", "1003", "NORMAL_CLEARING", 200, "caller", "1002"),
		)
	})
}

// To an IVR: the IVR answers as the transfer's target, hears nothing
// within its digit timeout and puts the call through to its default, 1003,
// which answers.
func TestPBXBlindTransferToIVR(t *testing.T) {
	rs := bothProfiles(t)
	s := startTransferTargetsServer(t, rs, carrierPort(t))
	answers := s.phone(t, "1003", "callee_answer.xml")
	s.transferTo(t, "700", "4000")
	answers()
	c := routedCall{caller: "1001", direction: "internal"}
	checkRouted(t, rs, 8, func(h []Webhook) []hookWant {
		return append(c.beforeTransfer(),
			c.want("CALL_ANSWER", "IVR", "700", moved("1002", "transfer")),
			c.want("CALL_RINGING", "B1003", "1003", nil),
			c.want("CALL_ANSWER", "B1003", "1003", nil),
			c.hangup(t, h[7], "A", "1003", "NORMAL_CLEARING", 200, "caller", "1002"),
		)
	})
}

// To a queue: the queue answers with its music as the transfer's target,
// the call's events carry the queue from there on, and its agent 1003
// rings and answers.
func TestPBXBlindTransferToQueue(t *testing.T) {
	rs := bothProfiles(t)
	s := startTransferTargetsServer(t, rs, carrierPort(t))
	answers := s.agent(t, "1003", "callee_answer.xml", 1)
	s.transferTo(t, "800", "3000")
	answers()
	c := routedCall{caller: "1001", direction: "internal"}
	checkRouted(t, rs, 8, func(h []Webhook) []hookWant {
		waits(t, h)
		return append(c.beforeTransfer(),
			c.want("CALL_ANSWER", "Q", "800", in(moved("1002", "transfer"), q(stay(t, h[4], "800", 0, 0, "")))),
			c.want("CALL_RINGING", "B1003", "1003", in(divert("800", "queue"), q(stay(t, h[5], "800", 0, 2, "")))),
			c.want("CALL_ANSWER", "B1003", "1003", in(divert("800", "queue"), q(stay(t, h[6], "800", 0, 2, "")))),
			with(c.hangup(t, h[7], "A", "1003", "NORMAL_CLEARING", 200, "caller", "1002"), q(stay(t, h[7], "800", 0, 2, "answered"))),
		)
	})
}

// To a gateway number: 9 and an outside number, as 1002 would have dialled
// it. The carrier challenges, checks the credentials and the number
// without the 9, and answers; the call keeps the direction it was routed
// with.
func TestPBXBlindTransferToGatewayNumber(t *testing.T) {
	rs := bothProfiles(t)
	cport := carrierPort(t)
	s := startTransferTargetsServer(t, rs, cport)
	carrier := s.sipp(t, "carrier_auth.xml", "", cport, "-i", carrierIP, "-s", "carrier", "-key", "user", "trunkuser", "-key", "password", "trunk-secret")
	s.transferTo(t, "915551234567", "3000")
	carrier()
	c := routedCall{caller: "1001", direction: "internal"}
	checkRouted(t, rs, 7, func(h []Webhook) []hookWant {
		return append(c.beforeTransfer(),
			c.want("CALL_RINGING", "B", "15551234567", moved("1002", "transfer")),
			c.want("CALL_ANSWER", "B", "15551234567", moved("1002", "transfer")),
			c.hangup(t, h[6], "A", "15551234567", "NORMAL_CLEARING", 200, "caller", "1002"),
		)
	})
}
