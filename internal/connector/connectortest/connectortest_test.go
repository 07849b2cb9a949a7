package connectortest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/events"
)

func TestFixture(t *testing.T) {
	path := filepath.Join(t.TempDir(), "call.txt")
	data := "# A recorded call.\n# Two events.\n\nEvent-Name: CHANNEL_CREATE\nUnique-ID: a\n\n\n\n{\"type\": \"Dial\"}\n"
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	got := Fixture(t, path)
	if want := []string{"Event-Name: CHANNEL_CREATE\nUnique-ID: a", `{"type": "Dial"}`}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("Fixture = %q, want %q", got, want)
	}
}

func TestSummary(t *testing.T) {
	at := time.Date(2026, 1, 27, 12, 2, 30, 0, time.UTC)
	base := events.Event{CallUUID: "c", CallerIDNumber: "1001", DestinationNumber: "1002", LegUUID: "3f2a9c1e-5b7d-4e8a-9c21-7d4b6a0e1f01", Direction: events.Internal, OccurredAt: at, Source: "fake/a"}
	with := func(f func(*events.Event)) events.Event { e := base; f(&e); return e }
	evs := []events.Event{
		with(func(e *events.Event) {
			e.Kind, e.RoutedTo = events.CallRouted, &events.Target{Type: events.Gateway, Target: "carrier1"}
		}),
		with(func(e *events.Event) {
			e.Kind, e.Digit, e.DigitDuration, e.Party = events.CallInput, "#", 250*time.Millisecond, events.Caller
		}),
		with(func(e *events.Event) { e.Kind, e.Party = events.CallHold, events.Callee }),
		with(func(e *events.Event) {
			e.Kind, e.Hangup = events.CallHangup, &events.Hangup{Cause: "USER_BUSY", SIPCode: 486, By: events.Callee}
		}),
	}
	AssertEvents(t, evs, []string{
		"CALL_ROUTED 1001>1002 leg=3f2a9c1e internal to=gateway:carrier1",
		"CALL_INPUT 1001>1002 leg=3f2a9c1e internal digit=# 250ms caller",
		"CALL_HOLD 1001>1002 leg=3f2a9c1e internal callee",
		"CALL_HANGUP 1001>1002 leg=3f2a9c1e internal USER_BUSY 486 callee",
	}, 8)
	if got := Summary(evs[2], 0); got != "CALL_HOLD 1001>1002 leg=3f2a9c1e-5b7d-4e8a-9c21-7d4b6a0e1f01 internal callee" {
		t.Fatalf("Summary with the whole leg = %q", got)
	}
	AssertOneCall(t, []events.Event{with(func(e *events.Event) { e.Kind, e.SessionUUID = events.CallRinging, "c" })}, "fake/a")
}

// A source run for the test gets its events to the collector, grouped by
// source, and stops when the test ends.
func TestRunAndCollect(t *testing.T) {
	sink := &Collector{}
	at := time.Date(2026, 1, 27, 12, 2, 30, 0, time.UTC)
	for _, name := range []string{"fake/a", "fake/b"} {
		Run(t, source{name, at}, sink)
	}
	got := BySource(sink.Wait(t, 4))
	for _, name := range []string{"fake/a", "fake/b"} {
		if evs := got[name]; len(evs) != 2 || evs[0].Kind != events.CallRouted || evs[1].Kind != events.CallHangup {
			t.Fatalf("%s: %v", name, Summaries(evs, 0))
		}
	}
	WaitFor(t, "the events to stay at 4", func() bool { return len(sink.Events()) == 4 })
}

// source emits one routed and hung-up call, then waits for its end.
type source struct {
	name string
	at   time.Time
}

func (s source) Name() string { return s.name }

func (s source) Run(ctx context.Context, sink events.Sink) error {
	for _, k := range []events.Kind{events.CallRouted, events.CallHangup} {
		if err := sink.Emit(ctx, events.Event{Kind: k, CallUUID: s.name, OccurredAt: s.at, Source: s.name}); err != nil {
			return err
		}
	}
	<-ctx.Done()
	return nil
}

func TestInterleave(t *testing.T) {
	var sent []string
	send := func(to string) func(string) { return func(m string) { sent = append(sent, to+m) } }
	Interleave([]string{"1", "2", "3"}, []string{"1"}, send("a"), send("b"))
	if got := strings.Join(sent, " "); got != "a1 b1 a2 a3" {
		t.Fatalf("sent %s", got)
	}
}

// A source that goes on past refusals passes; its second call arrives.
func TestGoesOnPastRefusals(t *testing.T) {
	src := &callingSource{calls: make(chan struct{}, 2)}
	evs := GoesOnPastRefusals(t, src, func() { src.calls <- struct{}{} })
	if len(evs) != 2 || evs[0].CallUUID != "c2" {
		t.Fatalf("got %v, want the second call's two events", Summaries(evs, 0))
	}
}

// callingSource emits one call (routed, hung up) per value on calls,
// ignoring the sink's refusals, until ctx is done.
type callingSource struct{ calls chan struct{} }

func (*callingSource) Name() string { return "fake/s" }

func (s *callingSource) Run(ctx context.Context, sink events.Sink) error {
	for n := 1; ; n++ {
		select {
		case <-s.calls:
		case <-ctx.Done():
			return nil
		}
		id := fmt.Sprintf("c%d", n)
		sink.Emit(ctx, events.Event{Kind: events.CallRouted, CallUUID: id})
		sink.Emit(ctx, events.Event{Kind: events.CallHangup, CallUUID: id})
	}
}

func TestReceive(t *testing.T) {
	ch := make(chan int, 1)
	ch <- 7
	if got := Receive(t, ch, "a number"); got != 7 {
		t.Fatalf("Receive = %d", got)
	}
}
