package delivery_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/store"
	"github.com/switchhook/switchhook/internal/store/postgres"
	"github.com/switchhook/switchhook/internal/store/postgres/pgtest"
)

// openPostgres opens a store on dsn, as one process would; it is skipped
// without a PostgreSQL server (see pgtest).
func openPostgres(t testing.TB, dsn string) *postgres.Store {
	t.Helper()
	ctx := context.Background()
	st, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}

// Two processes (two stores, two engines) share a PostgreSQL database: the
// work is split between them, each call's events still arrive in order
// through retries, and no event is sent twice while every answer is a 2xx.
func TestPostgresTwoNodes(t *testing.T) {
	dsn := pgtest.DSN(t)
	sta, stb := openPostgres(t, dsn), openPostgres(t, dsn)
	const calls, perCall = 15, 5
	var (
		mu       sync.Mutex
		accepted = map[string]int64{}
		tries    = map[string]int{}
	)
	h := newHook(t, func(n int, r received, w http.ResponseWriter) {
		e := r.Event
		mu.Lock()
		defer mu.Unlock()
		if want := accepted[e.CallUUID] + 1; e.Sequence != want {
			t.Errorf("call %s: got sequence %d, want %d", e.CallUUID, e.Sequence, want)
		}
		tries[e.WebhookID]++
		if e.Sequence == 3 && tries[e.WebhookID] == 1 { // every call's third event fails once
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		if tries[e.WebhookID] > 2 {
			t.Errorf("event %s sent %d times", e.WebhookID, tries[e.WebhookID])
		}
		accepted[e.CallUUID] = e.Sequence
		w.WriteHeader(http.StatusNoContent)
	})
	ep := endpoint(t, sta, h.srv.URL, nil)
	h.forEndpoint(ep)
	oa, ob := testOptions(t), testOptions(t)
	oa.Node, ob.Node = "node-a", "node-b"
	ca, cb := &countingStore{Store: sta}, &countingStore{Store: stb}
	a, _ := start(t, ca, oa), start(t, cb, ob)
	for range calls {
		emit(t, sta, a, call(perCall)...)
	}
	waitFor(t, "every event delivered", allStatus(t, sta, ep.ID, calls*perCall, store.Succeeded))
	t.Logf("node-a sent %d, node-b %d", ca.claimed.Load(), cb.claimed.Load())
}

// Work committed by another process wakes an idle engine through the
// store's notifications, long before its next poll.
func TestPostgresNotificationWakesEngine(t *testing.T) {
	dsn := pgtest.DSN(t)
	writer, deliverer := openPostgres(t, dsn), openPostgres(t, dsn)
	h := newHook(t, nil)
	ep := endpoint(t, writer, h.srv.URL, nil)
	h.forEndpoint(ep)
	o := testOptions(t)
	o.PollInterval = time.Hour // only a notification can wake it
	start(t, deliverer, o)
	// The engine's first claim may come before or after this insert; wait
	// until it idles so the delivery below needs a notification.
	time.Sleep(100 * time.Millisecond)
	emit(t, writer, nil, call(2)...)
	waitFor(t, "delivered", allStatus(t, writer, ep.ID, 2, store.Succeeded))
}
