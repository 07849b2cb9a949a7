package storetest

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/store"
)

// endpointView is an endpoint with its times as instants and its empty
// collections as nil, so that two endpoints compare with reflect.DeepEqual.
type endpointView struct {
	ID, URL, Description, DisabledReason string
	Events                               []events.Kind
	Profile                              events.Profile
	Secrets                              []secretView
	Headers                              map[string]string
	Timeout                              time.Duration
	RetrySchedule                        []time.Duration
	MaxInFlight                          int
	Disabled, FromConfig                 bool
	State                                store.CircuitState
	PausedUntil, FailingSince            int64
	ConsecutiveFailures                  int
	CreatedAt, UpdatedAt                 int64
}

type secretView struct {
	Value     string
	ExpiresAt int64
}

func instant(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func viewEndpoint(ep *store.Endpoint) endpointView {
	v := endpointView{
		ID: ep.ID, URL: ep.URL, Description: ep.Description, DisabledReason: ep.DisabledReason,
		Profile: ep.Profile, Timeout: ep.Timeout, MaxInFlight: ep.MaxInFlight,
		Disabled: ep.Disabled, FromConfig: ep.FromConfig,
		State: ep.Circuit.State, PausedUntil: instant(ep.Circuit.PausedUntil), FailingSince: instant(ep.Circuit.FailingSince),
		ConsecutiveFailures: ep.Circuit.ConsecutiveFailures,
		CreatedAt:           instant(ep.CreatedAt), UpdatedAt: instant(ep.UpdatedAt),
	}
	if len(ep.Events) > 0 {
		v.Events = ep.Events
	}
	for _, s := range ep.Secrets {
		v.Secrets = append(v.Secrets, secretView{s.Value, instant(s.ExpiresAt)})
	}
	if len(ep.Headers) > 0 {
		v.Headers = ep.Headers
	}
	if len(ep.RetrySchedule) > 0 {
		v.RetrySchedule = ep.RetrySchedule
	}
	return v
}

func sameEndpoint(t *testing.T, what string, got, want *store.Endpoint) {
	t.Helper()
	if g, w := viewEndpoint(got), viewEndpoint(want); !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, g, w)
	}
}

// fullEndpoint sets every field of an endpoint to something other than its
// zero value.
func fullEndpoint(id string) *store.Endpoint {
	ep := endpoint(id, events.CallRouted, events.CallHangup)
	ep.Profile = events.Extended
	ep.Secrets = []store.Secret{
		{Value: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
		{Value: "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", ExpiresAt: at(24 * time.Hour)},
	}
	ep.Headers = map[string]string{"Authorization": "Bearer x", "X-Tenant": id}
	ep.MaxInFlight = 3
	ep.Disabled, ep.DisabledReason, ep.FromConfig = true, "410 Gone", true
	ep.Circuit = store.Circuit{State: store.CircuitOpen, PausedUntil: at(time.Minute), ConsecutiveFailures: 7, FailingSince: at(-time.Hour)}
	ep.CreatedAt, ep.UpdatedAt = at(-48*time.Hour), at(-time.Hour)
	return ep
}

func exerciseEndpoints(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("CreateGet", func(t *testing.T) {
		h := setup(t, open)
		want := fullEndpoint("full")
		h.create(want, endpoint("plain"))
		sameEndpoint(t, "GetEndpoint(full)", h.getEndpoint("full"), want)
		sameEndpoint(t, "GetEndpoint(plain)", h.getEndpoint("plain"), endpoint("plain"))
	})

	t.Run("CreateDuplicate", func(t *testing.T) {
		h := setup(t, open)
		h.create(endpoint("a"))
		other := endpoint("a")
		other.URL = "http://127.0.0.1:9/other"
		if err := h.s.CreateEndpoint(h.ctx, other); err == nil {
			t.Fatal("CreateEndpoint of an existing ID succeeded")
		}
		if got := h.getEndpoint("a"); got.URL != endpoint("a").URL {
			t.Errorf("URL = %q after a failed duplicate create", got.URL)
		}
	})

	t.Run("CreateWithoutID", func(t *testing.T) {
		h := setup(t, open)
		if err := h.s.CreateEndpoint(h.ctx, endpoint("")); err == nil {
			t.Fatal("CreateEndpoint without ID succeeded")
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		h := setup(t, open)
		_, err := h.s.GetEndpoint(h.ctx, "nope")
		wantNotFound(t, "GetEndpoint", err)
		wantNotFound(t, "UpdateEndpoint", h.s.UpdateEndpoint(h.ctx, endpoint("nope")))
		wantNotFound(t, "DeleteEndpoint", h.s.DeleteEndpoint(h.ctx, "nope"))
		wantNotFound(t, "SetCircuit", h.s.SetCircuit(h.ctx, "nope", store.Circuit{State: store.CircuitOpen}))
		wantNotFound(t, "DisableEndpoint", h.s.DisableEndpoint(h.ctx, "nope", "410 Gone"))
		_, err = h.s.GetEndpoint(h.ctx, "nope")
		wantNotFound(t, "GetEndpoint after the failed operations", err)
	})

	t.Run("List", func(t *testing.T) {
		h := setup(t, open)
		eps, err := h.s.ListEndpoints(h.ctx)
		if err != nil || len(eps) != 0 {
			t.Fatalf("ListEndpoints of an empty store = %d endpoints, %v", len(eps), err)
		}
		h.create(endpoint("b"), fullEndpoint("c"), endpoint("a"))
		eps, err = h.s.ListEndpoints(h.ctx)
		if err != nil {
			t.Fatalf("ListEndpoints: %v", err)
		}
		var ids []string
		for _, ep := range eps {
			ids = append(ids, ep.ID)
		}
		if !slices.Equal(ids, []string{"a", "b", "c"}) {
			t.Fatalf("ListEndpoints = %v, want [a b c] (by ID)", ids)
		}
		sameEndpoint(t, "ListEndpoints[c]", eps[2], fullEndpoint("c"))
	})

	t.Run("Update", func(t *testing.T) {
		h := setup(t, open)
		h.create(endpoint("a"))
		want := fullEndpoint("a")
		if err := h.s.UpdateEndpoint(h.ctx, want); err != nil {
			t.Fatalf("UpdateEndpoint: %v", err)
		}
		want.CreatedAt = t0 // kept
		sameEndpoint(t, "after UpdateEndpoint", h.getEndpoint("a"), want)
	})

	t.Run("UpsertCreates", func(t *testing.T) {
		h := setup(t, open)
		want := fullEndpoint("a")
		if err := h.s.UpsertEndpoint(h.ctx, want); err != nil {
			t.Fatalf("UpsertEndpoint: %v", err)
		}
		sameEndpoint(t, "after UpsertEndpoint", h.getEndpoint("a"), want)
	})

	t.Run("UpsertKeepsSecretsCircuitCreatedAt", func(t *testing.T) {
		h := setup(t, open)
		old := endpoint("a")
		old.Circuit = store.Circuit{State: store.CircuitHalfOpen, ConsecutiveFailures: 4, FailingSince: at(-time.Minute)}
		h.create(old)
		up := fullEndpoint("a")
		up.Secrets = []store.Secret{{Value: "whsec_bmV3c2VjcmV0bmV3c2VjcmV0bmV3c2VjcmV0"}}
		up.Circuit = store.Circuit{State: store.CircuitClosed}
		up.CreatedAt = at(time.Hour)
		if err := h.s.UpsertEndpoint(h.ctx, up); err != nil {
			t.Fatalf("UpsertEndpoint: %v", err)
		}
		want := fullEndpoint("a")
		want.Secrets, want.Circuit, want.CreatedAt = old.Secrets, old.Circuit, old.CreatedAt
		sameEndpoint(t, "after UpsertEndpoint", h.getEndpoint("a"), want)
	})

	t.Run("UpsertSetsSecretWhenNone", func(t *testing.T) {
		h := setup(t, open)
		old := endpoint("a")
		old.Secrets = nil
		h.create(old)
		up := endpoint("a")
		if err := h.s.UpsertEndpoint(h.ctx, up); err != nil {
			t.Fatalf("UpsertEndpoint: %v", err)
		}
		sameEndpoint(t, "after UpsertEndpoint", h.getEndpoint("a"), up)
	})

	t.Run("SetCircuit", func(t *testing.T) {
		h := setup(t, open)
		h.create(endpoint("a"))
		c := store.Circuit{State: store.CircuitOpen, PausedUntil: at(30 * time.Second), ConsecutiveFailures: 5, FailingSince: at(-time.Minute)}
		h.setCircuit("a", c)
		want := endpoint("a")
		want.Circuit = c
		got := h.getEndpoint("a")
		got.UpdatedAt = want.UpdatedAt // the store may stamp it
		sameEndpoint(t, "after SetCircuit", got, want)
	})

	t.Run("Disable", func(t *testing.T) {
		h := setup(t, open)
		h.create(endpoint("a"))
		if err := h.s.DisableEndpoint(h.ctx, "a", "410 Gone"); err != nil {
			t.Fatalf("DisableEndpoint: %v", err)
		}
		got := h.getEndpoint("a")
		if !got.Disabled || got.DisabledReason != "410 Gone" {
			t.Errorf("Disabled, DisabledReason = %v, %q; want true, \"410 Gone\"", got.Disabled, got.DisabledReason)
		}
	})

	t.Run("DeleteRemovesPendingDeliveries", func(t *testing.T) {
		h := setup(t, open)
		h.create(endpoint("a"), endpoint("b"))
		c := newCall("1001", "1002")
		routed, hangup := c.ev(events.CallRouted, 0), c.ev(events.CallHangup, time.Second)
		h.insert("n1", routed, hangup)
		if n := h.pending(); n != 4 {
			t.Fatalf("PendingCount = %d, want 4", n)
		}
		// One of a's deliveries is in flight when a is deleted.
		a1 := h.deliveryOf("a", routed)
		if ids := h.claimIDs("w", at(time.Hour), 1); !slices.Equal(ids, []int64{a1.ID}) {
			t.Fatalf("claim = %v, want [%d]", ids, a1.ID)
		}
		a2 := h.deliveryOf("a", hangup)
		if err := h.s.DeleteEndpoint(h.ctx, "a"); err != nil {
			t.Fatalf("DeleteEndpoint: %v", err)
		}
		_, err := h.s.GetEndpoint(h.ctx, "a")
		wantNotFound(t, "GetEndpoint after DeleteEndpoint", err)
		for _, d := range []*store.Delivery{a1, a2} {
			_, err := h.s.GetDelivery(h.ctx, d.ID)
			wantNotFound(t, "GetDelivery of a pending delivery of the deleted endpoint", err)
		}
		if n := h.pending(); n != 2 {
			t.Errorf("PendingCount = %d, want 2 (b's)", n)
		}
		jobs := h.claim("w2", at(time.Hour), 10)
		for _, j := range jobs {
			if j.Delivery.EndpointID != "b" {
				t.Errorf("claimed a delivery to %s after it was deleted", j.Delivery.EndpointID)
			}
		}
		if len(jobs) != 1 {
			t.Errorf("claimed %d deliveries, want b's chain head", len(jobs))
		}
	})
}
