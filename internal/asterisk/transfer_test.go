package asterisk

import (
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/switchhook/switchhook/internal/conformance"
	"github.com/switchhook/switchhook/internal/events"
)

// answered feeds the events of a call from caller to peer that peer
// answers, the Dial as app_data dial.
func answered(tr *tracker, caller, peer *channel, dialstring string) []events.Event {
	caller.Dialplan.AppName, caller.Dialplan.AppData = "Dial", "PJSIP/"+dialstring+",15"
	return feed(tr, dialAnswered(caller, peer, dialstring, true)...)
}

func withState(c *channel, state string) *channel {
	d := *c
	d.State = state
	return &d
}

func lines(evs []events.Event) string {
	var out []string
	for _, e := range evs {
		out = append(out, conformance.Line(e))
	}
	return strings.Join(out, "\n")
}

// A blind transfer by the callee (BridgeBlindTransfer, then the transferee's
// Dial of the target): one call, CALL_UNHOLD as the holding callee leaves,
// the target rung and answering with diversion_reason transfer.
func TestBlindTransferByCallee(t *testing.T) {
	tr := newTracker("asterisk/t", slog.New(slog.DiscardHandler))
	a, b, c := ch("1.1", "PJSIP/1001-1", "Ring", "1001", "1002"), ch("1.2", "PJSIP/1002-2", "Down", "1001", "s"), ch("1.3", "PJSIP/1003-3", "Down", "1001", "s")
	out := answered(tr, a, b, "1002")
	out = append(out, feed(tr, slices.Concat([]*ariEvent{
		{Type: "ChannelHold", Channel: b},
		{Type: "BridgeBlindTransfer", Channel: b, Transferee: a, Result: "Success"},
		{Type: "ChannelHangupRequest", Channel: b, Cause: 16},
		{Type: "ChannelDestroyed", Channel: b, Cause: 16},
	}, dialsNew(a, c, "1003"), []*ariEvent{
		{Type: "ChannelHangupRequest", Channel: a, Cause: 16},
		{Type: "ChannelDestroyed", Channel: a, Cause: 16},
		{Type: "ChannelDestroyed", Channel: c, Cause: 16},
	})...)...)
	want := strings.Join([]string{
		"CALL_ROUTED 1001>1002 internal to=extension:1002",
		"CALL_RINGING 1001>1002 internal",
		"CALL_ANSWER 1001>1002 internal",
		"CALL_HOLD 1001>1002 internal callee",
		"CALL_UNHOLD 1001>1002 internal callee",
		"CALL_RINGING 1001>1003 internal diverted=transfer<1002",
		"CALL_ANSWER 1001>1003 internal diverted=transfer<1002",
		"CALL_HANGUP 1001>1003 internal NORMAL_CLEARING 200 caller",
	}, "\n")
	if got := lines(out); got != want {
		t.Fatalf("events:\n%s\nwant:\n%s", got, want)
	}
	for _, e := range out {
		if e.CallUUID != out[0].CallUUID {
			t.Fatalf("two calls: %s", lines(out))
		}
	}
}

// An attended transfer by the callee (BridgeAttendedTransfer): 1002 holds
// 1001, calls 1003 (a consultation call in the first call's session), and
// joins them. The first call goes on answered by 1003
// (attended_transfer), the consultation call ends ATTENDED_TRANSFER.
func TestAttendedTransferByCallee(t *testing.T) {
	tr := newTracker("asterisk/t", slog.New(slog.DiscardHandler))
	a, b := ch("1.1", "PJSIP/1001-1", "Ring", "1001", "1002"), ch("1.2", "PJSIP/1002-2", "Down", "1001", "s")
	b2, c := ch("1.3", "PJSIP/1002-3", "Ring", "1002", "1003"), ch("1.4", "PJSIP/1003-4", "Down", "1002", "s")
	first := answered(tr, a, b, "1002")
	first = append(first, feed(tr, &ariEvent{Type: "ChannelHold", Channel: b})...)
	consult := answered(tr, b2, c, "1003")
	out := feed(tr,
		&ariEvent{Type: "BridgeAttendedTransfer", TransfererFirstLeg: b, TransfererSecondLeg: b2, Transferee: a, TransferTarget: c, Result: "Success"},
		&ariEvent{Type: "ChannelHangupRequest", Channel: b, Cause: 16},
		&ariEvent{Type: "ChannelDestroyed", Channel: b, Cause: 16},
		&ariEvent{Type: "ChannelHangupRequest", Channel: b2, Cause: 16},
		&ariEvent{Type: "ChannelDestroyed", Channel: b2, Cause: 16},
		&ariEvent{Type: "ChannelHangupRequest", Channel: c, Cause: 16},
		&ariEvent{Type: "ChannelDestroyed", Channel: c, Cause: 16},
		&ariEvent{Type: "ChannelDestroyed", Channel: a, Cause: 16},
	)
	var firstCall, consultCall []events.Event
	for _, e := range append(append(first, consult...), out...) {
		if e.CallUUID == first[0].CallUUID {
			firstCall = append(firstCall, e)
		} else {
			consultCall = append(consultCall, e)
		}
	}
	wantFirst := strings.Join([]string{
		"CALL_ROUTED 1001>1002 internal to=extension:1002",
		"CALL_RINGING 1001>1002 internal",
		"CALL_ANSWER 1001>1002 internal",
		"CALL_HOLD 1001>1002 internal callee",
		"CALL_UNHOLD 1001>1002 internal callee",
		"CALL_ANSWER 1001>1003 internal diverted=attended_transfer<1002",
		"CALL_HANGUP 1001>1003 internal NORMAL_CLEARING 200 callee",
	}, "\n")
	wantConsult := strings.Join([]string{
		"CALL_ROUTED 1002>1003 internal to=extension:1003",
		"CALL_RINGING 1002>1003 internal",
		"CALL_ANSWER 1002>1003 internal",
		"CALL_HANGUP 1002>1003 internal ATTENDED_TRANSFER 200 caller",
	}, "\n")
	if got := lines(firstCall); got != wantFirst {
		t.Errorf("first call:\n%s\nwant:\n%s", got, wantFirst)
	}
	if got := lines(consultCall); got != wantConsult {
		t.Errorf("consultation call:\n%s\nwant:\n%s", got, wantConsult)
	}
	if s := consultCall[0].SessionUUID; s != firstCall[0].SessionUUID || consultCall[0].CallUUID == firstCall[0].CallUUID {
		t.Errorf("consultation call %s in session %s, want the first call's session %s", consultCall[0].CallUUID, s, firstCall[0].SessionUUID)
	}
}

// A blind transfer by the caller: 1001 sends 1002 to 1003 and leaves. Its
// call ends BLIND_TRANSFER by the caller; 1002 and 1003 form a new call in
// the same session, 1002 its caller, routed when Asterisk dials 1003.
func TestBlindTransferByCaller(t *testing.T) {
	tr := newTracker("asterisk/t", slog.New(slog.DiscardHandler))
	a, b, c := ch("1.1", "PJSIP/1001-1", "Ring", "1001", "1002"), ch("1.2", "PJSIP/1002-2", "Down", "1001", "s"), ch("1.3", "PJSIP/1003-3", "Down", "1002", "s")
	out := answered(tr, a, b, "1002")
	bInDialplan := withState(b, "Up")
	bInDialplan.Dialplan.Exten, bInDialplan.Dialplan.AppName, bInDialplan.Dialplan.AppData = "1003", "Dial", "PJSIP/1003,15"
	out = append(out, feed(tr, slices.Concat([]*ariEvent{
		{Type: "BridgeBlindTransfer", Channel: a, Transferee: b, Result: "Success"},
		{Type: "ChannelHangupRequest", Channel: a, Cause: 16},
		{Type: "ChannelDestroyed", Channel: a, Cause: 16},
	}, dialsNew(bInDialplan, c, "1003"), []*ariEvent{
		{Type: "ChannelHangupRequest", Channel: c, Cause: 16},
		{Type: "ChannelDestroyed", Channel: c, Cause: 16},
		{Type: "ChannelDestroyed", Channel: b, Cause: 16},
	})...)...)
	var first, second []events.Event
	for _, e := range out {
		if e.CallUUID == out[0].CallUUID {
			first = append(first, e)
		} else {
			second = append(second, e)
		}
	}
	wantFirst := strings.Join([]string{
		"CALL_ROUTED 1001>1002 internal to=extension:1002",
		"CALL_RINGING 1001>1002 internal",
		"CALL_ANSWER 1001>1002 internal",
		"CALL_HANGUP 1001>1002 internal BLIND_TRANSFER 200 caller",
	}, "\n")
	wantSecond := strings.Join([]string{
		"CALL_ROUTED 1002>1003 internal to=extension:1003",
		"CALL_RINGING 1002>1003 internal",
		"CALL_ANSWER 1002>1003 internal",
		"CALL_HANGUP 1002>1003 internal NORMAL_CLEARING 200 callee",
	}, "\n")
	if got := lines(first); got != wantFirst {
		t.Errorf("the caller's call:\n%s\nwant:\n%s", got, wantFirst)
	}
	if got := lines(second); got != wantSecond {
		t.Errorf("the new call:\n%s\nwant:\n%s", got, wantSecond)
	}
	if len(second) > 0 && second[0].SessionUUID != first[0].SessionUUID {
		t.Errorf("new call in session %s, want %s", second[0].SessionUUID, first[0].SessionUUID)
	}
}

// An attended transfer by the caller: 1001 holds 1002, calls 1003 (a
// consultation in the same session) and joins them. Both of 1001's calls
// end ATTENDED_TRANSFER; 1002 and 1003 form a new call, answered already.
func TestAttendedTransferByCaller(t *testing.T) {
	tr := newTracker("asterisk/t", slog.New(slog.DiscardHandler))
	a, b := ch("1.1", "PJSIP/1001-1", "Ring", "1001", "1002"), ch("1.2", "PJSIP/1002-2", "Down", "1001", "s")
	a2, c := ch("1.3", "PJSIP/1001-3", "Ring", "1001", "1003"), ch("1.4", "PJSIP/1003-4", "Down", "1001", "s")
	out := answered(tr, a, b, "1002")
	out = append(out, feed(tr, &ariEvent{Type: "ChannelHold", Channel: a})...)
	out = append(out, answered(tr, a2, c, "1003")...)
	out = append(out, feed(tr,
		&ariEvent{Type: "BridgeAttendedTransfer", TransfererFirstLeg: a, TransfererSecondLeg: a2, Transferee: b, TransferTarget: c, Result: "Success"},
		&ariEvent{Type: "ChannelDestroyed", Channel: a, Cause: 16},
		&ariEvent{Type: "ChannelDestroyed", Channel: a2, Cause: 16},
		&ariEvent{Type: "ChannelHangupRequest", Channel: c, Cause: 16},
		&ariEvent{Type: "ChannelDestroyed", Channel: c, Cause: 16},
		&ariEvent{Type: "ChannelDestroyed", Channel: b, Cause: 16},
	)...)
	byCall := map[string][]events.Event{}
	var order []string
	for _, e := range out {
		if byCall[e.CallUUID] == nil {
			order = append(order, e.CallUUID)
		}
		byCall[e.CallUUID] = append(byCall[e.CallUUID], e)
	}
	if len(order) != 3 {
		t.Fatalf("%d calls, want 3:\n%s", len(order), lines(out))
	}
	want := []string{
		strings.Join([]string{
			"CALL_ROUTED 1001>1002 internal to=extension:1002",
			"CALL_RINGING 1001>1002 internal",
			"CALL_ANSWER 1001>1002 internal",
			"CALL_HOLD 1001>1002 internal caller",
			"CALL_HANGUP 1001>1002 internal ATTENDED_TRANSFER 200 caller",
		}, "\n"),
		strings.Join([]string{
			"CALL_ROUTED 1001>1003 internal to=extension:1003",
			"CALL_RINGING 1001>1003 internal",
			"CALL_ANSWER 1001>1003 internal",
			"CALL_HANGUP 1001>1003 internal ATTENDED_TRANSFER 200 caller",
		}, "\n"),
		strings.Join([]string{
			"CALL_ROUTED 1002>1003 internal to=extension:1003",
			"CALL_ANSWER 1002>1003 internal",
			"CALL_HANGUP 1002>1003 internal NORMAL_CLEARING 200 callee",
		}, "\n"),
	}
	for i, id := range order {
		if got := lines(byCall[id]); got != want[i] {
			t.Errorf("call %d:\n%s\nwant:\n%s", i+1, got, want[i])
		}
		if s := byCall[id][0].SessionUUID; s != order[0] {
			t.Errorf("call %d in session %s, want the first call's %s", i+1, s, order[0])
		}
	}
}

// app_queue: a caller the member does not answer moves on when Queue
// returns (its timeout) to the overflow destination, which rings with
// diversion_reason queue_overflow; the stay's outcome is overflow. A caller
// who hangs up while waiting abandoned the queue.
func TestQueueOverflowAndAbandon(t *testing.T) {
	for _, tc := range []struct {
		name string
		want []string
	}{
		{"overflow", []string{
			"CALL_ROUTED 1001>800 internal to=queue:q800",
			"CALL_RINGING 1001>1002 internal diverted=queue<800",
			"CALL_RINGING 1001>1003 internal diverted=queue_overflow<800",
			"CALL_ANSWER 1001>1003 internal diverted=queue_overflow<800",
			"CALL_HANGUP 1001>1003 internal NORMAL_CLEARING 200 caller",
		}},
		{"abandoned", []string{
			"CALL_ROUTED 1001>800 internal to=queue:q800",
			"CALL_RINGING 1001>1002 internal diverted=queue<800",
			"CALL_HANGUP 1001>800 internal ORIGINATOR_CANCEL 487 caller",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTracker("asterisk/t", slog.New(slog.DiscardHandler))
			a, m := ch("1.1", "PJSIP/1001-1", "Ring", "1001", "800"), ch("1.2", "PJSIP/1002-2", "Down", "1001", "s")
			a.Dialplan.AppName, a.Dialplan.AppData = "Queue", "q800,,,,20"
			out := feed(tr,
				&ariEvent{Type: "ChannelCreated", Channel: a},
				&ariEvent{Type: "ChannelDialplan", Channel: a, DialplanApp: "Queue", DialplanAppData: "q800,,,,20"},
				&ariEvent{Type: "ChannelCreated", Channel: m},
				&ariEvent{Type: "Dial", Caller: a, Peer: m, Dialstring: "1002"},
				&ariEvent{Type: "Dial", Caller: a, Peer: m, Dialstring: "1002", Dialstatus: "RINGING"},
			)
			if tc.name == "abandoned" {
				out = append(out, feed(tr,
					&ariEvent{Type: "ChannelHangupRequest", Channel: a, Cause: 16},
					&ariEvent{Type: "Dial", Caller: a, Peer: m, Dialstring: "1002", Dialstatus: "CANCEL"},
					&ariEvent{Type: "ChannelDestroyed", Channel: m, Cause: 16},
					&ariEvent{Type: "ChannelDestroyed", Channel: a, Cause: 16, TechCause: 487},
				)...)
			} else {
				o := ch("1.3", "PJSIP/1003-3", "Down", "1001", "s")
				after := withState(a, "Ring")
				after.Dialplan.AppName, after.Dialplan.AppData = "Dial", "PJSIP/1003,15"
				out = append(out, feed(tr,
					&ariEvent{Type: "Dial", Caller: a, Peer: m, Dialstring: "1002", Dialstatus: "NOANSWER"},
					&ariEvent{Type: "ChannelDestroyed", Channel: m, Cause: 19},
					&ariEvent{Type: "ChannelDialplan", Channel: after, DialplanApp: "Dial", DialplanAppData: "PJSIP/1003,15"},
					&ariEvent{Type: "ChannelCreated", Channel: o},
					&ariEvent{Type: "Dial", Caller: after, Peer: o, Dialstring: "1003"},
					&ariEvent{Type: "Dial", Caller: after, Peer: o, Dialstring: "1003", Dialstatus: "RINGING"},
					&ariEvent{Type: "Dial", Caller: after, Peer: o, Dialstring: "1003", Dialstatus: "ANSWER"},
					&ariEvent{Type: "ChannelStateChange", Channel: withState(o, "Up")},
					&ariEvent{Type: "ChannelHangupRequest", Channel: a, Cause: 16},
					&ariEvent{Type: "ChannelDestroyed", Channel: a, Cause: 16},
					&ariEvent{Type: "ChannelDestroyed", Channel: o, Cause: 16},
				)...)
			}
			if got := lines(out); got != strings.Join(tc.want, "\n") {
				t.Fatalf("events:\n%s\nwant:\n%s", got, strings.Join(tc.want, "\n"))
			}
			want := events.QueueOverflow
			if tc.name == "abandoned" {
				want = events.QueueAbandoned
			}
			if q := out[len(out)-1].Queue; q == nil || q.Outcome != want {
				t.Errorf("hangup's queue %+v, want outcome %s", q, want)
			}
		})
	}
}

// An attended transfer an ARI application declines (ChannelTransfer's
// request, then channel_declined) changes nothing: the consultation call
// and the first call go on as they were, and a ChannelTransfer naming no
// channel of either changes nothing either.
func TestChannelTransferDeclined(t *testing.T) {
	tr := newTracker("asterisk/t", slog.New(slog.DiscardHandler))
	a, b := ch("1.1", "PJSIP/1001-1", "Ring", "1001", "1002"), ch("1.2", "PJSIP/1002-2", "Down", "1001", "s")
	b2, c := ch("1.3", "PJSIP/1002-3", "Ring", "1002", "1003"), ch("1.4", "PJSIP/1003-4", "Down", "1002", "s")
	answered(tr, a, b, "1002")
	feed(tr, &ariEvent{Type: "ChannelHold", Channel: b})
	answered(tr, b2, c, "1003")
	transfer := func(state string, from *channel) *ariEvent {
		return &ariEvent{Type: "ChannelTransfer", State: state,
			ReferTo:    &referTo{DestinationChannel: b2, ConnectedChannel: c},
			ReferredBy: &referredBy{SourceChannel: from, ConnectedChannel: a}}
	}
	stranger := ch("9.9", "PJSIP/1009-9", "Up", "1009", "s")
	out := feed(tr, transfer("", b), transfer("channel_declined", b), transfer("channel_answered", stranger),
		&ariEvent{Type: "ChannelUnhold", Channel: b},
		&ariEvent{Type: "ChannelHangupRequest", Channel: c, Cause: 16},
		&ariEvent{Type: "ChannelDestroyed", Channel: c, Cause: 16},
		&ariEvent{Type: "ChannelDestroyed", Channel: b2, Cause: 16},
		&ariEvent{Type: "ChannelHangupRequest", Channel: a, Cause: 16},
		&ariEvent{Type: "ChannelDestroyed", Channel: a, Cause: 16},
		&ariEvent{Type: "ChannelDestroyed", Channel: b, Cause: 16},
	)
	want := strings.Join([]string{
		"CALL_UNHOLD 1001>1002 internal callee",
		"CALL_HANGUP 1002>1003 internal NORMAL_CLEARING 200 callee",
		"CALL_HANGUP 1001>1002 internal NORMAL_CLEARING 200 caller",
	}, "\n")
	if got := lines(out); got != want {
		t.Fatalf("events:\n%s\nwant:\n%s", got, want)
	}
}
