package freeswitch

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchhook/switchhook/internal/connector/connectortest"
	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/metrics"
)

// scenarios are the fixtures and the exact events each must produce.
var scenarios = []struct {
	fixture string
	want    []string
}{
	{"basic_call.txt", []string{
		"CALL_ROUTED 1001>1002 leg=3f2a9c1e internal to=extension:1002",
		"CALL_RINGING 1001>1002 leg=8c1d2e3f internal",
		"CALL_ANSWER 1001>1002 leg=8c1d2e3f internal",
		"CALL_HANGUP 1001>1002 leg=3f2a9c1e internal NORMAL_CLEARING 200 callee",
	}},
	{"ring_group.txt", []string{
		"CALL_ROUTED 1001>2000 leg=5a6b7c8d internal to=ring_group:2000",
		"CALL_RINGING 1001>1002 leg=b1a2c3d4 internal",
		"CALL_RINGING 1001>1003 leg=c2b3d4e5 internal",
		"CALL_RINGING 1001>1004 leg=d3c4e5f6 internal",
		"CALL_ANSWER 1001>1003 leg=c2b3d4e5 internal",
		"CALL_HANGUP 1001>1003 leg=c2b3d4e5 internal NORMAL_CLEARING 200 caller",
	}},
	{"ivr_dtmf.txt", []string{
		"CALL_ROUTED 1001>5000 leg=6b7c8d9e internal to=ivr:5000",
		"CALL_ANSWER 1001>5000 leg=6b7c8d9e internal",
		"CALL_INPUT 1001>5000 leg=6b7c8d9e internal digit=1 250ms caller",
		"CALL_INPUT 1001>5000 leg=6b7c8d9e internal digit=# 150ms caller",
		"CALL_RINGING 1001>1002 leg=7c8d9e0f internal",
		"CALL_ANSWER 1001>1002 leg=7c8d9e0f internal",
		"CALL_INPUT 1001>1002 leg=7c8d9e0f internal digit=5 100ms callee",
		"CALL_HANGUP 1001>1002 leg=7c8d9e0f internal NORMAL_CLEARING 200 caller",
	}},
	{"hold_unhold.txt", []string{
		"CALL_ROUTED 1001>1002 leg=8d9e0f1a internal to=extension:1002",
		"CALL_RINGING 1001>1002 leg=9e0f1a2b internal",
		"CALL_ANSWER 1001>1002 leg=9e0f1a2b internal",
		"CALL_HOLD 1001>1002 leg=8d9e0f1a internal caller",
		"CALL_UNHOLD 1001>1002 leg=8d9e0f1a internal caller",
		"CALL_HOLD 1001>1002 leg=9e0f1a2b internal callee",
		"CALL_UNHOLD 1001>1002 leg=9e0f1a2b internal callee",
		"CALL_HANGUP 1001>1002 leg=9e0f1a2b internal NORMAL_CLEARING 200 caller",
	}},
	{"cancel.txt", []string{
		"CALL_ROUTED +15557654321>1002 leg=0f1a2b3c inbound to=extension:1002",
		"CALL_RINGING +15557654321>1002 leg=1a2b3c4d inbound",
		"CALL_HANGUP +15557654321>1002 leg=1a2b3c4d inbound ORIGINATOR_CANCEL 487 caller",
	}},
	{"busy.txt", []string{
		"CALL_ROUTED 1001>915551234567 leg=2b3c4d5e outbound to=gateway:carrier1",
		"CALL_HANGUP 1001>915551234567 leg=2b3c4d5e outbound USER_BUSY 486 callee",
	}},
}

func TestScenarios(t *testing.T) {
	for _, sc := range scenarios {
		for _, format := range []string{"plain", "json"} {
			t.Run(strings.TrimSuffix(sc.fixture, ".txt")+"/"+format, func(t *testing.T) {
				fs := startFakeFS(t, "ClueCon")
				sink := &connectortest.Collector{}
				runConnector(t, "fs1", fs, sink, func(c *Connector) { c.format = format })
				conn := fs.next(t)
				if conn.format != format {
					t.Fatalf("subscribed %q, want %q", conn.format, format)
				}
				evs := fixture(t, sc.fixture)
				conn.send(evs...)
				got := sink.Wait(t, len(sc.want))
				assertEvents(t, got, sc.want)
				assertOneCall(t, got, "freeswitch/fs1")
			})
		}
	}
}

// assertEvents compares event summaries exactly.
func assertEvents(t *testing.T, got []events.Event, want []string) {
	t.Helper()
	connectortest.AssertEvents(t, got, want, 8)
}

// assertOneCall checks what every event of one call shares: the call's
// UUID (the A-leg's, a v4 UUID), its session, its source, a valid event,
// times in order.
func assertOneCall(t *testing.T, evs []events.Event, source string) {
	t.Helper()
	if first := evs[0]; first.CallUUID != first.LegUUID {
		t.Errorf("call_uuid %s, want the A-leg's UUID %s", first.CallUUID, first.LegUUID)
	}
	connectortest.AssertOneCall(t, evs, source)
}

func TestHandshakeAndMetrics(t *testing.T) {
	fs := startFakeFS(t, "s3cret")
	m := metrics.New(nil)
	c := runConnector(t, "fs1", fs, &connectortest.Collector{}, func(c *Connector) { c.link.Metrics = m })
	fs.next(t)
	connectortest.WaitFor(t, "the connected status", func() bool { return c.Status().Connected })
	fs.mu.Lock()
	cmds := append([]string(nil), fs.commands...)
	fs.mu.Unlock()
	want := []string{
		"auth s3cret",
		"event plain CHANNEL_CREATE CHANNEL_EXECUTE CHANNEL_PROGRESS CHANNEL_PROGRESS_MEDIA CHANNEL_ANSWER CHANNEL_HOLD CHANNEL_UNHOLD DTMF CHANNEL_BRIDGE CHANNEL_HANGUP_COMPLETE HEARTBEAT CUSTOM sofia::transferor",
		"api status",
		"api show channels as json",
	}
	if strings.Join(cmds, "|") != strings.Join(want, "|") {
		t.Fatalf("commands %q, want %q", cmds, want)
	}
	st := c.Status()
	if !st.Connected || st.Kind != "freeswitch" || st.Name != "fs1" || st.Address != fs.addr || st.Since.IsZero() {
		t.Fatalf("status %+v", st)
	}
	if v := testutil.ToFloat64(m.SourceConnected.WithLabelValues("freeswitch/fs1")); v != 1 {
		t.Fatalf("switchhook_source_connected = %v, want 1", v)
	}
	fs.stop()
	connectortest.WaitFor(t, "the connector to see the connection drop", func() bool { return !c.Status().Connected })
	if v := testutil.ToFloat64(m.SourceConnected.WithLabelValues("freeswitch/fs1")); v != 0 {
		t.Fatalf("switchhook_source_connected = %v after the drop, want 0", v)
	}
}

func TestWrongPassword(t *testing.T) {
	fs := startFakeFS(t, "ClueCon")
	c := New(Config{Name: "fs1", Address: fs.addr, Password: "wrong"}, connectortest.Logger(t), nil)
	c.link.MinBackoff, c.link.MaxBackoff = 10*time.Millisecond, 20*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, &connectortest.Collector{}) }()
	connectortest.WaitFor(t, "the auth failure in the status", func() bool {
		return strings.Contains(c.Status().LastError, `freeswitch replied "-ERR invalid"`)
	})
	if c.Status().Connected {
		t.Fatal("connected with a wrong password")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
}

func TestNotAnEventSocket(t *testing.T) {
	fs := startFakeFS(t, "ClueCon")
	fs.stop()
	// Something else answers on the port: an HTTP server's greeting.
	ln := listenOn(t, fs.addr, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
	defer ln.Close()
	c := runConnector(t, "fs1", fs, &connectortest.Collector{})
	connectortest.WaitFor(t, "a clear error about the peer", func() bool {
		return strings.Contains(c.Status().LastError, "read auth request: malformed frame")
	})
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Address: "127.0.0.1:8021", Password: "x"}, "freeswitch: name is empty"},
		{Config{Name: "fs1", Address: "127.0.0.1", Password: "x"}, `freeswitch/fs1: address "127.0.0.1" is not host:port`},
		{Config{Name: "fs1", Address: "127.0.0.1:8021"}, "freeswitch/fs1: password is empty"},
		{Config{Name: "fs1", Address: "127.0.0.1:8021", Password: "a\nb"}, "freeswitch/fs1: password contains a line break"},
	} {
		err := New(tc.cfg, connectortest.Logger(t), nil).Run(context.Background(), &connectortest.Collector{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Run(%+v) = %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

// A failing sink stops Run: the events would otherwise be lost.
func TestRefusalsDoNotStopRun(t *testing.T) {
	fs := startFakeFS(t, "ClueCon")
	c := New(Config{Name: "fs1", Address: fs.addr, Password: "ClueCon"}, connectortest.Logger(t), nil)
	var send func(...string)
	evs := connectortest.GoesOnPastRefusals(t, c, func() {
		if send == nil {
			send = fs.next(t).send
		}
		send(fixture(t, "busy.txt")...)
	})
	connectortest.AssertOneCall(t, evs, c.Name())
	if st := c.Status(); st.Reconnects != 0 {
		t.Errorf("status %+v, want never reconnected", st)
	}
}
