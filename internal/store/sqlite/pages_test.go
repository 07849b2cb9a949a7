package sqlite

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/store"
	"github.com/switchhook/switchhook/internal/store/storetest"
)

// BenchmarkPagesPerWrite reports the pages that a transaction carrying one
// write adds to the WAL: an event in (its row, its delivery's, and each of
// their indexes) and a delivery's outcome. At a steady rate that, not the
// rows' size or SQLite's code, is what a commit costs: a frame header and a
// page written for each, then copied by a checkpoint. The store first holds
// 5,000 delivered calls, so that its trees have their working depth.
func BenchmarkPagesPerWrite(b *testing.B) {
	st, err := Open(b.Context(), filepath.Join(b.TempDir(), "pages.db"))
	if err != nil {
		b.Fatal(err)
	}
	storetest.BenchStore(b, func(b *testing.B) store.Store {
		b.Cleanup(func() { st.Close() })
		return st
	})
	now := time.Date(2025, 6, 1, 13, 0, 0, 0, time.UTC)
	next := 0
	insert := func(n int) {
		if _, err := st.InsertEvents(b.Context(), "node-1", storetest.CallStream(next, n)); err != nil {
			b.Fatal(err)
		}
		next += n
	}
	claim := func(n int) []*store.Job {
		jobs, err := st.ClaimDeliveries(b.Context(), store.ClaimParams{Owner: "bench", Now: now, LeaseUntil: now.Add(time.Hour), Limit: n})
		if err != nil {
			b.Fatal(err)
		}
		return jobs
	}
	complete := func(jobs []*store.Job) {
		outs := make([]store.Outcome, 0, len(jobs))
		for _, j := range jobs {
			outs = append(outs, store.Outcome{
				Attempt: store.Attempt{DeliveryID: j.Delivery.ID, At: now, StatusCode: 200, Latency: time.Millisecond},
				Status:  store.Succeeded,
			})
		}
		if err := st.CompleteAttempts(b.Context(), "bench", outs); err != nil {
			b.Fatal(err)
		}
	}
	// A call's next delivery is claimable once the one before it is done.
	for range 200 {
		insert(100)
		for jobs := claim(100); len(jobs) > 0; jobs = claim(100) {
			complete(jobs)
		}
	}
	// A complete checkpoint makes the next transaction start the WAL over,
	// so the frames the WAL then holds are that transaction's alone.
	frames := func() int {
		var busy, log, copied int
		if err := st.k.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &copied); err != nil {
			b.Fatal(err)
		}
		if copied != log {
			b.Fatalf("checkpoint copied %d of %d frames", copied, log)
		}
		return log
	}
	frames()
	// The ns/op includes the checkpoints; only the page counts mean anything.
	var in, out int
	for b.Loop() {
		insert(1)
		f := frames()
		in += f
		jobs := claim(1)
		if len(jobs) != 1 {
			b.Fatalf("claimed %d deliveries, want the new event's", len(jobs))
		}
		if g := frames(); g != f {
			b.Fatalf("a claim wrote to the WAL (%d frames, %d before it)", g, f)
		}
		complete(jobs)
		out += frames()
	}
	b.ReportMetric(float64(in)/float64(b.N), "pages/event")
	b.ReportMetric(float64(out)/float64(b.N), "pages/outcome")
}
