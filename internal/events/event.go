package events

import (
	"fmt"
	"time"
)

// Kind is the name of a webhook event, as the customer's specification spells it.
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

// Kinds lists the seven kinds in the order of the specification.
var Kinds = []Kind{CallRouted, CallRinging, CallAnswer, CallHangup, CallInput, CallHold, CallUnhold}

// Valid reports whether k is one of the seven kinds.
func (k Kind) Valid() bool {
	for _, v := range Kinds {
		if k == v {
			return true
		}
	}
	return false
}

// ParseKind returns the kind named s, or an error naming s.
func ParseKind(s string) (Kind, error) {
	k := Kind(s)
	if !k.Valid() {
		return "", fmt.Errorf("unknown event %q (want one of CALL_ROUTED, CALL_RINGING, CALL_ANSWER, CALL_HANGUP, CALL_INPUT, CALL_HOLD, CALL_UNHOLD)", s)
	}
	return k, nil
}

// Direction says where a call came from and went to.
type Direction string

// Directions of a call.
const (
	Internal Direction = "internal" // extension to extension (or to the PBX itself)
	Inbound  Direction = "inbound"  // from a gateway
	Outbound Direction = "outbound" // to a gateway
)

// Party names one side of a call.
type Party string

// Parties of a call; System is only used as a hangup's originator.
const (
	Caller Party = "caller"
	Callee Party = "callee"
	System Party = "system"
)

// TargetType is the kind of destination the dialplan picked.
type TargetType string

// Destination kinds of CALL_ROUTED's routed_to.
const (
	Extension TargetType = "extension"
	RingGroup TargetType = "ring_group"
	Queue     TargetType = "queue"
	IVR       TargetType = "ivr"
	Gateway   TargetType = "gateway"
)

// Target is where the dialplan routed a call.
type Target struct {
	Type   TargetType `json:"type"`
	Target string     `json:"target"` // the extension, group, queue or IVR number, or the gateway's name
}

// Hangup causes, as FreeSWITCH spells the Q.850 names.
const (
	CauseNormalClearing         = "NORMAL_CLEARING"
	CauseOriginatorCancel       = "ORIGINATOR_CANCEL"
	CauseUserBusy               = "USER_BUSY"
	CauseCallRejected           = "CALL_REJECTED"
	CauseNoAnswer               = "NO_ANSWER"
	CauseUserNotRegistered      = "USER_NOT_REGISTERED"
	CauseRecoveryOnTimerExpire  = "RECOVERY_ON_TIMER_EXPIRE"
	CauseUnallocatedNumber      = "UNALLOCATED_NUMBER"
	CauseInvalidNumberFormat    = "INVALID_NUMBER_FORMAT"
	CauseNormalTemporaryFailure = "NORMAL_TEMPORARY_FAILURE"
	CauseSystemShutdown         = "SYSTEM_SHUTDOWN"
	CauseNormalUnspecified      = "NORMAL_UNSPECIFIED"
	// CauseMediaTimeout ends a call whose party sent no media for the
	// media timeout, or whose session timer (RFC 4028) expired.
	CauseMediaTimeout = "MEDIA_TIMEOUT"
	// CauseBlindTransfer ends the call of a caller who transferred it
	// without consulting the target.
	CauseBlindTransfer = "BLIND_TRANSFER"
	// CauseAttendedTransfer ends a consultation call joined to another
	// call, and the call of a caller who transferred after consulting.
	CauseAttendedTransfer = "ATTENDED_TRANSFER"
	// CauseNoRouteDestination ends a call whose forwarding loops.
	CauseNoRouteDestination = "NO_ROUTE_DESTINATION"
)

// DiversionReason says why a call rings or is answered somewhere other than
// where it was routed: extended CALL_RINGING and CALL_ANSWER carry it with
// the number the call was at (diverted_from).
type DiversionReason string

// Reasons a call moves, as EVENTS.md "Calls that move" names them; the
// forwarding ones are RFC 5806's.
const (
	DivertTransfer         DiversionReason = "transfer"
	DivertAttendedTransfer DiversionReason = "attended_transfer"
	DivertUnconditional    DiversionReason = "unconditional"
	DivertUserBusy         DiversionReason = "user_busy"
	DivertNoAnswer         DiversionReason = "no_answer"
	DivertUnavailable      DiversionReason = "unavailable"
	DivertPickup           DiversionReason = "pickup"
	DivertQueue            DiversionReason = "queue"
	DivertQueueOverflow    DiversionReason = "queue_overflow"
)

// Diversion is where a call moved from and why.
type Diversion struct {
	From   string // diverted_from: the number the call was at
	Reason DiversionReason
}

// QueueOutcome is how a call's time in a queue ended.
type QueueOutcome string

// Outcomes of a queued call, on its CALL_HANGUP.
const (
	QueueAnswered  QueueOutcome = "answered"  // an agent answered
	QueueAbandoned QueueOutcome = "abandoned" // the caller left before an agent answered
	// QueueOverflow: the caller waited too long or found the queue full,
	// and moved on to the overflow destination or was hung up.
	QueueOverflow QueueOutcome = "overflow"
)

// QueueStay is what every event of a call that entered a queue says of it.
type QueueStay struct {
	Number string `json:"number"`
	// Wait is the whole seconds the caller waited so far (until an agent
	// answered or the caller left the queue).
	Wait int64 `json:"wait"`
	// Outcome is rendered on CALL_HANGUP only.
	Outcome QueueOutcome `json:"outcome,omitempty"`
}

// Hangup holds what CALL_HANGUP adds in the extended profile. A source sets
// Cause, SIPCode and By; the recorder fills Duration, Billsec and AnsweredBy
// from the call's own events, so every source computes them the same way.
type Hangup struct {
	Cause      string
	SIPCode    int
	By         Party
	Duration   int64 // whole seconds since CALL_ROUTED
	Billsec    int64 // whole seconds since the first CALL_ANSWER, 0 if none
	AnsweredBy string
}

// Event is one call event. A source fills the call's facts; the recorder
// assigns ID and Sequence before the event is stored.
type Event struct {
	ID             string // event_id and webhook-id; assigned by the recorder when empty
	Kind           Kind
	CallUUID       string
	SessionUUID    string // call_session_uuid; the recorder sets it to CallUUID when empty
	CallerIDNumber string
	// CallerIDName is the caller's display name, when it has one: the
	// extension's name, or what a carrier or an engine gave (extended).
	CallerIDName      string
	DestinationNumber string
	Digit             string        // CALL_INPUT only: one of 0-9 * # A-D
	DigitDuration     time.Duration // CALL_INPUT only; rendered in whole milliseconds
	OccurredAt        time.Time
	Sequence          int64 // 1, 2, 3 … per CallUUID; assigned by the recorder
	Direction         Direction
	LegUUID           string
	Party             Party   // CALL_INPUT, CALL_HOLD, CALL_UNHOLD: who pressed or held
	RoutedTo          *Target // CALL_ROUTED only
	// Diversion is set on CALL_RINGING and CALL_ANSWER of a destination
	// the call moved to (transfer, forwarding, pickup).
	Diversion *Diversion
	Queue     *QueueStay // every event of a call that entered a queue
	Hangup    *Hangup    // CALL_HANGUP only
	Source    string     // the call source that saw it, e.g. "pbx" or "freeswitch/fs1"

	// Endpoint, when set, restricts delivery to that one endpoint: a test
	// event sent from the API, not a call seen by a source.
	Endpoint string
}

// Validate reports the first field that makes e unfit to be recorded.
func (e *Event) Validate() error {
	if !e.Kind.Valid() {
		return fmt.Errorf("event: unknown kind %q", e.Kind)
	}
	if e.CallUUID == "" {
		return fmt.Errorf("%s: call_uuid is empty", e.Kind)
	}
	if e.OccurredAt.IsZero() {
		return fmt.Errorf("%s %s: occurred_at is zero", e.Kind, e.CallUUID)
	}
	if e.Diversion != nil && (e.Kind != CallRinging && e.Kind != CallAnswer || e.Diversion.Reason == "" || e.Diversion.From == "") {
		return fmt.Errorf("%s %s: a diversion (%q from %q) belongs on CALL_RINGING or CALL_ANSWER and needs a reason and a number", e.Kind, e.CallUUID, e.Diversion.Reason, e.Diversion.From)
	}
	if e.Kind == CallInput {
		if !validDigit(e.Digit) {
			return fmt.Errorf("%s %s: digit %q is not one of 0-9 * # A-D", e.Kind, e.CallUUID, e.Digit)
		}
		if e.DigitDuration < 0 {
			return fmt.Errorf("%s %s: digit_duration %v is negative", e.Kind, e.CallUUID, e.DigitDuration)
		}
	}
	return nil
}

func validDigit(d string) bool {
	if len(d) != 1 {
		return false
	}
	c := d[0]
	return c >= '0' && c <= '9' || c == '*' || c == '#' || c >= 'A' && c <= 'D'
}
