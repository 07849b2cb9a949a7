package store_test

import (
	"strings"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/store"
)

func TestEndpointValidate(t *testing.T) {
	valid := func() *store.Endpoint {
		return &store.Endpoint{ID: "crm", URL: "http://127.0.0.1:9/hooks", MaxInFlight: 1, Events: []events.Kind{events.CallRouted}}
	}
	if err := valid().Validate(); err != nil {
		t.Fatalf("Validate of a valid endpoint: %v", err)
	}
	for _, tc := range []struct {
		name   string
		change func(ep *store.Endpoint)
		want   string
	}{
		{"NoID", func(ep *store.Endpoint) { ep.ID = "" }, "endpoint ID is empty"},
		{"NoURL", func(ep *store.Endpoint) { ep.URL = "" }, "endpoint crm: URL is empty"},
		{"NoInFlight", func(ep *store.Endpoint) { ep.MaxInFlight = 0 }, "endpoint crm: max in flight is 0, want at least 1"},
		{"UnknownEvent", func(ep *store.Endpoint) { ep.Events = append(ep.Events, "CALL_PARKED") }, `endpoint crm: unknown event "CALL_PARKED"`},
		{"UnknownProfile", func(ep *store.Endpoint) { ep.Profile = "verbose" }, "endpoint crm: "},
		{"UnknownCircuit", func(ep *store.Endpoint) { ep.Circuit.State = "ajar" }, `unknown circuit state "ajar"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep := valid()
			tc.change(ep)
			err := ep.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestClaimParamsValidate(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := (store.ClaimParams{Owner: "w", Now: now, LeaseUntil: now.Add(time.Minute), Limit: 1}).Validate(); err != nil {
		t.Fatalf("Validate of valid params: %v", err)
	}
	for _, tc := range []struct {
		name string
		p    store.ClaimParams
		want string
	}{
		{"NoOwner", store.ClaimParams{Now: now, LeaseUntil: now.Add(time.Minute), Limit: 1}, "owner is empty"},
		{"NoLimit", store.ClaimParams{Owner: "w", Now: now, LeaseUntil: now.Add(time.Minute)}, "limit is 0, want at least 1"},
		{"LeaseEndsNow", store.ClaimParams{Owner: "w", Now: now, LeaseUntil: now, Limit: 1}, "not after now"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestValidateEvent(t *testing.T) {
	e := events.Event{Kind: events.CallRouted, CallUUID: "8d5c1e2a-3b4f-4c6d-8e9f-0a1b2c3d4e5f"}
	err := store.ValidateEvent(&e)
	if want := `CALL_ROUTED of call "8d5c1e2a-3b4f-4c6d-8e9f-0a1b2c3d4e5f": event ID is empty`; err == nil || err.Error() != want {
		t.Errorf("ValidateEvent without an ID = %v, want %q", err, want)
	}
	e.ID = "0b7f3e1c-5f4e-4b8e-9a43-6f1f2a0c9d11"
	e.Kind = "CALL_PARKED"
	if err := store.ValidateEvent(&e); err == nil || !strings.Contains(err.Error(), "event 0b7f3e1c-5f4e-4b8e-9a43-6f1f2a0c9d11: ") {
		t.Errorf("ValidateEvent of an unknown kind = %v, want an error naming the event", err)
	}
}
