package connector

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/metrics"
)

// waits returns the "in" of every reconnect line in logs, in order.
func waits(t *testing.T, logs string) []time.Duration {
	t.Helper()
	var out []time.Duration
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var rec struct {
			Msg string `json:"msg"`
			In  int64  `json:"in"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec.Msg != "freeswitch connection failed; reconnecting" {
			t.Fatalf("log message %q", rec.Msg)
		}
		out = append(out, time.Duration(rec.In))
	}
	return out
}

func newLink(m *metrics.Metrics, logs io.Writer) *Link {
	return &Link{
		Kind: "freeswitch", Name: "fs1", Address: "127.0.0.1:8021",
		Log: slog.New(slog.NewJSONHandler(logs, nil)), Metrics: m,
		MinBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond,
	}
}

// The status and the gauge follow the sessions: down with the last error
// before and between them, up while one is established, and every
// connection after a lost one counts as a reconnect.
func TestLinkStatus(t *testing.T) {
	m := metrics.New(nil)
	l := newLink(m, io.Discard)
	gauge := func() float64 { return testutil.ToFloat64(m.SourceConnected.WithLabelValues("freeswitch/fs1")) }
	if st := l.Status(); st != (Status{Name: "fs1", Kind: "freeswitch", Address: "127.0.0.1:8021"}) {
		t.Fatalf("status before Run %+v", st)
	}
	if got := l.Source(); got != "freeswitch/fs1" {
		t.Fatalf("Source() = %q", got)
	}

	type step struct {
		up          bool
		established bool
		err         error
	}
	started := make(chan struct{}) // a session began: the previous one's end is recorded
	steps := make(chan step)
	up, resume := make(chan struct{}), make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- l.Run(ctx, func(ctx context.Context) (bool, error) {
			select {
			case started <- struct{}{}:
			case <-ctx.Done():
				return false, ctx.Err()
			}
			select {
			case s := <-steps:
				if s.up {
					l.Up()
					up <- struct{}{}
					<-resume
				}
				return s.established, s.err
			case <-ctx.Done():
				return false, ctx.Err()
			}
		})
	}()

	<-started
	steps <- step{err: errors.New("dial: connection refused")}
	<-started
	if st := l.Status(); st.Connected || st.LastError != "dial: connection refused" || st.Since.IsZero() || gauge() != 0 {
		t.Fatalf("after a failed attempt: status %+v, gauge %v", st, gauge())
	}
	steps <- step{up: true, established: true, err: errors.New("read frame: EOF")}
	<-up
	if st := l.Status(); !st.Connected || st.Reconnects != 0 || st.LastError != "" || gauge() != 1 {
		t.Fatalf("first connection: status %+v, gauge %v", st, gauge())
	}
	resume <- struct{}{}
	<-started
	if st := l.Status(); st.Connected || st.LastError != "read frame: EOF" || gauge() != 0 {
		t.Fatalf("after the drop: status %+v, gauge %v", st, gauge())
	}
	steps <- step{up: true, established: true, err: errors.New("read frame: EOF")}
	<-up
	if st := l.Status(); !st.Connected || st.Reconnects != 1 {
		t.Fatalf("second connection: status %+v", st)
	}
	resume <- struct{}{}
	<-started
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel = %v", err)
	}
	if st := l.Status(); st.Connected || st.Reconnects != 1 || gauge() != 0 {
		t.Fatalf("after Run: status %+v, gauge %v", st, gauge())
	}
}

// Failed attempts in a row double the wait up to MaxBackoff, each wait
// jittered into its upper half; an established session starts over.
func TestLinkBackoff(t *testing.T) {
	var logs bytes.Buffer // Run logs from this goroutine
	l := newLink(nil, &logs)
	l.MinBackoff, l.MaxBackoff = 10*time.Millisecond, 40*time.Millisecond
	outcomes := []bool{false, false, false, false, true, false} // established?
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	err := l.Run(ctx, func(ctx context.Context) (bool, error) {
		if n == len(outcomes) {
			cancel()
			return false, ctx.Err()
		}
		n++
		return outcomes[n-1], errors.New("refused")
	})
	if err != nil {
		t.Fatalf("Run = %v", err)
	}
	bounds := []time.Duration{10, 20, 40, 40, 10, 20} // ms: the backoff each wait is jittered within
	logged := waits(t, logs.String())
	if len(logged) != len(bounds) {
		t.Fatalf("%d waits logged, want %d", len(logged), len(bounds))
	}
	for i, w := range logged {
		b := bounds[i] * time.Millisecond
		if w < b/2 || w > b {
			t.Errorf("wait %d is %v, want within [%v, %v]", i, w, b/2, b)
		}
	}
}

func TestJitter(t *testing.T) {
	for _, b := range []time.Duration{0, 1, 2, 3, time.Millisecond, DefaultMaxBackoff} {
		for range 100 {
			if w := jitter(b); w < b/2 || w > b {
				t.Fatalf("jitter(%v) = %v, want within [%v, %v]", b, w, b/2, b)
			}
		}
	}
}

// A refused event is logged and counted, the rest go on, and the
// connection with them: Emit fails only once ctx is done.
func TestEmitGoesOnPastARefusal(t *testing.T) {
	m := metrics.New(nil)
	var logs bytes.Buffer
	l := newLink(m, &logs)
	evs := []events.Event{
		{Kind: events.CallRouted, CallUUID: "c1"},
		{Kind: events.CallHold, CallUUID: "c1"},
		{Kind: events.CallHangup, CallUUID: "c1"},
	}
	var got []events.Kind
	record := events.SinkFunc(func(_ context.Context, e events.Event) error {
		got = append(got, e.Kind)
		if e.Kind == events.CallHold {
			return errors.New("event rejected: hold before an answer")
		}
		return nil
	})
	if err := l.Emit(context.Background(), record, evs); err != nil {
		t.Fatalf("Emit = %v, want nil", err)
	}
	if len(got) != 3 || got[2] != events.CallHangup {
		t.Fatalf("sink got %v, want every event in order", got)
	}
	if n := testutil.ToFloat64(m.EventsRefused.WithLabelValues("CALL_HOLD", "freeswitch/fs1")); n != 1 {
		t.Errorf("refused counter = %v, want 1", n)
	}
	if !strings.Contains(logs.String(), "hold before an answer") {
		t.Errorf("refusal not logged: %s", logs.String())
	}

	// A sink that fails because the connector is stopping ends Emit.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := l.Emit(ctx, events.SinkFunc(func(ctx context.Context, _ events.Event) error { return ctx.Err() }), evs)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Emit after cancel = %v, want context.Canceled", err)
	}
}
