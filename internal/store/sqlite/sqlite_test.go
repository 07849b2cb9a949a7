package sqlite_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/store"
	"github.com/switchhook/switchhook/internal/store/sqlite"
	"github.com/switchhook/switchhook/internal/store/storetest"
)

func open(t testing.TB, path string, opts ...sqlite.Option) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), path, opts...)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func migrated(t *testing.T, path string, opts ...sqlite.Option) *sqlite.Store {
	t.Helper()
	st := open(t, path, opts...)
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return st
}

func TestConformance(t *testing.T) {
	storetest.Exercise(t, func(t *testing.T) store.Store {
		return open(t, filepath.Join(t.TempDir(), "switchhook.db"))
	})
}

func TestOpenRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, path string
		opts       []sqlite.Option
		want       string
	}{
		{"EmptyPath", "", nil, "path is empty"},
		{"Memory", ":memory:", nil, "in-memory"},
		{"DirectoryUnderAFile", filepath.Join(writeFile(t, "a-file", ""), "dir", "x.db"), nil, "a-file/dir/x.db: create its directory: mkdir"},
		{"NoReaders", filepath.Join(t.TempDir(), "x.db"), []sqlite.Option{sqlite.WithReaders(0)}, "0 readers"},
		{"NotADatabase", writeFile(t, "garbage.db", strings.Repeat("not a database ", 512)), nil, "garbage.db"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := sqlite.Open(t.Context(), tc.path, tc.opts...)
			if err == nil {
				st.Close()
				t.Fatalf("Open(%q) succeeded", tc.path)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open(%q) = %v, want an error mentioning %q", tc.path, err, tc.want)
			}
		})
	}
}

func TestOpenMakesAMissingDirectory(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "no", "such", "dir")
	st, err := sqlite.Open(t.Context(), filepath.Join(dir, "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("directory %s made with mode %v, want 0700", dir, fi.Mode().Perm())
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPathWithURICharacters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a?b#c%d e")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "switchhook.db")
	migrated(t, path)
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the database is not where it was asked to be: %v", err)
	}
}

func TestMethodsBeforeMigrate(t *testing.T) {
	st := open(t, filepath.Join(t.TempDir(), "x.db"))
	_, err := st.InsertEvents(t.Context(), "n1", []events.Event{testEvent("e1", "c1", events.CallRouted, 1)})
	if err == nil || !strings.Contains(err.Error(), "Migrate") {
		t.Errorf("InsertEvents before Migrate = %v, want an error that says to migrate", err)
	}
}

func TestSchemaVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	st := open(t, path)
	if v, err := st.SchemaVersion(t.Context()); v != 0 || err != nil {
		t.Errorf("SchemaVersion of a new file = %d, %v; want 0", v, err)
	}
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	v, err := st.SchemaVersion(t.Context())
	if v < 1 || err != nil {
		t.Fatalf("SchemaVersion after Migrate = %d, %v", v, err)
	}
	if err := st.Migrate(t.Context()); err != nil {
		t.Errorf("Migrate again: %v", err)
	}
	if again, _ := st.SchemaVersion(t.Context()); again != v {
		t.Errorf("SchemaVersion after a second Migrate = %d, want %d", again, v)
	}
}

func TestMigrateRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	migrated(t, path).Close()

	// A later switchhook has been here.
	raw, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	v, _ := raw.SchemaVersion(t.Context())
	if err := raw.ForceSchemaVersionForTest(t.Context(), v+1); err != nil {
		t.Fatal(err)
	}
	err = raw.Migrate(t.Context())
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("Migrate of a newer schema = %v, want an error saying it is newer", err)
	}
}

func TestOneStorePerFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	first := migrated(t, path)
	second, err := sqlite.Open(t.Context(), path)
	if err == nil {
		second.Close()
		t.Fatal("a second Open of a file in use succeeded")
	}
	if !strings.Contains(err.Error(), "in use") {
		t.Errorf("second Open = %v, want an error saying the file is in use", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	migrated(t, path)
}

func testEvent(id, call string, kind events.Kind, seq int64) events.Event {
	return events.Event{
		ID: id, Kind: kind, CallUUID: call, CallerIDNumber: "1001", DestinationNumber: "1002",
		OccurredAt: time.Date(2025, 6, 1, 12, 0, int(seq), 0, time.UTC), Sequence: seq, Source: "pbx",
	}
}

// TestReopen checks that what was committed is there after the store is
// closed and opened again, and that leases, which live in memory, are not.
func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	ctx := t.Context()
	st := migrated(t, path)
	if err := st.CreateEndpoint(ctx, &store.Endpoint{ID: "a", URL: "http://127.0.0.1:9/", MaxInFlight: 4}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.InsertEvents(ctx, "n1", []events.Event{testEvent("e1", "c1", events.CallRouted, 1)}); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2025, 6, 1, 13, 0, 0, 0, time.UTC)
	p := store.ClaimParams{Owner: "w", Now: now, LeaseUntil: now.Add(time.Hour), Limit: 10}
	if jobs, err := st.ClaimDeliveries(ctx, p); err != nil || len(jobs) != 1 {
		t.Fatalf("claim = %d, %v", len(jobs), err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st = migrated(t, path)
	if evs, err := st.ListEvents(ctx, store.EventFilter{}); err != nil || len(evs) != 1 {
		t.Errorf("events after reopening = %d, %v; want 1", len(evs), err)
	}
	if c, err := st.GetCall(ctx, "c1"); err != nil || c.EndedAt != (time.Time{}) {
		t.Errorf("open call after reopening = %+v, %v", c, err)
	}
	jobs, err := st.ClaimDeliveries(ctx, p)
	if err != nil || len(jobs) != 1 {
		t.Errorf("claim after reopening = %d, %v; want the delivery leased by the closed store", len(jobs), err)
	}
}

// A child process records events and reports each batch once InsertEvents
// has returned; the parent kills it with SIGKILL mid-stream and then finds
// every reported batch in the file. The dead process's hold on the file goes
// with it.
const killChildEnv = "SWITCHHOOK_SQLITE_KILL_CHILD"

func TestKilledProcessLosesNoCommittedEvent(t *testing.T) {
	if path := os.Getenv(killChildEnv); path != "" {
		recordUntilKilled(path)
		return
	}
	path := filepath.Join(t.TempDir(), "x.db")
	st := migrated(t, path)
	if err := st.CreateEndpoint(t.Context(), &store.Endpoint{ID: "a", URL: "http://127.0.0.1:9/", MaxInFlight: 4}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestKilledProcessLosesNoCommittedEvent$")
	cmd.Env = append(os.Environ(), killChildEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	committed := 0
	sc := bufio.NewScanner(out)
	for sc.Scan() && committed < 30 {
		if n, err := strconv.Atoi(strings.TrimPrefix(sc.Text(), "committed ")); err == nil {
			committed = n
		}
	}
	if st, err := sqlite.Open(t.Context(), path); err == nil || !strings.Contains(err.Error(), "in use") {
		if st != nil {
			st.Close()
		}
		t.Errorf("Open while another process has the file = %v, want an error saying it is in use", err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if committed == 0 {
		t.Fatal("the child reported no commit")
	}

	st = migrated(t, path)
	evs, err := st.ListEvents(t.Context(), store.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) < committed*10 {
		t.Errorf("%d events in the file, but the killed process had committed %d", len(evs), committed*10)
	}
	if n, err := st.PendingCount(t.Context()); err != nil || n != len(evs) {
		t.Errorf("PendingCount = %d, %v; want one delivery per event (%d)", n, err, len(evs))
	}
}

// recordUntilKilled is the child's side: batches of ten events, forever, or
// for a minute at most should nobody kill it.
func recordUntilKilled(path string) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	deadline := time.Now().Add(time.Minute)
	for b := 1; time.Now().Before(deadline); b++ {
		var evs []events.Event
		for i := range 10 {
			evs = append(evs, testEvent(fmt.Sprintf("e%d-%d", b, i), fmt.Sprintf("c%d-%d", b, i), events.CallRouted, 1))
		}
		if _, err := st.InsertEvents(ctx, "n1", evs); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("committed %d\n", b)
	}
	os.Exit(0)
}
