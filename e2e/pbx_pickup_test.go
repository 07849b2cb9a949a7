package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// Call pickup through the real process: 1001 calls 1002, whose phone (SIPp)
// rings until cancelled; another extension dials the group pickup code or
// the directed one and answers the call. The picker's own dialling is no
// call: only the caller's call's events come, both profiles checked field
// by field.

// startPickupServer runs the PBX with 1001-1004, 1002 and 1003 in pickup
// group sales, 1004 in none.
func startPickupServer(t *testing.T, rs map[string]*Receiver) *pbxServer {
	t.Helper()
	port := freeUDPPort(t)
	cfg := pbxConfig(rs, port)
	cfg.WriteString("extensions:\n")
	for _, e := range []string{"1001", "1002", "1003", "1004"} {
		group := ""
		if e == "1002" || e == "1003" {
			group = ", pickup_group: sales"
		}
		fmt.Fprintf(cfg, "  - {number: %q, password: secret-%s%s}\n", e, e, group)
	}
	cfg.WriteString("ring_timeout: 10s\n")
	return launchPBX(t, cfg.String(), port)
}

// pickupCall rings 1002 from 1001, has picker dial code once it rings, and
// checks the call's events.
func pickupCall(t *testing.T, picker, code string) {
	rs := bothProfiles(t)
	s := startPickupServer(t, rs)
	rings := s.phone(t, "1002", "callee_ring.xml")
	caller := s.dial(t, "caller_bye.xml", "1001", "1002", "-d", "300")
	rs["extended"].WaitFor(t, 10*time.Second, "1002 to ring", func(hs []Webhook) bool {
		return slices.Contains(Events(hs), "CALL_RINGING")
	})
	picks := s.dial(t, "caller_passive.xml", picker, code)
	caller()
	picks()
	rings()
	c := routedCall{caller: "1001", direction: "internal"}
	checkRouted(t, rs, 5, func(h []Webhook) []hookWant {
		return []hookWant{
			c.routed("1002", "extension", "1002"),
			c.want("CALL_RINGING", "B1002", "1002", nil),
			c.want("CALL_ANSWER", "B"+picker, picker, moved("1002", "pickup")),
			c.input("A", picker, "1", 280),
			c.hangup(t, h[4], "A", picker, "NORMAL_CLEARING", 200, "caller", picker),
		}
	})
}

func TestPBXGroupPickup(t *testing.T) { pickupCall(t, "1003", "*8") }

// 1004 is in no pickup group: the directed code works for it all the same.
func TestPBXDirectedPickup(t *testing.T) { pickupCall(t, "1004", "**1002") }

// With nothing ringing, the pickup code is answered 404 and no event is
// emitted: the picker's dialling is not a call.
func TestPBXPickupNothingRinging(t *testing.T) {
	rs := bothProfiles(t)
	s := startPickupServer(t, rs)
	s.dial(t, "caller_reject_404.xml", "1003", "*8")()
	s.dial(t, "caller_reject_404.xml", "1004", "**1002")()
	time.Sleep(500 * time.Millisecond)
	for p, r := range rs {
		if got := r.Accepted(); len(got) != 0 {
			t.Errorf("%s: %d webhooks %v for a pickup of nothing", p, len(got), Events(got))
		}
	}
}
