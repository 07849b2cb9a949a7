package asterisk

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchhook/switchhook/internal/connector/connectortest"
	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/metrics"
)

var scenarios = []struct {
	fixture string
	want    []string
}{
	{"basic_call.txt", []string{
		"CALL_ROUTED 1001>1002 leg=1769515350.101 internal to=extension:1002",
		"CALL_RINGING 1001>1002 leg=1769515350.102 internal",
		"CALL_ANSWER 1001>1002 leg=1769515350.102 internal",
		"CALL_HANGUP 1001>1002 leg=1769515350.101 internal NORMAL_CLEARING 200 callee",
	}},
	{"ring_group.txt", []string{
		"CALL_ROUTED 1001>2000 leg=1769515400.201 internal to=ring_group:2000",
		"CALL_RINGING 1001>1002 leg=1769515400.202 internal",
		"CALL_RINGING 1001>1003 leg=1769515400.203 internal",
		"CALL_RINGING 1001>1004 leg=1769515400.204 internal",
		"CALL_ANSWER 1001>1003 leg=1769515400.203 internal",
		"CALL_HANGUP 1001>1003 leg=1769515400.203 internal NORMAL_CLEARING 200 caller",
	}},
	{"ivr_dtmf.txt", []string{
		"CALL_ROUTED 1001>5000 leg=1769515500.301 internal to=ivr:5000",
		"CALL_ANSWER 1001>5000 leg=1769515500.301 internal",
		"CALL_INPUT 1001>5000 leg=1769515500.301 internal digit=1 250ms caller",
		"CALL_INPUT 1001>5000 leg=1769515500.301 internal digit=# 150ms caller",
		"CALL_RINGING 1001>1002 leg=1769515500.302 internal",
		"CALL_ANSWER 1001>1002 leg=1769515500.302 internal",
		"CALL_INPUT 1001>1002 leg=1769515500.302 internal digit=5 100ms callee",
		"CALL_HANGUP 1001>1002 leg=1769515500.302 internal NORMAL_CLEARING 200 caller",
	}},
	{"hold_unhold.txt", []string{
		"CALL_ROUTED 1001>1002 leg=1769515600.401 internal to=extension:1002",
		"CALL_RINGING 1001>1002 leg=1769515600.402 internal",
		"CALL_ANSWER 1001>1002 leg=1769515600.402 internal",
		"CALL_HOLD 1001>1002 leg=1769515600.401 internal caller",
		"CALL_UNHOLD 1001>1002 leg=1769515600.401 internal caller",
		"CALL_HOLD 1001>1002 leg=1769515600.402 internal callee",
		"CALL_UNHOLD 1001>1002 leg=1769515600.402 internal callee",
		"CALL_HANGUP 1001>1002 leg=1769515600.402 internal NORMAL_CLEARING 200 caller",
	}},
	{"cancel.txt", []string{
		"CALL_ROUTED +15557654321>1002 leg=1769515700.501 inbound to=extension:1002",
		"CALL_RINGING +15557654321>1002 leg=1769515700.502 inbound",
		"CALL_HANGUP +15557654321>1002 leg=1769515700.501 inbound ORIGINATOR_CANCEL 487 caller",
	}},
	{"busy.txt", []string{
		"CALL_ROUTED 1001>915551234567 leg=1769515800.601 outbound to=gateway:carrier1",
		"CALL_HANGUP 1001>915551234567 leg=1769515800.601 outbound USER_BUSY 486 callee",
	}},
}

func TestScenarios(t *testing.T) {
	for _, sc := range scenarios {
		t.Run(strings.TrimSuffix(sc.fixture, ".txt"), func(t *testing.T) {
			a := startFakeAsterisk(t, "switchhook", "s3cret")
			sink := &connectortest.Collector{}
			runConnector(t, "ast1", a, sink)
			a.next(t).send(fixture(t, sc.fixture)...)
			got := sink.Wait(t, len(sc.want))
			assertEvents(t, got, sc.want)
			assertOneCall(t, got, "asterisk/ast1")
		})
	}
}

func assertEvents(t *testing.T, got []events.Event, want []string) {
	t.Helper()
	connectortest.AssertEvents(t, got, want, 0)
}

// assertOneCall checks what every event of one call shares: one fresh v4
// call UUID (Asterisk's channel ids are not UUIDs), the session, the
// source, validity, times in order.
func assertOneCall(t *testing.T, evs []events.Event, source string) {
	t.Helper()
	if u, err := uuid.Parse(evs[0].CallUUID); err != nil || u.Version() != 4 || u.String() != evs[0].CallUUID {
		t.Errorf("call_uuid %q is not a lower-case v4 UUID", evs[0].CallUUID)
	}
	connectortest.AssertOneCall(t, evs, source)
}

func TestRequestsAndMetrics(t *testing.T) {
	a := startFakeAsterisk(t, "switchhook", "s3cret")
	m := metrics.New(nil)
	c := runConnector(t, "ast1", a, &connectortest.Collector{}, func(c *Connector) {
		c.link.Metrics = m
		c.cfg.App = "hooks"
		c.cfg.URL += "/ari/"
	})
	a.next(t)
	connectortest.WaitFor(t, "the connected status", func() bool { return c.Status().Connected })
	a.mu.Lock()
	reqs := strings.Join(a.requests, "|")
	a.mu.Unlock()
	if want := "GET /ari/events?app=hooks&subscribeAll=true|GET /ari/channels?|GET /ari/bridges?|GET /ari/asterisk/info?"; reqs != want {
		t.Fatalf("requests %q, want %q", reqs, want)
	}
	st := c.Status()
	if st.Kind != "asterisk" || st.Name != "ast1" || st.Since.IsZero() {
		t.Fatalf("status %+v", st)
	}
	if v := testutil.ToFloat64(m.SourceConnected.WithLabelValues("asterisk/ast1")); v != 1 {
		t.Fatalf("switchhook_source_connected = %v, want 1", v)
	}
	a.stop()
	connectortest.WaitFor(t, "the connector to see the connection drop", func() bool { return !c.Status().Connected })
	if v := testutil.ToFloat64(m.SourceConnected.WithLabelValues("asterisk/ast1")); v != 0 {
		t.Fatalf("switchhook_source_connected = %v after the drop, want 0", v)
	}
}

func TestWrongPassword(t *testing.T) {
	a := startFakeAsterisk(t, "switchhook", "s3cret")
	c := runConnector(t, "ast1", a, &connectortest.Collector{}, func(c *Connector) { c.cfg.Password = "wrong" })
	connectortest.WaitFor(t, "the auth failure in the status", func() bool {
		return strings.Contains(c.Status().LastError, `user "switchhook" rejected (401): check ari.conf`)
	})
	if c.Status().Connected {
		t.Fatal("connected with a wrong password")
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{URL: "http://127.0.0.1:8088", Username: "u"}, "asterisk: name is empty"},
		{Config{Name: "a", URL: "127.0.0.1:8088", Username: "u"}, `asterisk/a: url "127.0.0.1:8088"`},
		{Config{Name: "a", URL: "ws://127.0.0.1:8088", Username: "u"}, `asterisk/a: url "ws://127.0.0.1:8088" is not an http:// or https:// address`},
		{Config{Name: "a", URL: "http://127.0.0.1:8088"}, "asterisk/a: username is empty"},
	} {
		err := New(tc.cfg, connectortest.Logger(t), nil).Run(context.Background(), &connectortest.Collector{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Run(%+v) = %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

func TestRefusalsDoNotStopRun(t *testing.T) {
	a := startFakeAsterisk(t, "u", "p")
	c := New(Config{Name: "ast1", URL: a.url(), Username: "u", Password: "p"}, connectortest.Logger(t), nil)
	var send func(...string)
	evs := connectortest.GoesOnPastRefusals(t, c, func() {
		if send == nil {
			send = a.next(t).send
		}
		send(fixture(t, "busy.txt")...)
	})
	connectortest.AssertOneCall(t, evs, c.Name())
	if st := c.Status(); st.Reconnects != 0 {
		t.Errorf("status %+v, want never reconnected", st)
	}
}
