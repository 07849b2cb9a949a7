package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/store"
)

// The benchmarks are written once here and run by each store's own
// Benchmark functions, so the numbers of SQLite and PostgreSQL measure the
// same work and keep the names docs/benchmarks.md quotes. Each takes open
// as Exercise does: a new, empty store of its own, closed when b ends; the
// benchmark migrates it.

// benchBatch is the size the recorder and the delivery engine work in.
const benchBatch = 100

var benchStart = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// BenchStore opens a migrated store with one endpoint that takes every event
// and has room for a thousand requests in flight.
func BenchStore(b *testing.B, open func(b *testing.B) store.Store) store.Store {
	b.Helper()
	st := open(b)
	if err := st.Migrate(b.Context()); err != nil {
		b.Fatal(err)
	}
	err := st.CreateEndpoint(b.Context(), &store.Endpoint{
		ID: "crm", URL: "http://127.0.0.1:9/hooks", Profile: events.Standard,
		Secrets: []store.Secret{{Value: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}, Timeout: 10 * time.Second, MaxInFlight: 1000,
	})
	if err != nil {
		b.Fatal(err)
	}
	return st
}

// fourEvents are the events of a short answered call.
var fourEvents = []events.Kind{events.CallRouted, events.CallRinging, events.CallAnswer, events.CallHangup}

// benchCalls makes the events of n calls, numbered from first, each with an
// event of each kind.
func benchCalls(first, n int, kinds ...events.Kind) []events.Event {
	evs := make([]events.Event, 0, n*len(kinds))
	for c := first; c < first+n; c++ {
		id := fmt.Sprintf("0b7f3e1c-5f4e-4b8e-9a43-%012d", c)
		for i, k := range kinds {
			e := events.Event{
				ID: fmt.Sprintf("%s-%d", id, i+1), Kind: k, CallUUID: id, SessionUUID: id,
				CallerIDNumber: "1001", DestinationNumber: "1002", OccurredAt: benchStart.Add(time.Duration(i) * time.Second),
				Sequence: int64(i + 1), Direction: events.Internal, LegUUID: id, Source: "pbx",
			}
			switch k {
			case events.CallRouted:
				e.RoutedTo = &events.Target{Type: events.Extension, Target: "1002"}
			case events.CallHangup:
				e.Hangup = &events.Hangup{Cause: events.CauseNormalClearing, SIPCode: 200, By: events.Caller}
			}
			evs = append(evs, e)
		}
	}
	return evs
}

// CallStream is the j-th to the (j+n-1)-th event of a stream of short
// answered calls (ROUTED, RINGING, ANSWER, HANGUP each), so that a batch
// can hold both new calls and the later events of calls stored before.
func CallStream(j, n int) []events.Event {
	k := len(fourEvents)
	first, last := j/k, (j+n+k-1)/k
	return benchCalls(first, last-first, fourEvents...)[j%k : j%k+n]
}

// BenchmarkInsertEvents records batches of 100 events, each creating one
// delivery.
func BenchmarkInsertEvents(b *testing.B, open func(b *testing.B) store.Store) {
	st := BenchStore(b, open)
	ctx := b.Context()
	next := 0
	for b.Loop() {
		if _, err := st.InsertEvents(ctx, "node-1", benchCalls(next, benchBatch/4, fourEvents...)); err != nil {
			b.Fatal(err)
		}
		next += benchBatch / 4
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkClaimComplete claims 100 deliveries and records their attempts,
// as one round of the delivery engine does.
func BenchmarkClaimComplete(b *testing.B, open func(b *testing.B) store.Store) {
	st := BenchStore(b, open)
	ctx := b.Context()
	now := benchStart.Add(time.Hour)
	next, ready := 0, 0
	outs := make([]store.Outcome, 0, benchBatch)
	for b.Loop() {
		// Keep a backlog of at least ten claims' worth of chain heads.
		if ready < 10*benchBatch {
			b.StopTimer()
			for range 50 {
				if _, err := st.InsertEvents(ctx, "node-1", benchCalls(next, benchBatch/4, fourEvents...)); err != nil {
					b.Fatal(err)
				}
				next += benchBatch / 4
			}
			ready += 50 * benchBatch
			b.StartTimer()
		}
		jobs, err := st.ClaimDeliveries(ctx, store.ClaimParams{Owner: "bench", Now: now, LeaseUntil: now.Add(time.Minute), Limit: benchBatch})
		if err != nil {
			b.Fatal(err)
		}
		if len(jobs) != benchBatch {
			b.Fatalf("claimed %d, want %d", len(jobs), benchBatch)
		}
		outs = succeeded(outs, jobs, now)
		if err := st.CompleteAttempts(ctx, "bench", outs); err != nil {
			b.Fatal(err)
		}
		ready -= benchBatch
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "deliveries/s")
}

// BenchmarkDeliveryCycle is the whole store work of 100 deliveries: record
// their events, claim them and record their attempts. Its deliveries/s is
// what the store allows the product at most, on one goroutine.
func BenchmarkDeliveryCycle(b *testing.B, open func(b *testing.B) store.Store) {
	st := BenchStore(b, open)
	ctx := b.Context()
	now := benchStart.Add(time.Hour)
	next := 0
	outs := make([]store.Outcome, 0, benchBatch)
	for b.Loop() {
		// One event per call, so that all 100 are chain heads at once.
		evs := benchCalls(next, benchBatch, events.CallRouted)
		next += benchBatch
		if _, err := st.InsertEvents(ctx, "node-1", evs); err != nil {
			b.Fatal(err)
		}
		jobs, err := st.ClaimDeliveries(ctx, store.ClaimParams{Owner: "bench", Now: now, LeaseUntil: now.Add(time.Minute), Limit: benchBatch})
		if err != nil {
			b.Fatal(err)
		}
		outs = succeeded(outs, jobs, now)
		if err := st.CompleteAttempts(ctx, "bench", outs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "deliveries/s")
}

// succeeded fills outs, emptied first so that its array is reused, with a
// successful attempt at now for each of jobs.
func succeeded(outs []store.Outcome, jobs []*store.Job, now time.Time) []store.Outcome {
	outs = outs[:0]
	for _, j := range jobs {
		outs = append(outs, store.Outcome{
			Attempt: store.Attempt{DeliveryID: j.Delivery.ID, At: now, StatusCode: 200, Latency: time.Millisecond},
			Status:  store.Succeeded,
		})
	}
	return outs
}
