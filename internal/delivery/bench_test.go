package delivery_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/delivery"
	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/store"
	"github.com/switchhook/switchhook/internal/store/postgres/pgtest"
	"github.com/switchhook/switchhook/receiver"
)

// benchReceiver answers 204 to every webhook after checking its signature,
// as a real receiver would, and calls seen with each event's webhook-id.
func benchReceiver(b *testing.B, secret string, seen func(id string)) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err == nil {
			err = receiver.Verify(secret, r.Header, body, 0)
		}
		if err != nil {
			b.Error(err)
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		seen(r.Header.Get(receiver.HeaderID))
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(srv.Close)
	return srv
}

func benchOptions() delivery.Options {
	return delivery.Options{
		Node:   "bench",
		Logger: slog.New(slog.DiscardHandler),
	}
}

// BenchmarkDeliver measures throughput end to end: b.N events of 5-event
// calls are inserted into the store (SQLite, then PostgreSQL if reachable)
// in batches of 100, as the recorder commits them, while the engine
// delivers them to a signature-checking receiver on loopback. It reports
// deliveries/s, how the store calls were batched, and the share of the run
// the engine spent waiting on the store.
func BenchmarkDeliver(b *testing.B) {
	stores := []struct {
		name string
		open func(testing.TB) store.Store
	}{
		{"sqlite", func(tb testing.TB) store.Store { return openStore(tb) }},
		{"postgres", func(tb testing.TB) store.Store { return openPostgres(tb, pgtest.DSN(tb)) }},
	}
	for _, s := range stores {
		for _, inFlight := range []int{16, 64} {
			b.Run(fmt.Sprintf("store=%s/max_in_flight=%d", s.name, inFlight), func(b *testing.B) {
				benchDeliver(b, s.open(b), inFlight)
			})
		}
	}
}

// benchDeliver runs BenchmarkDeliver on st, to one endpoint taking
// inFlight requests at once.
func benchDeliver(b *testing.B, st store.Store, inFlight int) {
	var delivered atomic.Int64
	done := make(chan struct{})
	total := int64(b.N)
	ep := endpoint(b, st, "http://placeholder", func(ep *store.Endpoint) { ep.MaxInFlight = inFlight })
	srv := benchReceiver(b, ep.Secrets[0].Value, func(string) {
		if delivered.Add(1) == total {
			close(done)
		}
	})
	ep.URL = srv.URL
	if err := st.UpdateEndpoint(context.Background(), ep); err != nil {
		b.Fatal(err)
	}
	evs := make([]events.Event, 0, b.N+5)
	for len(evs) < b.N {
		evs = append(evs, call(5)...)
	}
	evs = evs[:b.N]

	cs := &countingStore{Store: st}
	b.ResetTimer()
	eng := start(b, cs, benchOptions())
	start := time.Now()
	for len(evs) > 0 {
		n := min(len(evs), 100)
		emit(b, st, eng, evs[:n]...)
		evs = evs[n:]
	}
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("delivered %d of %d", delivered.Load(), total)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	eng.stop(b)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(cs.claimed.Load())/float64(cs.claims.Load()), "jobs/claim")
	b.ReportMetric(float64(cs.completed.Load())/float64(cs.completes.Load()), "outcomes/complete")
	// The share of the run the engine's loop spent waiting on the
	// store: near 100% means the store's claim and complete are
	// the bottleneck, not HTTP.
	b.ReportMetric(100*float64(cs.busy.Load())/float64(elapsed), "%store")
}

// BenchmarkEventToDelivery measures latency at a steady 1,000 events/s: an
// event is inserted every millisecond (in the batches a 2ms group commit
// makes) and the time from its creation to its arrival at the receiver is
// recorded. It reports the median and the 99th percentile; run it with
// -benchtime=5000x or more for a stable p99.
func BenchmarkEventToDelivery(b *testing.B) {
	st := openStore(b)
	var (
		mu      sync.Mutex
		created = map[string]time.Time{}
		lat     = make([]time.Duration, 0, b.N)
	)
	done := make(chan struct{})
	ep := endpoint(b, st, "http://placeholder", nil)
	srv := benchReceiver(b, ep.Secrets[0].Value, func(id string) {
		now := time.Now()
		mu.Lock()
		defer mu.Unlock()
		lat = append(lat, now.Sub(created[id]))
		if len(lat) == b.N {
			close(done)
		}
	})
	ep.URL = srv.URL
	if err := st.UpdateEndpoint(context.Background(), ep); err != nil {
		b.Fatal(err)
	}
	evs := make([]events.Event, 0, b.N+5)
	for len(evs) < b.N {
		evs = append(evs, call(5)...)
	}
	// Calls overlap, as on a PBX: interleave them 20 at a time.
	evs = interleave(evs[:b.N], 20, 5)

	eng := start(b, st, benchOptions())
	b.ResetTimer()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for len(evs) > 0 {
		<-tick.C
		n := min(len(evs), 2)
		now := time.Now()
		mu.Lock()
		for i := range evs[:n] {
			evs[i].OccurredAt = now
			created[evs[i].ID] = now
		}
		mu.Unlock()
		emit(b, st, eng, evs[:n]...)
		evs = evs[n:]
	}
	select {
	case <-done:
	case <-time.After(time.Minute):
		b.Fatalf("delivered %d of %d", len(lat), b.N)
	}
	b.StopTimer()
	eng.stop(b)
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / 1e6 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(q(1), "max-ms")
}

// interleave reorders calls of size events each so that group calls run side
// by side, each call's events staying in order.
func interleave(evs []events.Event, group, size int) []events.Event {
	out := make([]events.Event, 0, len(evs))
	for g := 0; g < len(evs); g += group * size {
		end := min(len(evs), g+group*size)
		for i := range size {
			for c := g + i; c < end; c += size {
				out = append(out, evs[c])
			}
		}
	}
	return out
}

// countingStore counts the engine's calls to the real store it wraps, so a
// benchmark can report how the work was batched.
type countingStore struct {
	store.Store
	claims, claimed, completes, completed atomic.Int64
	busy                                  atomic.Int64 // nanoseconds spent in both
}

func (c *countingStore) ClaimDeliveries(ctx context.Context, p store.ClaimParams) ([]*store.Job, error) {
	start := time.Now()
	jobs, err := c.Store.ClaimDeliveries(ctx, p)
	c.busy.Add(int64(time.Since(start)))
	c.claims.Add(1)
	c.claimed.Add(int64(len(jobs)))
	return jobs, err
}

func (c *countingStore) CompleteAttempts(ctx context.Context, owner string, outs []store.Outcome) error {
	start := time.Now()
	err := c.Store.CompleteAttempts(ctx, owner, outs)
	c.busy.Add(int64(time.Since(start)))
	c.completes.Add(1)
	c.completed.Add(int64(len(outs)))
	return err
}
