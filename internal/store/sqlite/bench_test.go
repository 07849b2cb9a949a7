package sqlite_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/store"
	"github.com/switchhook/switchhook/internal/store/storetest"
)

// benchOpen opens a store on a file of its own.
func benchOpen(b *testing.B) store.Store { return open(b, filepath.Join(b.TempDir(), "bench.db")) }

func BenchmarkInsertEvents(b *testing.B)  { storetest.BenchmarkInsertEvents(b, benchOpen) }
func BenchmarkClaimComplete(b *testing.B) { storetest.BenchmarkClaimComplete(b, benchOpen) }
func BenchmarkDeliveryCycle(b *testing.B) { storetest.BenchmarkDeliveryCycle(b, benchOpen) }

// BenchmarkCallLookups is what the PBX reads of the store at each call to an
// extension: its registrations and its forwarding (none set).
func BenchmarkCallLookups(b *testing.B) {
	st := benchOpen(b)
	ctx := b.Context()
	if err := st.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	if err := st.PutRegistration(ctx, &store.Registration{Extension: "1001", Contact: "sip:1001@127.0.0.1:5070", Transport: "udp",
		Node: "n", ExpiresAt: now.Add(time.Hour), CreatedAt: now}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if rs, err := st.ListRegistrations(ctx, "1001", now); err != nil || len(rs) != 1 {
			b.Fatal(rs, err)
		}
		if _, err := st.GetForward(ctx, "1001"); !errors.Is(err, store.ErrNotFound) {
			b.Fatal(err)
		}
	}
}

// batchSizes are the batch sizes of the writer's benchmarks: a lone event or
// outcome (low rates) and the batches of a busy recorder and delivery engine.
var batchSizes = []int{1, 16, 256}

// batchStore opens a migrated store with one endpoint that takes every event.
func batchStore(b *testing.B) store.Store { return storetest.BenchStore(b, benchOpen) }

// BenchmarkInsertEventsBatch records batches of n events, each creating one
// delivery, one batch at a time.
func BenchmarkInsertEventsBatch(b *testing.B) {
	for _, n := range batchSizes {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			st := batchStore(b)
			b.ReportAllocs()
			var used cpuTotal
			next := 0
			for b.Loop() {
				b.StopTimer()
				evs := storetest.CallStream(next, n)
				next += n
				b.StartTimer()
				var cpu cpuMeter
				cpu.start()
				if _, err := st.InsertEvents(b.Context(), "node-1", evs); err != nil {
					b.Fatal(err)
				}
				used.add(cpu.stop())
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/event")
			used.report(b, b.N*n, "cpu-µs/event")
		})
	}
}

// BenchmarkCompleteAttemptsBatch records the successful attempts of batches
// of n claimed deliveries, one batch at a time.
func BenchmarkCompleteAttemptsBatch(b *testing.B) {
	for _, n := range batchSizes {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			st := batchStore(b)
			b.ReportAllocs()
			var used cpuTotal
			now := time.Date(2025, 6, 1, 13, 0, 0, 0, time.UTC)
			next := 0
			outs := make([]store.Outcome, 0, n)
			for b.Loop() {
				b.StopTimer()
				// One event per call: all n deliveries are chain heads.
				evs := make([]events.Event, 0, n)
				for range n {
					evs = append(evs, storetest.CallStream(4*next, 1)...)
					next++
				}
				if _, err := st.InsertEvents(b.Context(), "node-1", evs); err != nil {
					b.Fatal(err)
				}
				jobs, err := st.ClaimDeliveries(b.Context(), store.ClaimParams{Owner: "bench", Now: now, LeaseUntil: now.Add(time.Minute), Limit: n})
				if err != nil {
					b.Fatal(err)
				}
				if len(jobs) != n {
					b.Fatalf("claimed %d, want %d", len(jobs), n)
				}
				outs = outs[:0]
				for _, j := range jobs {
					outs = append(outs, store.Outcome{
						Attempt: store.Attempt{DeliveryID: j.Delivery.ID, At: now, StatusCode: 200, Latency: time.Millisecond},
						Status:  store.Succeeded,
					})
				}
				b.StartTimer()
				var cpu cpuMeter
				cpu.start()
				if err := st.CompleteAttempts(b.Context(), "bench", outs); err != nil {
					b.Fatal(err)
				}
				used.add(cpu.stop())
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/outcome")
			used.report(b, b.N*n, "cpu-µs/outcome")
		})
	}
}

// cpuMeter measures the process's CPU time over a call: on a shared machine
// the wall time also counts the other work's, and the writer's lingering.
type cpuMeter struct {
	at time.Duration
	ok bool
}

func (m *cpuMeter) start() { m.at, m.ok = processCPU() }

func (m *cpuMeter) stop() (time.Duration, bool) {
	now, ok := processCPU()
	return now - m.at, ok && m.ok
}

// cpuTotal sums what cpuMeters measured.
type cpuTotal struct {
	sum time.Duration
	ok  bool
}

func (t *cpuTotal) add(d time.Duration, ok bool) { t.sum, t.ok = t.sum+d, ok }

// report reports the CPU time per unit of n, if it was measured.
func (t *cpuTotal) report(b *testing.B, n int, unit string) {
	if t.ok {
		b.ReportMetric(float64(t.sum.Microseconds())/float64(n), unit)
	}
}
