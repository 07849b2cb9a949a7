package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
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
