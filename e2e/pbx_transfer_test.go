package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/switchhook/switchhook/e2e/testua"
	"github.com/switchhook/switchhook/internal/siphdr"
)

// Transfers of the built-in PBX through the real process: SIPp phones on
// the wire, both profiles' receivers checked field by field.

// startTransferServer runs the PBX with extensions 1001-1003.
func startTransferServer(t *testing.T, rs map[string]*Receiver) *pbxServer {
	t.Helper()
	port := freeUDPPort(t)
	cfg := pbxConfig(rs, port)
	cfg.WriteString("extensions:\n")
	for _, e := range []string{"1001", "1002", "1003"} {
		fmt.Fprintf(cfg, "  - {number: %q, password: secret-%s}\n", e, e)
	}
	cfg.WriteString("ring_timeout: 5s\n")
	return launchPBX(t, cfg.String(), port)
}

// session is the calls of one session as a receiver got them: by
// call_uuid, the first call's first.
type session struct {
	first string
	calls map[string][]Webhook
}

// last is the last webhook of call id: its CALL_HANGUP.
func (s session) last(id string) Webhook { hs := s.calls[id]; return hs[len(hs)-1] }

// where finds the call whose first webhook has the field k at v.
func (s session) where(k string, v any) string {
	for id, hs := range s.calls {
		if id != s.first && hs[0].Body[k] == v {
			return id
		}
	}
	return ""
}

// in makes w a want of a call of the first call's session.
func (s session) in(w hookWant) hookWant {
	w.std["call_session_uuid"] = s.first
	return w
}

// checkSession waits for n webhooks in each profile, of the calls of one
// session, and checks each call's against what wants makes of the extended
// profile's: the wants of each call, by call_uuid.
func checkSession(t *testing.T, rs map[string]*Receiver, n int, wants func(s session) map[string][]hookWant) {
	t.Helper()
	ext := rs["extended"].WaitCount(t, n, 20*time.Second)
	checkCalls(t, ext)
	w := wants(session{first: ext[0].CallUUID(), calls: ByCall(ext)})
	for profile, r := range rs {
		calls := ByCall(r.WaitCount(t, n, 20*time.Second))
		if len(calls) != len(w) {
			t.Fatalf("%s: %d calls, want %d", profile, len(calls), len(w))
		}
		for id, hs := range calls {
			checkPBXCall(t, profile, hs, w[id])
		}
	}
}

// 1001 calls 1002, who answers and transfers the call blind to 1003 (its
// scenario checks the 202, the NOTIFYs and the BYE that releases it); 1003
// answers and 1001 hangs up. The same call goes on.
func TestPBXBlindTransferByCallee(t *testing.T) {
	rs := bothProfiles(t)
	s := startTransferServer(t, rs)
	transfers := s.phone(t, "1002", "callee_refer.xml", "-key", "target", "1003")
	answers := s.phone(t, "1003", "callee_answer.xml")
	s.dial(t, "caller_bye.xml", "1001", "1002", "-d", "3000")()
	transfers()
	answers()
	c := routedCall{caller: "1001", direction: "internal"}
	checkRouted(t, rs, 7, func(h []Webhook) []hookWant {
		return []hookWant{
			c.routed("1002", "extension", "1002"),
			c.want("CALL_RINGING", "B1002", "1002", nil),
			c.want("CALL_ANSWER", "B1002", "1002", nil),
			c.input("A", "1002", "1", 280),
			c.want("CALL_RINGING", "B1003", "1003", moved("1002", "transfer")),
			c.want("CALL_ANSWER", "B1003", "1003", moved("1002", "transfer")),
			c.hangup(t, h[6], "A", "1003", "NORMAL_CLEARING", 200, "caller", "1002"),
		}
	})
}

// REFERs the PBX cannot act on change nothing: 1002 answers, sends one
// with a malformed Refer-To (400) and one to a number no route serves (202,
// then NOTIFY 404); the call goes on, its events those of an ordinary call.
func TestPBXBadRefersChangeNothing(t *testing.T) {
	rs := bothProfiles(t)
	s := startTransferServer(t, rs)
	refers := s.phone(t, "1002", "callee_refer_bad.xml")
	s.dial(t, "caller_bye.xml", "1001", "1002", "-d", "1500")()
	refers()
	c := routedCall{caller: "1001", direction: "internal"}
	checkRouted(t, rs, 5, func(h []Webhook) []hookWant {
		return []hookWant{
			c.routed("1002", "extension", "1002"),
			c.want("CALL_RINGING", "B", "1002", nil),
			c.want("CALL_ANSWER", "B", "1002", nil),
			c.input("A", "1002", "1", 280),
			c.hangup(t, h[4], "A", "1002", "NORMAL_CLEARING", 200, "caller", "1002"),
		}
	})
}

// A REFER in a dialog that is not answered yet is refused 403, and the
// call rings on until its caller cancels.
func TestPBXReferBeforeAnswerRefused(t *testing.T) {
	rs := bothProfiles(t)
	s := startTransferServer(t, rs)
	rings := s.phone(t, "1002", "callee_ring.xml")
	s.dial(t, "caller_refer_early.xml", "1001", "1002")()
	rings()
	c := routedCall{caller: "1001", direction: "internal"}
	checkRouted(t, rs, 3, func(h []Webhook) []hookWant {
		return []hookWant{
			c.routed("1002", "extension", "1002"),
			c.want("CALL_RINGING", "B", "1002", nil),
			c.hangup(t, h[2], "A", "1002", "ORIGINATOR_CANCEL", 487, "caller", ""),
		}
	})
}

// 1002 answers 1001 and holds it; while it holds, the call it places to
// 1003 is a consultation call: its own call_uuid, the held call's
// call_session_uuid from its CALL_ROUTED on.
func TestPBXConsultationCallJoinsTheHeldCallsSession(t *testing.T) {
	rs := bothProfiles(t)
	s := startTransferServer(t, rs)
	holds := s.phone(t, "1002", "callee_hold_wait.xml")
	answers := s.phone(t, "1003", "callee_answer.xml")
	held := s.dial(t, "caller_held_bye.xml", "1001", "1002", "-d", "3000")
	rs["extended"].WaitFor(t, 10*time.Second, "1002 to hold 1001", func(hs []Webhook) bool {
		return slices.Contains(Events(hs), "CALL_HOLD")
	})
	s.dial(t, "caller_bye.xml", "1002", "1003", "-d", "300")()
	answers()
	held()
	holds()

	x := routedCall{caller: "1001", direction: "internal"}
	y := routedCall{caller: "1002", direction: "internal"}
	checkSession(t, rs, 10, func(s session) map[string][]hookWant {
		second := s.where("caller_id_number", "1002")
		return map[string][]hookWant{
			s.first: {
				x.routed("1002", "extension", "1002"),
				x.want("CALL_RINGING", "B", "1002", nil),
				x.want("CALL_ANSWER", "B", "1002", nil),
				x.want("CALL_HOLD", "B", "1002", map[string]any{"party": "callee"}),
				x.hangup(t, s.last(s.first), "A", "1002", "NORMAL_CLEARING", 200, "caller", "1002"),
			},
			second: {
				s.in(y.routed("1003", "extension", "1003")),
				s.in(y.want("CALL_RINGING", "B", "1003", nil)),
				s.in(y.want("CALL_ANSWER", "B", "1003", nil)),
				s.in(y.input("A", "1003", "1", 280)),
				s.in(y.hangup(t, s.last(second), "A", "1003", "NORMAL_CLEARING", 200, "caller", "1003")),
			},
		}
	})
}

// An attended transfer by the callee, with the project's own phone as 1002
// (two dialogs at once): 1001 (SIPp) calls 1002, which answers and holds;
// 1002 calls 1003 (SIPp), which answers; 1002 sends REFER on the first
// dialog with Replaces naming the second. The PBX joins 1001 and 1003 and
// releases 1002 on both dialogs; the consultation call ends
// ATTENDED_TRANSFER, the first goes on.
func TestPBXAttendedTransferByCallee(t *testing.T) {
	rs := bothProfiles(t)
	s := startTransferServer(t, rs)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ph, err := testua.New(ctx, "1002", "secret-1002", s.sip, "pbx.test")
	if err != nil {
		t.Fatal(err)
	}
	if err := ph.Register(ctx); err != nil {
		t.Fatal(err)
	}
	answers := s.phone(t, "1003", "callee_answer.xml")
	caller := s.dial(t, "caller_transferred.xml", "1001", "1002")
	first := answerHeld(t, ctx, ph)
	consult, err := ph.Call(ctx, "1003")
	if err != nil {
		t.Fatal(err)
	}
	referReplacing(t, ctx, ph, first, consult)
	ids := []string{first.InviteRequest.CallID().Value(), consult.InviteRequest.CallID().Value()}
	err = ph.WaitFor(ctx, "NOTIFY 200 and a BYE on both dialogs", func(ns []*sip.Request, byes map[string]bool) bool {
		ok := false
		for _, n := range ns {
			code, _, err := siphdr.ParseSipfrag(n.Body())
			ok = ok || err == nil && code == 200 && strings.HasPrefix(n.GetHeader("Subscription-State").Value(), "terminated")
		}
		return ok && byes[ids[0]] && byes[ids[1]]
	})
	if err != nil {
		t.Fatalf("%v; NOTIFYs: %d", err, len(ph.Notifies()))
	}
	caller()
	answers()

	c1 := routedCall{caller: "1001", direction: "internal"}
	c2 := routedCall{caller: "1002", direction: "internal"}
	var x string
	checkSession(t, rs, 10, func(s session) map[string][]hookWant {
		x = s.first
		y := s.where("caller_id_number", "1002")
		return map[string][]hookWant{
			x: {
				c1.routed("1002", "extension", "1002"),
				c1.want("CALL_ANSWER", "B1002", "1002", nil),
				c1.want("CALL_HOLD", "B1002", "1002", map[string]any{"party": "callee"}),
				c1.want("CALL_UNHOLD", "B1002", "1002", map[string]any{"party": "callee"}),
				c1.want("CALL_ANSWER", "B1003", "1003", moved("1002", "attended_transfer")),
				c1.hangup(t, s.last(x), "A", "1003", "NORMAL_CLEARING", 200, "caller", "1002"),
			},
			y: {
				s.in(c2.routed("1003", "extension", "1003")),
				s.in(c2.want("CALL_RINGING", "B", "1003", nil)),
				s.in(c2.want("CALL_ANSWER", "B", "1003", nil)),
				s.in(c2.hangup(t, s.last(y), "A", "1003", "ATTENDED_TRANSFER", 200, "caller", "1003")),
			},
		}
	})
	// The API shows the move and the session's two calls.
	var detail struct {
		Moves []struct {
			Reason string `json:"reason"`
			From   string `json:"from"`
			To     string `json:"to"`
		} `json:"moves"`
		SessionCalls []struct {
			CallUUID    string `json:"call_uuid"`
			HangupCause string `json:"hangup_cause"`
		} `json:"session_calls"`
	}
	s.API("GET", "/v1/calls/"+x, nil, 200, &detail)
	if len(detail.Moves) != 1 || detail.Moves[0].Reason != "attended_transfer" || detail.Moves[0].From != "1002" || detail.Moves[0].To != "1003" {
		t.Errorf("moves %+v", detail.Moves)
	}
	if len(detail.SessionCalls) != 2 || detail.SessionCalls[0].CallUUID != x || detail.SessionCalls[1].HangupCause != "ATTENDED_TRANSFER" {
		t.Errorf("session calls %+v", detail.SessionCalls)
	}
}

// A Replaces naming no dialog changes nothing: an INVITE with one is
// refused 481 and emits nothing; a REFER with one in an answered call is
// accepted and its NOTIFY reports 481, and the call goes on, its events
// those of an ordinary call.
func TestPBXReplacesNamingNoDialog(t *testing.T) {
	rs := bothProfiles(t)
	s := startTransferServer(t, rs)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ph, err := testua.New(ctx, "1002", "secret-1002", s.sip, "pbx.test")
	if err != nil {
		t.Fatal(err)
	}
	if err := ph.Register(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = ph.Call(ctx, "1003", sip.NewHeader("Replaces", "nosuchcall@127.0.0.1;to-tag=a;from-tag=b"))
	if err == nil || !strings.Contains(err.Error(), "481") {
		t.Fatalf("INVITE with Replaces of no dialog: %v, want 481", err)
	}
	caller := s.dial(t, "caller_passive.xml", "1001", "1002")
	first, err := ph.Answer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rp := siphdr.Replaces{CallID: "nosuchcall@127.0.0.1", ToTag: "a", FromTag: "b"}
	referTo := siphdr.ReferTo{URI: sip.Uri{Scheme: "sip", User: "1003", Host: "pbx.test"}, Replaces: &rp}
	if res, err := ph.Refer(ctx, first, referTo.String()); err != nil || res.StatusCode != 202 {
		t.Fatalf("REFER: %v %v", res, err)
	}
	err = ph.WaitFor(ctx, "NOTIFY 481", func(ns []*sip.Request, _ map[string]bool) bool {
		for _, n := range ns {
			if code, _, err := siphdr.ParseSipfrag(n.Body()); err == nil && code == 481 {
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Fatal(err)
	}
	// The call went on; its callee ends it.
	if err := first.Bye(ctx); err != nil {
		t.Fatal(err)
	}
	caller()
	c := routedCall{caller: "1001", direction: "internal"}
	checkRouted(t, rs, 3, func(h []Webhook) []hookWant {
		return []hookWant{
			c.routed("1002", "extension", "1002"),
			c.want("CALL_ANSWER", "B", "1002", nil),
			c.hangup(t, h[2], "B", "1002", "NORMAL_CLEARING", 200, "callee", "1002"),
		}
	})
}

// referReplacing sends REFER from ph on dialog first to the callee of
// consult with Replaces naming consult (an attended transfer), and fails
// unless the PBX accepts it (202).
func referReplacing(t *testing.T, ctx context.Context, ph *testua.Phone, first testua.Dialog, consult *sipgo.DialogClientSession) {
	t.Helper()
	rp, err := siphdr.ParseReplaces(testua.Replaces(consult))
	if err != nil {
		t.Fatal(err)
	}
	referTo := siphdr.ReferTo{URI: sip.Uri{Scheme: "sip", User: consult.InviteRequest.To().Address.User, Host: "pbx.test"}, Replaces: &rp}
	if res, err := ph.Refer(ctx, first, referTo.String()); err != nil || res.StatusCode != 202 {
		t.Fatalf("REFER: %v %v", res, err)
	}
}

// testPhone registers the project's own phone as ext with the PBX of s.
func testPhone(t *testing.T, ctx context.Context, s *pbxServer, ext string) *testua.Phone {
	t.Helper()
	ph, err := testua.New(ctx, ext, "secret-"+ext, s.sip, "pbx.test")
	if err != nil {
		t.Fatal(err)
	}
	if err := ph.Register(ctx); err != nil {
		t.Fatal(err)
	}
	return ph
}

// answerHeld answers the call ringing ph and holds it.
func answerHeld(t *testing.T, ctx context.Context, ph *testua.Phone) *sipgo.DialogServerSession {
	t.Helper()
	d, err := ph.Answer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := ph.Hold(ctx, d); err != nil {
		t.Fatal(err)
	}
	return d
}

// callHeld calls number from ph and, once answered, holds the call.
func callHeld(t *testing.T, ctx context.Context, ph *testua.Phone, number string) *sipgo.DialogClientSession {
	t.Helper()
	d, err := ph.Call(ctx, number)
	if err != nil {
		t.Fatal(err)
	}
	if err := ph.Hold(ctx, d); err != nil {
		t.Fatal(err)
	}
	return d
}

// waitNotify waits until ph has a NOTIFY whose sipfrag reports code and,
// when bye is set, a BYE in the dialog with Call-ID bye.
func waitNotify(t *testing.T, ctx context.Context, ph *testua.Phone, code int, bye string) {
	t.Helper()
	err := ph.WaitFor(ctx, fmt.Sprintf("NOTIFY %d and the BYE", code), func(ns []*sip.Request, byes map[string]bool) bool {
		for _, n := range ns {
			if c, _, err := siphdr.ParseSipfrag(n.Body()); err == nil && c == code {
				return bye == "" || byes[bye]
			}
		}
		return false
	})
	if err != nil {
		t.Fatalf("%v; NOTIFYs: %d", err, len(ph.Notifies()))
	}
}

// 1002 holds 1001, then transfers it blind to 1003: the call gets
// CALL_UNHOLD first, and the caller's phone is offered the media again.
func TestPBXBlindTransferOfAHeldCall(t *testing.T) {
	rs := bothProfiles(t)
	s := startTransferServer(t, rs)
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
	c := routedCall{caller: "1001", direction: "internal"}
	checkRouted(t, rs, 7, func(h []Webhook) []hookWant {
		return []hookWant{
			c.routed("1002", "extension", "1002"),
			c.want("CALL_ANSWER", "B1002", "1002", nil),
			c.want("CALL_HOLD", "B1002", "1002", map[string]any{"party": "callee"}),
			c.want("CALL_UNHOLD", "B1002", "1002", map[string]any{"party": "callee"}),
			c.want("CALL_RINGING", "B1003", "1003", moved("1002", "transfer")),
			c.want("CALL_ANSWER", "B1003", "1003", moved("1002", "transfer")),
			c.hangup(t, h[6], "A", "1003", "NORMAL_CLEARING", 200, "caller", "1002"),
		}
	})
}

// A blind transfer to a busy target ends the call with the target's
// cause: the transferor hears 486 in its NOTIFY and is released, the
// caller gets BYE.
func TestPBXBlindTransferToABusyTarget(t *testing.T) {
	rs := bothProfiles(t)
	s := startTransferServer(t, rs)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ph := testPhone(t, ctx, s, "1002")
	busy := s.phone(t, "1003", "callee_busy.xml")
	caller := s.dial(t, "caller_passive.xml", "1001", "1002")
	first, err := ph.Answer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := ph.Refer(ctx, first, "<sip:1003@pbx.test>"); err != nil || res.StatusCode != 202 {
		t.Fatalf("REFER: %v %v", res, err)
	}
	waitNotify(t, ctx, ph, 486, first.InviteRequest.CallID().Value())
	caller()
	busy()
	c := routedCall{caller: "1001", direction: "internal"}
	checkRouted(t, rs, 3, func(h []Webhook) []hookWant {
		return []hookWant{
			c.routed("1002", "extension", "1002"),
			c.want("CALL_ANSWER", "B1002", "1002", nil),
			c.hangup(t, h[2], "A", "1003", "USER_BUSY", 486, "callee", "1002"),
		}
	})
}

// 1001 calls 1002 and transfers it blind to 1003: 1001's call ends
// BLIND_TRANSFER by the caller, and 1002 and 1003 are a new call of the
// same session, its caller 1002; 1003 answers and hangs up.
func TestPBXBlindTransferByCaller(t *testing.T) {
	rs := bothProfiles(t)
	s := startTransferServer(t, rs)
	stays := s.phone(t, "1002", "callee_answer.xml")
	target := s.phone(t, "1003", "callee_answer_bye.xml")
	s.dial(t, "caller_refer.xml", "1001", "1002", "-key", "target", "1003")()
	target()
	stays()

	c1 := routedCall{caller: "1001", direction: "internal"}
	c2 := routedCall{caller: "1002", direction: "internal"}
	checkSession(t, rs, 8, func(s session) map[string][]hookWant {
		z := s.where("caller_id_number", "1002")
		return map[string][]hookWant{
			s.first: {
				c1.routed("1002", "extension", "1002"),
				c1.want("CALL_RINGING", "B", "1002", nil),
				c1.want("CALL_ANSWER", "B", "1002", nil),
				c1.hangup(t, s.last(s.first), "A", "1002", "BLIND_TRANSFER", 200, "caller", "1002"),
			},
			z: {
				s.in(c2.routed("1003", "extension", "1003")),
				s.in(c2.want("CALL_RINGING", "B", "1003", nil)),
				s.in(c2.want("CALL_ANSWER", "B", "1003", nil)),
				s.in(c2.hangup(t, s.last(z), "B", "1003", "NORMAL_CLEARING", 200, "callee", "1003")),
			},
		}
	})
}

// An attended transfer by the caller, with the project's own phone as 1001:
// it calls 1002 and holds it, calls 1003 (a consultation call), and sends
// REFER on the first call with Replaces naming the second. Both of its
// calls end ATTENDED_TRANSFER; 1002 and 1003 are a new call of the session,
// answered already (CALL_ROUTED, CALL_ANSWER), its caller 1002, who hangs
// up later.
func TestPBXAttendedTransferByCaller(t *testing.T) {
	rs := bothProfiles(t)
	s := startTransferServer(t, rs)
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
	waitNotify(t, ctx, ph, 200, first.InviteRequest.CallID().Value())
	if err := ph.WaitFor(ctx, "the consultation call's BYE", func(_ []*sip.Request, byes map[string]bool) bool {
		return byes[consult.InviteRequest.CallID().Value()]
	}); err != nil {
		t.Fatal(err)
	}
	stays()
	target()

	c1 := routedCall{caller: "1001", direction: "internal"}
	c2 := routedCall{caller: "1002", direction: "internal"}
	checkSession(t, rs, 12, func(s session) map[string][]hookWant {
		x, z := s.first, s.where("caller_id_number", "1002")
		var y string
		for id := range s.calls {
			if id != x && id != z {
				y = id
			}
		}
		return map[string][]hookWant{
			x: {
				c1.routed("1002", "extension", "1002"),
				c1.want("CALL_RINGING", "B", "1002", nil),
				c1.want("CALL_ANSWER", "B", "1002", nil),
				c1.want("CALL_HOLD", "A", "1002", map[string]any{"party": "caller"}),
				c1.hangup(t, s.last(x), "A", "1002", "ATTENDED_TRANSFER", 200, "caller", "1002"),
			},
			y: {
				s.in(c1.routed("1003", "extension", "1003")),
				s.in(c1.want("CALL_RINGING", "B", "1003", nil)),
				s.in(c1.want("CALL_ANSWER", "B", "1003", nil)),
				s.in(c1.hangup(t, s.last(y), "A", "1003", "ATTENDED_TRANSFER", 200, "caller", "1003")),
			},
			z: {
				s.in(c2.routed("1003", "extension", "1003")),
				s.in(c2.want("CALL_ANSWER", "B", "1003", nil)),
				s.in(c2.hangup(t, s.last(z), "A", "1003", "NORMAL_CLEARING", 200, "caller", "1003")),
			},
		}
	})
}

// An INVITE with Replaces (RFC 3891) naming the callee's dialog of an
// answered call: 1001 calls 1002, which answers and holds; the phone of
// 1003 sends an INVITE that replaces 1002's dialog. 1003 takes 1002's
// place, 1002 gets BYE, and the call goes on (CALL_UNHOLD, CALL_ANSWER of
// 1003 with diversion_reason attended_transfer).
func TestPBXInviteWithReplacesTakesTheCalleesPlace(t *testing.T) {
	rs := bothProfiles(t)
	s := startTransferServer(t, rs)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	callee := testPhone(t, ctx, s, "1002")
	target := testPhone(t, ctx, s, "1003")
	caller := s.dial(t, "caller_transferred.xml", "1001", "1002")
	first, err := callee.Answer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := callee.Hold(ctx, first); err != nil {
		t.Fatal(err)
	}
	joined, err := target.Call(ctx, "1002", sip.NewHeader("Replaces", testua.ReplacesAnswered(first)))
	if err != nil {
		t.Fatal(err)
	}
	if err := callee.WaitFor(ctx, "1002's BYE", func(_ []*sip.Request, byes map[string]bool) bool {
		return byes[first.InviteRequest.CallID().Value()]
	}); err != nil {
		t.Fatal(err)
	}
	caller()
	if err := target.WaitFor(ctx, "1003's BYE", func(_ []*sip.Request, byes map[string]bool) bool {
		return byes[joined.InviteRequest.CallID().Value()]
	}); err != nil {
		t.Fatal(err)
	}
	c := routedCall{caller: "1001", direction: "internal"}
	checkRouted(t, rs, 6, func(h []Webhook) []hookWant {
		return []hookWant{
			c.routed("1002", "extension", "1002"),
			c.want("CALL_ANSWER", "B1002", "1002", nil),
			c.want("CALL_HOLD", "B1002", "1002", map[string]any{"party": "callee"}),
			c.want("CALL_UNHOLD", "B1002", "1002", map[string]any{"party": "callee"}),
			c.want("CALL_ANSWER", "B1003", "1003", moved("1002", "attended_transfer")),
			c.hangup(t, h[5], "A", "1003", "NORMAL_CLEARING", 200, "caller", "1002"),
		}
	})
}
