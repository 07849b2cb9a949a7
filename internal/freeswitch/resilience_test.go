package freeswitch

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/connector/connectortest"
)

// listenOn serves greeting to every connection on addr.
func listenOn(t *testing.T, addr, greeting string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, greeting)
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	return ln
}

var basicWant = scenarios[0].want

// FreeSWITCH restarts while the call is up: the call is gone when the
// connector is back, and gets its one CALL_HANGUP from reconciliation.
func TestEngineRestartMidCall(t *testing.T) {
	fs := startFakeFS(t, "ClueCon")
	sink := &connectortest.Collector{}
	c := runConnector(t, "fs1", fs, sink)
	evs := fixture(t, "basic_call.txt")
	fs.next(t).send(evs[:7]...) // up to both answers
	sink.Wait(t, 3)
	fs.restart()
	// Late word of the old call's legs changes nothing: it has had its
	// hangup. The next call, sent after it, fences the check.
	fs.next(t).send(append(evs[7:], fixture(t, "busy.txt")...)...)
	got := sink.Wait(t, 6)
	assertEvents(t, got, append(basicWant[:3:3],
		"CALL_HANGUP 1001>1002 leg=8c1d2e3f internal SYSTEM_SHUTDOWN 0 system",
		scenarios[5].want[0], scenarios[5].want[1]))
	assertOneCall(t, got[:4], "freeswitch/fs1")
	if st := c.Status(); st.Reconnects != 1 || !st.Connected {
		t.Fatalf("status %+v, want connected after 1 reconnect", st)
	}
}

// The network drops while the call is up and FreeSWITCH keeps it: the call
// stays open across the reconnection and ends once, with its real cause.
func TestNetworkDropMidCall(t *testing.T) {
	fs := startFakeFS(t, "ClueCon")
	sink := &connectortest.Collector{}
	runConnector(t, "fs1", fs, sink)
	evs := fixture(t, "basic_call.txt")
	conn := fs.next(t)
	conn.send(evs[:7]...)
	sink.Wait(t, 3)
	fs.setChannels("3f2a9c1e-5b7d-4e8a-9c21-7d4b6a0e1f01", "8c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e02")
	conn.conn.Close()
	fs.next(t).send(evs[7:]...)
	got := sink.Wait(t, 4)
	assertEvents(t, got, basicWant)
	assertOneCall(t, got, "freeswitch/fs1")
}

// The callee hangs up while the connector is away; the caller's leg is
// still up at reconnection and ends later: one CALL_HANGUP, when the last
// leg goes.
func TestLegEndedWhileAway(t *testing.T) {
	fs := startFakeFS(t, "ClueCon")
	sink := &connectortest.Collector{}
	runConnector(t, "fs1", fs, sink)
	evs := fixture(t, "basic_call.txt")
	conn := fs.next(t)
	conn.send(evs[:7]...)
	sink.Wait(t, 3)
	fs.setChannels("3f2a9c1e-5b7d-4e8a-9c21-7d4b6a0e1f01")
	conn.conn.Close()
	fs.next(t).send(evs[8])
	got := sink.Wait(t, 4)
	// The callee's BYE was missed, so who hung up is FreeSWITCH's word on
	// the caller's leg: it sent the BYE, so not the caller.
	assertEvents(t, got, append(basicWant[:3:3],
		"CALL_HANGUP 1001>1002 leg=3f2a9c1e internal NORMAL_CLEARING 200 system"))
}

// Garbage and oversized frames reset the connection with a log line; the
// call in progress carries on over the next connection.
func TestBadFramesReset(t *testing.T) {
	for name, bad := range map[string]string{
		"garbage line":     "HTTP/1.1 200 OK\r\n\r\n",
		"binary":           "\x00\x01\x02\xff\xfe\n\n",
		"oversized":        "Content-Type: text/event-plain\nContent-Length: 99999999\n\n",
		"bad length":       "Content-Type: text/event-plain\nContent-Length: ten\n\n",
		"no content type":  "Reply-Text: +OK\n\n",
		"endless header":   "Content-Type: text/event-plain\nX-Junk: " + strings.Repeat("x", maxHeaderBytes) + "\n\n",
		"undecodable json": "Content-Type: text/event-json\nContent-Length: 9\n\n{\"Event-N",
		"plain sans name":  "Content-Type: text/event-plain\nContent-Length: 18\n\nUnique-ID: abc\n\n\n\n",
	} {
		t.Run(name, func(t *testing.T) {
			fs := startFakeFS(t, "ClueCon")
			sink := &connectortest.Collector{}
			c := runConnector(t, "fs1", fs, sink)
			evs := fixture(t, "basic_call.txt")
			conn := fs.next(t)
			conn.send(evs[:5]...)
			sink.Wait(t, 2)
			fs.setChannels("3f2a9c1e-5b7d-4e8a-9c21-7d4b6a0e1f01", "8c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e02")
			conn.write(bad)
			fs.next(t).send(evs[5:]...)
			got := sink.Wait(t, 4)
			assertEvents(t, got, basicWant)
			if st := c.Status(); st.Reconnects != 1 {
				t.Fatalf("status %+v, want 1 reconnect", st)
			}
		})
	}
}

// FreeSWITCH says goodbye (text/disconnect-notice, e.g. on fsctl shutdown):
// the connector reconnects.
func TestDisconnectNotice(t *testing.T) {
	fs := startFakeFS(t, "ClueCon")
	c := runConnector(t, "fs1", fs, &connectortest.Collector{})
	fs.next(t).write("Content-Type: text/disconnect-notice\nContent-Length: 67\n\nDisconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n")
	fs.next(t)
	connectortest.WaitFor(t, "the reconnect", func() bool { return c.Status().Reconnects == 1 })
}

// Two FreeSWITCH servers at once, into one sink: each call is whole, in
// order, and named by its source.
func TestTwoEngines(t *testing.T) {
	fs1, fs2 := startFakeFS(t, "ClueCon"), startFakeFS(t, "other")
	sink := &connectortest.Collector{}
	runConnector(t, "east", fs1, sink)
	runConnector(t, "west", fs2, sink)
	c1, c2 := fs1.next(t), fs2.next(t)
	connectortest.Interleave(fixture(t, "basic_call.txt"), fixture(t, "ring_group.txt"),
		func(ev string) { c1.send(ev) }, func(ev string) { c2.send(ev) })
	got := sink.Wait(t, len(basicWant)+len(scenarios[1].want))
	bySource := connectortest.BySource(got)
	assertEvents(t, bySource["freeswitch/east"], basicWant)
	assertOneCall(t, bySource["freeswitch/east"], "freeswitch/east")
	assertEvents(t, bySource["freeswitch/west"], scenarios[1].want)
	assertOneCall(t, bySource["freeswitch/west"], "freeswitch/west")
}

// The connector comes in mid-call (switchhook started while the call was
// up): the call is adopted from the channel list, routed when its A-leg
// was created, answered as its B-leg's state shows, and ends once.
func TestJoinMidCall(t *testing.T) {
	fs := startFakeFS(t, "ClueCon")
	a, b := "3f2a9c1e-5b7d-4e8a-9c21-7d4b6a0e1f01", "8c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e02"
	fs.setChannelRows(
		fakeChannel{UUID: b, Direction: "outbound", CallUUID: a, CIDNum: "1001", Dest: "1002"},
		fakeChannel{UUID: a, CIDNum: "1001", Dest: "1002", Application: "bridge", ApplicationData: "user/1002"},
	)
	sink := &connectortest.Collector{}
	runConnector(t, "fs1", fs, sink)
	evs := fixture(t, "basic_call.txt")
	fs.next(t).send(evs[5:]...) // from the callee's answer on
	got := sink.Wait(t, 3)
	assertEvents(t, got, []string{
		"CALL_ROUTED 1001>1002 leg=3f2a9c1e internal to=extension:1002",
		"CALL_ANSWER 1001>1002 leg=8c1d2e3f internal",
		"CALL_HANGUP 1001>1002 leg=3f2a9c1e internal NORMAL_CLEARING 200 callee",
	})
	// The answer is stamped when the connector learned of it (now), the
	// replayed hangup with the recording's time: only the call is checked.
	for _, e := range got {
		if e.CallUUID != got[0].CallUUID {
			t.Fatalf("two calls: %v", summaries(got))
		}
	}
}

// A connection that goes silent (a network that drops packets without a
// reset; FreeSWITCH would send HEARTBEAT every 20 s) is given up on after
// the read timeout and made again.
func TestSilentConnection(t *testing.T) {
	fs := startFakeFS(t, "ClueCon")
	c := runConnector(t, "fs1", fs, &connectortest.Collector{}, func(c *Connector) { c.readTimeout = 200 * time.Millisecond })
	fs.next(t)
	fs.next(t)
	connectortest.WaitFor(t, "the timeout in the status", func() bool {
		st := c.Status()
		return st.Reconnects >= 1 && (st.Connected || strings.Contains(st.LastError, "i/o timeout"))
	})
}
