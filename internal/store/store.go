package store

import (
	"context"
	"errors"
	"time"

	"github.com/switchhook/switchhook/internal/events"
)

// ErrNotFound is returned (wrapped) when a looked-up row does not exist.
var ErrNotFound = errors.New("not found")

// Store keeps switchhook's state. Implementations are safe for concurrent use.
//
// Deliveries form one chain per (endpoint, call_uuid), ordered by delivery ID.
// Only the head of a chain (its oldest pending delivery) can be claimed, so a
// call's next event is never sent to an endpoint before the previous one was
// accepted or given up on, whichever process does the sending.
type Store interface {
	// Migrate brings the schema up to date. It is safe to call from several
	// processes at once.
	Migrate(ctx context.Context) error
	// Close releases the store's connections.
	Close() error

	// CreateEndpoint stores a new endpoint; ep.ID must be set by the caller.
	CreateEndpoint(ctx context.Context, ep *Endpoint) error
	// UpsertEndpoint creates the endpoint or replaces every field but ID,
	// CreatedAt, Secrets and Circuit; endpoints declared in the config file are
	// written this way at each start. If the stored endpoint has no secret,
	// ep.Secrets is kept.
	UpsertEndpoint(ctx context.Context, ep *Endpoint) error
	GetEndpoint(ctx context.Context, id string) (*Endpoint, error)
	ListEndpoints(ctx context.Context) ([]*Endpoint, error)
	// UpdateEndpoint replaces all fields of the stored endpoint with ep's
	// except CreatedAt.
	UpdateEndpoint(ctx context.Context, ep *Endpoint) error
	// DeleteEndpoint removes the endpoint and its pending deliveries.
	DeleteEndpoint(ctx context.Context, id string) error
	// SetCircuit records an endpoint's circuit-breaker state.
	SetCircuit(ctx context.Context, endpointID string, c Circuit) error
	// DisableEndpoint disables an endpoint, saying why.
	DisableEndpoint(ctx context.Context, endpointID, reason string) error

	// InsertEvents commits a batch of events in one transaction and, in the
	// same transaction, creates one pending delivery (due now) per event and
	// per enabled-or-not endpoint that subscribes to its kind (or, when
	// Event.Endpoint is set, for that endpoint only), and keeps the calls
	// table: CALL_ROUTED opens a call (owned by node), the first CALL_ANSWER
	// marks it answered, CALL_HANGUP closes it. Events with Endpoint set are
	// test events and open no call. It returns how many deliveries it created.
	InsertEvents(ctx context.Context, node string, evs []events.Event) (int, error)
	ListEvents(ctx context.Context, f EventFilter) ([]events.Event, error)
	GetCall(ctx context.Context, callUUID string) (*Call, error)
	ListCalls(ctx context.Context, f CallFilter) ([]*Call, error)
	// OpenCalls lists the calls owned by node that have no CALL_HANGUP yet.
	OpenCalls(ctx context.Context, node string) ([]*Call, error)

	// ClaimDeliveries leases up to p.Limit deliveries to p.Owner until
	// p.LeaseUntil. It returns only deliveries that are pending, due
	// (NextAttemptAt <= p.Now), not leased by anyone (or whose lease has
	// expired), heads of their chain, of an endpoint that is not disabled and
	// whose circuit is not open (PausedUntil <= p.Now), and no more per
	// endpoint than its MaxInFlight minus the leases it already has out
	// (1 while its circuit is half-open). Oldest first. A store may leave
	// out of that count the leases whose outcome CompleteAttempts is
	// recording: their requests are over.
	ClaimDeliveries(ctx context.Context, p ClaimParams) ([]*Job, error)
	// CompleteAttempts records attempts and their outcomes in one
	// transaction. A delivery's status, attempt count, next attempt time and
	// lease change only where Owner still holds its lease; the attempt row is
	// recorded regardless.
	CompleteAttempts(ctx context.Context, owner string, outcomes []Outcome) error
	// ReleaseLeases gives back the leases owner holds, unchanged (on shutdown).
	ReleaseLeases(ctx context.Context, owner string) error
	// NextDue returns when the earliest pending delivery of an enabled
	// endpoint becomes claimable (its NextAttemptAt, its lease's end or its
	// endpoint's PausedUntil, whichever is latest), or ok=false if none is
	// pending.
	NextDue(ctx context.Context) (at time.Time, ok bool, err error)

	GetDelivery(ctx context.Context, id int64) (*Delivery, error)
	ListDeliveries(ctx context.Context, f DeliveryFilter) ([]*Delivery, error)
	ListAttempts(ctx context.Context, deliveryID int64) ([]*Attempt, error)
	// RetryDelivery makes a delivery pending and due now, whatever its status;
	// its attempt count is kept.
	RetryDelivery(ctx context.Context, id int64, now time.Time) error
	// Replay creates a new pending delivery to endpointID for every stored
	// event (not test events of other endpoints) that occurred in
	// [f.Since, f.Until) and matches f.Kinds (all if empty) and the endpoint's
	// subscription, in event order. It returns how many it created.
	Replay(ctx context.Context, endpointID string, f ReplayFilter, now time.Time) (int, error)

	// Purge deletes events (and their deliveries and attempts) and closed
	// calls older than before; it keeps events whose deliveries are pending.
	Purge(ctx context.Context, before time.Time) (int, error)

	// SetForward stores the call forwarding set through the API for
	// f.Number, replacing what was set before; UpdatedAt defaults to now.
	SetForward(ctx context.Context, f *Forward) error
	// GetForward returns the forwarding set for an extension, or
	// ErrNotFound when none is (the config's applies).
	GetForward(ctx context.Context, number string) (*Forward, error)
	// ListForwards returns every forwarding set, by number.
	ListForwards(ctx context.Context) ([]*Forward, error)
	// DeleteForward removes the forwarding set for number, so that the
	// config's applies again; ErrNotFound when none was set.
	DeleteForward(ctx context.Context, number string) error

	// PendingCount counts pending deliveries (the queue depth).
	PendingCount(ctx context.Context) (int, error)

	// SetAgentPaused pauses agent p.Agent in queue p.Queue (since p.Since)
	// or, with paused false, unpauses it. Either is a no-op when the agent
	// is so already.
	SetAgentPaused(ctx context.Context, p AgentPause, paused bool) error
	// AgentPauses lists the paused agents, by queue then agent.
	AgentPauses(ctx context.Context) ([]AgentPause, error)

	// Notifications delivers a value whenever another process may have
	// created claimable work (for example over PostgreSQL's LISTEN). It may
	// return nil when the store is used by one process only.
	Notifications() <-chan struct{}

	Registrations
}

// Endpoint is a webhook subscriber.
type Endpoint struct {
	ID          string
	URL         string
	Description string
	Events      []events.Kind // empty: all seven
	Profile     events.Profile
	// Secrets are the signing secrets, current first; a rotated-out secret
	// stays with its ExpiresAt until then.
	Secrets       []Secret
	Headers       map[string]string
	Timeout       time.Duration   // per request
	RetrySchedule []time.Duration // delay before each attempt, the first usually 0
	MaxInFlight   int             // concurrent requests at most
	Disabled      bool
	// DisabledReason says why the endpoint was disabled by switchhook (410,
	// failing for too long); empty when a person disabled it.
	DisabledReason string
	FromConfig     bool // declared in the config file
	Circuit        Circuit
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Subscribes reports whether the endpoint wants events of kind k.
func (ep *Endpoint) Subscribes(k events.Kind) bool {
	if len(ep.Events) == 0 {
		return true
	}
	for _, e := range ep.Events {
		if e == k {
			return true
		}
	}
	return false
}

// Secret is one signing secret, "whsec_" followed by base64.
type Secret struct {
	Value     string
	ExpiresAt time.Time // zero for the current secret
}

// CircuitState is the state of an endpoint's circuit breaker.
type CircuitState string

// Circuit-breaker states.
const (
	CircuitClosed   CircuitState = "closed"    // requests flow
	CircuitOpen     CircuitState = "open"      // paused until PausedUntil
	CircuitHalfOpen CircuitState = "half_open" // one probe at a time
)

// Circuit is an endpoint's health as the delivery engine sees it.
type Circuit struct {
	State               CircuitState
	PausedUntil         time.Time
	ConsecutiveFailures int
	FailingSince        time.Time // zero while the last attempt succeeded
}

// DeliveryStatus is where a delivery stands.
type DeliveryStatus string

// Delivery statuses.
const (
	Pending   DeliveryStatus = "pending"
	Succeeded DeliveryStatus = "succeeded"
	Failed    DeliveryStatus = "failed" // given up on after the last attempt
)

// Delivery is one event on its way to one endpoint.
type Delivery struct {
	ID            int64
	EventID       string
	EndpointID    string
	CallUUID      string
	Kind          events.Kind
	Status        DeliveryStatus
	Attempts      int
	NextAttemptAt time.Time
	LastError     string
	LeaseOwner    string
	LeaseUntil    time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
	// CompletedAt is when it succeeded or failed; zero while pending.
	CompletedAt time.Time
}

// Job is a claimed delivery with its event.
type Job struct {
	Delivery *Delivery
	Event    *events.Event
}

// Attempt is one HTTP request of a delivery.
type Attempt struct {
	ID         int64
	DeliveryID int64
	At         time.Time
	StatusCode int // 0 when no response came
	Latency    time.Duration
	Error      string
	Response   string // the first KiB of the response body
}

// Outcome is the result of one attempt and what follows from it.
type Outcome struct {
	Attempt Attempt
	// Status is the delivery's new status; for Pending, NextAttemptAt is when
	// to try again.
	Status        DeliveryStatus
	NextAttemptAt time.Time
	Error         string
}

// ClaimParams say who claims how much, and for how long.
type ClaimParams struct {
	Owner      string
	Now        time.Time
	LeaseUntil time.Time
	Limit      int
}

// Call is one call as its events describe it.
type Call struct {
	CallUUID          string
	SessionUUID       string
	Node              string
	Source            string
	CallerIDNumber    string
	DestinationNumber string
	Direction         events.Direction
	StartedAt         time.Time // CALL_ROUTED
	AnsweredAt        time.Time // first CALL_ANSWER; zero if none
	AnsweredBy        string
	EndedAt           time.Time // CALL_HANGUP; zero while open
	HangupCause       string
	LastSequence      int64
}

// AgentPause is an agent paused in a call queue: offered none of its calls.
type AgentPause struct {
	Queue string
	Agent string // the extension number
	Since time.Time
}

// EventFilter selects events; zero fields match everything. Results are in
// insertion order, oldest first.
type EventFilter struct {
	CallUUID string
	Kind     events.Kind
	Since    time.Time
	Until    time.Time
	Limit    int
	// Newest keeps the last Limit events rather than the first, still
	// listed oldest first.
	Newest bool
}

// CallFilter selects calls, newest first. Number matches the caller or the
// destination exactly; Session the call_session_uuid.
type CallFilter struct {
	Number  string
	Session string
	Since   time.Time
	Until   time.Time
	Kind    events.Kind // calls that have an event of this kind
	Limit   int
}

// DeliveryFilter selects deliveries, newest first.
type DeliveryFilter struct {
	EndpointID string
	Status     DeliveryStatus
	CallUUID   string
	EventID    string
	Limit      int
}

// ReplayFilter selects the events to re-send.
type ReplayFilter struct {
	Since time.Time
	Until time.Time
	Kinds []events.Kind
}

// Forward is an extension's call forwarding as set through the API: each
// target a number, empty for none.
type Forward struct {
	Number        string // the extension
	Unconditional string
	UserBusy      string
	NoAnswer      string
	NoAnswerAfter time.Duration // 0: the default delay
	Unavailable   string
	UpdatedAt     time.Time
}

// Registration is one contact an extension of the built-in PBX is
// registered at. Kept in the store, registrations survive a restart, and
// on PostgreSQL every node reaches a phone whichever node it registered
// with.
type Registration struct {
	Extension string
	Contact   string // the contact URI
	Source    string // host:port the REGISTER came from
	Transport string // UDP or TCP
	UserAgent string
	CallID    string
	CSeq      uint32
	Node      string // the node that took the REGISTER
	ExpiresAt time.Time
	CreatedAt time.Time
}

// Registrations keeps the PBX's registrations.
type Registrations interface {
	// PutRegistration stores r, replacing the registration of the same
	// extension and contact, and forgets the registrations that expired.
	PutRegistration(ctx context.Context, r *Registration) error
	// DeleteRegistration removes extension's registration at contact; none
	// is no error.
	DeleteRegistration(ctx context.Context, extension, contact string) error
	// ListRegistrations returns the registrations of extension (all when
	// empty) that expire after now, by extension then age.
	ListRegistrations(ctx context.Context, extension string, now time.Time) ([]*Registration, error)
}
