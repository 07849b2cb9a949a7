package asterisk

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchhook/switchhook/internal/connector/connectortest"
	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/metrics"
)

// timedMessage is one ARI message and when Asterisk sent it, from the start
// of the run.
type timedMessage struct {
	at  time.Duration
	msg string
}

// loadMessages makes calls calls/s' worth of a real Asterisk's messages for
// span: recording a (an answered call with hold, about a hundred messages
// of every kind with subscribeAll), its channels renamed for each call, the
// calls started 1/rate apart, each message at its recorded offset.
func loadMessages(t testing.TB, rate int, span time.Duration) ([]timedMessage, int) {
	t.Helper()
	recorded := realMessages(t, "a-ari.jsonl")
	recv := receiveTimes(t, "a-ari.jsonl")
	offsets := make([]time.Duration, len(recv))
	for i, r := range recv {
		offsets[i] = time.Duration((r - recv[0]) * float64(time.Second))
	}
	calls := int(span.Seconds() * float64(rate))
	var out []timedMessage
	for c := range calls {
		start := time.Duration(c) * time.Second / time.Duration(rate)
		caller, callee := fmt.Sprintf("9%09d.%d", c, 1), fmt.Sprintf("9%09d.%d", c, 2)
		for i, msg := range recorded {
			msg = strings.ReplaceAll(msg, `"1796390486.6"`, `"`+caller+`"`)
			msg = strings.ReplaceAll(msg, `"1796390486.7"`, `"`+callee+`"`)
			out = append(out, timedMessage{start + offsets[i], msg})
		}
	}
	slices.SortStableFunc(out, func(a, b timedMessage) int { return int(a.at - b.at) })
	return out, calls
}

// receiveTimes returns each recorded message's receive time, epoch seconds.
func receiveTimes(t testing.TB, name string) []float64 {
	var out []float64
	for _, line := range realLines(t, name) {
		var m struct {
			Recv float64 `json:"_recv"`
		}
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m.Recv)
	}
	return out
}

// A real Asterisk's messages at 200 calls/s for 2 s (recording a's hundred
// messages a call, as subscribeAll sends them), into a recorder that takes
// 1 ms an event (a store slowed to 1,000 events/s): the connector keeps
// reading, never reconnects, and loses no event. Asterisk drops a
// WebSocket whose writes wait past websocket_write_timeout; the stand-in
// allows the 5 s docs/deployment.md says to set (100 ms, the default, is
// less than a loaded machine's scheduling pauses, under the race detector
// above all).
func TestReplayAt200CallsPerSecondWithASlowStore(t *testing.T) {
	if testing.Short() {
		t.Skip("a load replay")
	}
	msgs, calls := loadMessages(t, 200, 2*time.Second)
	a := startFakeAsterisk(t, "u", "p")
	m := metrics.New(nil)
	sink := &connectortest.SlowSink{Delay: time.Millisecond}
	c := runConnector(t, "ast1", a, sink, func(c *Connector) { c.link.Metrics = m })
	conn := a.next(t)

	peak := connectortest.Peak(func() float64 { return testutil.ToFloat64(m.SourceBacklog.WithLabelValues("asterisk/ast1")) })
	start := time.Now()
	var bytes int
	var lag time.Duration // how far the stand-in fell behind the recording's pace
	for i := 0; i < len(msgs); i++ {
		if d := time.Until(start.Add(msgs[i].at)); d > 0 {
			time.Sleep(d)
		} else {
			lag = max(lag, -d)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := conn.ws.Write(ctx, websocket.MessageText, []byte(msgs[i].msg))
		cancel()
		if err != nil {
			t.Fatalf("Asterisk could not write message %d (a slow reader): %v", i, err)
		}
		bytes += len(msgs[i].msg)
	}
	sent := time.Since(start)
	sink.WaitHangups(t, calls)
	drained := time.Since(start)
	peakBacklog := peak()

	got := sink.Events()
	byCall := map[string][]events.Kind{}
	for _, e := range got {
		byCall[e.CallUUID] = append(byCall[e.CallUUID], e.Kind)
	}
	want := []events.Kind{events.CallRouted, events.CallRinging, events.CallAnswer, events.CallHold, events.CallUnhold, events.CallHangup}
	for id, kinds := range byCall {
		if !slices.Equal(kinds, want) {
			t.Fatalf("call %s: %v", id, kinds)
		}
	}
	if len(byCall) != calls {
		t.Fatalf("%d calls, want %d", len(byCall), calls)
	}
	if st := c.Status(); st.Reconnects != 0 || !st.Connected {
		t.Fatalf("status %+v, want connected, never reconnected", st)
	}
	t.Logf("%d calls started over 2 s (200 calls/s), %d messages (%.1f MB, %.0f messages/s) sent in %v, at most %v behind the recorded pace; %d call events emitted at 1 ms each, all by %v; peak backlog %d messages",
		calls, len(msgs), float64(bytes)/1e6, float64(len(msgs))/sent.Seconds(), sent.Round(time.Millisecond), lag.Round(time.Millisecond), len(got), drained.Round(time.Millisecond), int(peakBacklog))
}
