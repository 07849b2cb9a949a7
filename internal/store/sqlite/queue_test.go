package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/store"
	"github.com/switchhook/switchhook/internal/store/migrate"
)

// TestQueue checks what the queue in memory adds to the store's contract:
// events past the cache are read from the file when claimed, and each
// chain's order holds across a reopening, which loads the queue from the
// file, and across a retry of an older delivery.
func TestQueue(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "x.db")
	open := func() *Store {
		st, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		return st
	}
	st := open()
	st.q.maxCached = 1
	if err := st.CreateEndpoint(ctx, &store.Endpoint{ID: "a", URL: "http://127.0.0.1:9/", MaxInFlight: 8}); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	var evs []events.Event
	for i, k := range []events.Kind{events.CallRouted, events.CallRinging, events.CallAnswer, events.CallHangup} {
		evs = append(evs, events.Event{
			ID: "e" + string(rune('1'+i)), Kind: k, CallUUID: "c1", CallerIDNumber: "1001", DestinationNumber: "1002",
			OccurredAt: at.Add(time.Duration(i) * time.Second), Sequence: int64(i + 1), Source: "pbx",
		})
	}
	if _, err := st.InsertEvents(ctx, "n1", evs[:1]); err != nil {
		t.Fatal(err)
	}
	now := at.Add(time.Hour)
	claim := func(st *Store, want ...string) []*store.Job {
		t.Helper()
		jobs, err := st.ClaimDeliveries(ctx, store.ClaimParams{Owner: "w", Now: now, LeaseUntil: now.Add(time.Minute), Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, j := range jobs {
			got = append(got, j.Event.ID)
			if j.Event.CallUUID != "c1" || j.Delivery.EventID != j.Event.ID {
				t.Errorf("job %+v of event %+v", j.Delivery, j.Event)
			}
		}
		if len(got) != len(want) || (len(got) > 0 && got[0] != want[0]) {
			t.Fatalf("claimed %v, want %v", got, want)
		}
		return jobs
	}
	complete := func(st *Store, j *store.Job) {
		t.Helper()
		err := st.CompleteAttempts(ctx, "w", []store.Outcome{{
			Attempt: store.Attempt{DeliveryID: j.Delivery.ID, At: now, StatusCode: 204}, Status: store.Succeeded,
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
	// The queue is loaded by the first claim; the events after it are
	// added as they commit, past the cache of one.
	first := claim(st, "e1")[0]
	if _, err := st.InsertEvents(ctx, "n1", evs[1:]); err != nil {
		t.Fatal(err)
	}
	if st.q.cached != 1 {
		t.Errorf("%d events cached, want 1", st.q.cached)
	}
	claim(st) // e2 waits behind e1
	complete(st, first)
	complete(st, claim(st, "e2")[0])
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st = open()
	defer st.Close()
	third := claim(st, "e3")[0]
	// A retry of e1 makes it the chain's head again: e4 waits for it,
	// after e3, in flight, is done.
	if err := st.RetryDelivery(ctx, first.Delivery.ID, now); err != nil {
		t.Fatal(err)
	}
	complete(st, third)
	complete(st, claim(st, "e1")[0])
	complete(st, claim(st, "e4")[0])
	claim(st)
	if n, err := st.PendingCount(ctx); err != nil || n != 0 {
		t.Errorf("pending = %d, %v; want 0", n, err)
	}
}

// TestRecordingOutcomeFreesRoom checks that a delivery whose outcome is
// being recorded takes none of its endpoint's room: its request is over,
// and the next request need not wait for that commit.
func TestRecordingOutcomeFreesRoom(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := openTemp(t)
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateEndpoint(ctx, &store.Endpoint{ID: "a", URL: "http://127.0.0.1:9/", MaxInFlight: 1}); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	var evs []events.Event
	for _, call := range []string{"c1", "c2"} {
		evs = append(evs, events.Event{ID: "e-" + call, Kind: events.CallRouted, CallUUID: call, CallerIDNumber: "1001",
			DestinationNumber: "1002", OccurredAt: at, Sequence: 1, Source: "pbx"})
	}
	if _, err := st.InsertEvents(ctx, "n1", evs); err != nil {
		t.Fatal(err)
	}
	now := at.Add(time.Minute)
	p := store.ClaimParams{Owner: "w", Now: now, LeaseUntil: now.Add(time.Minute), Limit: 10}
	first, err := st.ClaimDeliveries(ctx, p)
	if err != nil || len(first) != 1 {
		t.Fatalf("first claim = %d, %v; want 1 (max_in_flight 1)", len(first), err)
	}
	// Hold the writer so that the outcome's commit waits.
	hold, held := make(chan struct{}), make(chan struct{})
	release := sync.OnceFunc(func() { close(hold) })
	defer release() // before Close, which waits for the writer
	go st.submit(ctx, func(context.Context, *sql.Tx, *group) error {
		close(held)
		<-hold
		return nil
	})
	<-held
	done := make(chan error, 1)
	go func() {
		done <- st.CompleteAttempts(ctx, "w", []store.Outcome{{
			Attempt: store.Attempt{DeliveryID: first[0].Delivery.ID, At: now, StatusCode: 204}, Status: store.Succeeded,
		}})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		jobs, err := st.ClaimDeliveries(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) == 1 {
			if jobs[0].Delivery.ID == first[0].Delivery.ID {
				t.Fatal("the delivery whose outcome is being recorded was claimed again")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no room for the other call's delivery while the first one's outcome waited for its commit")
		}
		time.Sleep(5 * time.Millisecond)
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestUpgradeKeepsPendingDeliveries opens a file at schema version 4, whose
// deliveries carried their chain's head in the file, with a chain of two
// pending deliveries, and migrates it: the queue loads them and hands them
// out in order.
func TestUpgradeKeepsPendingDeliveries(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := openTemp(t)
	ms, err := migrate.Load(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	stmts := []string{"CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT"}
	for _, m := range ms[:4] {
		stmts = append(stmts, m.SQL, fmt.Sprintf("INSERT INTO schema_version VALUES (%d, 0)", m.Version))
	}
	stmts = append(stmts,
		`INSERT INTO endpoints VALUES ('a', 'http://127.0.0.1:9/', '', '[]', 'extended', '[]', '{}', 0, '[]', 4, 0, '', 0, 'closed', 0, 0, 0, 0, 0)`,
		`INSERT INTO events (id, call_uuid, kind, occurred_at, sequence, endpoint, body) VALUES
			('e1', 'c1', 'CALL_ROUTED', 1, 1, '', '{"ID":"e1","Kind":"CALL_ROUTED","CallUUID":"c1","Sequence":1}'),
			('e2', 'c1', 'CALL_HANGUP', 2, 2, '', '{"ID":"e2","Kind":"CALL_HANGUP","CallUUID":"c1","Sequence":2}')`,
		`INSERT INTO deliveries (event_seq, endpoint_id, call_uuid, status, head, attempts, next_attempt_at, last_error, created_at, updated_at, completed_at)
			VALUES (1, 'a', 'c1', 'pending', 1, 0, 1, '', 1, 1, 0), (2, 'a', 'c1', 'pending', 0, 0, 2, '', 1, 1, 0)`,
	)
	for _, q := range stmts {
		if _, err := st.w.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, want := range []string{"e1", "e2"} {
		jobs, err := st.ClaimDeliveries(ctx, store.ClaimParams{Owner: "w", Now: now, LeaseUntil: now.Add(time.Minute), Limit: 10})
		if err != nil || len(jobs) != 1 || jobs[0].Event.ID != want {
			t.Fatalf("claim = %d jobs, %v; want the delivery of %s alone", len(jobs), err, want)
		}
		err = st.CompleteAttempts(ctx, "w", []store.Outcome{{
			Attempt: store.Attempt{DeliveryID: jobs[0].Delivery.ID, At: now, StatusCode: 204}, Status: store.Succeeded,
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// openTemp opens a store, not migrated, on a file of its own, closed when t
// ends.
func openTemp(t *testing.T) *Store {
	t.Helper()
	st, err := Open(t.Context(), filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
