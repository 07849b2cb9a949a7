package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/simulator"
	"github.com/switchhook/switchhook/internal/store"
	"github.com/switchhook/switchhook/internal/store/sqlite"
)

var quiet = slog.New(slog.DiscardHandler)

func openStore(t *testing.T) store.Store {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}

// run starts the recorder and returns a stop function that drains it.
func run(t *testing.T, r *Recorder) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func ev(k events.Kind, call string, at time.Duration) events.Event {
	return events.Event{Kind: k, CallUUID: call, CallerIDNumber: "1001", DestinationNumber: "1002", OccurredAt: t0.Add(at), Source: "pbx"}
}

func TestRecorderKeepsTheRulesOfACall(t *testing.T) {
	st := openStore(t)
	var wakes atomic.Int32
	r := New(st, Options{Logger: quiet, Node: "n1", Wake: func() { wakes.Add(1) }})
	stop := run(t, r)
	ctx := context.Background()
	ok := func(e events.Event) {
		t.Helper()
		if err := r.Emit(ctx, e); err != nil {
			t.Fatalf("Emit %s: %v", e.Kind, err)
		}
	}
	refused := func(e events.Event) {
		t.Helper()
		if err := r.Emit(ctx, e); !errors.Is(err, ErrRejected) {
			t.Fatalf("Emit %s: err = %v, want ErrRejected", e.Kind, err)
		}
	}
	refused(ev(events.CallAnswer, "c1", 0)) // not routed
	ok(ev(events.CallRouted, "c1", 0))
	refused(ev(events.CallRouted, "c1", 0)) // routed twice
	ring := ev(events.CallRinging, "c1", time.Second)
	ring.LegUUID = "leg-b"
	ok(ring)
	refused(ring)                                     // the same leg rings once
	refused(ev(events.CallHold, "c1", 2*time.Second)) // not answered yet
	ok(ev(events.CallAnswer, "c1", 3*time.Second))
	ok(ev(events.CallHold, "c1", 4*time.Second))
	refused(ev(events.CallHold, "c1", 5*time.Second)) // held already
	ok(ev(events.CallUnhold, "c1", 6*time.Second))
	refused(ev(events.CallUnhold, "c1", 7*time.Second))
	h := ev(events.CallHangup, "c1", 63*time.Second+500*time.Millisecond)
	h.Hangup = &events.Hangup{Cause: events.CauseNormalClearing, SIPCode: 200, By: events.Callee, Duration: 999}
	ok(h)
	refused(ev(events.CallHangup, "c1", 64*time.Second)) // one hangup
	bad := ev(events.CallInput, "c2", 0)
	bad.Digit = "x"
	refused(bad)
	stop()

	got, err := st.ListEvents(ctx, store.EventFilter{CallUUID: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	want := []events.Kind{events.CallRouted, events.CallRinging, events.CallAnswer, events.CallHold, events.CallUnhold, events.CallHangup}
	if len(got) != len(want) {
		t.Fatalf("stored %d events, want %d", len(got), len(want))
	}
	for i, e := range got {
		if e.Kind != want[i] || e.Sequence != int64(i+1) || e.ID == "" || e.SessionUUID != "c1" {
			t.Errorf("event %d = %s seq %d id %q session %q", i, e.Kind, e.Sequence, e.ID, e.SessionUUID)
		}
	}
	hang := got[len(got)-1].Hangup
	if hang == nil || hang.Duration != 63 || hang.Billsec != 60 || hang.AnsweredBy != "1002" || hang.Cause != events.CauseNormalClearing || hang.By != events.Callee {
		t.Errorf("hangup = %+v, want duration 63, billsec 60, answered_by 1002", hang)
	}
	if wakes.Load() == 0 {
		t.Error("the engine was never woken")
	}
	if r.OpenCalls() != 0 {
		t.Errorf("%d calls still open", r.OpenCalls())
	}
}

func TestRecoverEndsCallsLeftOpen(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	r := New(st, Options{Logger: quiet, Node: "n1"})
	stop := run(t, r)
	routed := ev(events.CallRouted, "open", 0)
	routed.CallerIDName = "Alice"
	for _, e := range []events.Event{routed, ev(events.CallAnswer, "open", time.Second), ev(events.CallRouted, "done", 0), ev(events.CallHangup, "done", time.Second)} {
		if err := r.Emit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	stop()
	if err := r.Emit(ctx, ev(events.CallRouted, "late", 0)); !errors.Is(err, ErrClosed) {
		t.Errorf("Emit after stop: %v, want ErrClosed", err)
	}

	// A new process on the same node finds the open call and ends it.
	r2 := New(st, Options{Logger: quiet, Node: "n1"})
	n, err := r2.Recover(ctx, nil)
	if err != nil || n != 1 {
		t.Fatalf("Recover = %d, %v; want 1 call", n, err)
	}
	got, _ := st.ListEvents(ctx, store.EventFilter{CallUUID: "open"})
	last := got[len(got)-1]
	if last.Kind != events.CallHangup || last.Sequence != 3 || last.Hangup.Cause != events.CauseSystemShutdown || last.Hangup.By != events.System || last.Hangup.AnsweredBy != "1002" || last.CallerIDName != "Alice" {
		t.Errorf("recovered hangup = %+v %+v", last, last.Hangup)
	}
	// An engine that still carries the call cannot open it again.
	stop2 := run(t, r2)
	if err := r2.Emit(ctx, ev(events.CallRouted, "open", 0)); !errors.Is(err, ErrRejected) {
		t.Errorf("re-routing a recovered call: err = %v, want ErrRejected", err)
	}
	stop2()
	if n, _ := New(st, Options{Logger: quiet, Node: "n1"}).Recover(ctx, nil); n != 0 {
		t.Errorf("second Recover ended %d calls again", n)
	}
}

// A connector's calls outlive a restart: Recover keeps them open with their
// state, hands their events to the source, and their next events follow on.
func TestRecoverKeepsEngineCalls(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	r := New(st, Options{Logger: quiet, Node: "n1"})
	stop := run(t, r)
	engine := func(e events.Event) events.Event { e.Source = "freeswitch/fs1"; return e }
	fsRouted := engine(ev(events.CallRouted, "fs", 0))
	fsRouted.CallerIDName = "Alice"
	hold := ev(events.CallHold, "fs", 2*time.Second)
	hold.Party = events.Caller
	for _, e := range []events.Event{
		fsRouted, engine(ev(events.CallAnswer, "fs", time.Second)), engine(hold),
		ev(events.CallRouted, "pbx", 0),
	} {
		if err := r.Emit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	stop()

	r2 := New(st, Options{Logger: quiet, Node: "n1"})
	n, err := r2.Recover(ctx, func(s string) bool { return s == "freeswitch/fs1" })
	if err != nil || n != 1 {
		t.Fatalf("Recover = %d, %v; want the PBX call ended", n, err)
	}
	resumed := r2.Resume("freeswitch/fs1")
	if len(resumed) != 1 || len(resumed[0]) != 3 || resumed[0][2].Kind != events.CallHold {
		t.Fatalf("Resume = %+v, want the call's 3 events", resumed)
	}
	if again := r2.Resume("freeswitch/fs1"); again != nil {
		t.Errorf("second Resume = %v", again)
	}
	stop2 := run(t, r2)
	if err := r2.Emit(ctx, engine(ev(events.CallHold, "fs", 3*time.Second))); !errors.Is(err, ErrRejected) {
		t.Errorf("a second hold of the resumed call: %v, want ErrRejected", err)
	}
	for _, e := range []events.Event{engine(ev(events.CallUnhold, "fs", 4*time.Second)), engine(ev(events.CallHangup, "fs", 5*time.Second))} {
		if err := r2.Emit(ctx, e); err != nil {
			t.Fatalf("resumed call's %s: %v", e.Kind, err)
		}
	}
	stop2()
	got, _ := st.ListEvents(ctx, store.EventFilter{CallUUID: "fs"})
	var kinds []events.Kind
	for i, e := range got {
		kinds = append(kinds, e.Kind)
		if e.Sequence != int64(i+1) {
			t.Errorf("event %d (%s) has sequence %d", i, e.Kind, e.Sequence)
		}
	}
	if len(got) != 5 || got[4].Hangup.Billsec != 4 || got[4].Hangup.Duration != 5 || got[4].Hangup.Cause == events.CauseSystemShutdown || got[4].CallerIDName != "Alice" {
		t.Errorf("the engine call's events = %v, hangup %+v", kinds, got[len(got)-1].Hangup)
	}
}

func TestTestEventsStandAlone(t *testing.T) {
	st := openStore(t)
	if err := st.CreateEndpoint(context.Background(), &store.Endpoint{ID: "ep_1", URL: "http://127.0.0.1:1/", MaxInFlight: 1, Timeout: time.Second}); err != nil {
		t.Fatal(err)
	}
	r := New(st, Options{Logger: quiet, Node: "n1"})
	stop := run(t, r)
	e := ev(events.CallAnswer, "t1", 0)
	e.Endpoint = "ep_1"
	if err := r.Emit(context.Background(), e); err != nil {
		t.Fatalf("test event refused: %v", err)
	}
	stop()
	got, _ := st.ListEvents(context.Background(), store.EventFilter{CallUUID: "t1"})
	if len(got) != 1 || got[0].Sequence != 1 {
		t.Fatalf("stored %+v", got)
	}
}

// TestSimulatedCallsAreRecordedInOrder runs many calls through the group
// commit from concurrent sources.
func TestSimulatedCallsAreRecordedInOrder(t *testing.T) {
	st := openStore(t)
	r := New(st, Options{Logger: quiet, Node: "n1", MaxBatch: 64})
	stop := run(t, r)
	ctx := context.Background()
	done := make(chan error, 4)
	for range 4 {
		go func() { done <- simulator.New(simulator.Config{Calls: 50, Rate: 10000}).Run(ctx, r) }()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	stop()
	all, err := st.ListEvents(ctx, store.EventFilter{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 4*50*simulator.CallEvents {
		t.Fatalf("stored %d events, want %d", len(all), 4*50*simulator.CallEvents)
	}
	next := map[string]int64{}
	for _, e := range all {
		next[e.CallUUID]++
		if e.Sequence != next[e.CallUUID] {
			t.Fatalf("call %s: event %s has sequence %d, want %d", e.CallUUID, e.Kind, e.Sequence, next[e.CallUUID])
		}
	}
}

func BenchmarkRecord(b *testing.B) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	st.Migrate(ctx)
	r := New(st, Options{Logger: quiet, Node: "n1"})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { r.Run(runCtx); close(done) }()
	sim := simulator.New(simulator.Config{Calls: b.N, Rate: 1e9})
	b.ResetTimer()
	if err := sim.Run(ctx, r); err != nil {
		b.Fatal(err)
	}
	cancel()
	<-done
	b.ReportMetric(float64(b.N*simulator.CallEvents)/b.Elapsed().Seconds(), "events/s")
}

func TestWatchSeesCommittedEvents(t *testing.T) {
	st := openStore(t)
	r := New(st, Options{Logger: quiet, Node: "n1"})
	ch, stopWatch := r.Watch(16)
	stop := run(t, r)
	defer stop()
	if err := r.Emit(context.Background(), ev(events.CallRouted, "w1", 0)); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-ch:
		if e.Kind != events.CallRouted || e.CallUUID != "w1" || e.Sequence != 1 {
			t.Errorf("watched %+v", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event watched")
	}
	stopWatch()
	if _, open := <-ch; open {
		t.Error("channel still open after stop")
	}
}

// gatedStore holds every InsertEvents until the gate is opened and counts
// the transactions.
type gatedStore struct {
	store.Store
	gate    chan struct{}
	commits atomic.Int32
}

func (g *gatedStore) InsertEvents(ctx context.Context, node string, evs []events.Event) (int, error) {
	<-g.gate
	g.commits.Add(1)
	return g.Store.InsertEvents(ctx, node, evs)
}

func TestRecordReturnsOnceCommittedSharingTransactions(t *testing.T) {
	t.Parallel()
	st := &gatedStore{Store: openStore(t), gate: make(chan struct{})}
	r := New(st, Options{Logger: quiet, Node: "n1"})
	stop := run(t, r)
	defer stop()
	ctx := context.Background()
	const n = 50
	done := make(chan error, n)
	for i := range n {
		go func() { done <- r.Record(ctx, ev(events.CallRouted, fmt.Sprintf("r%d", i), 0)) }()
	}
	select {
	case err := <-done:
		t.Fatalf("Record returned (%v) before its event was committed", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(st.gate)
	for range n {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	got, err := st.ListEvents(ctx, store.EventFilter{Limit: 1000})
	if err != nil || len(got) != n {
		t.Fatalf("stored %d events (%v), want %d", len(got), err, n)
	}
	// The first transaction was held at the gate while the other 49 queued:
	// they share at most a few more.
	if c := st.commits.Load(); c > 3 {
		t.Errorf("%d recorded events took %d transactions, want them grouped", n, c)
	}
}

func TestRecordGivesUpWithItsContext(t *testing.T) {
	t.Parallel()
	st := &gatedStore{Store: openStore(t), gate: make(chan struct{})}
	r := New(st, Options{Logger: quiet, Node: "n1"})
	stop := run(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := r.Record(ctx, ev(events.CallRouted, "slow", 0)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Record = %v, want the context's deadline", err)
	}
	close(st.gate)
	stop()
	if err := r.Record(context.Background(), ev(events.CallRouted, "late", 0)); !errors.Is(err, ErrClosed) {
		t.Errorf("Record after stop: %v, want ErrClosed", err)
	}
}

// countingStore counts the transactions of InsertEvents.
type countingStore struct {
	store.Store
	commits atomic.Int64
}

func (c *countingStore) InsertEvents(ctx context.Context, node string, evs []events.Event) (int, error) {
	c.commits.Add(1)
	return c.Store.InsertEvents(ctx, node, evs)
}

// BenchmarkRecordWaiters has 1, 8 and 64 callers Record events at once on
// SQLite, each waiting for its commit, and reports the events per
// transaction: group commit is what lets many waiters cost little more
// than one.
func BenchmarkRecordWaiters(b *testing.B) {
	for _, callers := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			ctx := context.Background()
			sq, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer sq.Close()
			if err := sq.Migrate(ctx); err != nil {
				b.Fatal(err)
			}
			st := &countingStore{Store: sq}
			r := New(st, Options{Logger: quiet, Node: "n1"})
			runCtx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { r.Run(runCtx); close(done) }()
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for range callers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
						if err := r.Record(ctx, ev(events.CallRouted, fmt.Sprintf("b%d", i), 0)); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			cancel()
			<-done
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(b.N)/float64(st.commits.Load()), "events/commit")
		})
	}
}
