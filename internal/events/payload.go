package events

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
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

// Payload renders e as a webhook body in profile p, with `timestamp` in loc
// (UTC when nil). The fields are in the order of the specification's
// tables, so a body reads like its examples; a field marked optional is left
// out when empty. It is written by hand rather than by encoding/json, whose
// reflection was most of the cost of an attempt's request; the bytes are the
// same (payload_test.go holds the structs encoding/json renders them from,
// and compares).
func (e *Event) Payload(p Profile, loc *time.Location) ([]byte, error) {
	if loc == nil {
		loc = time.UTC
	}
	session := e.SessionUUID
	if session == "" {
		session = e.CallUUID
	}
	b := make([]byte, 0, 1024) // a body is 200 to 700 bytes
	b = appendStringField(b, '{', "event", string(e.Kind))
	b = appendStringField(b, ',', "call_uuid", e.CallUUID)
	b = appendStringField(b, ',', "call_session_uuid", session)
	b = appendStringField(b, ',', "caller_id_number", e.CallerIDNumber)
	b = appendStringField(b, ',', "destination_number", e.DestinationNumber)
	if e.Kind == CallInput {
		b = appendStringField(b, ',', "digit", e.Digit)
		b = strconv.AppendInt(append(b, `,"digit_duration":`...), e.DigitDuration.Milliseconds(), 10)
	}
	b = append(b, `,"timestamp":"`...)
	b = append(e.OccurredAt.In(loc).AppendFormat(b, TimestampLayout), '"')
	if p != Extended {
		return append(b, '}'), nil
	}
	if e.CallerIDName != "" {
		b = appendStringField(b, ',', "caller_id_name", e.CallerIDName)
	}
	b = appendStringField(b, ',', "event_id", e.ID)
	b = strconv.AppendInt(append(b, `,"sequence":`...), e.Sequence, 10)
	b = append(b, `,"occurred_at":"`...)
	b = append(e.OccurredAt.UTC().AppendFormat(b, OccurredAtLayout), '"')
	b = appendStringField(b, ',', "direction", string(e.Direction))
	b = appendStringField(b, ',', "leg_uuid", e.LegUUID)
	switch e.Kind {
	case CallInput, CallHold, CallUnhold:
		if e.Party != "" {
			b = appendStringField(b, ',', "party", string(e.Party))
		}
	case CallRouted:
		if t := e.RoutedTo; t != nil {
			b = appendStringField(append(b, `,"routed_to":`...), '{', "type", string(t.Type))
			b = append(appendStringField(b, ',', "target", t.Target), '}')
		}
	case CallRinging, CallAnswer:
		if d := e.Diversion; d != nil {
			if d.From != "" {
				b = appendStringField(b, ',', "diverted_from", d.From)
			}
			if d.Reason != "" {
				b = appendStringField(b, ',', "diversion_reason", string(d.Reason))
			}
		}
	}
	if q := e.Queue; q != nil {
		b = appendStringField(append(b, `,"queue":`...), '{', "number", q.Number)
		b = strconv.AppendInt(append(b, `,"wait":`...), q.Wait, 10)
		// The outcome is known, and told, only once the call is over.
		if e.Kind == CallHangup && q.Outcome != "" {
			b = appendStringField(b, ',', "outcome", string(q.Outcome))
		}
		b = append(b, '}')
	}
	if e.Kind == CallHangup {
		h := e.Hangup
		if h == nil {
			h = &Hangup{}
		}
		b = appendStringField(b, ',', "hangup_cause", h.Cause)
		b = strconv.AppendInt(append(b, `,"sip_code":`...), int64(h.SIPCode), 10)
		b = appendStringField(b, ',', "hangup_by", string(h.By))
		b = strconv.AppendInt(append(b, `,"duration":`...), h.Duration, 10)
		b = strconv.AppendInt(append(b, `,"billsec":`...), h.Billsec, 10)
		b = appendStringField(b, ',', "answered_by", h.AnsweredBy)
	}
	return append(b, '}'), nil
}

// appendStringField appends sep, then "name": and v as a JSON string.
func appendStringField(b []byte, sep byte, name, v string) []byte {
	b = append(b, sep, '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendString(b, v)
}

// appendString appends v as a JSON string, escaped as encoding/json escapes
// it. Nearly every value is plain ASCII and is copied as is; any other is
// left to encoding/json.
func appendString(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(v) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, v...)
	return append(b, '"')
}
