package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/switchhook/switchhook/internal/store"
	"github.com/switchhook/switchhook/internal/store/storetest"
)

// benchOpen opens a store on a file of its own.
func benchOpen(b *testing.B) store.Store { return open(b, filepath.Join(b.TempDir(), "bench.db")) }

func BenchmarkInsertEvents(b *testing.B)  { storetest.BenchmarkInsertEvents(b, benchOpen) }
func BenchmarkClaimComplete(b *testing.B) { storetest.BenchmarkClaimComplete(b, benchOpen) }
func BenchmarkDeliveryCycle(b *testing.B) { storetest.BenchmarkDeliveryCycle(b, benchOpen) }
