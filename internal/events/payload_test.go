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

// The structs encoding/json renders a body from, in the specification's
// field order: the reference Payload must match byte for byte.
type standardBody struct {
	Event             Kind    `json:"event"`
	CallUUID          string  `json:"call_uuid"`
	CallSessionUUID   string  `json:"call_session_uuid"`
	CallerIDNumber    string  `json:"caller_id_number"`
	DestinationNumber string  `json:"destination_number"`
	Digit             *string `json:"digit,omitempty"`
	DigitDuration     *int64  `json:"digit_duration,omitempty"`
	Timestamp         string  `json:"timestamp"`
}

type extendedBody struct {
	standardBody
	CallerIDName    string          `json:"caller_id_name,omitempty"`
	EventID         string          `json:"event_id"`
	Sequence        int64           `json:"sequence"`
	OccurredAt      string          `json:"occurred_at"`
	Direction       Direction       `json:"direction"`
	LegUUID         string          `json:"leg_uuid"`
	Party           Party           `json:"party,omitempty"`
	RoutedTo        *Target         `json:"routed_to,omitempty"`
	DivertedFrom    string          `json:"diverted_from,omitempty"`
	DiversionReason DiversionReason `json:"diversion_reason,omitempty"`
	Queue           *QueueStay      `json:"queue,omitempty"`
	*hangupBody
}

type hangupBody struct {
	HangupCause string `json:"hangup_cause"`
	SIPCode     int    `json:"sip_code"`
	HangupBy    Party  `json:"hangup_by"`
	Duration    int64  `json:"duration"`
	Billsec     int64  `json:"billsec"`
	AnsweredBy  string `json:"answered_by"`
}

// referencePayload is Payload by encoding/json.
func referencePayload(e *Event, p Profile, loc *time.Location) []byte {
	std := standardBody{
		Event:             e.Kind,
		CallUUID:          e.CallUUID,
		CallSessionUUID:   e.SessionUUID,
		CallerIDNumber:    e.CallerIDNumber,
		DestinationNumber: e.DestinationNumber,
		Timestamp:         e.OccurredAt.In(loc).Format(TimestampLayout),
	}
	if std.CallSessionUUID == "" {
		std.CallSessionUUID = e.CallUUID
	}
	if e.Kind == CallInput {
		digit, ms := e.Digit, e.DigitDuration.Milliseconds()
		std.Digit, std.DigitDuration = &digit, &ms
	}
	var v any = &std
	if p == Extended {
		ext := extendedBody{
			standardBody: std,
			CallerIDName: e.CallerIDName,
			EventID:      e.ID,
			Sequence:     e.Sequence,
			OccurredAt:   e.OccurredAt.UTC().Format(OccurredAtLayout),
			Direction:    e.Direction,
			LegUUID:      e.LegUUID,
			Queue:        e.Queue,
		}
		if e.Queue != nil && e.Kind != CallHangup && e.Queue.Outcome != "" {
			q := *e.Queue
			q.Outcome = ""
			ext.Queue = &q
		}
		switch e.Kind {
		case CallInput, CallHold, CallUnhold:
			ext.Party = e.Party
		case CallRouted:
			ext.RoutedTo = e.RoutedTo
		case CallRinging, CallAnswer:
			if d := e.Diversion; d != nil {
				ext.DivertedFrom, ext.DiversionReason = d.From, d.Reason
			}
		case CallHangup:
			h := e.Hangup
			if h == nil {
				h = &Hangup{}
			}
			ext.hangupBody = &hangupBody{HangupCause: h.Cause, SIPCode: h.SIPCode, HangupBy: h.By,
				Duration: h.Duration, Billsec: h.Billsec, AnsweredBy: h.AnsweredBy}
		}
		v = &ext
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// TestPayloadIsWhatEncodingJSONWrites renders every kind, with and without
// the optional parts, with names that need escaping (HTML, quotes, control
// characters, non-ASCII, invalid UTF-8), and compares with encoding/json.
func TestPayloadIsWhatEncodingJSONWrites(t *testing.T) {
	t.Parallel()
	names := []string{"", "Jane Doe", `a "quoted"`, `back\slash`, "a<b", "a>b", "a&b", "tab\there\nnl\x01", "Zoë 李 \u2028 😀", "bad \xff utf8"}
	zones := []*time.Location{time.UTC, time.FixedZone("X", -5*3600-30*60)}
	for _, k := range Kinds {
		for i, name := range names {
			e := sample(k)
			e.CallerIDName, e.CallerIDNumber, e.DestinationNumber = name, name, name+"1"
			e.Sequence = int64(i)
			switch i % 4 {
			case 0:
				e.SessionUUID = ""
				e.Queue = &QueueStay{Number: name, Wait: 7, Outcome: QueueAnswered}
			case 1:
				e.Queue = &QueueStay{Number: "500", Wait: 0}
				e.Diversion = &Diversion{From: name, Reason: DivertQueue}
				e.Party = ""
			case 2:
				e.Hangup = nil
				e.RoutedTo = &Target{Type: Gateway, Target: name}
				e.Digit = name
			case 3:
				e.Diversion = &Diversion{Reason: DivertPickup}
				e.DigitDuration = -time.Second
			}
			for _, p := range []Profile{Standard, Extended} {
				for _, loc := range zones {
					got, err := e.Payload(p, loc)
					if err != nil {
						t.Fatal(err)
					}
					if want := referencePayload(&e, p, loc); !bytes.Equal(got, want) {
						t.Errorf("%s %s %q:\n got %s\nwant %s", k, p, name, got, want)
					}
				}
			}
		}
	}
}
