package postgres_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/events"
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

// TestOddTextIsStored records what PostgreSQL's text type refuses and Go
// strings allow (a NUL, invalid UTF-8) in an event and in an attempt: a
// recorder or an engine retrying a write forever would stop everything.
func TestOddTextIsStored(t *testing.T) {
	sts, _ := nodes(t, 1)
	st, ctx := sts[0], t.Context()
	if err := st.CreateEndpoint(ctx, testEndpoint("a", 10)); err != nil {
		t.Fatal(err)
	}
	evs := callEvents(events.CallRouted)
	evs[0].CallerIDNumber = "10\x0001\xff"
	if _, err := st.InsertEvents(ctx, "n\x00", evs); err != nil {
		t.Fatalf("InsertEvents with a NUL and invalid UTF-8: %v", err)
	}
	got, err := st.ListEvents(ctx, store.EventFilter{CallUUID: evs[0].CallUUID})
	if err != nil || len(got) != 1 {
		t.Fatalf("ListEvents = %d events, %v", len(got), err)
	}
	if want := "10\x0001\uFFFD"; got[0].CallerIDNumber != want {
		t.Errorf("stored caller %q, want %q (as encoding/json keeps it)", got[0].CallerIDNumber, want)
	}
	now := t0.Add(time.Hour)
	jobs, err := st.ClaimDeliveries(ctx, store.ClaimParams{Owner: "n", Now: now, LeaseUntil: now.Add(time.Minute), Limit: 1})
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim: %d jobs, %v", len(jobs), err)
	}
	out := store.Outcome{
		Attempt: store.Attempt{DeliveryID: jobs[0].Delivery.ID, At: now, StatusCode: 500, Error: "bad\x00", Response: "\x00\xfe{}"},
		Status:  store.Pending, NextAttemptAt: now.Add(time.Minute), Error: "500 \xff",
	}
	if err := st.CompleteAttempts(ctx, "n", []store.Outcome{out}); err != nil {
		t.Fatalf("CompleteAttempts with a NUL and invalid UTF-8: %v", err)
	}
	atts, err := st.ListAttempts(ctx, jobs[0].Delivery.ID)
	if err != nil || len(atts) != 1 || atts[0].Response != "\uFFFD\uFFFD{}" {
		t.Errorf("ListAttempts = %+v, %v", atts, err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := t.Context()
	for name, dsn := range map[string]string{
		"empty":      "",
		"bad scheme": "mysql://127.0.0.1/switchhook",
		"bad port":   "postgres://postgres@127.0.0.1:notaport/switchhook",
	} {
		if st, err := postgres.Open(ctx, dsn); err == nil {
			st.Close()
			t.Errorf("Open(%s) succeeded", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}

	// A port nothing listens on: the error names where it tried.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dsn := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/switchhook?connect_timeout=5", port)
	st, err := postgres.Open(ctx, dsn)
	if err == nil {
		st.Close()
		t.Fatal("Open of a server that is not there succeeded")
	}
	if want := fmt.Sprintf("127.0.0.1:%d", port); !strings.Contains(err.Error(), want) {
		t.Errorf("Open error %q does not name %s", err, want)
	}
}
