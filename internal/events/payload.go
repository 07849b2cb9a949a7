package events

import (
	"encoding/json"
	"fmt"
	"time"
)

// Profile selects which fields a webhook body carries.
type Profile string

// Payload profiles of an endpoint.
const (
	// Standard is exactly the fields of the customer's specification.
	Standard Profile = "standard"
	// Extended adds event_id, sequence, occurred_at, direction, leg_uuid,
	// party, routed_to, the diversion, the queue stay and the hangup
	// details.
	Extended Profile = "extended"
)

// ParseProfile returns the profile named s; the empty string is Standard.
func ParseProfile(s string) (Profile, error) {
	switch Profile(s) {
	case "", Standard:
		return Standard, nil
	case Extended:
		return Extended, nil
	}
	return "", fmt.Errorf("unknown payload profile %q (want standard or extended)", s)
}

// TimestampLayout is the specification's `timestamp` format.
const TimestampLayout = "2006-01-02 15:04:05"

// OccurredAtLayout is the extended profile's `occurred_at` format: RFC 3339
// with milliseconds, in UTC.
const OccurredAtLayout = "2006-01-02T15:04:05.000Z"

// The field order follows the specification's tables, so a body reads like
// its examples; encoding/json keeps struct order.
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
	CallerIDName string    `json:"caller_id_name,omitempty"`
	EventID      string    `json:"event_id"`
	Sequence     int64     `json:"sequence"`
	OccurredAt   string    `json:"occurred_at"`
	Direction    Direction `json:"direction"`
	LegUUID      string    `json:"leg_uuid"`
	Party        Party     `json:"party,omitempty"`
	RoutedTo     *Target   `json:"routed_to,omitempty"`
	// DivertedFrom and DiversionReason are on CALL_RINGING and CALL_ANSWER
	// of a destination the call moved to.
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

// Payload renders e as a webhook body in profile p, with `timestamp` in loc
// (UTC when nil).
func (e *Event) Payload(p Profile, loc *time.Location) ([]byte, error) {
	if loc == nil {
		loc = time.UTC
	}
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
	if p != Extended {
		return json.Marshal(&std)
	}
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
		ext.hangupBody = &hangupBody{
			HangupCause: h.Cause,
			SIPCode:     h.SIPCode,
			HangupBy:    h.By,
			Duration:    h.Duration,
			Billsec:     h.Billsec,
			AnsweredBy:  h.AnsweredBy,
		}
	}
	return json.Marshal(&ext)
}
