package conformance

import (
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/events"
)

func TestLine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		e    events.Event
		want string
	}{
		{events.Event{Kind: events.CallRouted, CallerIDNumber: "1001", DestinationNumber: "800", Direction: events.Internal, RoutedTo: &events.Target{Type: events.Queue, Target: "q800"}},
			"CALL_ROUTED 1001>800 internal to=queue:q800"},
		{events.Event{Kind: events.CallInput, CallerIDNumber: "1001", DestinationNumber: "1002", Direction: events.Inbound, Digit: "#", DigitDuration: 250 * time.Millisecond, Party: events.Caller},
			"CALL_INPUT 1001>1002 inbound digit=# 250ms caller"},
		{events.Event{Kind: events.CallAnswer, CallerIDNumber: "1001", DestinationNumber: "1003", Direction: events.Internal, Diversion: &events.Diversion{From: "1002", Reason: events.DivertTransfer}},
			"CALL_ANSWER 1001>1003 internal diverted=transfer<1002"},
		{events.Event{Kind: events.CallHangup, CallerIDNumber: "1001", DestinationNumber: "1002", Direction: events.Internal, Hangup: &events.Hangup{Cause: "NO_ANSWER", SIPCode: 480, By: events.System}},
			"CALL_HANGUP 1001>1002 internal NO_ANSWER 480 system"},
	} {
		if got := Line(tc.e); got != tc.want {
			t.Errorf("Line = %q, want %q", got, tc.want)
		}
	}
}

// Every scenario has a name, a description and events that start with
// CALL_ROUTED and end with CALL_HANGUP.
func TestScenarios(t *testing.T) {
	t.Parallel()
	names := map[string]bool{}
	for _, sc := range Scenarios {
		if sc.Name == "" || sc.What == "" || names[sc.Name] {
			t.Errorf("scenario %+v: empty or repeated name or description", sc)
		}
		names[sc.Name] = true
		for _, want := range append([][]string{sc.Want}, sc.Then...) {
			if len(want) < 2 || want[0][:11] != "CALL_ROUTED" || want[len(want)-1][:11] != "CALL_HANGUP" {
				t.Errorf("scenario %s: %v", sc.Name, want)
			}
		}
	}
}
