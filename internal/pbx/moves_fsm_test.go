package pbx

import (
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/switchhook/switchhook/internal/events"
)

// referFrom makes a REFER of the callee of inv (answered with tag) to
// referTo.
func referFrom(inv *sip.Request, tag string, cseq uint32, referTo string) *sip.Request {
	req := calleeRequest(inv, tag, sip.REFER, cseq, "")
	req.AppendHeader(sip.NewHeader("Refer-To", referTo))
	return req
}

// wantSipfrag checks that a NOTIFY the PBX sent reports code.
func wantSipfrag(t *testing.T, n sent, code string) {
	t.Helper()
	if body := string(n.req.Body()); !strings.HasPrefix(body, "SIP/2.0 "+code) {
		t.Errorf("NOTIFY body %q, want status %s", body, code)
	}
	if ev := n.req.GetHeader("Event"); ev == nil || !strings.HasPrefix(ev.Value(), "refer") {
		t.Errorf("NOTIFY Event %v", ev)
	}
}

// A blind transfer by the callee whose caller leaves while the target
// rings: the target's INVITE is cancelled, the transferor hears 487 and is
// released, the call ends NORMAL_CLEARING by the caller at the target; a
// second REFER of the released transferor is refused.
func TestFSMBlindTransferCallerLeavesWhileTargetRings(t *testing.T) {
	t.Parallel()
	f := newFSM(t, nil, nil)
	caller, callee, inv := answered(t, f)
	if code := finalCode(f.send(referFrom(inv.req, callee.tag, 2, "<sip:1003@pbx.test>"))); code != 202 {
		t.Fatalf("REFER answered %d, want 202", code)
	}
	trying := f.next(sip.NOTIFY)
	wantSipfrag(t, trying, "100")
	trying.reply(200, "", "")
	target := f.newParty("1003")
	tinv := f.next(sip.INVITE)
	if tinv.req.Recipient.User != "1003" {
		t.Fatalf("INVITE to %s, want 1003", tinv.req.Recipient.User)
	}
	tinv.reply(180, target.tag, "")
	// The target's ringing is seen before the caller leaves: a leg that
	// never responded is abandoned, not cancelled.
	f.waitEvents(4)
	if code := finalCode(f.send(referFrom(inv.req, callee.tag, 3, "<sip:1002@pbx.test>"))); code != 481 {
		t.Errorf("the released transferor's second REFER answered %d, want 481", code)
	}
	if code := finalCode(f.send(caller.request(sip.BYE, ""))); code != 200 {
		t.Errorf("caller's BYE answered %d", code)
	}
	f.next(sip.CANCEL).reply(200, "", "")
	tinv.reply(487, target.tag, "")
	final := f.next(sip.NOTIFY)
	wantSipfrag(t, final, "487")
	if st := final.req.GetHeader("Subscription-State"); st == nil || !strings.HasPrefix(st.Value(), "terminated") {
		t.Errorf("final NOTIFY Subscription-State %v", st)
	}
	final.reply(200, "", "")
	f.next(sip.BYE).reply(200, "", "")
	evs := f.wantKinds(events.CallRouted, events.CallRinging, events.CallAnswer, events.CallRinging, events.CallHangup)
	if d := evs[3].Diversion; d == nil || d.From != "1002" || d.Reason != events.DivertTransfer || evs[3].DestinationNumber != "1003" {
		t.Errorf("the target's CALL_RINGING: %+v", evs[3])
	}
	if h := hangupOf(t, evs); h.Cause != events.CauseNormalClearing || h.By != events.Caller || evs[4].DestinationNumber != "1003" {
		t.Errorf("hangup %+v at %s", h, evs[4].DestinationNumber)
	}
	<-caller.done
}

// REFERs that cannot be acted on: malformed (400), before the answer (403),
// of no dialog (481). None changes the call.
func TestFSMReferRefusals(t *testing.T) {
	t.Parallel()
	f := newFSM(t, nil, nil)
	caller, callee, inv := rung(t, f)
	early := caller.request(sip.REFER, "")
	early.AppendHeader(sip.NewHeader("Refer-To", "<sip:1003@pbx.test>"))
	if code := finalCode(f.send(early)); code != 403 {
		t.Errorf("REFER before the answer answered %d, want 403", code)
	}
	inv.reply(200, callee.tag, callee.sdp())
	f.next(sip.ACK)
	caller.response(200)
	caller.ack()
	if code := finalCode(f.send(referFrom(inv.req, callee.tag, 2, "<sip:1003@pbx.test"))); code != 400 {
		t.Errorf("malformed Refer-To answered %d, want 400", code)
	}
	stray := referFrom(inv.req, "no-such-tag", 2, "<sip:1003@pbx.test>")
	if code := finalCode(f.send(stray)); code != 481 {
		t.Errorf("REFER of no dialog answered %d, want 481", code)
	}
	if code := finalCode(f.send(caller.request(sip.BYE, ""))); code != 200 {
		t.Errorf("caller's BYE answered %d", code)
	}
	f.next(sip.BYE).reply(200, "", "")
	evs := f.wantKinds(events.CallRouted, events.CallRinging, events.CallAnswer, events.CallHangup)
	if h := hangupOf(t, evs); h.Cause != events.CauseNormalClearing || h.By != events.Caller {
		t.Errorf("hangup %+v", h)
	}
	<-caller.done
}
