package api_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/switchhook/switchhook/internal/api"
	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/ingest"
	"github.com/switchhook/switchhook/internal/metrics"
	"github.com/switchhook/switchhook/internal/store"
	"github.com/switchhook/switchhook/internal/store/sqlite"
)

const token = "test-admin-token"

// receiverURL is where the tests' endpoints point. No engine runs in most
// tests, so nothing is sent there; the ones that deliver start a receiver.
const receiverURL = "http://127.0.0.1:9/hook"

// counter counts what the API tells the delivery engine.
type counter struct{ wakes, changes atomic.Int64 }

func (c *counter) Wake()             { c.wakes.Add(1) }
func (c *counter) EndpointsChanged() { c.changes.Add(1) }

// env is an API on a real SQLite store in a temp dir, with the real
// recorder as its sink, served over loopback.
type env struct {
	t      testing.TB
	st     *sqlite.Store
	rec    *ingest.Recorder
	engine *counter
	srv    *httptest.Server
}

func newEnv(t testing.TB, edit ...func(*api.Options)) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "switchhook.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: st, engine: &counter{}}
	e.rec = ingest.New(st, ingest.Options{Node: "test", Wake: e.engine.Wake, Logger: discard()})
	done := make(chan error, 1)
	go func() { done <- e.rec.Run(ctx) }()
	o := api.Options{
		Store:      st,
		Sink:       e.rec,
		Engine:     e.engine,
		Metrics:    metrics.New(st.PendingCount),
		AdminToken: token,
		Logger:     discard(),
		Version:    "v-test",
	}
	for _, f := range edit {
		f(&o)
	}
	e.srv = httptest.NewServer(api.New(o).Handler())
	t.Cleanup(func() {
		e.srv.Close()
		cancel()
		<-done
		st.Close()
	})
	return e
}

// answer is an HTTP answer of the API.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// do sends body (none when empty) with the admin token.
func (e *env) do(method, path, body string) answer {
	e.t.Helper()
	return e.doAuth(method, path, body, "Bearer "+token)
}

func (e *env) doAuth(method, path, body, auth string) answer {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

// want fails the test unless the answer has status, and decodes it into v.
func (a answer) want(t testing.TB, status int, v any) {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d; body: %s", a.status, status, a.body)
	}
	if v != nil {
		dec := json.NewDecoder(strings.NewReader(string(a.body)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			t.Fatalf("decode %s: %v", a.body, err)
		}
	}
}

// wantError checks a 4xx names field (and mentions text, if given).
func (a answer) wantError(t testing.TB, status int, field, text string) {
	t.Helper()
	var body struct {
		Error string `json:"error"`
		Field string `json:"field"`
	}
	a.want(t, status, &body)
	if body.Field != field {
		t.Errorf("field %q, want %q (error %q)", body.Field, field, body.Error)
	}
	if body.Error == "" || !strings.Contains(body.Error, text) {
		t.Errorf("error %q does not mention %q", body.Error, text)
	}
}

// eventually polls cond every 10ms for up to 5s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for range 500 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// call emits a whole answered call through the recorder and waits until
// it is stored; it returns the call's UUID.
func (e *env) call(caller, callee string, at time.Time) string {
	e.t.Helper()
	id := newUUID(e.t)
	ctx := context.Background()
	base := events.Event{CallUUID: id, CallerIDNumber: caller, DestinationNumber: callee, Direction: events.Internal, Source: "pbx", LegUUID: id}
	for i, k := range []events.Kind{events.CallRouted, events.CallRinging, events.CallAnswer, events.CallInput, events.CallHangup} {
		ev := base
		ev.Kind, ev.OccurredAt = k, at.Add(time.Duration(i)*time.Second)
		switch k {
		case events.CallRouted:
			ev.RoutedTo = &events.Target{Type: events.Extension, Target: callee}
		case events.CallInput:
			ev.Digit, ev.DigitDuration, ev.Party = "5", 120*time.Millisecond, events.Caller
		case events.CallHangup:
			ev.Hangup = &events.Hangup{Cause: events.CauseNormalClearing, SIPCode: 200, By: events.Callee}
		}
		if err := e.rec.Emit(ctx, ev); err != nil {
			e.t.Fatal(err)
		}
	}
	eventually(e.t, "the call's hangup to be stored", func() bool {
		c, err := e.st.GetCall(ctx, id)
		return err == nil && !c.EndedAt.IsZero()
	})
	return id
}

// attempt claims the store's due deliveries and records one attempt for
// each, as the delivery engine would, with the given outcome.
func (e *env) attempt(status store.DeliveryStatus, code int, msg string) int {
	e.t.Helper()
	ctx, now := context.Background(), time.Now()
	jobs, err := e.st.ClaimDeliveries(ctx, store.ClaimParams{Owner: "test", Now: now, LeaseUntil: now.Add(time.Minute), Limit: 100})
	if err != nil {
		e.t.Fatal(err)
	}
	outs := make([]store.Outcome, len(jobs))
	for i, j := range jobs {
		outs[i] = store.Outcome{
			Attempt: store.Attempt{DeliveryID: j.Delivery.ID, At: now, StatusCode: code, Latency: 1500 * time.Microsecond, Error: msg, Response: "body"},
			Status:  status, NextAttemptAt: now.Add(time.Hour), Error: msg,
		}
	}
	if err := e.st.CompleteAttempts(ctx, "test", outs); err != nil {
		e.t.Fatal(err)
	}
	return len(jobs)
}

func newUUID(t testing.TB) string {
	t.Helper()
	return uuid.NewString()
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
