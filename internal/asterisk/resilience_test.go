package asterisk

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/switchhook/switchhook/internal/calltrack"
	"github.com/switchhook/switchhook/internal/connector/connectortest"
	"github.com/switchhook/switchhook/internal/events"
)

var basicWant = scenarios[0].want

// Asterisk restarts while the call is up: the call is gone when the
// connector is back, and gets its one CALL_HANGUP from reconciliation.
func TestEngineRestartMidCall(t *testing.T) {
	a := startFakeAsterisk(t, "u", "p")
	sink := &connectortest.Collector{}
	c := runConnector(t, "ast1", a, sink)
	msgs := fixture(t, "basic_call.txt")
	a.next(t).send(msgs[:11]...) // through both answers and the bridge
	sink.Wait(t, 3)
	a.restart()
	conn := a.next(t)
	connectortest.WaitFor(t, "the reconciliation", func() bool { return len(sink.Events()) == 4 })
	// Late word of the old call's channels changes nothing: it has had its
	// hangup. The next call, sent after it, fences the check.
	conn.send(append(msgs[11:], fixture(t, "busy.txt")...)...)
	got := sink.Wait(t, 6)
	assertEvents(t, got, append(basicWant[:3:3],
		"CALL_HANGUP 1001>1002 leg=1769515350.102 internal SYSTEM_SHUTDOWN 0 system",
		scenarios[5].want[0], scenarios[5].want[1]))
	assertOneCall(t, got[:4], "asterisk/ast1")
	if st := c.Status(); st.Reconnects != 1 || !st.Connected {
		t.Fatalf("status %+v, want connected after 1 reconnect", st)
	}
}

// The network drops while the call is up and Asterisk keeps it: the call
// stays open across the reconnection and ends once, with its real cause.
func TestNetworkDropMidCall(t *testing.T) {
	a := startFakeAsterisk(t, "u", "p")
	sink := &connectortest.Collector{}
	runConnector(t, "ast1", a, sink)
	msgs := fixture(t, "basic_call.txt")
	conn := a.next(t)
	conn.send(msgs[:11]...)
	sink.Wait(t, 3)
	a.setChannels("1769515350.101", "1769515350.102")
	conn.ws.CloseNow()
	a.next(t).send(msgs[11:]...)
	got := sink.Wait(t, 4)
	assertEvents(t, got, basicWant)
	assertOneCall(t, got, "asterisk/ast1")
}

// The callee's channel is destroyed while the connector is away: the call
// goes on with the caller's, and ends once when that one goes.
func TestLegEndedWhileAway(t *testing.T) {
	a := startFakeAsterisk(t, "u", "p")
	sink := &connectortest.Collector{}
	runConnector(t, "ast1", a, sink)
	msgs := fixture(t, "basic_call.txt")
	conn := a.next(t)
	conn.send(msgs[:11]...)
	sink.Wait(t, 3)
	a.setChannels("1769515350.101")
	conn.ws.CloseNow()
	a.next(t).send(msgs[12], msgs[14]) // the caller's hangup request (soft) and destruction
	got := sink.Wait(t, 4)
	// Which leg's end comes last depends on whether the caller's
	// destruction arrives before or after the channel list: both are right.
	got[3].LegUUID = "either"
	assertEvents(t, got, append(basicWant[:3:3],
		"CALL_HANGUP 1001>1002 leg=either internal NORMAL_CLEARING 200 system"))
}

// Garbage and oversized messages reset the connection with a log line; the
// call carries on over the next one.
func TestBadMessagesReset(t *testing.T) {
	for name, bad := range map[string]struct {
		typ  websocket.MessageType
		data []byte
	}{
		"not json":         {websocket.MessageText, []byte("HTTP/1.1 200 OK")},
		"binary garbage":   {websocket.MessageBinary, []byte{0, 1, 2, 0xff}},
		"no type":          {websocket.MessageText, []byte(`{"timestamp":"2026-01-27T12:02:30.000+0000"}`)},
		"channel sans id":  {websocket.MessageText, []byte(`{"type":"ChannelStateChange","channel":{"state":"Up"}}`)},
		"wrong field type": {websocket.MessageText, []byte(`{"type":"ChannelDtmfReceived","digit":5,"channel":{"id":"x"}}`)},
		"oversized":        {websocket.MessageText, append([]byte(`{"type":"ChannelVarset","value":"`), bytes.Repeat([]byte("x"), maxMessageBytes)...)},
	} {
		t.Run(name, func(t *testing.T) {
			a := startFakeAsterisk(t, "u", "p")
			sink := &connectortest.Collector{}
			c := runConnector(t, "ast1", a, sink)
			msgs := fixture(t, "basic_call.txt")
			conn := a.next(t)
			conn.send(msgs[:6]...)
			sink.Wait(t, 2)
			a.setChannels("1769515350.101", "1769515350.102")
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			conn.ws.Write(ctx, bad.typ, bad.data) // the connector may close first when oversized
			a.next(t).send(msgs[6:]...)
			got := sink.Wait(t, 4)
			assertEvents(t, got, basicWant)
			if st := c.Status(); st.Reconnects != 1 {
				t.Fatalf("status %+v, want 1 reconnect", st)
			}
		})
	}
}

// Another client registering the same application takes the event stream:
// the connector says so and reconnects.
func TestApplicationReplaced(t *testing.T) {
	a := startFakeAsterisk(t, "u", "p")
	c := runConnector(t, "ast1", a, &connectortest.Collector{})
	a.next(t).send(`{"type":"ApplicationReplaced","timestamp":"2026-01-27T12:02:30.000+0000","application":"switchhook"}`)
	a.next(t)
	connectortest.WaitFor(t, "the reconnect", func() bool { return c.Status().Reconnects == 1 })
}

// Two Asterisk servers at once, into one sink.
func TestTwoEngines(t *testing.T) {
	a1, a2 := startFakeAsterisk(t, "u", "p"), startFakeAsterisk(t, "u2", "p2")
	sink := &connectortest.Collector{}
	runConnector(t, "east", a1, sink)
	runConnector(t, "west", a2, sink)
	c1, c2 := a1.next(t), a2.next(t)
	connectortest.Interleave(fixture(t, "basic_call.txt"), fixture(t, "ring_group.txt"),
		func(ev string) { c1.send(ev) }, func(ev string) { c2.send(ev) })
	got := sink.Wait(t, len(basicWant)+len(scenarios[1].want))
	bySource := connectortest.BySource(got)
	assertEvents(t, bySource["asterisk/east"], basicWant)
	assertOneCall(t, bySource["asterisk/east"], "asterisk/east")
	assertEvents(t, bySource["asterisk/west"], scenarios[1].want)
	assertOneCall(t, bySource["asterisk/west"], "asterisk/west")
}

// FuzzDecode feeds arbitrary messages through the decoder and the call
// mapping: nothing may panic and every event emitted is valid.
func FuzzDecode(f *testing.F) {
	for _, name := range []string{"basic_call.txt", "ring_group.txt", "ivr_dtmf.txt", "busy.txt"} {
		f.Add(strings.Join(fixture(f, name), "\n\x00\n"))
	}
	f.Add(`{"type":"Dial","caller":{"id":"a"},"peer":{"id":"a"},"dialstatus":""}`)
	f.Add(`{"type":"ChannelDestroyed","channel":{"id":"a","name":"Local/x;2"}}`)
	f.Fuzz(func(t *testing.T, stream string) {
		tr := newTracker("asterisk/fuzz", slog.New(slog.DiscardHandler))
		for _, msg := range strings.Split(stream, "\n\x00\n") {
			ev, err := decodeEvent([]byte(msg))
			if err != nil {
				continue
			}
			for _, e := range tr.handle(ev) {
				if err := e.Validate(); err != nil {
					t.Fatalf("emitted an invalid event: %v", err)
				}
				if e.Kind == events.CallHangup && e.Hangup == nil {
					t.Fatal("CALL_HANGUP without hangup details")
				}
			}
		}
		for _, e := range tr.reconcile(map[string]liveChannel{}, calltrack.Gap{}, time.Now()) {
			if e.Kind != events.CallHangup {
				t.Fatalf("reconcile emitted %s", e.Kind)
			}
		}
	})
}
