package events

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// sample returns an event of kind k as the built-in PBX would emit it.
func sample(k Kind) Event {
	e := Event{
		ID:                "evt_0192f1a2b3c47d8e9f00112233445566",
		Kind:              k,
		CallUUID:          "c63fe6f8-0f61-4896-87a2-adc05e06ac36",
		SessionUUID:       "c63fe6f8-0f61-4896-87a2-adc05e06ac36",
		CallerIDNumber:    "234",
		CallerIDName:      "Jane Doe",
		DestinationNumber: "8556900900",
		OccurredAt:        time.Date(2026, 1, 27, 12, 2, 30, 123_000_000, time.UTC),
		Sequence:          3,
		Direction:         Inbound,
		LegUUID:           "5b0c51e4-64b6-4c5b-a5c1-0f7c4d1e2a90",
		Source:            "pbx",
	}
	switch k {
	case CallRouted:
		e.Sequence = 1
		e.RoutedTo = &Target{Type: IVR, Target: "700"}
	case CallInput:
		e.Digit, e.DigitDuration, e.Party = "#", 250*time.Millisecond, Caller
	case CallHold, CallUnhold:
		e.Party = Callee
	case CallHangup:
		e.Hangup = &Hangup{Cause: CauseNormalClearing, SIPCode: 200, By: Caller, Duration: 42, Billsec: 35, AnsweredBy: "8556900900"}
	}
	return e
}

// TestGoldenPayloads pins every event's body in both profiles, byte for byte.
func TestGoldenPayloads(t *testing.T) {
	for _, k := range Kinds {
		for _, p := range []Profile{Standard, Extended} {
			e := sample(k)
			got, err := e.Payload(p, time.UTC)
			if err != nil {
				t.Fatal(err)
			}
			var pretty bytes.Buffer
			json.Indent(&pretty, got, "", "  ")
			pretty.WriteByte('\n')
			file := filepath.Join("testdata", strings.ToLower(string(k))+"."+string(p)+".json")
			if *update {
				os.WriteFile(file, pretty.Bytes(), 0o644)
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if !bytes.Equal(pretty.Bytes(), want) {
				t.Errorf("%s %s:\n got %s\nwant %s", k, p, pretty.Bytes(), want)
			}
		}
	}
}

// TestStandardProfileHasExactlyTheSpecificationFields checks field sets and
// JSON types against the customer's tables.
func TestStandardProfileHasExactlyTheSpecificationFields(t *testing.T) {
	base := []string{"event", "call_uuid", "call_session_uuid", "caller_id_number", "destination_number", "timestamp"}
	for _, k := range Kinds {
		e := sample(k)
		b, _ := e.Payload(Standard, nil)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		want := append([]string(nil), base...)
		if k == CallInput {
			want = append(want, "digit", "digit_duration")
			if d, ok := m["digit_duration"].(float64); !ok || d != 250 {
				t.Errorf("digit_duration = %#v, want the number 250", m["digit_duration"])
			}
		}
		if len(m) != len(want) {
			t.Errorf("%s: %d fields %v, want %v", k, len(m), m, want)
		}
		for _, f := range want {
			if _, ok := m[f]; !ok {
				t.Errorf("%s: missing %s", k, f)
			}
		}
		if m["timestamp"] != "2026-01-27 12:02:30" {
			t.Errorf("%s: timestamp = %v", k, m["timestamp"])
		}
	}
}

func TestTimestampInConfiguredZone(t *testing.T) {
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	e := sample(CallAnswer)
	b, _ := e.Payload(Extended, loc)
	var m map[string]any
	json.Unmarshal(b, &m)
	if m["timestamp"] != "2026-01-27 07:02:30" || m["occurred_at"] != "2026-01-27T12:02:30.123Z" {
		t.Errorf("timestamp %v, occurred_at %v", m["timestamp"], m["occurred_at"])
	}
}

func TestSessionDefaultsToCall(t *testing.T) {
	e := sample(CallRouted)
	e.SessionUUID = ""
	b, _ := e.Payload(Standard, nil)
	if !bytes.Contains(b, []byte(`"call_session_uuid":"c63fe6f8-0f61-4896-87a2-adc05e06ac36"`)) {
		t.Errorf("payload %s", b)
	}
}

func TestValidate(t *testing.T) {
	ok := sample(CallInput)
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := map[string]func(*Event){
		"kind":     func(e *Event) { e.Kind = "CALL_DANCE" },
		"call":     func(e *Event) { e.CallUUID = "" },
		"time":     func(e *Event) { e.OccurredAt = time.Time{} },
		"digit":    func(e *Event) { e.Digit = "12" },
		"letter":   func(e *Event) { e.Digit = "E" },
		"duration": func(e *Event) { e.DigitDuration = -time.Millisecond },
	}
	for name, f := range bad {
		e := sample(CallInput)
		f(&e)
		if err := e.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", name, e)
		}
	}
}

func TestParse(t *testing.T) {
	if _, err := ParseKind("CALL_HOLD"); err != nil {
		t.Error(err)
	}
	if _, err := ParseKind("call_hold"); err == nil {
		t.Error("ParseKind accepted lower case")
	}
	if p, err := ParseProfile(""); err != nil || p != Standard {
		t.Error(p, err)
	}
	if _, err := ParseProfile("full"); err == nil {
		t.Error("ParseProfile accepted full")
	}
}

func BenchmarkPayloadExtended(b *testing.B) {
	e := sample(CallHangup)
	for b.Loop() {
		e.Payload(Extended, time.UTC)
	}
}

// TestGoldenMovedCalls pins the bodies of calls that move: a transferred
// call's CALL_ANSWER, a forwarded call's CALL_RINGING and a consultation
// call's CALL_HANGUP, in both profiles. The standard profile must not show
// the move.
func TestGoldenMovedCalls(t *testing.T) {
	cases := map[string]func() Event{
		"call_answer_transfer": func() Event {
			e := sample(CallAnswer)
			e.Diversion = &Diversion{From: "1002", Reason: DivertTransfer}
			return e
		},
		"call_ringing_no_answer": func() Event {
			e := sample(CallRinging)
			e.Diversion = &Diversion{From: "1002", Reason: DivertNoAnswer}
			return e
		},
		"call_hangup_attended_transfer": func() Event {
			e := sample(CallHangup)
			e.SessionUUID = "0b5f1c8e-2f3a-4d6b-9c7e-1a2b3c4d5e6f"
			e.Hangup = &Hangup{Cause: CauseAttendedTransfer, SIPCode: 200, By: Caller, Duration: 20, Billsec: 15, AnsweredBy: "8556900900"}
			return e
		},
	}
	for name, mk := range cases {
		for _, p := range []Profile{Standard, Extended} {
			e := mk()
			if err := e.Validate(); err != nil {
				t.Fatal(err)
			}
			got, err := e.Payload(p, time.UTC)
			if err != nil {
				t.Fatal(err)
			}
			var pretty bytes.Buffer
			json.Indent(&pretty, got, "", "  ")
			pretty.WriteByte('\n')
			file := filepath.Join("testdata", name+"."+string(p)+".json")
			if *update {
				os.WriteFile(file, pretty.Bytes(), 0o644)
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if !bytes.Equal(pretty.Bytes(), want) {
				t.Errorf("%s %s:\n got %s\nwant %s", name, p, pretty.Bytes(), want)
			}
			if p == Standard && bytes.Contains(got, []byte("divert")) {
				t.Errorf("%s: the standard profile shows the diversion: %s", name, got)
			}
		}
	}
}

// TestDiversionOnlyWhereItBelongs refuses a diversion on an event that
// cannot carry it, or one that does not say where from and why.
func TestDiversionOnlyWhereItBelongs(t *testing.T) {
	for _, k := range []Kind{CallRouted, CallHangup, CallInput, CallHold, CallUnhold} {
		e := sample(k)
		e.Diversion = &Diversion{From: "1002", Reason: DivertTransfer}
		if err := e.Validate(); err == nil {
			t.Errorf("%s with a diversion was accepted", k)
		}
	}
	for _, d := range []Diversion{{From: "1002"}, {Reason: DivertPickup}} {
		e := sample(CallAnswer)
		e.Diversion = &d
		if err := e.Validate(); err == nil {
			t.Errorf("diversion %+v was accepted", d)
		}
	}
}

// TestGoldenQueuePayloads pins the fields of a queued call: an agent rung
// by a queue, and a caller who left the queue before an agent answered.
func TestGoldenQueuePayloads(t *testing.T) {
	ringing := sample(CallRinging)
	ringing.DestinationNumber = "1002"
	ringing.Diversion = &Diversion{From: "600", Reason: DivertQueue}
	ringing.Queue = &QueueStay{Number: "600", Wait: 12, Outcome: QueueAnswered}
	hangup := sample(CallHangup)
	hangup.Queue = &QueueStay{Number: "600", Wait: 31, Outcome: QueueAbandoned}
	hangup.Hangup = &Hangup{Cause: CauseOriginatorCancel, SIPCode: 487, By: Caller, Duration: 31}
	for name, e := range map[string]Event{"queue_agent_ringing": ringing, "queue_abandoned_hangup": hangup} {
		for _, p := range []Profile{Standard, Extended} {
			got, err := e.Payload(p, time.UTC)
			if err != nil {
				t.Fatal(err)
			}
			var pretty bytes.Buffer
			json.Indent(&pretty, got, "", "  ")
			pretty.WriteByte('\n')
			file := filepath.Join("testdata", name+"."+string(p)+".json")
			if *update {
				os.WriteFile(file, pretty.Bytes(), 0o644)
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if !bytes.Equal(pretty.Bytes(), want) {
				t.Errorf("%s %s:\n got %s\nwant %s", name, p, pretty.Bytes(), want)
			}
			if p == Standard && bytes.Contains(got, []byte("queue")) {
				t.Errorf("%s: the standard profile shows the queue: %s", name, got)
			}
		}
	}
}
