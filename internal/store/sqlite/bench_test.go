package sqlite_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

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
