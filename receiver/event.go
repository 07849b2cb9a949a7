package receiver

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Kind is the name of a webhook event, the body's "event" field.
type Kind string

// The seven kinds of call event.
const (
	CallRouted  Kind = "CALL_ROUTED"
	CallRinging Kind = "CALL_RINGING"
	CallAnswer  Kind = "CALL_ANSWER"
	CallHangup  Kind = "CALL_HANGUP"
	CallInput   Kind = "CALL_INPUT"
	CallHold    Kind = "CALL_HOLD"
	CallUnhold  Kind = "CALL_UNHOLD"
)

// Known reports whether k is one of the seven kinds this package knows. Parse
// accepts other kinds, so that a receiver keeps working if events are added;
// it may ignore the ones it does not know.
func (k Kind) Known() bool {
	switch k {
	case CallRouted, CallRinging, CallAnswer, CallHangup, CallInput, CallHold, CallUnhold:
		return true
	}
	return false
}

// TimestampLayout is the layout of Event.Timestamp.
const TimestampLayout = "2006-01-02 15:04:05"

// Event is one call event as a webhook carries it. The fields of the standard
// profile are always set; those of the extended profile are zero (or nil)
// when the endpoint uses the standard one.
type Event struct {
	// WebhookID is the webhook-id header: the event's unique id, the same
	// on every retry. Parse leaves it empty; ParseRequest and Handler set it.
	WebhookID string `json:"-"`

	Kind              Kind   `json:"event"`
	CallUUID          string `json:"call_uuid"`
	CallSessionUUID   string `json:"call_session_uuid"`
	CallerIDNumber    string `json:"caller_id_number"`
	DestinationNumber string `json:"destination_number"`
	// CallerIDName is the caller's display name, when it has one (extended
	// profile only).
	CallerIDName string `json:"caller_id_name,omitempty"`
	// Digit is the DTMF digit (0-9, *, #, A-D) of a CALL_INPUT.
	Digit string `json:"digit,omitempty"`
	// DigitDuration is how long the digit was pressed, in milliseconds
	// (CALL_INPUT only).
	DigitDuration int `json:"digit_duration,omitempty"`
	// Timestamp is when the event happened, as "YYYY-MM-DD HH:MM:SS" in the
	// zone the PBX is configured with; see Time.
	Timestamp string `json:"timestamp"`

	// EventID equals WebhookID.
	EventID string `json:"event_id,omitempty"`
	// Sequence numbers a call's events 1, 2, 3 … in the order they happened.
	Sequence int64 `json:"sequence,omitempty"`
	// OccurredAt is when the event happened, to the millisecond.
	OccurredAt time.Time `json:"occurred_at,omitzero"`
	// Direction is "internal", "inbound" (from a gateway) or "outbound".
	Direction string `json:"direction,omitempty"`
	// LegUUID names the leg the event is about; each member of a ring group
	// has its own.
	LegUUID string `json:"leg_uuid,omitempty"`
	// Party is "caller" or "callee": who pressed a digit (CALL_INPUT) or put
	// the call on or off hold (CALL_HOLD, CALL_UNHOLD).
	Party string `json:"party,omitempty"`
	// RoutedTo is where the dialplan sent the call (CALL_ROUTED only).
	RoutedTo *RoutedTo `json:"routed_to,omitempty"`
	// DivertedFrom and DiversionReason are on CALL_RINGING and CALL_ANSWER
	// of a destination the call moved to: the number it was at, and why
	// ("transfer", "attended_transfer", "unconditional", "user_busy",
	// "no_answer", "unavailable", "pickup", "queue", "queue_overflow").
	DivertedFrom    string `json:"diverted_from,omitempty"`
	DiversionReason string `json:"diversion_reason,omitempty"`
	// Queue is on every event of a call that entered a queue.
	Queue *Queue `json:"queue,omitempty"`

	// The hangup details of CALL_HANGUP.
	HangupCause string `json:"hangup_cause,omitempty"` // a Q.850 name, e.g. NORMAL_CLEARING
	SIPCode     int    `json:"sip_code,omitempty"`     // the final SIP status that ended the call
	HangupBy    string `json:"hangup_by,omitempty"`    // "caller", "callee" or "system"
	Duration    int64  `json:"duration,omitempty"`     // whole seconds since CALL_ROUTED
	Billsec     int64  `json:"billsec,omitempty"`      // whole seconds since the first answer
	AnsweredBy  string `json:"answered_by,omitempty"`  // the number that answered first
}

// RoutedTo is the destination the dialplan picked for a call.
type RoutedTo struct {
	// Type is "extension", "ring_group", "queue", "ivr" or "gateway".
	Type string `json:"type"`
	// Target is the extension, ring group, queue or IVR number, or the
	// gateway's name.
	Target string `json:"target"`
}

// Queue is a queued call's stay in its queue.
type Queue struct {
	Number string `json:"number"`
	// Wait is the whole seconds the caller waited so far.
	Wait int64 `json:"wait"`
	// Outcome, on CALL_HANGUP only: "answered", "abandoned" or "overflow".
	Outcome string `json:"outcome,omitempty"`
}

// Time parses Timestamp in loc, the zone the PBX is configured with (UTC when
// nil). Extended payloads carry the same instant, precisely, in OccurredAt.
func (e *Event) Time(loc *time.Location) (time.Time, error) {
	if loc == nil {
		loc = time.UTC
	}
	t, err := time.ParseInLocation(TimestampLayout, e.Timestamp, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("receiver: timestamp %q is not YYYY-MM-DD HH:MM:SS: %w", e.Timestamp, err)
	}
	return t, nil
}

// Parse decodes a webhook body. It does not check the signature: call Verify
// first, or use ParseRequest or Handler, which do both.
func Parse(body []byte) (*Event, error) {
	var e Event
	if err := json.Unmarshal(body, &e); err != nil {
		return nil, fmt.Errorf("receiver: parse webhook body: %w", err)
	}
	switch {
	case e.Kind == "":
		return nil, errors.New(`receiver: parse webhook body: no "event" field`)
	case e.CallUUID == "":
		return nil, fmt.Errorf(`receiver: parse webhook body: %s has no "call_uuid"`, e.Kind)
	}
	return &e, nil
}
