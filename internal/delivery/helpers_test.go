package delivery_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/switchhook/switchhook/internal/delivery"
	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/signature"
	"github.com/switchhook/switchhook/internal/store"
	"github.com/switchhook/switchhook/internal/store/postgres"
	"github.com/switchhook/switchhook/internal/store/postgres/pgtest"
	"github.com/switchhook/switchhook/internal/store/sqlite"
	"github.com/switchhook/switchhook/receiver"
)

// waitLimit bounds every wait of these tests; nothing they wait for should
// take more than a fraction of it.
const waitLimit = 15 * time.Second

// openStore opens a fresh store for one test: SQLite, or PostgreSQL when
// SWITCHHOOK_TEST_STORE=postgres, so the same suite runs unchanged against
// both (make test runs it both ways).
func openStore(t testing.TB) store.Store {
	t.Helper()
	ctx := context.Background()
	var st store.Store
	var err error
	if os.Getenv("SWITCHHOOK_TEST_STORE") == "postgres" {
		st, err = postgres.Open(ctx, pgtest.DSN(t))
	} else {
		st, err = sqlite.Open(ctx, filepath.Join(t.TempDir(), "switchhook.db"))
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}

// testOptions are engine options for tests: fast polls and circuit pauses,
// logs through t.
func testOptions(t testing.TB) delivery.Options {
	return delivery.Options{
		Node:            "test-node",
		Logger:          slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Version:         "test",
		PollInterval:    50 * time.Millisecond,
		CircuitFailures: 1000,
		CircuitPause:    100 * time.Millisecond,
		ShutdownTimeout: 5 * time.Second,
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p[:len(p)-1]))
	return len(p), nil
}

// running is an engine whose Run goroutine the test controls.
type running struct {
	*delivery.Engine
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// start runs an engine on st until the test ends (or stop is called).
func start(t testing.TB, st store.Store, o delivery.Options) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Engine: delivery.New(st, o), cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- r.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels Run and waits for it to return.
func (r *running) stop(t testing.TB) {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(waitLimit):
			t.Fatal("Run did not return")
		}
	})
}

// endpoint creates an endpoint for url with a fresh secret, after mod.
func endpoint(t testing.TB, st store.Store, url string, mod func(*store.Endpoint)) *store.Endpoint {
	t.Helper()
	ep := &store.Endpoint{
		ID:            "ep_" + uuid.NewString()[:8],
		URL:           url,
		Profile:       events.Extended,
		Secrets:       []store.Secret{{Value: signature.NewSecret()}},
		Timeout:       5 * time.Second,
		RetrySchedule: []time.Duration{0, 20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond},
		MaxInFlight:   16,
	}
	if mod != nil {
		mod(ep)
	}
	if err := st.CreateEndpoint(context.Background(), ep); err != nil {
		t.Fatal(err)
	}
	return ep
}

// call returns the n events of one call, in sequence: CALL_ROUTED, then
// digits, then CALL_HANGUP.
func call(n int) []events.Event {
	id := uuid.NewString()
	now := time.Now()
	evs := make([]events.Event, n)
	for i := range evs {
		e := events.Event{
			ID: uuid.NewString(), Kind: events.CallInput, CallUUID: id, SessionUUID: id,
			CallerIDNumber: "1001", DestinationNumber: "1002", Digit: "5", DigitDuration: 250 * time.Millisecond,
			OccurredAt: now.Add(time.Duration(i) * time.Millisecond), Sequence: int64(i + 1),
			Direction: events.Internal, LegUUID: id, Party: events.Caller, Source: "test",
		}
		switch i {
		case 0:
			e.Kind, e.RoutedTo = events.CallRouted, &events.Target{Type: events.Extension, Target: "1002"}
		case n - 1:
			e.Kind, e.Hangup = events.CallHangup, &events.Hangup{Cause: events.CauseNormalClearing, SIPCode: 200, By: events.Caller}
		}
		if e.Kind != events.CallInput {
			e.Digit, e.DigitDuration, e.Party = "", 0, ""
		}
		evs[i] = e
	}
	return evs
}

// emit records evs and wakes the engine, as the recorder does.
func emit(t testing.TB, st store.Store, eng interface{ Wake() }, evs ...events.Event) {
	t.Helper()
	if _, err := st.InsertEvents(context.Background(), "test-node", evs); err != nil {
		t.Fatal(err)
	}
	if eng != nil {
		eng.Wake()
	}
}

// hook is a webhook receiver on loopback that verifies every request with
// the receiver package and answers as respond says (204 when nil).
type hook struct {
	t       testing.TB
	srv     *httptest.Server
	secrets []string // each must verify every request

	mu       sync.Mutex
	requests []received
	respond  func(n int, r received, w http.ResponseWriter) // n counts requests from 1
}

// received is one request a hook got.
type received struct {
	Event  *receiver.Event
	Header http.Header
	At     time.Time
	Done   <-chan struct{} // the request's context is done
}

func newHook(t testing.TB, respond func(n int, r received, w http.ResponseWriter)) *hook {
	h := &hook{t: t, respond: respond}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	return h
}

// forEndpoint makes h verify with ep's current secret.
func (h *hook) forEndpoint(ep *store.Endpoint) *hook {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.secrets = []string{ep.Secrets[0].Value}
	return h
}

func (h *hook) serve(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	secrets := h.secrets
	h.mu.Unlock()
	ev, err := verify(r, secrets)
	if err != nil {
		h.t.Errorf("hook: %s %s: %v", r.Method, r.URL, err)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	rec := received{Event: ev, Header: r.Header.Clone(), At: time.Now(), Done: r.Context().Done()}
	h.mu.Lock()
	h.requests = append(h.requests, rec)
	n := len(h.requests)
	respond := h.respond
	h.mu.Unlock()
	if respond == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	respond(n, rec, w)
}

// verify checks r's signature against every secret and parses its body.
func verify(r *http.Request, secrets []string) (*receiver.Event, error) {
	if len(secrets) == 0 {
		return nil, errors.New("hook has no secret")
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	for _, s := range secrets {
		if err := receiver.Verify(s, r.Header, body, 0); err != nil {
			return nil, err
		}
	}
	ev, err := receiver.Parse(body)
	if err != nil {
		return nil, err
	}
	ev.WebhookID = r.Header.Get(receiver.HeaderID)
	return ev, nil
}

// got returns the requests so far.
func (h *hook) got() []received {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]received(nil), h.requests...)
}

// waitFor polls cond until it holds, failing the test after waitLimit.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// deliveries lists ep's deliveries, oldest first.
func deliveries(t testing.TB, st store.Store, epID string) []*store.Delivery {
	t.Helper()
	ds, err := st.ListDeliveries(context.Background(), store.DeliveryFilter{EndpointID: epID, Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	for i, j := 0, len(ds)-1; i < j; i, j = i+1, j-1 {
		ds[i], ds[j] = ds[j], ds[i]
	}
	return ds
}

// allStatus reports whether ep has n deliveries, all with status s.
func allStatus(t testing.TB, st store.Store, epID string, n int, s store.DeliveryStatus) func() bool {
	return func() bool {
		ds := deliveries(t, st, epID)
		if len(ds) != n {
			return false
		}
		for _, d := range ds {
			if d.Status != s {
				return false
			}
		}
		return true
	}
}

func attempts(t testing.TB, st store.Store, deliveryID int64) []*store.Attempt {
	t.Helper()
	as, err := st.ListAttempts(context.Background(), deliveryID)
	if err != nil {
		t.Fatal(err)
	}
	return as
}

func getEndpoint(t testing.TB, st store.Store, id string) *store.Endpoint {
	t.Helper()
	ep, err := st.GetEndpoint(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return ep
}

func describe(as []*store.Attempt) string {
	s := ""
	for _, a := range as {
		s += fmt.Sprintf("[%d %q] ", a.StatusCode, a.Error)
	}
	return s
}
