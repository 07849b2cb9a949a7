package freeswitch

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/switchhook/switchhook/internal/calltrack"
	"github.com/switchhook/switchhook/internal/conformance"
	"github.com/switchhook/switchhook/internal/events"
)

// Every way an unanswered call ends, as FreeSWITCH reports it on the B-leg
// and the A-leg, gives EVENTS.md's cause, SIP code and party.
func TestUnansweredEndings(t *testing.T) {
	for _, tc := range []struct {
		cause, bDisp, aDisp string
		status              int
		want                string
	}{
		{"USER_BUSY", "recv_refuse", "send_refuse", 486, "USER_BUSY 486 callee"},
		{"CALL_REJECTED", "recv_refuse", "send_refuse", 603, "CALL_REJECTED 603 callee"},
		{"NO_ANSWER", "send_cancel", "send_refuse", 480, "NO_ANSWER 480 system"},
		{"USER_NOT_REGISTERED", "", "send_refuse", 404, "USER_NOT_REGISTERED 404 system"},
		{"RECOVERY_ON_TIMER_EXPIRE", "", "send_refuse", 408, "RECOVERY_ON_TIMER_EXPIRE 408 system"},
		{"UNALLOCATED_NUMBER", "recv_refuse", "send_refuse", 404, "UNALLOCATED_NUMBER 404 callee"},
		{"INVALID_NUMBER_FORMAT", "recv_refuse", "send_refuse", 484, "INVALID_NUMBER_FORMAT 484 callee"},
		{"NORMAL_TEMPORARY_FAILURE", "recv_refuse", "send_refuse", 503, "NORMAL_TEMPORARY_FAILURE 503 callee"},
		{"ORIGINATOR_CANCEL", "send_cancel", "recv_cancel", 487, "ORIGINATOR_CANCEL 487 caller"},
		// No sip_term_status (a non-SIP caller): the code follows the cause.
		{"USER_BUSY", "recv_refuse", "", 0, "USER_BUSY 486 callee"},
	} {
		t.Run(fmt.Sprintf("%s/%d", tc.cause, tc.status), func(t *testing.T) {
			tr := newTracker("freeswitch/t", slog.New(slog.DiscardHandler))
			a, b := "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
			status := ""
			if tc.status != 0 {
				status = fmt.Sprint(tc.status)
			}
			var out []events.Event
			for _, ev := range []eventHeaders{
				{"event-name": "CHANNEL_CREATE", "unique-id": a, "caller-caller-id-number": "1001", "caller-destination-number": "1002"},
				{"event-name": "CHANNEL_EXECUTE", "unique-id": a, "application": "bridge", "application-data": "user/1002@d"},
				{"event-name": "CHANNEL_CREATE", "unique-id": b, "other-leg-unique-id": a, "caller-destination-number": "1002"},
				{"event-name": "CHANNEL_HANGUP_COMPLETE", "unique-id": b, "hangup-cause": tc.cause, "variable_sip_term_status": status, "variable_sip_hangup_disposition": tc.bDisp},
				{"event-name": "CHANNEL_HANGUP_COMPLETE", "unique-id": a, "hangup-cause": tc.cause, "variable_sip_term_status": status, "variable_sip_hangup_disposition": tc.aDisp},
			} {
				out = append(out, tr.handle(ev)...)
			}
			if len(out) != 2 || out[1].Kind != events.CallHangup {
				t.Fatalf("events %v", summaries(out))
			}
			h := out[1].Hangup
			if got := fmt.Sprintf("%s %d %s", h.Cause, h.SIPCode, h.By); got != tc.want {
				t.Fatalf("hangup %q, want %q", got, tc.want)
			}
			if n := len(slices.Collect(tr.Legs())); n != 0 {
				t.Fatalf("%d legs still tracked", n)
			}
		})
	}
}

// A call the dialplan never routed (no route matched) emits nothing.
func TestUnroutedCallIsSilent(t *testing.T) {
	tr := newTracker("freeswitch/t", slog.New(slog.DiscardHandler))
	a := "11111111-1111-4111-8111-111111111111"
	for _, ev := range []eventHeaders{
		{"event-name": "CHANNEL_CREATE", "unique-id": a, "caller-caller-id-number": "1001", "caller-destination-number": "999"},
		{"event-name": "CHANNEL_EXECUTE", "unique-id": a, "application": "set", "application-data": "x=y"},
		{"event-name": "CHANNEL_HANGUP_COMPLETE", "unique-id": a, "hangup-cause": "UNALLOCATED_NUMBER"},
	} {
		if out := tr.handle(ev); len(out) != 0 {
			t.Fatalf("%s emitted %v", ev.get("Event-Name"), summaries(out))
		}
	}
}

// A channel FreeSWITCH originates from a leg of an ended call starts a new
// call in that call's session; an A-leg whose UUID is not v4 gets a fresh
// call UUID.
func TestSessionOfRelatedCall(t *testing.T) {
	tr := newTracker("freeswitch/t", slog.New(slog.DiscardHandler))
	a, c := "11111111-1111-4111-8111-111111111111", "not-a-uuid-3"
	var out []events.Event
	for _, ev := range []eventHeaders{
		{"event-name": "CHANNEL_CREATE", "unique-id": a, "caller-caller-id-number": "1001", "caller-destination-number": "1002"},
		{"event-name": "CHANNEL_ANSWER", "unique-id": a, "caller-destination-number": "1002"},
		{"event-name": "CHANNEL_HANGUP_COMPLETE", "unique-id": a, "hangup-cause": "NORMAL_CLEARING"},
		{"event-name": "CHANNEL_CREATE", "unique-id": c, "variable_originating_leg_uuid": a, "caller-caller-id-number": "1002", "caller-destination-number": "+15551234567", "channel-name": "sofia/gateway/gw/+15551234567"},
		{"event-name": "CHANNEL_ANSWER", "unique-id": c, "caller-destination-number": "+15551234567"},
		{"event-name": "CHANNEL_HANGUP_COMPLETE", "unique-id": c, "hangup-cause": "NORMAL_CLEARING"},
	} {
		out = append(out, tr.handle(ev)...)
	}
	if len(out) != 6 {
		t.Fatalf("events %v", summaries(out))
	}
	first, second := out[0], out[3]
	if first.CallUUID != a || second.CallUUID == a || second.CallUUID == c || second.SessionUUID != a {
		t.Fatalf("first call %s/%s, second %s/%s", first.CallUUID, first.SessionUUID, second.CallUUID, second.SessionUUID)
	}
}

func TestRouteTarget(t *testing.T) {
	for _, tc := range []struct {
		app, data, want string
	}{
		{"bridge", "{ignore_early_media=true}user/1002@pbx.example.com", "extension:1002"},
		{"bridge", "[leg_timeout=20]sofia/gateway/carrier1/+15551234567", "gateway:carrier1"},
		{"bridge", "user/1002@d,user/1003@d", "ring_group:2000"},
		{"bridge", "user/1002@d|user/1003@d", "ring_group:2000"},
		{"bridge", "user/1002@d:_:user/1003@d", "ring_group:2000"},
		{"bridge", "sofia/internal/1004@10.0.0.14", "extension:2000"},
		{"transfer", "-bleg 1003 XML default", "extension:1003"},
		{"transfer", "1005", "extension:1005"},
		{"playback", "ivr/welcome.wav", "ivr:2000"},
	} {
		to := routeTarget(routingApps[tc.app], tc.data, "2000")
		if got := string(to.Type) + ":" + to.Target; got != tc.want {
			t.Errorf("%s %q: %s, want %s", tc.app, tc.data, got, tc.want)
		}
	}
}

// A blind transfer by the callee (REFER without Replaces: mod_sofia's
// sofia::transferor on the callee's leg, the caller's leg sent through the
// dialplan to the target): one call, CALL_UNHOLD as the holding callee
// leaves, the target rung and answering with diversion_reason transfer.
func TestBlindTransferByCallee(t *testing.T) {
	tr := newTracker("freeswitch/t", slog.New(slog.DiscardHandler))
	a, b, c := "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222", "33333333-3333-4333-8333-333333333333"
	var out []events.Event
	for _, ev := range append(bridgedHeaders(a, b, "1001", "1002", true), []eventHeaders{
		{"event-name": "CHANNEL_HOLD", "unique-id": b},
		{"event-name": "CUSTOM", "event-subclass": "sofia::transferor", "unique-id": b},
		{"event-name": "CHANNEL_HANGUP_COMPLETE", "unique-id": b, "hangup-cause": "NORMAL_CLEARING", "variable_sip_hangup_disposition": "recv_bye"},
		{"event-name": "CHANNEL_EXECUTE", "unique-id": a, "application": "bridge", "application-data": "user/1003@d", "caller-destination-number": "1003"},
		{"event-name": "CHANNEL_CREATE", "unique-id": c, "call-direction": "outbound", "other-leg-unique-id": a, "caller-destination-number": "1003"},
		{"event-name": "CHANNEL_PROGRESS", "unique-id": c},
		{"event-name": "CHANNEL_ANSWER", "unique-id": c},
		{"event-name": "CHANNEL_HANGUP_COMPLETE", "unique-id": a, "hangup-cause": "NORMAL_CLEARING", "variable_sip_hangup_disposition": "recv_bye", "variable_sip_term_status": "200"},
		{"event-name": "CHANNEL_HANGUP_COMPLETE", "unique-id": c, "hangup-cause": "NORMAL_CLEARING", "variable_sip_hangup_disposition": "send_bye"},
	}...) {
		out = append(out, tr.handle(ev)...)
	}
	var got []string
	for _, e := range out {
		got = append(got, conformance.Line(e))
		if e.CallUUID != a {
			t.Errorf("%s of call %s, want %s", e.Kind, e.CallUUID, a)
		}
	}
	want := []string{
		"CALL_ROUTED 1001>1002 internal to=extension:1002",
		"CALL_RINGING 1001>1002 internal",
		"CALL_ANSWER 1001>1002 internal",
		"CALL_HOLD 1001>1002 internal callee",
		"CALL_UNHOLD 1001>1002 internal callee",
		"CALL_RINGING 1001>1003 internal diverted=transfer<1002",
		"CALL_ANSWER 1001>1003 internal diverted=transfer<1002",
		"CALL_HANGUP 1001>1003 internal NORMAL_CLEARING 200 caller",
	}
	sameLines(t, got, want)
}

// Under load FreeSWITCH may report the caller leg's answer (its bridging)
// before the callee leg's, and a callee leg created after the caller leg
// hung up: still one CALL_ANSWER, the callee's, and one life for the call.
func TestLoadAnomalies(t *testing.T) {
	tr := newTracker("freeswitch/t", slog.New(slog.DiscardHandler))
	a, b, late := "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222", "33333333-3333-4333-8333-333333333333"
	var out []events.Event
	for _, ev := range []eventHeaders{
		{"event-name": "CHANNEL_CREATE", "unique-id": a, "call-direction": "inbound", "caller-caller-id-number": "2001", "caller-destination-number": "2002"},
		{"event-name": "CHANNEL_EXECUTE", "unique-id": a, "application": "bridge", "application-data": "user/2002@d"},
		{"event-name": "CHANNEL_CREATE", "unique-id": b, "call-direction": "outbound", "other-leg-unique-id": a, "caller-destination-number": "2002"},
		{"event-name": "CHANNEL_PROGRESS", "unique-id": b},
		{"event-name": "CHANNEL_ANSWER", "unique-id": a, "caller-destination-number": "2002"},
		{"event-name": "CHANNEL_ANSWER", "unique-id": b},
		{"event-name": "CHANNEL_HANGUP_COMPLETE", "unique-id": b, "hangup-cause": "NORMAL_CLEARING"},
		{"event-name": "CHANNEL_HANGUP_COMPLETE", "unique-id": a, "hangup-cause": "NORMAL_CLEARING", "variable_sip_hangup_disposition": "recv_bye", "variable_sip_term_status": "200"},
		{"event-name": "CHANNEL_CREATE", "unique-id": late, "call-direction": "outbound", "other-leg-unique-id": a, "caller-destination-number": "2002"},
		{"event-name": "CHANNEL_HANGUP_COMPLETE", "unique-id": late, "hangup-cause": "ORIGINATOR_CANCEL"},
	} {
		out = append(out, tr.handle(ev)...)
	}
	got := lines(out)
	want := []string{
		"CALL_ROUTED 2001>2002 internal to=extension:2002",
		"CALL_RINGING 2001>2002 internal",
		"CALL_ANSWER 2001>2002 internal",
		"CALL_HANGUP 2001>2002 internal NORMAL_CLEARING 200 caller",
	}
	sameLines(t, got, want)
	if out[2].LegUUID != b {
		t.Errorf("the answer is of leg %s, want the callee's %s", out[2].LegUUID, b)
	}
}

// A blind transfer by the caller (sofia::transferor on the A-leg): its
// call ends BLIND_TRANSFER by the caller; the B-leg, sent through the
// dialplan to 1003, is the caller of a new call in the same session.
func TestBlindTransferByCaller(t *testing.T) {
	tr := newTracker("freeswitch/t", slog.New(slog.DiscardHandler))
	a, b, c := "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222", "33333333-3333-4333-8333-333333333333"
	var out []events.Event
	for _, ev := range append(bridgedHeaders(a, b, "1001", "1002", false), []eventHeaders{
		{"event-name": "CUSTOM", "event-subclass": "sofia::transferor", "unique-id": a},
		{"event-name": "CHANNEL_HANGUP_COMPLETE", "unique-id": a, "hangup-cause": "NORMAL_CLEARING", "variable_sip_hangup_disposition": "recv_bye"},
		{"event-name": "CHANNEL_EXECUTE", "unique-id": b, "application": "bridge", "application-data": "user/1003@d", "caller-destination-number": "1003"},
		{"event-name": "CHANNEL_CREATE", "unique-id": c, "call-direction": "outbound", "other-leg-unique-id": b, "caller-destination-number": "1003"},
		{"event-name": "CHANNEL_PROGRESS", "unique-id": c},
		{"event-name": "CHANNEL_ANSWER", "unique-id": c},
		{"event-name": "CHANNEL_HANGUP_COMPLETE", "unique-id": c, "hangup-cause": "NORMAL_CLEARING", "variable_sip_hangup_disposition": "recv_bye"},
		{"event-name": "CHANNEL_HANGUP_COMPLETE", "unique-id": b, "hangup-cause": "NORMAL_CLEARING", "variable_sip_hangup_disposition": "send_bye"},
	}...) {
		out = append(out, tr.handle(ev)...)
	}
	got := lines(out)
	want := []string{
		"CALL_ROUTED 1001>1002 internal to=extension:1002",
		"CALL_ANSWER 1001>1002 internal",
		"CALL_HANGUP 1001>1002 internal BLIND_TRANSFER 200 caller",
		"CALL_ROUTED 1002>1003 internal to=extension:1003",
		"CALL_RINGING 1002>1003 internal",
		"CALL_ANSWER 1002>1003 internal",
		"CALL_HANGUP 1002>1003 internal NORMAL_CLEARING 200 callee",
	}
	sameLines(t, got, want)
	if out[3].CallUUID == a || out[3].SessionUUID != a {
		t.Errorf("new call %s in session %s, want a new call in session %s", out[3].CallUUID, out[3].SessionUUID, a)
	}
}

// An attended transfer by the caller: 1001 holds 1002, calls 1003 and
// sends REFER with Replaces on its first call's leg (sofia::transferor, as
// mod_sofia fires it, naming the party who stays, the target and the
// consultation leg). Both of 1001's calls end ATTENDED_TRANSFER by the
// caller; 1002 and 1003 are a new call of the session, answered already.
func TestAttendedTransferByCaller(t *testing.T) {
	tr := newTracker("freeswitch/t", slog.New(slog.DiscardHandler))
	a, b, a2, d := "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222", "33333333-3333-4333-8333-333333333333", "44444444-4444-4444-8444-444444444444"
	var out []events.Event
	for _, ev := range append(bridgedHeaders(a, b, "1001", "1002", false), []eventHeaders{
		{"event-name": "CHANNEL_HOLD", "unique-id": a},
		{"event-name": "CHANNEL_CREATE", "unique-id": a2, "call-direction": "inbound", "caller-caller-id-number": "1001", "caller-destination-number": "1003"},
		{"event-name": "CHANNEL_EXECUTE", "unique-id": a2, "application": "bridge", "application-data": "user/1003@d", "caller-destination-number": "1003"},
		{"event-name": "CHANNEL_CREATE", "unique-id": d, "call-direction": "outbound", "other-leg-unique-id": a2, "caller-destination-number": "1003"},
		{"event-name": "CHANNEL_PROGRESS", "unique-id": d},
		{"event-name": "CHANNEL_ANSWER", "unique-id": d},
		{"event-name": "CHANNEL_ANSWER", "unique-id": a2},
		{"event-name": "CUSTOM", "event-subclass": "sofia::replaced", "unique-id": a2, "att_xfer_replaced_by": b},
		{"event-name": "CUSTOM", "event-subclass": "sofia::transferor", "unique-id": a, "att_xfer_original_call_id": b, "att_xfer_destination_call_id": d, "att_xfer_destination_peer_uuid": a2},
		{"event-name": "CUSTOM", "event-subclass": "sofia::transferee", "unique-id": b, "att_xfer_replaced_call_id": a2},
		{"event-name": "CHANNEL_HANGUP_COMPLETE", "unique-id": a2, "hangup-cause": "NORMAL_CLEARING", "variable_sip_hangup_disposition": "send_bye"},
		{"event-name": "CHANNEL_HANGUP_COMPLETE", "unique-id": a, "hangup-cause": "NORMAL_CLEARING", "variable_sip_hangup_disposition": "recv_bye"},
		{"event-name": "CHANNEL_HANGUP_COMPLETE", "unique-id": d, "hangup-cause": "NORMAL_CLEARING", "variable_sip_hangup_disposition": "recv_bye"},
		{"event-name": "CHANNEL_HANGUP_COMPLETE", "unique-id": b, "hangup-cause": "NORMAL_CLEARING", "variable_sip_hangup_disposition": "send_bye"},
	}...) {
		out = append(out, tr.handle(ev)...)
	}
	calls := newSessionCalls(t, a)
	for _, e := range out {
		calls.add(e)
	}
	got := calls.got
	want := []string{
		"1 CALL_ROUTED 1001>1002 internal to=extension:1002",
		"1 CALL_ANSWER 1001>1002 internal",
		"1 CALL_HOLD 1001>1002 internal caller",
		"2 CALL_ROUTED 1001>1003 internal to=extension:1003",
		"2 CALL_RINGING 1001>1003 internal",
		"2 CALL_ANSWER 1001>1003 internal",
		"3 CALL_ROUTED 1002>1003 internal to=extension:1003",
		"3 CALL_ANSWER 1002>1003 internal",
		"2 CALL_HANGUP 1001>1003 internal ATTENDED_TRANSFER 200 caller",
		"1 CALL_HANGUP 1001>1002 internal ATTENDED_TRANSFER 200 caller",
		"3 CALL_HANGUP 1002>1003 internal NORMAL_CLEARING 200 callee",
	}
	sameLines(t, got, want)
}

// A fifo consumer who dialled in to take calls (fifo q800 out wait) is no
// call: it emits nothing until the fifo bridges it to a caller, whose call
// it then answers (never rung: diversion_reason queue, no CALL_RINGING),
// and it serves the next caller once the first hangs up; its own hangup
// at last emits nothing.
func TestFifoConsumer(t *testing.T) {
	tr := newTracker("freeswitch/t", slog.New(slog.DiscardHandler))
	agent, a1, a2 := "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222", "33333333-3333-4333-8333-333333333333"
	caller := func(id, number string) []eventHeaders {
		return []eventHeaders{
			{"event-name": "CHANNEL_CREATE", "unique-id": id, "call-direction": "inbound", "caller-caller-id-number": number, "caller-destination-number": "800"},
			{"event-name": "CHANNEL_EXECUTE", "unique-id": id, "application": "fifo", "application-data": "q800 in", "caller-destination-number": "800"},
			{"event-name": "CHANNEL_ANSWER", "unique-id": id, "caller-destination-number": "800"},
			{"event-name": "CHANNEL_BRIDGE", "unique-id": agent, "bridge-a-unique-id": agent, "bridge-b-unique-id": id},
			{"event-name": "CHANNEL_UNBRIDGE", "unique-id": agent, "bridge-a-unique-id": agent, "bridge-b-unique-id": id},
			{"event-name": "CHANNEL_HANGUP_COMPLETE", "unique-id": id, "hangup-cause": "NORMAL_CLEARING", "variable_sip_hangup_disposition": "recv_bye"},
		}
	}
	evs := []eventHeaders{
		{"event-name": "CHANNEL_CREATE", "unique-id": agent, "call-direction": "inbound", "caller-caller-id-number": "1003", "caller-destination-number": "7000"},
		{"event-name": "CHANNEL_ANSWER", "unique-id": agent, "caller-destination-number": "7000"},
		{"event-name": "CHANNEL_EXECUTE", "unique-id": agent, "application": "fifo", "application-data": "q800 out wait", "caller-destination-number": "7000"},
		{"event-name": "DTMF", "unique-id": agent, "dtmf-digit": "1", "dtmf-duration": "800"},
	}
	evs = append(append(append(evs, caller(a1, "1001")...), caller(a2, "1004")...),
		eventHeaders{"event-name": "CHANNEL_HANGUP_COMPLETE", "unique-id": agent, "hangup-cause": "NORMAL_CLEARING", "variable_sip_hangup_disposition": "recv_bye"})
	var got []string
	for _, ev := range evs {
		for _, e := range tr.handle(ev) {
			got = append(got, conformance.Line(e))
		}
	}
	var want []string
	for _, c := range []string{"1001", "1004"} {
		want = append(want,
			"CALL_ROUTED "+c+">800 internal to=queue:q800",
			"CALL_ANSWER "+c+">800 internal",
			"CALL_ANSWER "+c+">1003 internal diverted=queue<800",
			"CALL_HANGUP "+c+">1003 internal NORMAL_CLEARING 200 caller")
	}
	sameLines(t, got, want)
}

// att_xfer (mod_dptools), run on the callee's leg by a key binding: the
// leg it originates to the target (naming the transferor's leg as its
// other leg) is a consultation call of the callee's party in the first
// call's session. The transferor hanging up joins the target to the
// caller (CALL_ANSWER, attended_transfer) and ends the consultation
// ATTENDED_TRANSFER; cancelling (the target's leg hung up by FreeSWITCH)
// ends the consultation and the first call goes on. As att_thread_run in
// FreeSWITCH 1.10's source does it; no recording exists.
func TestAttXfer(t *testing.T) {
	a, b, p := "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222", "33333333-3333-4333-8333-333333333333"
	start := append(bridgedHeaders(a, b, "1001", "1002", true), []eventHeaders{
		{"event-name": "CHANNEL_EXECUTE", "unique-id": b, "application": "att_xfer", "application-data": "user/1003@d"},
		{"event-name": "CHANNEL_CREATE", "unique-id": p, "call-direction": "outbound", "other-leg-unique-id": b, "caller-destination-number": "1003"},
		{"event-name": "CHANNEL_PROGRESS", "unique-id": p},
		{"event-name": "CHANNEL_ANSWER", "unique-id": p},
		{"event-name": "CHANNEL_BRIDGE", "unique-id": b, "bridge-a-unique-id": b, "bridge-b-unique-id": p},
	}...)
	first := []string{
		"1 CALL_ROUTED 1001>1002 internal to=extension:1002",
		"1 CALL_RINGING 1001>1002 internal",
		"1 CALL_ANSWER 1001>1002 internal",
		"2 CALL_ROUTED 1002>1003 internal to=extension:1003",
		"2 CALL_RINGING 1002>1003 internal",
		"2 CALL_ANSWER 1002>1003 internal",
	}
	for _, tc := range []struct {
		name      string
		reconnect bool // the connection is made again while consulting
		then      []eventHeaders
		want      []string
	}{
		{"transferred", false, []eventHeaders{
			{"event-name": "CHANNEL_HANGUP_COMPLETE", "unique-id": b, "hangup-cause": "NORMAL_CLEARING", "variable_sip_hangup_disposition": "recv_bye"},
			{"event-name": "CHANNEL_BRIDGE", "unique-id": p, "bridge-a-unique-id": p, "bridge-b-unique-id": a},
			{"event-name": "CHANNEL_HANGUP_COMPLETE", "unique-id": a, "hangup-cause": "NORMAL_CLEARING", "variable_sip_hangup_disposition": "recv_bye", "variable_sip_term_status": "200"},
			{"event-name": "CHANNEL_HANGUP_COMPLETE", "unique-id": p, "hangup-cause": "NORMAL_CLEARING", "variable_sip_hangup_disposition": "send_bye"},
		}, []string{
			"1 CALL_ANSWER 1001>1003 internal diverted=attended_transfer<1002",
			"2 CALL_HANGUP 1002>1003 internal ATTENDED_TRANSFER 200 caller",
			"1 CALL_HANGUP 1001>1003 internal NORMAL_CLEARING 200 caller",
		}},
		{"transferred after a reconnection", true, []eventHeaders{
			{"event-name": "CHANNEL_HANGUP_COMPLETE", "unique-id": b, "hangup-cause": "NORMAL_CLEARING", "variable_sip_hangup_disposition": "recv_bye"},
			{"event-name": "CHANNEL_BRIDGE", "unique-id": p, "bridge-a-unique-id": p, "bridge-b-unique-id": a},
			{"event-name": "CHANNEL_HANGUP_COMPLETE", "unique-id": a, "hangup-cause": "NORMAL_CLEARING", "variable_sip_hangup_disposition": "recv_bye", "variable_sip_term_status": "200"},
			{"event-name": "CHANNEL_HANGUP_COMPLETE", "unique-id": p, "hangup-cause": "NORMAL_CLEARING", "variable_sip_hangup_disposition": "send_bye"},
		}, []string{
			"1 CALL_ANSWER 1001>1003 internal diverted=attended_transfer<1002",
			"2 CALL_HANGUP 1002>1003 internal ATTENDED_TRANSFER 200 caller",
			"1 CALL_HANGUP 1001>1003 internal NORMAL_CLEARING 200 caller",
		}},
		{"cancelled", false, []eventHeaders{
			{"event-name": "CHANNEL_HANGUP_COMPLETE", "unique-id": p, "hangup-cause": "NORMAL_CLEARING", "variable_sip_hangup_disposition": "send_bye"},
			{"event-name": "CHANNEL_BRIDGE", "unique-id": b, "bridge-a-unique-id": b, "bridge-b-unique-id": a},
			{"event-name": "CHANNEL_HANGUP_COMPLETE", "unique-id": a, "hangup-cause": "NORMAL_CLEARING", "variable_sip_hangup_disposition": "recv_bye", "variable_sip_term_status": "200"},
			{"event-name": "CHANNEL_HANGUP_COMPLETE", "unique-id": b, "hangup-cause": "NORMAL_CLEARING", "variable_sip_hangup_disposition": "send_bye"},
		}, []string{
			"2 CALL_HANGUP 1002>1003 internal NORMAL_CLEARING 200 caller",
			"1 CALL_HANGUP 1001>1002 internal NORMAL_CLEARING 200 caller",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTracker("freeswitch/t", slog.New(slog.DiscardHandler))
			calls := newSessionCalls(t, a)
			for i, ev := range append(slices.Clone(start), tc.then...) {
				out := tr.handle(ev)
				if tc.reconnect && i == len(start)-1 {
					// Every leg is still up: the consultation goes on.
					tr.Unsee()
					live := map[string]liveChannel{}
					for _, id := range []string{a, b, p} {
						live[id] = liveChannel{calltrack.Channel{ID: id, Up: true}, channelRow{UUID: id, CallState: "ACTIVE"}}
					}
					out = append(out, tr.reconcile(live, calltrack.Gap{}, fixedTime)...)
				}
				for _, e := range out {
					if calls.add(e) == 2 && e.Kind != events.CallRinging && e.Kind != events.CallAnswer && e.LegUUID != b {
						t.Errorf("%s of the consultation is about leg %s, want the transferor's %s", e.Kind, e.LegUUID, b)
					}
				}
			}
			sameLines(t, calls.got, append(slices.Clone(first), tc.want...))
		})
	}
}

// att_xfer run by the caller: its hanging up ends both its calls
// ATTENDED_TRANSFER, and the callee and the target it joined are a new
// call of the session, answered already.
func TestAttXferByCaller(t *testing.T) {
	a, b, p := "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222", "33333333-3333-4333-8333-333333333333"
	tr := newTracker("freeswitch/t", slog.New(slog.DiscardHandler))
	calls := newSessionCalls(t, a)
	for _, ev := range append(bridgedHeaders(a, b, "1001", "1002", false), []eventHeaders{
		{"event-name": "CHANNEL_EXECUTE", "unique-id": a, "application": "att_xfer", "application-data": "user/1003@d"},
		{"event-name": "CHANNEL_CREATE", "unique-id": p, "call-direction": "outbound", "other-leg-unique-id": a, "caller-destination-number": "1003"},
		{"event-name": "CHANNEL_ANSWER", "unique-id": p},
		{"event-name": "CHANNEL_HANGUP_COMPLETE", "unique-id": a, "hangup-cause": "NORMAL_CLEARING", "variable_sip_hangup_disposition": "recv_bye"},
		{"event-name": "CHANNEL_HANGUP_COMPLETE", "unique-id": p, "hangup-cause": "NORMAL_CLEARING", "variable_sip_hangup_disposition": "recv_bye"},
		{"event-name": "CHANNEL_HANGUP_COMPLETE", "unique-id": b, "hangup-cause": "NORMAL_CLEARING", "variable_sip_hangup_disposition": "send_bye"},
	}...) {
		for _, e := range tr.handle(ev) {
			calls.add(e)
		}
	}
	got := calls.got
	want := []string{
		"1 CALL_ROUTED 1001>1002 internal to=extension:1002",
		"1 CALL_ANSWER 1001>1002 internal",
		"2 CALL_ROUTED 1001>1003 internal to=extension:1003",
		"2 CALL_ANSWER 1001>1003 internal",
		"3 CALL_ROUTED 1002>1003 internal to=extension:1003",
		"3 CALL_ANSWER 1002>1003 internal",
		"2 CALL_HANGUP 1001>1003 internal ATTENDED_TRANSFER 200 caller",
		"1 CALL_HANGUP 1001>1002 internal ATTENDED_TRANSFER 200 caller",
		"3 CALL_HANGUP 1002>1003 internal NORMAL_CLEARING 200 callee",
	}
	sameLines(t, got, want)
}

// An INVITE with Replaces naming the held callee's dialog: mod_sofia's new
// channel (an inline "answer,intercept:<uuid>" dialplan, 1002's caller ids,
// 1003 in its From) takes 1002's place, which is hung up. The call goes on:
// CALL_UNHOLD, CALL_ANSWER of 1003 (attended_transfer); 1003 hangs up. As
// sofia_handle_sip_i_invite_replaces in FreeSWITCH 1.10's source; no
// recording exists.
func TestInviteWithReplaces(t *testing.T) {
	tr := newTracker("freeswitch/t", slog.New(slog.DiscardHandler))
	a, b, n := "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222", "33333333-3333-4333-8333-333333333333"
	var got []string
	for _, ev := range append(bridgedHeaders(a, b, "1001", "1002", false), []eventHeaders{
		{"event-name": "CHANNEL_HOLD", "unique-id": b},
		{"event-name": "CHANNEL_CREATE", "unique-id": n, "call-direction": "inbound", "other-leg-unique-id": b, "caller-caller-id-number": "1001", "caller-destination-number": "answer,intercept:" + a, "variable_sip_from_user": "1003"},
		{"event-name": "CHANNEL_EXECUTE", "unique-id": n, "application": "answer"},
		{"event-name": "CHANNEL_ANSWER", "unique-id": n},
		{"event-name": "CHANNEL_EXECUTE", "unique-id": n, "application": "intercept", "application-data": a},
		{"event-name": "CHANNEL_HANGUP_COMPLETE", "unique-id": b, "hangup-cause": "PICKED_OFF", "variable_sip_hangup_disposition": "send_bye"},
		{"event-name": "CHANNEL_HANGUP_COMPLETE", "unique-id": n, "hangup-cause": "NORMAL_CLEARING", "variable_sip_hangup_disposition": "recv_bye"},
		{"event-name": "CHANNEL_HANGUP_COMPLETE", "unique-id": a, "hangup-cause": "NORMAL_CLEARING", "variable_sip_hangup_disposition": "send_bye", "variable_sip_term_status": "200"},
	}...) {
		for _, e := range tr.handle(ev) {
			if e.CallUUID != a {
				t.Errorf("%s of call %s, want the first call %s", e.Kind, e.CallUUID, a)
			}
			got = append(got, conformance.Line(e))
		}
	}
	want := []string{
		"CALL_ROUTED 1001>1002 internal to=extension:1002",
		"CALL_ANSWER 1001>1002 internal",
		"CALL_HOLD 1001>1002 internal callee",
		"CALL_UNHOLD 1001>1002 internal callee",
		"CALL_ANSWER 1001>1003 internal diverted=attended_transfer<1002",
		"CALL_HANGUP 1001>1003 internal NORMAL_CLEARING 200 callee",
	}
	sameLines(t, got, want)
}

// sameLines fails the test unless got is want, line for line.
func sameLines(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// lines is each event's conformance line.
func lines(evs []events.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, conformance.Line(e))
	}
	return out
}

// sessionCalls numbers the calls of one session in the order they first
// appear and writes each event as "<call number> <line>", failing the test
// for an event of any other session.
type sessionCalls struct {
	t       *testing.T
	session string
	calls   map[string]int
	got     []string
}

func newSessionCalls(t *testing.T, session string) *sessionCalls {
	return &sessionCalls{t: t, session: session, calls: map[string]int{}}
}

// add writes e down and returns the number of its call.
func (s *sessionCalls) add(e events.Event) int {
	s.t.Helper()
	n, ok := s.calls[e.CallUUID]
	if !ok {
		n = len(s.calls) + 1
		s.calls[e.CallUUID] = n
	}
	if e.SessionUUID != s.session {
		s.t.Errorf("%s of call %d in session %s, want %s", e.Kind, n, e.SessionUUID, s.session)
	}
	s.got = append(s.got, fmt.Sprintf("%d %s", n, conformance.Line(e)))
	return n
}

// bridgedHeaders is what FreeSWITCH sends for a call from extension from
// (inbound leg caller) bridged to extension to (outbound leg callee), whose
// leg answers, after CHANNEL_PROGRESS if it was rung, before the caller's.
func bridgedHeaders(caller, callee, from, to string, rung bool) []eventHeaders {
	evs := []eventHeaders{
		{"event-name": "CHANNEL_CREATE", "unique-id": caller, "call-direction": "inbound", "caller-caller-id-number": from, "caller-destination-number": to},
		{"event-name": "CHANNEL_EXECUTE", "unique-id": caller, "application": "bridge", "application-data": "user/" + to + "@d", "caller-destination-number": to},
		{"event-name": "CHANNEL_CREATE", "unique-id": callee, "call-direction": "outbound", "other-leg-unique-id": caller, "caller-destination-number": to},
	}
	if rung {
		evs = append(evs, eventHeaders{"event-name": "CHANNEL_PROGRESS", "unique-id": callee})
	}
	return append(evs, eventHeaders{"event-name": "CHANNEL_ANSWER", "unique-id": callee}, eventHeaders{"event-name": "CHANNEL_ANSWER", "unique-id": caller})
}
