package postgres_test

import (
	"testing"

	"github.com/switchhook/switchhook/internal/store"
	"github.com/switchhook/switchhook/internal/store/postgres/pgtest"
	"github.com/switchhook/switchhook/internal/store/storetest"
)

// benchOpen opens a store on a database of its own.
func benchOpen(b *testing.B) store.Store { return open(b, pgtest.DSN(b)) }

func BenchmarkInsertEvents(b *testing.B)  { storetest.BenchmarkInsertEvents(b, benchOpen) }
func BenchmarkClaimComplete(b *testing.B) { storetest.BenchmarkClaimComplete(b, benchOpen) }
func BenchmarkDeliveryCycle(b *testing.B) { storetest.BenchmarkDeliveryCycle(b, benchOpen) }
