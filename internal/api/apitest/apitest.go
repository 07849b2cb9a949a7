// Package apitest runs the management API for the tests of the API and its
// clients: a real SQLite store in a temp dir, the real recorder as the sink
// of test events, served over loopback, every answer checked against the
// OpenAPI document. Only the delivery engine is left out, so that
// deliveries stay where the test puts them; Engine counts what the API
// tells it.
package apitest

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/switchhook/switchhook/internal/api"
	"github.com/switchhook/switchhook/internal/dialplan"
	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/forwarding"
	"github.com/switchhook/switchhook/internal/ingest"
	"github.com/switchhook/switchhook/internal/metrics"
	"github.com/switchhook/switchhook/internal/queue"
	"github.com/switchhook/switchhook/internal/store"
	"github.com/switchhook/switchhook/internal/store/sqlite"
)

// Token is the admin token of every Server.
const Token = "test-admin-token"

// Engine counts what the API tells the delivery engine.
type Engine struct{ Wakes, Changes atomic.Int64 }

// Wake counts a wake-up.
func (c *Engine) Wake() { c.Wakes.Add(1) }

// EndpointsChanged counts an endpoint change.
func (c *Engine) EndpointsChanged() { c.Changes.Add(1) }

// Server is a running API.
type Server struct {
	*httptest.Server
	Store    *sqlite.Store
	Recorder *ingest.Recorder
	Engine   *Engine
	t        testing.TB
}

// New starts an API, applying edit to its options; it stops with the test.
func New(t testing.TB, edit ...func(*api.Options)) *Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "switchhook.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	s := &Server{Store: st, Engine: &Engine{}, t: t}
	s.Recorder = ingest.New(st, ingest.Options{Node: "test", Wake: s.Engine.Wake, Logger: Discard()})
	done := make(chan error, 1)
	go func() { done <- s.Recorder.Run(ctx) }()
	o := api.Options{
		Store:      st,
		Sink:       s.Recorder,
		Engine:     s.Engine,
		Metrics:    metrics.New(st.PendingCount),
		AdminToken: Token,
		Logger:     Discard(),
		Version:    "v-test",
	}
	for _, f := range edit {
		f(&o)
	}
	h := api.New(o).Handler()
	// Benchmarks measure the API, not the checking.
	if _, bench := t.(*testing.B); !bench {
		h = newConformance(t, fetchDoc(t, h)).wrap(h)
	}
	s.Server = httptest.NewServer(h)
	t.Cleanup(func() {
		s.Server.Close()
		cancel()
		<-done
		st.Close()
	})
	return s
}

// Streaming is an option of New: GET /v1/stream follows the recorder.
func Streaming(o *api.Options) { o.Watch = o.Sink.(*ingest.Recorder).Watch }

// Discard is a logger that drops everything.
func Discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// Eventually polls cond every 10ms for up to 5s.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for range 500 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// Call emits a whole answered call (routed, ringing, answer, one digit,
// hangup, a second apart from at) through the recorder, waits until it is
// stored, and returns its UUID.
func (s *Server) Call(caller, callee string, at time.Time) string {
	s.t.Helper()
	id := uuid.NewString()
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
		if err := s.Recorder.Emit(ctx, ev); err != nil {
			s.t.Fatal(err)
		}
	}
	Eventually(s.t, "the call's hangup to be stored", func() bool {
		c, err := s.Store.GetCall(ctx, id)
		return err == nil && !c.EndedAt.IsZero()
	})
	return id
}

// Attempt claims the due deliveries (the heads of their chains) and records
// one attempt for each, as the delivery engine would, with the given
// outcome. It returns how many it claimed.
func (s *Server) Attempt(status store.DeliveryStatus, code int, msg string) int {
	s.t.Helper()
	ctx, now := context.Background(), time.Now()
	jobs, err := s.Store.ClaimDeliveries(ctx, store.ClaimParams{Owner: "test", Now: now, LeaseUntil: now.Add(time.Minute), Limit: 100})
	if err != nil {
		s.t.Fatal(err)
	}
	outs := make([]store.Outcome, len(jobs))
	for i, j := range jobs {
		outs[i] = store.Outcome{
			Attempt: store.Attempt{DeliveryID: j.Delivery.ID, At: now, StatusCode: code, Latency: 1500 * time.Microsecond, Error: msg, Response: "body"},
			Status:  status, NextAttemptAt: now.Add(time.Hour), Error: msg,
		}
	}
	if err := s.Store.CompleteAttempts(ctx, "test", outs); err != nil {
		s.t.Fatal(err)
	}
	return len(jobs)
}

// Forwarding is an option of New: the call forwarding of extensions 1001,
// 1002 and 1003 (1002's config forwards busy calls to 1003), in a dialplan
// that also routes 9… out through a gateway, with a 30s ring timeout.
func Forwarding(o *api.Options) {
	plan, err := dialplan.New(dialplan.Config{
		Extensions: []string{"1001", "1002", "1003"},
		Gateways:   []string{"carrier"},
		Routes:     []dialplan.OutboundRoute{{Match: `9\d+`, Gateway: "carrier"}},
	})
	if err != nil {
		panic(err)
	}
	o.Forwarding = forwarding.New(o.Store, forwarding.Config{
		Extensions:  []string{"1001", "1002", "1003"},
		Configured:  map[string]dialplan.Forward{"1002": {UserBusy: "1003"}},
		Plan:        plan,
		RingTimeout: 30 * time.Second,
	}, nil)
}

// Queues returns an option of New: queue 600 (ring all, agents 1001 and
// 1002, neither on a call) and queue 601 (agent 1002), their pauses in the
// test's store, served by a queue manager that runs until t ends.
func Queues(t testing.TB) func(*api.Options) {
	return func(o *api.Options) {
		m, err := queue.New([]queue.Config{
			{Number: "600", Name: "Sales", Agents: []string{"1001", "1002"}},
			{Number: "601", Agents: []string{"1002"}},
		}, queue.Options{Pauses: o.Store})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			m.Run(ctx)
		}()
		t.Cleanup(func() {
			cancel()
			<-done
		})
		o.Queues = m
	}
}
