package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/store"
	"github.com/switchhook/switchhook/internal/store/postgres"
)

// wait fails t unless c delivers a value within timeout.
func wait(t *testing.T, c <-chan struct{}, timeout time.Duration, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(timeout):
		t.Fatalf("no notification within %v of %s", timeout, what)
	}
}

// drain empties c of the value it may hold.
func drain(c <-chan struct{}) {
	select {
	case <-c:
	default:
	}
}

// listening waits until st's listener has connected and announced it,
// and drains that announcement.
func listening(t *testing.T, st *postgres.Store) <-chan struct{} {
	t.Helper()
	c := st.Notifications()
	wait(t, c, 10*time.Second, "the listener's start")
	return c
}

func TestWorkFromOtherNodesIsNotified(t *testing.T) {
	sts, _ := nodes(t, 2)
	idle, busy := sts[0], sts[1]
	ctx := t.Context()
	c := listening(t, idle)
	if err := busy.CreateEndpoint(ctx, testEndpoint("a", 10)); err != nil {
		t.Fatal(err)
	}

	evs := callEvents(events.CallRouted)
	if _, err := busy.InsertEvents(ctx, "n1", evs); err != nil {
		t.Fatal(err)
	}
	wait(t, c, 10*time.Second, "InsertEvents on another node")

	now := t0.Add(time.Hour)
	jobs, err := busy.ClaimDeliveries(ctx, store.ClaimParams{Owner: "n1", Now: now, LeaseUntil: now.Add(time.Minute), Limit: 1})
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim: %d jobs, %v", len(jobs), err)
	}
	drain(c)
	if err := busy.ReleaseLeases(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	wait(t, c, 10*time.Second, "ReleaseLeases on another node")

	id := jobs[0].Delivery.ID
	out := store.Outcome{Attempt: store.Attempt{DeliveryID: id, At: now, StatusCode: 410}, Status: store.Failed, Error: "410 Gone"}
	if _, err := busy.ClaimDeliveries(ctx, store.ClaimParams{Owner: "n1", Now: now, LeaseUntil: now.Add(time.Minute), Limit: 1}); err != nil {
		t.Fatal(err)
	}
	if err := busy.CompleteAttempts(ctx, "n1", []store.Outcome{out}); err != nil {
		t.Fatal(err)
	}
	drain(c)
	if err := busy.RetryDelivery(ctx, id, now); err != nil {
		t.Fatal(err)
	}
	wait(t, c, 10*time.Second, "RetryDelivery on another node")

	drain(c)
	if _, err := busy.Replay(ctx, "a", store.ReplayFilter{}, now); err != nil {
		t.Fatal(err)
	}
	wait(t, c, 10*time.Second, "Replay on another node")
}

// TestListenerReconnects ends the listener's connection from the server
// side, as a database restart or a network cut would, and checks that the
// listener comes back and passes on the next notification.
func TestListenerReconnects(t *testing.T) {
	sts, dsn := nodes(t, 2)
	idle, busy := sts[0], sts[1]
	ctx := t.Context()
	c := listening(t, idle)
	if err := busy.CreateEndpoint(ctx, testEndpoint("a", 10)); err != nil {
		t.Fatal(err)
	}
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	listenerPID := func() int {
		var pid int
		err := admin.QueryRow(ctx, `SELECT coalesce(max(pid), 0) FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = 'switchhook-listener'`).Scan(&pid)
		if err != nil {
			t.Fatal(err)
		}
		return pid
	}
	old := listenerPID()
	if old == 0 {
		t.Fatal("no listener connection in pg_stat_activity")
	}
	if _, err := admin.Exec(ctx, "SELECT pg_terminate_backend($1)", old); err != nil {
		t.Fatal(err)
	}
	// The listener announces its new connection, since notifications sent
	// while it was away were lost.
	wait(t, c, 15*time.Second, "the listener's reconnection")
	if pid := listenerPID(); pid == 0 || pid == old {
		t.Fatalf("listener pid %d after terminating %d, want a new connection", pid, old)
	}
	drain(c)
	if _, err := busy.InsertEvents(ctx, "n1", callEvents(events.CallRouted)); err != nil {
		t.Fatal(err)
	}
	wait(t, c, 10*time.Second, "InsertEvents after the reconnection")
}

func TestNotificationsStopWithClose(t *testing.T) {
	sts, _ := nodes(t, 1)
	listening(t, sts[0])
	done := make(chan struct{})
	go func() { sts[0].Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return within 10s with the listener running")
	}
}
