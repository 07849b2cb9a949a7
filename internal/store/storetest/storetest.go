package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/store"
)

// Exercise runs the conformance suite. open must return a new, empty store
// of its own for each call (Exercise migrates it) and arrange to close it
// when t ends.
func Exercise(t *testing.T, open func(t *testing.T) store.Store) {
	t.Helper()
	suites := []struct {
		name string
		run  func(t *testing.T, open func(t *testing.T) store.Store)
	}{
		{"Migrate", exerciseMigrate},
		{"Endpoints", exerciseEndpoints},
		{"InsertEvents", exerciseInsertEvents},
		{"Calls", exerciseCalls},
		{"ListEvents", exerciseListEvents},
		{"ListCalls", exerciseListCalls},
		{"ClaimDeliveries", exerciseClaim},
		{"CompleteAttempts", exerciseComplete},
		{"ReleaseLeases", exerciseRelease},
		{"NextDue", exerciseNextDue},
		{"RetryDelivery", exerciseRetry},
		{"Replay", exerciseReplay},
		{"Purge", exercisePurge},
		{"ListDeliveries", exerciseListDeliveries},
		{"PendingCount", exercisePendingCount},
		{"Forwards", exerciseForwards},
		{"AgentPauses", exerciseAgentPauses},
		{"Concurrent", exerciseConcurrent},
		{"Registrations", exerciseRegistrations},
	}
	for _, s := range suites {
		t.Run(s.name, func(t *testing.T) { s.run(t, open) })
	}
}

// t0 is the suite's clock: every time is t0 plus an offset. It lies in the
// past, so a store that makes a new delivery due at the earlier of its
// event's time and the wall clock makes it due at the event's time.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// at returns t0 plus d.
func at(d time.Duration) time.Time { return t0.Add(d) }

// h bundles a fresh, migrated store with its test.
type h struct {
	t   *testing.T
	ctx context.Context
	s   store.Store
}

func setup(t *testing.T, open func(t *testing.T) store.Store) *h {
	t.Helper()
	s := open(t)
	ctx := t.Context()
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return &h{t: t, ctx: ctx, s: s}
}

// endpoint returns a valid endpoint subscribed to kinds (all when none).
func endpoint(id string, kinds ...events.Kind) *store.Endpoint {
	return &store.Endpoint{
		ID:            id,
		URL:           "http://127.0.0.1:9/" + id,
		Description:   "endpoint " + id,
		Events:        kinds,
		Profile:       events.Standard,
		Secrets:       []store.Secret{{Value: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}},
		Headers:       map[string]string{"X-Tenant": id},
		Timeout:       5 * time.Second,
		RetrySchedule: []time.Duration{0, 5 * time.Second, time.Minute},
		MaxInFlight:   10,
		Circuit:       store.Circuit{State: store.CircuitClosed},
		CreatedAt:     t0,
		UpdatedAt:     t0,
	}
}

func (h *h) create(eps ...*store.Endpoint) {
	h.t.Helper()
	for _, ep := range eps {
		if err := h.s.CreateEndpoint(h.ctx, ep); err != nil {
			h.t.Fatalf("CreateEndpoint(%s): %v", ep.ID, err)
		}
	}
}

func (h *h) getEndpoint(id string) *store.Endpoint {
	h.t.Helper()
	ep, err := h.s.GetEndpoint(h.ctx, id)
	if err != nil {
		h.t.Fatalf("GetEndpoint(%s): %v", id, err)
	}
	return ep
}

func (h *h) setCircuit(id string, c store.Circuit) {
	h.t.Helper()
	if err := h.s.SetCircuit(h.ctx, id, c); err != nil {
		h.t.Fatalf("SetCircuit(%s): %v", id, err)
	}
}

// call makes the events of one call, numbering them as the recorder does.
type call struct {
	uuid   string
	caller string
	dest   string
	seq    int64
}

func newCall(caller, dest string) *call {
	return &call{uuid: uuid.NewString(), caller: caller, dest: dest}
}

// ev returns the call's next event, of kind k, occurring at t0+d, with the
// fields its kind carries.
func (c *call) ev(k events.Kind, d time.Duration) events.Event {
	c.seq++
	e := events.Event{
		ID:                uuid.NewString(),
		Kind:              k,
		CallUUID:          c.uuid,
		SessionUUID:       c.uuid,
		CallerIDNumber:    c.caller,
		DestinationNumber: c.dest,
		OccurredAt:        at(d),
		Sequence:          c.seq,
		Direction:         events.Internal,
		LegUUID:           c.uuid,
		Source:            "pbx",
	}
	switch k {
	case events.CallRouted:
		e.RoutedTo = &events.Target{Type: events.Extension, Target: c.dest}
	case events.CallInput:
		e.Digit, e.DigitDuration, e.Party = "5", 250*time.Millisecond, events.Caller
	case events.CallHold, events.CallUnhold:
		e.Party = events.Callee
	case events.CallHangup:
		e.Hangup = &events.Hangup{Cause: events.CauseNormalClearing, SIPCode: 200, By: events.Caller, Duration: 20, Billsec: 15, AnsweredBy: c.dest}
	}
	return e
}

// testEvent returns a test event for endpoint ep, as the API sends it.
func testEvent(ep string, d time.Duration) events.Event {
	e := newCall("0000", "0000").ev(events.CallRouted, d)
	e.Endpoint, e.Source = ep, "test"
	return e
}

func (h *h) insert(node string, evs ...events.Event) int {
	h.t.Helper()
	n, err := h.s.InsertEvents(h.ctx, node, evs)
	if err != nil {
		h.t.Fatalf("InsertEvents: %v", err)
	}
	return n
}

// claim claims up to limit deliveries at now, leased for a minute.
func (h *h) claim(owner string, now time.Time, limit int) []*store.Job {
	h.t.Helper()
	jobs, err := h.s.ClaimDeliveries(h.ctx, store.ClaimParams{Owner: owner, Now: now, LeaseUntil: now.Add(time.Minute), Limit: limit})
	if err != nil {
		h.t.Fatalf("ClaimDeliveries(%s at %v): %v", owner, now, err)
	}
	return jobs
}

// claimIDs is claim returning the delivery IDs.
func (h *h) claimIDs(owner string, now time.Time, limit int) []int64 {
	h.t.Helper()
	return jobIDs(h.claim(owner, now, limit))
}

func jobIDs(jobs []*store.Job) []int64 {
	ids := make([]int64, len(jobs))
	for i, j := range jobs {
		ids[i] = j.Delivery.ID
	}
	return ids
}

// complete records one attempt of delivery id made at now by owner.
func (h *h) complete(owner string, id int64, status store.DeliveryStatus, now, next time.Time) {
	h.t.Helper()
	o := store.Outcome{
		Attempt:       store.Attempt{DeliveryID: id, At: now, StatusCode: 200, Latency: 20 * time.Millisecond},
		Status:        status,
		NextAttemptAt: next,
	}
	if status != store.Succeeded {
		o.Attempt.StatusCode, o.Error, o.Attempt.Error = 503, "503 Service Unavailable", "503 Service Unavailable"
	}
	if err := h.s.CompleteAttempts(h.ctx, owner, []store.Outcome{o}); err != nil {
		h.t.Fatalf("CompleteAttempts(%s, %d): %v", owner, id, err)
	}
}

func (h *h) delivery(id int64) *store.Delivery {
	h.t.Helper()
	d, err := h.s.GetDelivery(h.ctx, id)
	if err != nil {
		h.t.Fatalf("GetDelivery(%d): %v", id, err)
	}
	return d
}

func (h *h) deliveries(f store.DeliveryFilter) []*store.Delivery {
	h.t.Helper()
	ds, err := h.s.ListDeliveries(h.ctx, f)
	if err != nil {
		h.t.Fatalf("ListDeliveries(%+v): %v", f, err)
	}
	return ds
}

// deliveryOf returns the one delivery of event e to endpoint ep.
func (h *h) deliveryOf(ep string, e events.Event) *store.Delivery {
	h.t.Helper()
	ds := h.deliveries(store.DeliveryFilter{EndpointID: ep, EventID: e.ID})
	if len(ds) != 1 {
		h.t.Fatalf("deliveries of %s %s to %s: %d, want 1", e.Kind, e.ID, ep, len(ds))
	}
	return ds[0]
}

func (h *h) pending() int {
	h.t.Helper()
	n, err := h.s.PendingCount(h.ctx)
	if err != nil {
		h.t.Fatalf("PendingCount: %v", err)
	}
	return n
}

func (h *h) listEvents(f store.EventFilter) []events.Event {
	h.t.Helper()
	evs, err := h.s.ListEvents(h.ctx, f)
	if err != nil {
		h.t.Fatalf("ListEvents(%+v): %v", f, err)
	}
	return evs
}

func (h *h) getCall(id string) *store.Call {
	h.t.Helper()
	c, err := h.s.GetCall(h.ctx, id)
	if err != nil {
		h.t.Fatalf("GetCall(%s): %v", id, err)
	}
	return c
}

func (h *h) nextDue() (time.Time, bool) {
	h.t.Helper()
	t, ok, err := h.s.NextDue(h.ctx)
	if err != nil {
		h.t.Fatalf("NextDue: %v", err)
	}
	return t, ok
}

// wantNotFound fails unless err wraps store.ErrNotFound.
func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("%s: err = %v, want store.ErrNotFound", what, err)
	}
}

func wantIDs(t *testing.T, what string, got, want []int64) {
	t.Helper()
	if !slices.Equal(got, want) && (len(got) != 0 || len(want) != 0) {
		t.Errorf("%s: deliveries %v, want %v", what, got, want)
	}
}

func wantTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// sameEvent compares two events field by field, times by instant.
func sameEvent(t *testing.T, what string, got, want events.Event) {
	t.Helper()
	if !got.OccurredAt.Equal(want.OccurredAt) {
		t.Errorf("%s: OccurredAt = %v, want %v", what, got.OccurredAt, want.OccurredAt)
	}
	got.OccurredAt, want.OccurredAt = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %s\nwant %s", what, show(got), show(want))
	}
}

func show(e events.Event) string {
	s := fmt.Sprintf("%+v", e)
	if e.RoutedTo != nil {
		s += fmt.Sprintf(" RoutedTo=%+v", *e.RoutedTo)
	}
	if e.Hangup != nil {
		s += fmt.Sprintf(" Hangup=%+v", *e.Hangup)
	}
	return s
}

func exerciseMigrate(t *testing.T, open func(t *testing.T) store.Store) {
	h := setup(t, open)
	if err := h.s.Migrate(h.ctx); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	h.create(endpoint("a"))
	if err := h.s.Migrate(h.ctx); err != nil {
		t.Fatalf("Migrate of a used store: %v", err)
	}
	h.getEndpoint("a")
}
