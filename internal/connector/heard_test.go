package connector

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The last contact outlives the process; it is written at most every 5 s
// unless forced, never backwards, and a missing or broken file is unknown.
func TestHeard(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "engines", "freeswitch-fs1.json")
	l := &Link{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), HeardPath: path}
	if got := l.LastHeard(); !got.IsZero() {
		t.Fatalf("LastHeard before any = %v", got)
	}
	t0 := time.Date(2026, 12, 6, 19, 0, 0, 0, time.UTC)
	l.KeepHeard(t0, false)
	l.KeepHeard(t0.Add(time.Second), false) // within 5 s: not written
	if got := (&Link{Log: l.Log, HeardPath: path}).LastHeard(); !got.Equal(t0) {
		t.Fatalf("LastHeard = %v, want %v", got, t0)
	}
	l.KeepHeard(t0.Add(2*time.Second), true)
	l.KeepHeard(t0, true) // never backwards
	if got := (&Link{Log: l.Log, HeardPath: path}).LastHeard(); !got.Equal(t0.Add(2 * time.Second)) {
		t.Fatalf("LastHeard = %v, want %v", got, t0.Add(2*time.Second))
	}
	if err := os.WriteFile(path, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := l.LastHeard(); !got.IsZero() {
		t.Fatalf("LastHeard of a broken file = %v", got)
	}
}
