package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/api"
	"github.com/switchhook/switchhook/internal/api/apitypes"
	"github.com/switchhook/switchhook/internal/delivery"
	"github.com/switchhook/switchhook/internal/store"
)

func TestEndpointHealth(t *testing.T) {
	now := time.Now()
	h := delivery.NewHealth(now.Add(-time.Hour))
	e := newEnv(t, func(o *api.Options) { o.Health, o.Now = h, func() time.Time { return now } })
	ep := e.create(`{"url": "` + receiverURL + `"}`)
	h.Observe(ep.ID, now, 10*time.Millisecond, true)
	h.Observe(ep.ID, now, 10*time.Millisecond, true)
	h.Observe(ep.ID, now, 10*time.Millisecond, true)
	h.Observe(ep.ID, now, 900*time.Millisecond, false)

	var got apitypes.EndpointHealth
	e.do("GET", "/v1/endpoints/"+ep.ID+"/health", "").want(t, http.StatusOK, &got)
	if got.EndpointID != ep.ID || got.URL != receiverURL || got.Attempts != 4 || got.Failures != 1 {
		t.Fatalf("health %+v", got)
	}
	if got.SuccessRate == nil || *got.SuccessRate != 0.75 || got.P50MS == nil || *got.P50MS < 7 || *got.P50MS > 13 {
		t.Errorf("success rate %v, p50 %v ms", got.SuccessRate, got.P50MS)
	}
	if len(got.Minutes) != 60 || got.Minutes[59].Attempts != 4 || got.Minutes[0].P50MS != nil {
		t.Errorf("%d minutes, the last %+v, the first %+v", len(got.Minutes), got.Minutes[len(got.Minutes)-1], got.Minutes[0])
	}
	if got.Circuit.State != "closed" {
		t.Errorf("circuit %+v", got.Circuit)
	}
	e.do("GET", "/v1/endpoints/ep_nope/health", "").wantError(t, http.StatusNotFound, "id", "ep_nope")
	e.do("GET", "/v1/endpoints/"+ep.ID+"/health?window=2h", "").wantError(t, http.StatusBadRequest, "window", "unknown query parameter")
}

func TestEndpointHealthWithoutATracker(t *testing.T) {
	e := newEnv(t)
	ep := e.create(`{"url": "` + receiverURL + `"}`)
	var got apitypes.EndpointHealth
	e.do("GET", "/v1/endpoints/"+ep.ID+"/health", "").want(t, http.StatusOK, &got)
	if got.Attempts != 0 || got.SuccessRate != nil || got.P99MS != nil || len(got.Minutes) != 60 {
		t.Errorf("health %+v", got)
	}
}

func TestOverviewPutsFailingEndpointsFirst(t *testing.T) {
	// The API's clock stays at now: the minutes counted must not roll
	// over between the observations and the read.
	now := time.Now()
	h := delivery.NewHealth(now)
	e := newEnv(t, func(o *api.Options) { o.Health, o.Now = h, func() time.Time { return now } })
	fine := e.create(`{"url": "http://127.0.0.1:9/a-fine"}`)
	flaky := e.create(`{"url": "http://127.0.0.1:9/b-flaky"}`)
	broken := e.create(`{"url": "http://127.0.0.1:9/c-broken"}`)
	ctx := context.Background()
	if err := e.st.SetCircuit(ctx, broken.ID, store.Circuit{State: store.CircuitOpen, PausedUntil: now.Add(time.Minute), ConsecutiveFailures: 9, FailingSince: now}); err != nil {
		t.Fatal(err)
	}
	if err := e.st.SetCircuit(ctx, flaky.ID, store.Circuit{State: store.CircuitClosed, ConsecutiveFailures: 2, FailingSince: now}); err != nil {
		t.Fatal(err)
	}
	h.Observe(fine.ID, now, 5*time.Millisecond, true)
	h.Observe(broken.ID, now, 5*time.Second, false)
	h.CountEvent(now)
	h.CountEvent(now)
	e.call("1001", "1002", now) // five events, five pending deliveries to each endpoint

	var got apitypes.Overview
	e.do("GET", "/v1/overview", "").want(t, http.StatusOK, &got)
	var order []string
	for _, x := range got.Endpoints {
		order = append(order, x.EndpointID)
	}
	if len(order) != 3 || order[0] != broken.ID || order[1] != flaky.ID || order[2] != fine.ID {
		t.Errorf("order %v, want broken %s, flaky %s, fine %s", order, broken.ID, flaky.ID, fine.ID)
	}
	if got.Endpoints[0].Circuit.State != "open" || got.Endpoints[0].Minutes != nil {
		t.Errorf("broken: %+v", got.Endpoints[0])
	}
	if got.Attempts != 2 || got.Failures != 1 || got.SuccessRate == nil || *got.SuccessRate != 0.5 {
		t.Errorf("attempts %d, failures %d, success %v", got.Attempts, got.Failures, got.SuccessRate)
	}
	if len(got.Events) != 60 || got.Events[59].Events != 2 || len(got.Deliveries) != 60 || got.Deliveries[59].Attempts != 2 {
		t.Errorf("events %d minutes (last %+v), deliveries %d minutes", len(got.Events), got.Events[len(got.Events)-1], len(got.Deliveries))
	}
	if got.Pending != 15 {
		t.Errorf("pending %d, want 15", got.Pending)
	}
	e.do("GET", "/v1/overview?x=1", "").wantError(t, http.StatusBadRequest, "x", "unknown query parameter")
}
