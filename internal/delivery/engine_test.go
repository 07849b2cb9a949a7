package delivery_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/metrics"
	"github.com/switchhook/switchhook/internal/store"
)

func TestSignedDelivery(t *testing.T) {
	st := openStore(t)
	h := newHook(t, nil)
	ep := endpoint(t, st, h.srv.URL+"/hooks", func(ep *store.Endpoint) {
		ep.Headers = map[string]string{"Authorization": "Bearer abc", "Content-Type": "text/plain"}
	})
	h.forEndpoint(ep)
	o := testOptions(t)
	o.Metrics = metrics.New(nil)
	o.Location, _ = time.LoadLocation("Europe/Paris")
	eng := start(t, st, o)

	evs := call(2)
	emit(t, st, eng, evs...)
	waitFor(t, "both events delivered", allStatus(t, st, ep.ID, 2, store.Succeeded))

	got := h.got()
	if len(got) != 2 {
		t.Fatalf("hook got %d requests, want 2", len(got))
	}
	for i, r := range got {
		want := evs[i]
		if r.Event.WebhookID != want.ID || r.Event.EventID != want.ID || r.Event.Sequence != want.Sequence || string(r.Event.Kind) != string(want.Kind) {
			t.Errorf("request %d: %+v, want event %s #%d", i, r.Event, want.ID, want.Sequence)
		}
		if ts := want.OccurredAt.In(o.Location).Format(events.TimestampLayout); r.Event.Timestamp != ts {
			t.Errorf("timestamp %q, want %q (Europe/Paris)", r.Event.Timestamp, ts)
		}
		for k, v := range map[string]string{"Content-Type": "application/json", "User-Agent": "switchhook/test", "Authorization": "Bearer abc"} {
			if r.Header.Get(k) != v {
				t.Errorf("header %s = %q, want %q", k, r.Header.Get(k), v)
			}
		}
	}
	d := deliveries(t, st, ep.ID)[0]
	as := attempts(t, st, d.ID)
	if len(as) != 1 || as[0].StatusCode != http.StatusNoContent || as[0].Latency <= 0 || as[0].Error != "" || d.Attempts != 1 {
		t.Errorf("attempts %s, delivery %+v", describe(as), d)
	}
	if n := testutil.ToFloat64(o.Metrics.Deliveries.WithLabelValues(ep.ID, "succeeded")); n != 2 {
		t.Errorf("succeeded deliveries metric = %v, want 2", n)
	}
	if n := testutil.CollectAndCount(o.Metrics.EventToDelivery); n != 1 {
		t.Errorf("event-to-delivery histogram not collected")
	}
}

func TestRetryOn500ThenSuccess(t *testing.T) {
	st := openStore(t)
	big := strings.Repeat("x", 3000)
	h := newHook(t, func(n int, r received, w http.ResponseWriter) {
		if n <= 2 {
			http.Error(w, "database down "+big, http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	ep := endpoint(t, st, h.srv.URL, nil)
	h.forEndpoint(ep)
	o := testOptions(t)
	o.Metrics = metrics.New(nil)
	eng := start(t, st, o)
	emit(t, st, eng, call(1)...)
	waitFor(t, "delivery succeeded", allStatus(t, st, ep.ID, 1, store.Succeeded))

	got := h.got()
	if len(got) != 3 || got[0].Event.WebhookID != got[2].Event.WebhookID {
		t.Fatalf("hook got %d requests; want 3 with one webhook-id", len(got))
	}
	d := deliveries(t, st, ep.ID)[0]
	as := attempts(t, st, d.ID)
	if len(as) != 3 || as[0].StatusCode != 500 || as[1].StatusCode != 500 || as[2].StatusCode != 200 || d.Attempts != 3 {
		t.Fatalf("attempts %s", describe(as))
	}
	if !strings.Contains(as[0].Error, "500") || len(as[0].Response) != 1024 || !strings.HasPrefix(as[0].Response, "database down") {
		t.Errorf("failed attempt: error %q, response of %d bytes %.20q…", as[0].Error, len(as[0].Response), as[0].Response)
	}
	if n := testutil.ToFloat64(o.Metrics.Deliveries.WithLabelValues(ep.ID, "retry")); n != 2 {
		t.Errorf("retry metric = %v, want 2", n)
	}
}

func TestRetryOnTimeout(t *testing.T) {
	st := openStore(t)
	release := make(chan struct{})
	defer close(release)
	h := newHook(t, func(n int, r received, w http.ResponseWriter) {
		if n == 1 {
			select { // slower than the endpoint's timeout
			case <-release:
			case <-time.After(waitLimit):
			}
		}
		w.WriteHeader(http.StatusNoContent)
	})
	ep := endpoint(t, st, h.srv.URL, func(ep *store.Endpoint) { ep.Timeout = 100 * time.Millisecond })
	h.forEndpoint(ep)
	eng := start(t, st, testOptions(t))
	emit(t, st, eng, call(1)...)
	waitFor(t, "delivery succeeded", allStatus(t, st, ep.ID, 1, store.Succeeded))

	as := attempts(t, st, deliveries(t, st, ep.ID)[0].ID)
	if len(as) != 2 || as[0].StatusCode != 0 || !strings.Contains(as[0].Error, "no response within the endpoint's timeout (100ms)") || as[1].StatusCode != 204 {
		t.Fatalf("attempts %s", describe(as))
	}
}

func TestConnectionRefusedIsRetried(t *testing.T) {
	st := openStore(t)
	h := newHook(t, nil)
	url := h.srv.URL
	h.srv.Close() // nothing listens there any more
	ep := endpoint(t, st, url, func(ep *store.Endpoint) { ep.RetrySchedule = []time.Duration{0, 10 * time.Millisecond} })
	eng := start(t, st, testOptions(t))
	emit(t, st, eng, call(1)...)
	waitFor(t, "delivery failed", allStatus(t, st, ep.ID, 1, store.Failed))
	d := deliveries(t, st, ep.ID)[0]
	as := attempts(t, st, d.ID)
	if len(as) != 2 || !strings.Contains(as[0].Error, "connection refused") || strings.Contains(as[0].Error, "Post ") {
		t.Fatalf("attempts %s", describe(as))
	}
	if !strings.Contains(d.LastError, "connection refused") {
		t.Errorf("last error %q", d.LastError)
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	st := openStore(t)
	h := newHook(t, func(n int, r received, w http.ResponseWriter) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	// The schedule alone would retry after 20ms.
	ep := endpoint(t, st, h.srv.URL, nil)
	h.forEndpoint(ep)
	eng := start(t, st, testOptions(t))
	emit(t, st, eng, call(1)...)
	waitFor(t, "delivery succeeded", allStatus(t, st, ep.ID, 1, store.Succeeded))

	got := h.got()
	as := attempts(t, st, deliveries(t, st, ep.ID)[0].ID)
	if len(got) != 2 || len(as) != 2 || as[0].StatusCode != http.StatusTooManyRequests {
		t.Fatalf("attempts %s", describe(as))
	}
	if gap := got[1].At.Sub(got[0].At); gap < time.Second {
		t.Errorf("second request came %v after the first, before Retry-After's 1s", gap)
	}
}

func TestGoneDisablesEndpoint(t *testing.T) {
	st := openStore(t)
	h := newHook(t, func(n int, r received, w http.ResponseWriter) { w.WriteHeader(http.StatusGone) })
	ep := endpoint(t, st, h.srv.URL, nil)
	h.forEndpoint(ep)
	other := newHook(t, nil)
	ep2 := endpoint(t, st, other.srv.URL, nil)
	other.forEndpoint(ep2)
	eng := start(t, st, testOptions(t))
	emit(t, st, eng, call(1)...)
	waitFor(t, "endpoint disabled", func() bool { return getEndpoint(t, st, ep.ID).Disabled })

	got := getEndpoint(t, st, ep.ID)
	if !strings.Contains(got.DisabledReason, "410") {
		t.Errorf("disabled reason %q does not mention 410", got.DisabledReason)
	}
	// Later events still reach the other endpoint, and wait for this one.
	emit(t, st, eng, call(1)...)
	waitFor(t, "other endpoint got both", allStatus(t, st, ep2.ID, 2, store.Succeeded))
	ds := deliveries(t, st, ep.ID)
	if len(ds) != 2 || ds[0].Status != store.Pending || ds[1].Status != store.Pending || ds[1].Attempts != 0 {
		t.Fatalf("deliveries of the gone endpoint: %+v %+v", ds[0], ds[1])
	}
	if n := len(h.got()); n != 1 {
		t.Errorf("the gone endpoint got %d requests, want 1", n)
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	st := openStore(t)
	target := newHook(t, func(n int, r received, w http.ResponseWriter) { t.Error("redirect followed") })
	h := newHook(t, func(n int, r received, w http.ResponseWriter) {
		http.Redirect(w, &http.Request{Method: http.MethodPost}, target.srv.URL+"/new", http.StatusPermanentRedirect)
	})
	ep := endpoint(t, st, h.srv.URL, func(ep *store.Endpoint) { ep.RetrySchedule = []time.Duration{0} })
	h.forEndpoint(ep)
	target.forEndpoint(ep)
	eng := start(t, st, testOptions(t))
	emit(t, st, eng, call(1)...)
	waitFor(t, "delivery failed", allStatus(t, st, ep.ID, 1, store.Failed))
	as := attempts(t, st, deliveries(t, st, ep.ID)[0].ID)
	if len(as) != 1 || as[0].StatusCode != http.StatusPermanentRedirect || !strings.Contains(as[0].Error, "redirect to \""+target.srv.URL+"/new\" not followed") {
		t.Fatalf("attempts %s", describe(as))
	}
}

func TestFailedAfterLastAttemptThenCallMovesOn(t *testing.T) {
	st := openStore(t)
	evs := call(2)
	h := newHook(t, func(n int, r received, w http.ResponseWriter) {
		if r.Event.Sequence == 1 {
			http.Error(w, "no", http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	ep := endpoint(t, st, h.srv.URL, func(ep *store.Endpoint) {
		ep.RetrySchedule = []time.Duration{0, 50 * time.Millisecond, 100 * time.Millisecond}
	})
	h.forEndpoint(ep)
	eng := start(t, st, testOptions(t))
	emit(t, st, eng, evs...)
	waitFor(t, "second event delivered", func() bool {
		ds := deliveries(t, st, ep.ID)
		return len(ds) == 2 && ds[1].Status == store.Succeeded
	})
	first := deliveries(t, st, ep.ID)[0]
	if first.Status != store.Failed || first.Attempts != 3 || !strings.Contains(first.LastError, "400") || first.CompletedAt.IsZero() {
		t.Fatalf("first delivery %+v, want failed after 3 attempts", first)
	}
	got := h.got()
	if len(got) != 4 || got[3].Event.Sequence != 2 {
		t.Fatalf("hook got %d requests, want the first event 3 times then the second", len(got))
	}
	// The schedule's delays, with ±20% jitter.
	for i, min := range []time.Duration{40 * time.Millisecond, 80 * time.Millisecond} {
		if gap := got[i+1].At.Sub(got[i].At); gap < min {
			t.Errorf("retry %d came %v after the previous attempt, before its delay", i+1, gap)
		}
	}
}

// A call's events reach an endpoint one at a time, in order, through
// retries, while another call's events to it keep failing.
func TestOrderPerCallWhileAnotherCallFails(t *testing.T) {
	st := openStore(t)
	const calls, perCall = 12, 6
	var (
		mu       sync.Mutex
		accepted = map[string]int64{} // call → last sequence accepted
		tries    = map[string]int{}   // webhook-id → requests
	)
	var (
		failing     string
		failingLast int64 // the failing call's highest sequence sent
	)
	h := newHook(t, func(n int, r received, w http.ResponseWriter) {
		e := r.Event
		mu.Lock()
		defer mu.Unlock()
		if e.CallUUID == failing {
			if e.Sequence < failingLast {
				t.Errorf("failing call: sequence %d sent after %d", e.Sequence, failingLast)
			}
			failingLast = e.Sequence
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		if want := accepted[e.CallUUID] + 1; e.Sequence != want {
			t.Errorf("call %s: got sequence %d, want %d", e.CallUUID, e.Sequence, want)
		}
		tries[e.WebhookID]++
		if (e.Sequence+int64(n))%3 == 0 && tries[e.WebhookID] == 1 { // fail a third of first tries
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		accepted[e.CallUUID] = e.Sequence
		w.WriteHeader(http.StatusNoContent)
	})
	ep := endpoint(t, st, h.srv.URL, func(ep *store.Endpoint) {
		ep.MaxInFlight = 8
		ep.RetrySchedule = make([]time.Duration, 200)
		for i := range ep.RetrySchedule {
			ep.RetrySchedule[i] = 10 * time.Millisecond
		}
	})
	h.forEndpoint(ep)
	eng := start(t, st, testOptions(t))

	bad := call(perCall)
	failing = bad[0].CallUUID
	emit(t, st, eng, bad...)
	var all []events.Event
	for range calls {
		all = append(all, call(perCall)...)
	}
	// Interleave the calls, as a busy PBX would, in a few batches.
	var mixed []events.Event
	for i := range perCall {
		for c := range calls {
			mixed = append(mixed, all[c*perCall+i])
		}
	}
	for len(mixed) > 0 {
		n := min(len(mixed), 17)
		emit(t, st, eng, mixed[:n]...)
		mixed = mixed[n:]
	}
	waitFor(t, "every call delivered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		done := 0
		for _, seq := range accepted {
			if seq == perCall {
				done++
			}
		}
		return done == calls
	})
	// The failing call's chain: given-up deliveries, then its head, then
	// deliveries never sent.
	head := false
	for _, d := range deliveries(t, st, ep.ID) {
		if d.CallUUID != failing {
			continue
		}
		switch {
		case d.Status == store.Failed && !head:
		case d.Status == store.Pending && !head:
			head = true
		case d.Status == store.Pending && d.Attempts == 0:
		default:
			t.Errorf("failing call's delivery %d: %s after %d attempts, out of chain order", d.ID, d.Status, d.Attempts)
		}
	}
	if !head {
		t.Error("the failing call has no pending head")
	}
}

// Two engines (two nodes) sharing a store never send an event twice and
// keep each call's order.
func TestTwoEnginesShareTheWork(t *testing.T) {
	st := openStore(t)
	const calls, perCall = 20, 5
	var (
		mu   sync.Mutex
		last = map[string]int64{}
		seen = map[string]bool{}
	)
	h := newHook(t, func(_ int, r received, w http.ResponseWriter) {
		mu.Lock()
		defer mu.Unlock()
		e := r.Event
		if seen[e.WebhookID] {
			t.Errorf("event %s sent twice", e.WebhookID)
		}
		seen[e.WebhookID] = true
		if e.Sequence != last[e.CallUUID]+1 {
			t.Errorf("call %s: sequence %d after %d", e.CallUUID, e.Sequence, last[e.CallUUID])
		}
		last[e.CallUUID] = e.Sequence
		w.WriteHeader(http.StatusNoContent)
	})
	ep := endpoint(t, st, h.srv.URL, nil)
	h.forEndpoint(ep)
	oa, ob := testOptions(t), testOptions(t)
	oa.Node, ob.Node = "node-a", "node-b"
	a, b := start(t, st, oa), start(t, st, ob)
	for range calls {
		evs := call(perCall)
		emit(t, st, a, evs[:2]...)
		emit(t, st, b, evs[2:]...)
	}
	waitFor(t, "every event delivered", allStatus(t, st, ep.ID, calls*perCall, store.Succeeded))
}
