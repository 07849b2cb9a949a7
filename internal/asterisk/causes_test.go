package asterisk

import (
	"fmt"
	"log/slog"
	"slices"
	"testing"

	"github.com/switchhook/switchhook/internal/events"
)

func ch(id, name, state, number, exten string) *channel {
	c := &channel{ID: id, Name: name, State: state, Caller: callerID{Number: number}}
	c.Dialplan.Context, c.Dialplan.Exten = "from-internal", exten
	return c
}

func feed(tr *tracker, evs ...*ariEvent) []events.Event {
	var out []events.Event
	for _, ev := range evs {
		ev.Timestamp = "2026-01-27T12:02:30.000+0000"
		out = append(out, tr.handle(ev)...)
	}
	return out
}

// Every way an unanswered call ends, as Asterisk's Dial and channel causes
// report it, gives EVENTS.md's cause and party; with no tech_cause on the
// caller's channel, the SIP code is what chan_pjsip sends for the caller's
// cause (its hangup_cause2sip, 603 where that has none; 487 after CANCEL).
func TestUnansweredEndings(t *testing.T) {
	for _, tc := range []struct {
		status    string
		peerCause int
		want      string
	}{
		{"BUSY", 17, "USER_BUSY 486 callee"},
		{"NOANSWER", 19, "NO_ANSWER 480 system"},
		{"CHANUNAVAIL", 20, "USER_NOT_REGISTERED 480 system"},
		{"CHANUNAVAIL", 102, "RECOVERY_ON_TIMER_EXPIRE 603 system"},
		{"CONGESTION", 1, "UNALLOCATED_NUMBER 404 callee"},
		{"CONGESTION", 21, "CALL_REJECTED 403 callee"},
		{"CONGESTION", 28, "INVALID_NUMBER_FORMAT 484 callee"},
		{"CONGESTION", 34, "NORMAL_TEMPORARY_FAILURE 503 callee"},
		{"CANCEL", 16, "ORIGINATOR_CANCEL 487 caller"},
	} {
		t.Run(fmt.Sprintf("%s/%d", tc.status, tc.peerCause), func(t *testing.T) {
			tr := newTracker("asterisk/t", slog.New(slog.DiscardHandler))
			a, b := ch("1.1", "PJSIP/1001-1", "Ring", "1001", "1002"), ch("1.2", "PJSIP/1002-2", "Down", "1001", "s")
			out := feed(tr,
				&ariEvent{Type: "ChannelCreated", Channel: a},
				&ariEvent{Type: "ChannelCreated", Channel: b},
				&ariEvent{Type: "Dial", Caller: a, Peer: b, Dialstring: "1002"},
				&ariEvent{Type: "ChannelHangupRequest", Channel: b, Cause: tc.peerCause},
				&ariEvent{Type: "Dial", Caller: a, Peer: b, Dialstring: "1002", Dialstatus: tc.status},
				&ariEvent{Type: "ChannelDestroyed", Channel: b, Cause: tc.peerCause},
				&ariEvent{Type: "ChannelDestroyed", Channel: a, Cause: tc.peerCause},
			)
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

// A channel that never reached a Dial, Stasis or an answer (no route)
// emits nothing.
func TestUnroutedCallIsSilent(t *testing.T) {
	tr := newTracker("asterisk/t", slog.New(slog.DiscardHandler))
	a := ch("1.1", "PJSIP/1001-1", "Ring", "1001", "999")
	if out := feed(tr,
		&ariEvent{Type: "ChannelCreated", Channel: a},
		&ariEvent{Type: "ChannelHangupRequest", Channel: a, Cause: 1},
		&ariEvent{Type: "ChannelDestroyed", Channel: a, Cause: 1},
	); len(out) != 0 {
		t.Fatalf("emitted %v", summaries(out))
	}
}

// A Dial through a Local channel (a queue or follow-me) reports the phone
// at the far end, never the Local halves, and a digit the Local pair
// relays once.
func TestLocalChannelChain(t *testing.T) {
	tr := newTracker("asterisk/t", slog.New(slog.DiscardHandler))
	a := ch("1.1", "PJSIP/1001-1", "Ring", "1001", "600")
	l1 := ch("1.2", "Local/1002@from-internal-0001;1", "Down", "1001", "1002")
	l2 := ch("1.3", "Local/1002@from-internal-0001;2", "Ring", "1001", "1002")
	p := ch("1.4", "PJSIP/1002-4", "Down", "1001", "s")
	up := func(c *channel) *channel { d := *c; d.State = "Up"; return &d }
	ringing := func(c *channel) *channel { d := *c; d.State = "Ringing"; return &d }
	out := feed(tr,
		&ariEvent{Type: "ChannelCreated", Channel: a},
		&ariEvent{Type: "ChannelCreated", Channel: l1},
		&ariEvent{Type: "ChannelCreated", Channel: l2},
		&ariEvent{Type: "Dial", Caller: a, Peer: l1, Dialstring: "1002@from-internal"},
		&ariEvent{Type: "ChannelCreated", Channel: p},
		&ariEvent{Type: "Dial", Caller: l2, Peer: p, Dialstring: "1002"},
		&ariEvent{Type: "ChannelStateChange", Channel: ringing(p)},
		&ariEvent{Type: "ChannelStateChange", Channel: ringing(l1)},
		&ariEvent{Type: "ChannelStateChange", Channel: up(p)},
		&ariEvent{Type: "ChannelStateChange", Channel: up(l2)},
		&ariEvent{Type: "ChannelStateChange", Channel: up(l1)},
		&ariEvent{Type: "ChannelStateChange", Channel: up(a)},
		&ariEvent{Type: "ChannelDtmfReceived", Channel: up(p), Digit: "7", DurationMS: 90},
		&ariEvent{Type: "ChannelDtmfReceived", Channel: up(l2), Digit: "7", DurationMS: 90},
		&ariEvent{Type: "ChannelHangupRequest", Channel: up(p), Cause: 16},
		&ariEvent{Type: "ChannelDestroyed", Channel: p, Cause: 16},
		&ariEvent{Type: "ChannelDestroyed", Channel: l2, Cause: 16},
		&ariEvent{Type: "ChannelDestroyed", Channel: l1, Cause: 16},
		&ariEvent{Type: "ChannelDestroyed", Channel: a, Cause: 16},
	)
	want := []string{
		"CALL_ROUTED 1001>600 leg=1.1 internal to=extension:1002",
		"CALL_RINGING 1001>1002 leg=1.4 internal",
		"CALL_ANSWER 1001>1002 leg=1.4 internal",
		"CALL_INPUT 1001>1002 leg=1.4 internal digit=7 90ms callee",
		"CALL_HANGUP 1001>1002 leg=1.1 internal NORMAL_CLEARING 200 callee",
	}
	assertEvents(t, out, want)
}

// A call the dialplan hands to a Stasis application: routed there, answered
// by Asterisk, digits, a hangup by the caller.
func TestStasisApplication(t *testing.T) {
	tr := newTracker("asterisk/t", slog.New(slog.DiscardHandler))
	a := ch("1.1", "PJSIP/1001-1", "Ring", "1001", "7000")
	up := *a
	up.State = "Up"
	out := feed(tr,
		&ariEvent{Type: "ChannelCreated", Channel: a},
		&ariEvent{Type: "StasisStart", Channel: a},
		&ariEvent{Type: "ChannelStateChange", Channel: &up},
		&ariEvent{Type: "ChannelDtmfReceived", Channel: &up, Digit: "*", DurationMS: 120},
		&ariEvent{Type: "ChannelDtmfReceived", Channel: &up, Digit: "x", DurationMS: 120},
		&ariEvent{Type: "ChannelHangupRequest", Channel: &up, Cause: 16},
		&ariEvent{Type: "StasisEnd", Channel: &up},
		&ariEvent{Type: "ChannelDestroyed", Channel: &up, Cause: 16},
	)
	assertEvents(t, out, []string{
		"CALL_ROUTED 1001>7000 leg=1.1 internal to=ivr:7000",
		"CALL_ANSWER 1001>7000 leg=1.1 internal",
		"CALL_INPUT 1001>7000 leg=1.1 internal digit=* 120ms caller",
		"CALL_HANGUP 1001>7000 leg=1.1 internal NORMAL_CLEARING 200 caller",
	})
}
