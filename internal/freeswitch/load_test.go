package freeswitch

import (
	"compress/gzip"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchhook/switchhook/internal/connector/connectortest"
	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/metrics"
)

// compactHeaders are the headers the load recordings kept of each event.
var compactHeaders = []string{"Event-Name", "Event-Subclass", "Event-Date-Timestamp", "Event-Sequence", "Unique-ID",
	"Call-Direction", "Channel-Name", "Caller-Caller-ID-Number", "Caller-Destination-Number", "Other-Leg-Unique-ID",
	"variable_originating_leg_uuid", "Channel-Call-UUID", "Application", "Application-Data", "DTMF-Digit", "DTMF-Duration",
	"Hangup-Cause", "variable_sip_term_status", "variable_sip_hangup_disposition", "Answer-State"}

// timedEvent is one event of a load recording and when FreeSWITCH sent it,
// from the start of the run.
type timedEvent struct {
	at time.Duration
	ev string
}

// loadEvents reads a load recording of a real FreeSWITCH (the channel
// events of a SIPp run, a subset of their headers) and gives each event the
// rest of the headers a real event of its kind carries (from recording a,
// without its identities), so that the replay weighs on the wire what
// FreeSWITCH sends: about 7 KB an event.
func loadEvents(t testing.TB, name string) ([]timedEvent, int) {
	t.Helper()
	templates := map[string]map[string]string{}
	for _, raw := range realEvents(t, "a-esl.jsonl") {
		h, name := map[string]string{}, ""
		for _, line := range strings.Split(raw, "\n") {
			k, v, _ := strings.Cut(line, ": ")
			if k == "Event-Name" {
				name = v
			}
			if !slices.Contains(compactHeaders, k) && !strings.Contains(v, "d3ccd349") && !strings.Contains(v, "4a7e552f") {
				h[k] = v
			}
		}
		if templates[name] == nil {
			templates[name] = h
		}
	}
	f, err := os.Open(filepath.Join("testdata", "real", "load", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(zr)
	var out []timedEvent
	var t0 float64
	calls := 0
	for dec.More() {
		var rec map[string]any
		if err := dec.Decode(&rec); err != nil {
			t.Fatal(err)
		}
		recv, _ := rec["_recv"].(float64)
		name, ok := rec["Event-Name"].(string)
		if !ok {
			continue // the recorder's own line
		}
		if t0 == 0 {
			t0 = recv
		}
		h := map[string]string{}
		for k, v := range templates[name] {
			h[k] = v
		}
		for k, v := range rec {
			if s, ok := v.(string); ok && k != "_recv" {
				h[k] = url.PathEscape(s)
			}
		}
		if name == "CHANNEL_CREATE" && rec["Call-Direction"] == "inbound" {
			calls++
		}
		var lines []string
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range h {
				if !yield(k) {
					return
				}
			}
		}) {
			lines = append(lines, k+": "+h[k])
		}
		out = append(out, timedEvent{time.Duration((recv - t0) * float64(time.Second)), strings.Join(lines, "\n")})
	}
	return out, calls
}

// A real FreeSWITCH's events at 200 calls/s (its 50 calls/s run replayed 4
// times as fast), into a recorder that takes 1 ms an event (a store slowed
// to 1,000 events/s against about 2,400 offered): the connector keeps
// reading, never reconnects, and loses no event; the backlog drains once
// the burst is over. A write of the stand-in that waits 5 s fails the test
// (FreeSWITCH itself queues a slow client's events, then drops them).
func TestReplayAt200CallsPerSecondWithASlowStore(t *testing.T) {
	if testing.Short() {
		t.Skip("a load replay")
	}
	evs, calls := loadEvents(t, "fs-50-esl-compact.jsonl.gz")
	const speedup = 4
	fs := startFakeFS(t, "ClueCon")
	m := metrics.New(nil)
	sink := &connectortest.SlowSink{Delay: time.Millisecond}
	c := runConnector(t, "fs1", fs, sink, func(c *Connector) { c.link.Metrics = m })
	conn := fs.next(t)

	peak := connectortest.Peak(func() float64 { return testutil.ToFloat64(m.SourceBacklog.WithLabelValues("freeswitch/fs1")) })
	start := time.Now()
	var bytes int
	var lag time.Duration // how far the stand-in fell behind the recording's pace
	for i := 0; i < len(evs); {
		due := evs[i].at / speedup
		if d := time.Until(start.Add(due)); d > 0 {
			time.Sleep(d)
		} else {
			lag = max(lag, -d)
		}
		var b strings.Builder
		for ; i < len(evs) && evs[i].at/speedup <= time.Since(start); i++ {
			b.WriteString(eventFrame(t, conn.format, evs[i].ev))
		}
		bytes += b.Len()
		// The deadline catches a reader that waits on the slow sink,
		// which would block this write for good. It is long because a
		// reader only short of CPU (the race detector on a loaded
		// machine) has taken more than five seconds to drain the socket.
		conn.conn.SetWriteDeadline(time.Now().Add(time.Minute))
		if _, err := conn.conn.Write([]byte(b.String())); err != nil {
			t.Fatalf("FreeSWITCH could not write its events (a slow reader): %v", err)
		}
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
	for id, kinds := range byCall {
		if kinds[0] != events.CallRouted || kinds[len(kinds)-1] != events.CallHangup || slices.Index(kinds, events.CallHangup) != len(kinds)-1 {
			t.Fatalf("call %s: %v", id, kinds)
		}
	}
	if len(byCall) != calls {
		t.Fatalf("%d calls, want %d", len(byCall), calls)
	}
	if st := c.Status(); st.Reconnects != 0 || !st.Connected {
		t.Fatalf("status %+v, want connected, never reconnected", st)
	}
	t.Logf("%d calls, %d events (%.1f MB, %.0f events/s) sent in %v (%.0f calls/s), at most %v behind the recorded pace; %d call events emitted at 1 ms each, all by %v; peak backlog %d frames",
		calls, len(evs), float64(bytes)/1e6, float64(len(evs))/sent.Seconds(), sent.Round(time.Millisecond), float64(calls)/sent.Seconds(), lag.Round(time.Millisecond), len(got), drained.Round(time.Millisecond), int(peakBacklog))
}
