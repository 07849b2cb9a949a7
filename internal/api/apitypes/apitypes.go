package apitypes

import (
	"time"

	"github.com/switchhook/switchhook/internal/events"
)

// Error is the body of every 4xx and 5xx answer.
type Error struct {
	Error string `json:"error"`
	// Field names the request field, query parameter or path parameter at
	// fault, when there is one.
	Field string `json:"field,omitempty"`
}

// Health is the body of GET /healthz.
type Health struct {
	Status  string `json:"status"` // "ok", "degraded" or "unavailable"
	Version string `json:"version"`
	Error   string `json:"error,omitempty"`
	// SourcesDown names the call sources not connected to their engine
	// (status "degraded").
	SourcesDown []string `json:"sources_down,omitempty"`
}

// Endpoint is a webhook subscriber as the API shows it.
type Endpoint struct {
	ID          string `json:"id"`
	URL         string `json:"url"`
	Description string `json:"description"`
	// Events are the kinds the endpoint receives; empty means all seven.
	Events  []events.Kind  `json:"events"`
	Payload events.Profile `json:"payload"`
	// Secret is the current signing secret. It is shown only when the
	// endpoint is created, read on its own, or its secret is rotated.
	Secret string `json:"secret,omitempty"`
	// PreviousSecrets are rotated-out secrets still signing requests until
	// they expire; shown along with Secret.
	PreviousSecrets []PreviousSecret  `json:"previous_secrets,omitempty"`
	Headers         map[string]string `json:"headers"`
	Timeout         string            `json:"timeout"`
	RetrySchedule   []string          `json:"retry_schedule"`
	MaxInFlight     int               `json:"max_in_flight"`
	Disabled        bool              `json:"disabled"`
	// DisabledReason says why switchhook disabled the endpoint; empty when a
	// person did.
	DisabledReason string `json:"disabled_reason"`
	// FromConfig marks endpoints declared in the config file: they are
	// changed there, not through the API.
	FromConfig bool      `json:"from_config"`
	Circuit    Circuit   `json:"circuit"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// PreviousSecret is a rotated-out secret and when it stops signing.
type PreviousSecret struct {
	Secret    string    `json:"secret"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Circuit is an endpoint's circuit breaker.
type Circuit struct {
	State               string     `json:"state"` // closed, open or half_open
	PausedUntil         *time.Time `json:"paused_until"`
	ConsecutiveFailures int        `json:"consecutive_failures"`
	FailingSince        *time.Time `json:"failing_since"`
}

// NewEndpoint is the body of POST /v1/endpoints. Only URL is required; a
// zero field takes the server's default.
type NewEndpoint struct {
	URL         string            `json:"url"`
	Events      []events.Kind     `json:"events,omitempty"`
	Payload     events.Profile    `json:"payload,omitempty"`
	Secret      string            `json:"secret,omitempty"`
	Headers     map[string]string `json:"headers,omitempty"`
	Description string            `json:"description,omitempty"`
	Disabled    bool              `json:"disabled,omitempty"`
	Timeout     string            `json:"timeout,omitempty"`
	// RetrySchedule is the delay before each attempt, the first usually "0s".
	RetrySchedule []string `json:"retry_schedule,omitempty"`
	MaxInFlight   int      `json:"max_in_flight,omitempty"`
	// AllowDuplicate creates the endpoint although an enabled one already
	// has its URL (the receiver then gets every event twice).
	AllowDuplicate bool `json:"allow_duplicate,omitempty"`
}

// EndpointPatch is the body of PATCH /v1/endpoints/{id}: only the fields
// that are set change. An empty Events means all seven kinds again. The
// secret is changed by rotation, not by a patch.
type EndpointPatch struct {
	URL           *string            `json:"url,omitempty"`
	Events        *[]events.Kind     `json:"events,omitempty"`
	Payload       *events.Profile    `json:"payload,omitempty"`
	Headers       *map[string]string `json:"headers,omitempty"`
	Description   *string            `json:"description,omitempty"`
	Disabled      *bool              `json:"disabled,omitempty"`
	Timeout       *string            `json:"timeout,omitempty"`
	RetrySchedule *[]string          `json:"retry_schedule,omitempty"`
	MaxInFlight   *int               `json:"max_in_flight,omitempty"`
}

// RotateSecret is the optional body of POST /v1/endpoints/{id}/rotate-secret.
type RotateSecret struct {
	// Grace is how long the old secret keeps signing; empty for the
	// server's default.
	Grace string `json:"grace,omitempty"`
	// Secret is the new secret; empty to have one generated.
	Secret string `json:"secret,omitempty"`
}

// TestEvent is the optional body of POST /v1/endpoints/{id}/test.
type TestEvent struct {
	// Event is the kind to send; empty for the first the endpoint receives.
	Event events.Kind `json:"event,omitempty"`
}

// TestEventResult identifies the synthetic event that was sent.
type TestEventResult struct {
	EventID  string `json:"event_id"`
	CallUUID string `json:"call_uuid"`
}

// Replay is the body of POST /v1/endpoints/{id}/replay: the events that
// occurred in [Since, Until) are sent to the endpoint again.
type Replay struct {
	Since time.Time `json:"since"`
	// Until defaults to now.
	Until time.Time `json:"until,omitzero"`
	// Events restricts the replay to these kinds; empty for all.
	Events []events.Kind `json:"events,omitempty"`
}

// ReplayResult says how many deliveries a replay created.
type ReplayResult struct {
	Deliveries int `json:"deliveries"`
}

// Event is a recorded call event, rendered as the extended payload profile
// renders it (see EVENTS.md); the fields of other kinds are absent.
type Event struct {
	Event             events.Kind            `json:"event"`
	CallUUID          string                 `json:"call_uuid"`
	CallSessionUUID   string                 `json:"call_session_uuid"`
	CallerIDNumber    string                 `json:"caller_id_number"`
	DestinationNumber string                 `json:"destination_number"`
	Digit             string                 `json:"digit,omitempty"`
	CallerIDName      string                 `json:"caller_id_name,omitempty"`
	DigitDuration     *int64                 `json:"digit_duration,omitempty"`
	Timestamp         string                 `json:"timestamp"`
	EventID           string                 `json:"event_id"`
	Sequence          int64                  `json:"sequence"`
	OccurredAt        string                 `json:"occurred_at"`
	Direction         events.Direction       `json:"direction"`
	LegUUID           string                 `json:"leg_uuid"`
	Party             events.Party           `json:"party,omitempty"`
	RoutedTo          *events.Target         `json:"routed_to,omitempty"`
	DivertedFrom      string                 `json:"diverted_from,omitempty"`
	DiversionReason   events.DiversionReason `json:"diversion_reason,omitempty"`
	Queue             *events.QueueStay      `json:"queue,omitempty"`
	HangupCause       string                 `json:"hangup_cause,omitempty"`
	SIPCode           int                    `json:"sip_code,omitempty"`
	HangupBy          events.Party           `json:"hangup_by,omitempty"`
	Duration          int64                  `json:"duration,omitempty"`
	Billsec           int64                  `json:"billsec,omitempty"`
	AnsweredBy        string                 `json:"answered_by,omitempty"`
}

// Call is one call as its events describe it.
type Call struct {
	CallUUID          string           `json:"call_uuid"`
	CallSessionUUID   string           `json:"call_session_uuid"`
	Node              string           `json:"node"`
	Source            string           `json:"source"`
	CallerIDNumber    string           `json:"caller_id_number"`
	DestinationNumber string           `json:"destination_number"`
	Direction         events.Direction `json:"direction"`
	StartedAt         time.Time        `json:"started_at"`
	AnsweredAt        *time.Time       `json:"answered_at"`
	AnsweredBy        string           `json:"answered_by"`
	EndedAt           *time.Time       `json:"ended_at"`
	HangupCause       string           `json:"hangup_cause"`
	LastSequence      int64            `json:"last_sequence"`
}

// CallDetail is a call with its events and, per endpoint, their deliveries.
type CallDetail struct {
	// Call is null for a test event's call, which has events but was never
	// routed.
	Call      *Call                `json:"call"`
	Events    []Event              `json:"events"`
	Endpoints []EndpointDeliveries `json:"endpoints"`
	// Moves are where the call went after it was routed: transfers,
	// forwards, pickups, oldest first.
	Moves []Move `json:"moves"`
	// SessionCalls are the calls of the call's session (itself included),
	// oldest first: consultation calls, the new call a caller's transfer
	// made.
	SessionCalls []*Call `json:"session_calls"`
}

// Move is one step by which a call went on to another destination.
type Move struct {
	At     time.Time              `json:"at"`
	Reason events.DiversionReason `json:"reason"`
	From   string                 `json:"from"` // the number the call was at
	To     string                 `json:"to"`   // the number it went to
}

// EndpointDeliveries are one endpoint's deliveries of a call, oldest first.
type EndpointDeliveries struct {
	EndpointID string     `json:"endpoint_id"`
	Deliveries []Delivery `json:"deliveries"`
}

// Delivery is one event on its way to one endpoint.
type Delivery struct {
	ID           int64       `json:"id"`
	EventID      string      `json:"event_id"`
	EndpointID   string      `json:"endpoint_id"`
	CallUUID     string      `json:"call_uuid"`
	Event        events.Kind `json:"event"`
	Status       string      `json:"status"` // pending, succeeded or failed
	AttemptCount int         `json:"attempt_count"`
	// NextAttemptAt is when a pending delivery is tried next; null otherwise.
	NextAttemptAt *time.Time `json:"next_attempt_at"`
	LastError     string     `json:"last_error"`
	LeaseOwner    string     `json:"lease_owner"`
	LeaseUntil    *time.Time `json:"lease_until"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
	CompletedAt   *time.Time `json:"completed_at"`
	// Attempts are the HTTP requests made so far, oldest first; present only
	// where a single delivery or a call is shown.
	Attempts []Attempt `json:"attempts,omitzero"`
}

// Attempt is one HTTP request of a delivery.
type Attempt struct {
	ID         int64     `json:"id"`
	At         time.Time `json:"at"`
	StatusCode int       `json:"status_code"` // 0 when no response came
	LatencyMS  float64   `json:"latency_ms"`
	Error      string    `json:"error"`
	Response   string    `json:"response"` // the first KiB of the response body
}

// Forward is an extension's call forwarding in effect. Each target is a
// number dialled as the extension would dial it; empty for none.
type Forward struct {
	Number        string `json:"number"`
	Unconditional string `json:"unconditional"`
	UserBusy      string `json:"user_busy"`
	NoAnswer      string `json:"no_answer"`
	// NoAnswerAfter is how long the extension rings before the no-answer
	// forward, like "20s"; empty without one.
	NoAnswerAfter string `json:"no_answer_after"`
	Unavailable   string `json:"unavailable"`
	// Source is "config" (the config file's, or none) or "api" (set at
	// run time and kept in the store, winning over the file's).
	Source    string     `json:"source"`
	UpdatedAt *time.Time `json:"updated_at"`
}

// ForwardInput replaces an extension's forwarding: a field left out
// forwards nothing.
type ForwardInput struct {
	Unconditional string `json:"unconditional"`
	UserBusy      string `json:"user_busy"`
	NoAnswer      string `json:"no_answer"`
	// NoAnswerAfter is a duration like "20s"; empty: 20s.
	NoAnswerAfter string `json:"no_answer_after"`
	Unavailable   string `json:"unavailable"`
}

// ReloadResult is the answer of POST /v1/config/reload.
type ReloadResult struct {
	// Applied names the config keys that changed and apply now.
	Applied []string `json:"applied"`
	// RestartRequired names the keys that changed but apply only at the
	// next start; they keep their running values until then.
	RestartRequired []string `json:"restart_required"`
	// NotLive names every key a reload does not apply, changed or not.
	NotLive []string `json:"not_live"`
}

// Extension is one extension of the built-in PBX, as GET /v1/extensions
// shows it.
type Extension struct {
	Number string `json:"number"`
	Name   string `json:"name"`
	// State is unregistered (no phone registered), idle, ringing (a call
	// rings it) or in_call.
	State    string             `json:"state"`
	Contacts []ExtensionContact `json:"contacts"`
	// Forward is the call forwarding in effect.
	Forward Forward `json:"forward"`
}

// ExtensionContact is one phone registered for an extension.
type ExtensionContact struct {
	Contact   string    `json:"contact"`
	Source    string    `json:"source"`
	Transport string    `json:"transport"`
	UserAgent string    `json:"user_agent"`
	ExpiresAt time.Time `json:"expires_at"`
}
