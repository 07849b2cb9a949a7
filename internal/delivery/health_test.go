package delivery_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/delivery"
	"github.com/switchhook/switchhook/internal/store"
)

// near reports whether got is within 25% of want: the histogram's buckets
// grow by √2, so an estimate is off by less than that.
func near(got, want time.Duration) bool {
	d := float64(got - want)
	return d >= -0.25*float64(want) && d <= 0.25*float64(want)
}

func TestHealthCountsPerMinuteAndEstimatesPercentiles(t *testing.T) {
	start := time.Date(2026, 1, 27, 12, 0, 30, 0, time.UTC)
	h := delivery.NewHealth(start)
	// Minute 12:00: 99 fast successes and one slow failure.
	for i := range 99 {
		h.Observe("ep_a", start.Add(time.Duration(i)*100*time.Millisecond), 20*time.Millisecond, true)
	}
	h.Observe("ep_a", start.Add(10*time.Second), 2*time.Second, false)
	// Minute 12:05: two failures of another endpoint.
	later := start.Add(5 * time.Minute)
	h.Observe("ep_b", later, 300*time.Millisecond, false)
	h.Observe("ep_b", later, 300*time.Millisecond, false)
	h.CountEvent(start)
	h.CountEvent(start)
	h.CountEvent(later)

	now := start.Add(10 * time.Minute)
	a := h.Endpoint("ep_a", now)
	if a.Attempts != 100 || a.Failures != 1 {
		t.Fatalf("ep_a: %d attempts, %d failures; want 100, 1", a.Attempts, a.Failures)
	}
	if !near(a.P50, 20*time.Millisecond) {
		t.Errorf("p50 %v, want about 20ms", a.P50)
	}
	if a.P99 < 15*time.Millisecond || a.P99 > 2*time.Second {
		t.Errorf("p99 %v, want between the fast and the slow attempt", a.P99)
	}
	if len(a.Minutes) != 60 || !a.Minutes[59].At.Equal(time.Date(2026, 1, 27, 12, 10, 0, 0, time.UTC)) {
		t.Fatalf("minutes: %d, last at %v", len(a.Minutes), a.Minutes[len(a.Minutes)-1].At)
	}
	if m := a.Minutes[49]; m.Attempts != 100 || m.Failures != 1 || !m.At.Equal(start.Truncate(time.Minute)) {
		t.Errorf("minute 12:00 = %+v", m)
	}
	if !a.Since.Equal(start) {
		t.Errorf("since %v, want the start %v: earlier minutes are unknown", a.Since, start)
	}
	b := h.Endpoint("ep_b", now)
	if b.Attempts != 2 || b.Failures != 2 || !near(b.P50, 300*time.Millisecond) {
		t.Errorf("ep_b = %d attempts, %d failures, p50 %v", b.Attempts, b.Failures, b.P50)
	}
	if all := h.All(now); all.Attempts != 102 || all.Failures != 3 {
		t.Errorf("all: %d attempts, %d failures", all.Attempts, all.Failures)
	}
	evs, since := h.Events(now)
	if len(evs) != 60 || evs[49].Events != 2 || evs[54].Events != 1 || !since.Equal(start) {
		t.Errorf("events: minute 12:00 %d, 12:05 %d, since %v", evs[49].Events, evs[54].Events, since)
	}
	if none := h.Endpoint("ep_none", now); none.Attempts != 0 || none.P50 != 0 {
		t.Errorf("unknown endpoint: %+v", none)
	}
}

func TestHealthForgetsWhatIsOlderThanAnHour(t *testing.T) {
	start := time.Date(2026, 1, 27, 12, 0, 0, 0, time.UTC)
	h := delivery.NewHealth(start)
	h.Observe("ep_a", start, time.Millisecond, true)
	h.CountEvent(start)
	now := start.Add(delivery.HealthWindow)
	if a := h.Endpoint("ep_a", now); a.Attempts != 0 {
		t.Errorf("an hour later: %d attempts remembered", a.Attempts)
	}
	if evs, since := h.Events(now); evs[0].Events != 0 || !since.Equal(now.Add(-59*time.Minute)) {
		t.Errorf("an hour later: %d events in the first minute, since %v", evs[0].Events, since)
	}
	// The same ring slot, an hour on, starts from zero.
	h.Observe("ep_a", now, time.Millisecond, false)
	if a := h.Endpoint("ep_a", now); a.Attempts != 1 || a.Failures != 1 {
		t.Errorf("slot reused: %d attempts, %d failures", a.Attempts, a.Failures)
	}
}

func TestNilHealthIsEmpty(t *testing.T) {
	var h *delivery.Health
	now := time.Now()
	h.Observe("ep", now, time.Second, true)
	h.CountEvent(now)
	if s := h.Endpoint("ep", now); s.Attempts != 0 || len(s.Minutes) != 60 {
		t.Errorf("nil health: %+v", s)
	}
	if evs, _ := h.Events(now); len(evs) != 60 {
		t.Errorf("nil health: %d minutes of events", len(evs))
	}
}

func TestEngineReportsAttemptsToHealth(t *testing.T) {
	st := openStore(t)
	h := newHook(t, func(n int, r received, w http.ResponseWriter) {
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	ep := endpoint(t, st, h.srv.URL, nil)
	h.forEndpoint(ep)
	o := testOptions(t)
	o.Health = delivery.NewHealth(time.Now())
	eng := start(t, st, o)
	emit(t, st, eng, call(1)...)
	waitFor(t, "delivery succeeded", allStatus(t, st, ep.ID, 1, store.Succeeded))
	waitFor(t, "two attempts in the health tracker", func() bool {
		return o.Health.Endpoint(ep.ID, time.Now()).Attempts == 2
	})
	if s := o.Health.Endpoint(ep.ID, time.Now()); s.Failures != 1 || s.P50 <= 0 {
		t.Errorf("health: %d failures, p50 %v; want 1 and a latency", s.Failures, s.P50)
	}
}

// BenchmarkHealthObserve is the cost the engine pays per attempt for the
// dashboard's health, over 100 endpoints.
func BenchmarkHealthObserve(b *testing.B) {
	h := delivery.NewHealth(time.Now())
	ids := make([]string, 100)
	for i := range ids {
		ids[i] = fmt.Sprintf("ep_%d", i)
	}
	now := time.Now()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.Observe(ids[i%len(ids)], now, time.Duration(i%5000)*time.Microsecond, i%10 != 0)
	}
}

// BenchmarkHealthEndpoint is the cost of one GET /v1/endpoints/{id}/health
// summary.
func BenchmarkHealthEndpoint(b *testing.B) {
	h := delivery.NewHealth(time.Now())
	now := time.Now()
	for i := range 100000 {
		h.Observe("ep", now.Add(-time.Duration(i)*30*time.Millisecond), time.Duration(i%5000)*time.Microsecond, true)
	}
	b.ReportAllocs()
	for b.Loop() {
		h.Endpoint("ep", now)
	}
}
