package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/events"
)

// TestSharedWrites runs writes that land in shared transactions: one that
// fails half-way leaves nothing behind, and the others commit.
func TestSharedWrites(t *testing.T) {
	t.Parallel()
	st, err := Open(t.Context(), filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := st.w.Exec("CREATE TABLE t (k TEXT PRIMARY KEY) STRICT"); err != nil {
		t.Fatal(err)
	}
	insert := func(keys ...string) func(context.Context, *sql.Tx, *group) error {
		return func(ctx context.Context, tx *sql.Tx, _ *group) error {
			for _, k := range keys {
				if _, err := tx.ExecContext(ctx, "INSERT INTO t (k) VALUES (?)", k); err != nil {
					return err
				}
			}
			return nil
		}
	}
	if err := st.submit(t.Context(), insert("dup")); err != nil {
		t.Fatal(err)
	}
	const n = 200
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%10 == 0 {
				// Fails on its second row: its first must not stay.
				errs[i] = st.submit(t.Context(), insert(fmt.Sprintf("bad%d", i), "dup"))
				return
			}
			errs[i] = st.submit(t.Context(), insert(fmt.Sprintf("k%d", i)))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if (i%10 == 0) != (err != nil) {
			t.Errorf("write %d: %v", i, err)
		}
	}
	var good, bad int
	if err := st.w.QueryRow("SELECT count(*) FILTER (WHERE k LIKE 'k%'), count(*) FILTER (WHERE k LIKE 'bad%') FROM t").Scan(&good, &bad); err != nil {
		t.Fatal(err)
	}
	if good != n-n/10 || bad != 0 {
		t.Errorf("%d good rows, %d of failed writes; want %d and 0", good, bad, n-n/10)
	}

	st.Close()
	if err := st.submit(t.Context(), insert("late")); !errors.Is(err, errClosed) {
		t.Errorf("write after Close: %v, want %v", err, errClosed)
	}
}

// TestWritesQueuedTogetherShareATransaction shows why a burst of events
// cannot starve the outcomes: every write that queued while a transaction
// ran goes into the next one, however many there are.
func TestWritesQueuedTogetherShareATransaction(t *testing.T) {
	t.Parallel()
	st, err := Open(t.Context(), filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	running := make(chan struct{})
	go st.submit(t.Context(), func(context.Context, *sql.Tx, *group) error {
		close(running)
		<-release
		return nil
	})
	<-running
	const n = 20
	var (
		mu  sync.Mutex
		txs = map[*sql.Tx]int{}
		wg  sync.WaitGroup
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := st.submit(t.Context(), func(_ context.Context, tx *sql.Tx, _ *group) error {
				mu.Lock()
				txs[tx]++
				mu.Unlock()
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	for deadline := time.Now().Add(10 * time.Second); len(st.writes) < n; runtime.Gosched() {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d writes queued in 10s", len(st.writes), n)
		}
	}
	close(release)
	wg.Wait()
	if len(txs) != 1 {
		t.Errorf("%d writes queued together ran in %d transactions, want 1", n, len(txs))
	}
}

// TestCheckpointsOffTheWriter checks that what is committed reaches the
// database file without the writer checkpointing (its own threshold, 20,000
// pages, is far off here): the checkpointer copies it meanwhile.
func TestCheckpointsOffTheWriter(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "x.db")
	st, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	for i := range 200 {
		call := fmt.Sprintf("c%d", i)
		if _, err := st.InsertEvents(t.Context(), "n1", []events.Event{{
			ID: "e" + call, Kind: events.CallRouted, CallUUID: call, CallerIDNumber: "1001", DestinationNumber: "1002",
			OccurredAt: time.Now(), Sequence: 1, Source: "pbx",
		}}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for size() <= before {
		if time.Now().After(deadline) {
			t.Fatalf("the database file stayed at %d bytes for 10 s after 200 commits: nothing checkpointed", before)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
