package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/store"
	"github.com/switchhook/switchhook/internal/store/postgres"
	"github.com/switchhook/switchhook/internal/store/postgres/pgtest"
	"github.com/switchhook/switchhook/internal/store/storetest"
)

// open opens a store on dsn, not migrated, closed when t ends.
func open(t testing.TB, dsn string) *postgres.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestConformance runs the suite on a database of its own, each test in a
// schema of its own.
func TestConformance(t *testing.T) {
	dsn := pgtest.DSN(t)
	storetest.Exercise(t, func(t *testing.T) store.Store { return open(t, pgtest.Schema(t, dsn)) })
}
