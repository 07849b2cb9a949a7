package connectortest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/events"
)

// patience bounds every wait of a test on a connector.
const patience = 10 * time.Second

// Collector is a Sink that keeps what it is given.
type Collector struct {
	mu  sync.Mutex
	evs []events.Event
}

// Emit keeps e.
func (c *Collector) Emit(_ context.Context, e events.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.evs = append(c.evs, e)
	return nil
}

// Events returns the events kept so far, in the order given.
func (c *Collector) Events() []events.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.evs)
}

// Wait returns the events once there are at least n, failing the test after
// 10 s.
func (c *Collector) Wait(t testing.TB, n int) []events.Event {
	t.Helper()
	var evs []events.Event
	if !poll(func() bool { evs = c.Events(); return len(evs) >= n }) {
		t.Fatalf("got %d events, want %d:\n%s", len(evs), n, strings.Join(Summaries(evs, 0), "\n"))
	}
	return evs
}

// WaitHangup returns the events once the last one is a CALL_HANGUP,
// failing the test after 10 s.
func (c *Collector) WaitHangup(t testing.TB) []events.Event {
	t.Helper()
	WaitFor(t, "the call's hangup", func() bool {
		evs := c.Events()
		return len(evs) > 0 && evs[len(evs)-1].Kind == events.CallHangup
	})
	return c.Events()
}

// WaitFor waits until cond holds, failing the test after 10 s with what
// it waited for.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	if !poll(cond) {
		t.Fatalf("timed out waiting for %s", what)
	}
}

// Receive returns the next value from ch, failing the test after 10 s with
// what it waited for.
func Receive[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(patience):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

func poll(cond func() bool) bool {
	deadline := time.Now().Add(patience)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return cond()
}

// Summary renders on one line the facts of e a connector's test asserts:
// kind, caller>destination, leg, direction and what the kind adds. A
// positive legChars cuts the leg id to that many characters (a UUID's first
// eight tell legs apart).
func Summary(e events.Event, legChars int) string {
	leg := e.LegUUID
	if legChars > 0 && len(leg) > legChars {
		leg = leg[:legChars]
	}
	s := fmt.Sprintf("%s %s>%s leg=%s %s", e.Kind, e.CallerIDNumber, e.DestinationNumber, leg, e.Direction)
	switch e.Kind {
	case events.CallRouted:
		if e.RoutedTo != nil {
			s += fmt.Sprintf(" to=%s:%s", e.RoutedTo.Type, e.RoutedTo.Target)
		}
	case events.CallInput:
		s += fmt.Sprintf(" digit=%s %dms %s", e.Digit, e.DigitDuration.Milliseconds(), e.Party)
	case events.CallHold, events.CallUnhold:
		s += " " + string(e.Party)
	case events.CallHangup:
		s += fmt.Sprintf(" %s %d %s", e.Hangup.Cause, e.Hangup.SIPCode, e.Hangup.By)
	}
	return s
}

// Summaries is the Summary of each event.
func Summaries(evs []events.Event, legChars int) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = Summary(e, legChars)
	}
	return out
}

// AssertEvents compares the events' summaries with want, exactly.
func AssertEvents(t testing.TB, got []events.Event, want []string, legChars int) {
	t.Helper()
	g := Summaries(got, legChars)
	if strings.Join(g, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(g, "\n"), strings.Join(want, "\n"))
	}
}

// AssertOneCall checks what every event of one call shares: valid, one
// call UUID that is also the session, the source, the caller's name, times
// in order and from the engine's recording (2026), not the clock.
func AssertOneCall(t testing.TB, evs []events.Event, source string) {
	t.Helper()
	first := evs[0]
	for i, e := range evs {
		if err := e.Validate(); err != nil {
			t.Errorf("event %d: %v", i, err)
		}
		if e.CallUUID != first.CallUUID || e.SessionUUID != first.CallUUID {
			t.Errorf("event %d (%s): call %s session %s, want both %s", i, e.Kind, e.CallUUID, e.SessionUUID, first.CallUUID)
		}
		if e.Source != source {
			t.Errorf("event %d: source %q, want %q", i, e.Source, source)
		}
		if e.CallerIDName != first.CallerIDName {
			t.Errorf("event %d (%s): caller_id_name %q, want the call's %q", i, e.Kind, e.CallerIDName, first.CallerIDName)
		}
		if i > 0 && e.OccurredAt.Before(evs[i-1].OccurredAt) {
			t.Errorf("event %d (%s) at %v is before event %d at %v", i, e.Kind, e.OccurredAt, i-1, evs[i-1].OccurredAt)
		}
		if e.OccurredAt.Year() != 2026 {
			t.Errorf("event %d: occurred_at %v is not the engine's event time", i, e.OccurredAt)
		}
	}
}

// AssertQueued checks that every event of a queue call carries its stay
// in the queue dialled as number, and that the agent's events, agent,
// are diverted there by the queue.
func AssertQueued(t testing.TB, evs []events.Event, number string, agent []events.Event) {
	t.Helper()
	for i, e := range evs {
		if e.Queue == nil || e.Queue.Number != number {
			t.Fatalf("event %d (%s): queue %+v, want number %s", i, e.Kind, e.Queue, number)
		}
	}
	for _, e := range agent {
		if d := e.Diversion; d == nil || d.From != number || d.Reason != "queue" {
			t.Errorf("%s: diversion %+v, want queue from %s", e.Kind, d, number)
		}
	}
}

// BySource groups events by their Source, each group in the order given.
func BySource(evs []events.Event) map[string][]events.Event {
	out := map[string][]events.Event{}
	for _, e := range evs {
		out[e.Source] = append(out[e.Source], e)
	}
	return out
}

// Interleave sends a[0], b[0], a[1], b[1], … each through its own send,
// so that the calls of two engines overlap.
func Interleave(a, b []string, sendA, sendB func(string)) {
	for i := 0; i < len(a) || i < len(b); i++ {
		if i < len(a) {
			sendA(a[i])
		}
		if i < len(b) {
			sendB(b[i])
		}
	}
}

// Fixture reads a file of recorded engine events: blocks (an event's
// header lines, or an ARI message) separated by blank lines, after a
// leading comment of lines starting with #.
func Fixture(t testing.TB, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	var blocks []string
	for _, block := range strings.Split(strings.Join(lines, "\n"), "\n\n") {
		if block = strings.Trim(block, "\n"); block != "" {
			blocks = append(blocks, block)
		}
	}
	return blocks
}

// Run runs src into sink until the test ends, then checks that it stops
// within 10 s and returns nil.
func Run(t testing.TB, src events.Source, sink events.Sink) {
	t.Helper()
	t.Cleanup(Start(t, src, sink))
}

// Start runs src into sink and returns a func that stops it, as switchhook
// stopping does, and checks that it returns nil within 10 s.
func Start(t testing.TB, src events.Source, sink events.Sink) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, sink) }()
	return sync.OnceFunc(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(patience):
			t.Error("Run did not return after cancel")
		}
	})
}

// SlowSink is a Collector behind a stalled recorder: each event takes
// Delay. Hangups counts the CALL_HANGUPs taken.
type SlowSink struct {
	Collector
	Delay   time.Duration
	Hangups atomic.Int64
}

// Emit keeps e after Delay.
func (s *SlowSink) Emit(ctx context.Context, e events.Event) error {
	time.Sleep(s.Delay)
	if e.Kind == events.CallHangup {
		s.Hangups.Add(1)
	}
	return s.Collector.Emit(ctx, e)
}

// WaitHangups waits until n calls hung up, for up to 2 minutes: a load
// replay proves nothing is lost, not how fast (the race detector alone
// makes tracking several times slower).
func (s *SlowSink) WaitHangups(t testing.TB, n int) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); s.Hangups.Load() < int64(n); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d calls hung up after 2 minutes", s.Hangups.Load(), n)
		}
	}
}

// Peak samples gauge every 5 ms until the returned func is called, which
// returns the highest value seen.
func Peak(gauge func() float64) (stop func() float64) {
	var peak float64
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
			peak = max(peak, gauge())
		}
	}()
	return func() float64 {
		close(done)
		<-finished
		return peak
	}
}

// Remembering is a Collector that also hands a source, once, the events of
// the calls a previous run left open, as the recorder does after a restart
// (calltrack.Resumer).
type Remembering struct {
	Collector
	mu   sync.Mutex
	open [][]events.Event
}

// Remember sets the calls, each its events oldest first, Resume hands over.
func (r *Remembering) Remember(calls ...[]events.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.open = calls
}

// Resume returns the calls remembered, once.
func (r *Remembering) Resume(string) [][]events.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	open := r.open
	r.open = nil
	return open
}

// GoesOnPastRefusals runs src into a sink that refuses every event until
// one CALL_HANGUP was offered, calls emit twice (each should make the
// engine send one whole call), and checks the second call's events arrive
// on the same connection: a refusal never stops a connector. It returns
// those events.
func GoesOnPastRefusals(t testing.TB, src events.Source, emit func()) []events.Event {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var mu sync.Mutex
	refusing := true
	var got Collector
	sink := events.SinkFunc(func(ctx context.Context, e events.Event) error {
		mu.Lock()
		refuse := refusing
		if e.Kind == events.CallHangup {
			refusing = false
		}
		mu.Unlock()
		if refuse {
			return errors.New("event rejected: disk full")
		}
		return got.Emit(ctx, e)
	})
	go func() { done <- src.Run(ctx, sink) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v after stop, want nil", err)
		}
	}()
	emit()
	WaitFor(t, "the first call refused", func() bool { mu.Lock(); defer mu.Unlock(); return !refusing })
	select {
	case err := <-done:
		t.Fatalf("Run stopped after a refusal: %v", err)
	default:
	}
	emit()
	WaitFor(t, "the second call's hangup", func() bool {
		evs := got.Events()
		return len(evs) > 0 && evs[len(evs)-1].Kind == events.CallHangup
	})
	return got.Events()
}

// Logger logs to the test's log, at debug level.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
