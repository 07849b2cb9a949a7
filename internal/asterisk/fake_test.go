package asterisk

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/switchhook/switchhook/internal/events"
)

// fakeAsterisk stands in for Asterisk's HTTP server on a loopback port: the
// ARI event WebSocket (/ari/events, basic auth, app and subscribeAll) and
// the one REST call the connector makes (GET /ari/channels).
type fakeAsterisk struct {
	t          *testing.T
	user, pass string
	srv        *httptest.Server
	addr       string
	conns      chan *ariConn

	mu       sync.Mutex
	channels []string // ids GET /ari/channels lists
	requests []string // method, path and query of every request
	open     []*ariConn
}

type ariConn struct {
	t  *testing.T
	ws *websocket.Conn
}

func startFakeAsterisk(t *testing.T, user, pass string) *fakeAsterisk {
	t.Helper()
	a := &fakeAsterisk{t: t, user: user, pass: pass, conns: make(chan *ariConn, 8)}
	a.listen("127.0.0.1:0")
	t.Cleanup(a.stop)
	return a
}

func (a *fakeAsterisk) listen(addr string) {
	a.t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		a.t.Fatalf("fake asterisk listen %s: %v", addr, err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(a.serve))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	a.mu.Lock()
	a.srv, a.addr = srv, ln.Addr().String()
	a.mu.Unlock()
}

func (a *fakeAsterisk) url() string { return "http://" + a.addr }

// stop ends every connection and the server, as an Asterisk going down.
func (a *fakeAsterisk) stop() {
	a.mu.Lock()
	open := a.open
	a.open = nil
	srv := a.srv
	a.mu.Unlock()
	for _, c := range open {
		c.ws.CloseNow()
	}
	srv.CloseClientConnections()
	srv.Close()
}

// restart stops Asterisk and starts it again on the same port with no
// channels: every call it had is gone.
func (a *fakeAsterisk) restart() {
	a.stop()
	a.setChannels()
	a.listen(a.addr)
}

func (a *fakeAsterisk) setChannels(ids ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.channels = ids
}

func (a *fakeAsterisk) serve(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.requests = append(a.requests, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery)
	a.mu.Unlock()
	if u, p, ok := r.BasicAuth(); !ok || u != a.user || p != a.pass {
		w.Header().Set("WWW-Authenticate", `Basic realm="Asterisk REST Interface"`)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, "{\n  \"error\": \"Authentication required\"\n}")
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/ari/channels":
		a.mu.Lock()
		ids := a.channels
		a.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, channelsJSON(ids))
	case r.URL.Path == "/ari/events":
		q := r.URL.Query()
		if q.Get("app") == "" || q.Get("subscribeAll") != "true" {
			http.Error(w, `{"message": "app and subscribeAll expected"}`, http.StatusBadRequest)
			return
		}
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		c := &ariConn{t: a.t, ws: ws}
		a.mu.Lock()
		a.open = append(a.open, c)
		a.mu.Unlock()
		a.conns <- c
		// Asterisk reads nothing from an event socket but control frames;
		// reading keeps pings answered.
		ws.CloseRead(context.Background())
	default:
		http.Error(w, `{"message": "Invalid method"}`, http.StatusNotFound)
	}
}

// channelsJSON is GET /ari/channels' answer for channels with these ids.
func channelsJSON(ids []string) string {
	list := []map[string]any{}
	for _, id := range ids {
		list = append(list, map[string]any{
			"id": id, "name": "PJSIP/1001-00000001", "state": "Up", "protocol_id": "",
			"caller":    map[string]string{"name": "Alice", "number": "1001"},
			"connected": map[string]string{"name": "", "number": ""}, "accountcode": "",
			"dialplan":     map[string]any{"context": "from-internal", "exten": "1002", "priority": 2, "app_name": "Dial", "app_data": "PJSIP/1002,30"},
			"creationtime": "2026-01-27T12:02:30.000+0000", "language": "en",
		})
	}
	b, _ := json.MarshalIndent(list, "", "  ")
	return string(b)
}

// next waits for the connector's next event WebSocket.
func (a *fakeAsterisk) next(t *testing.T) *ariConn {
	t.Helper()
	select {
	case c := <-a.conns:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("the connector did not connect to the fake Asterisk")
		return nil
	}
}

// send writes each message as one WebSocket text message.
func (c *ariConn) send(msgs ...string) {
	c.t.Helper()
	for _, m := range msgs {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := c.ws.Write(ctx, websocket.MessageText, []byte(m))
		cancel()
		if err != nil {
			c.t.Fatalf("fake asterisk write: %v", err)
		}
	}
}

// fixture reads a testdata file's messages: JSON blocks separated by blank
// lines, after the leading comment.
func fixture(t testing.TB, name string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	var msgs []string
	for _, block := range strings.Split(strings.Join(lines, "\n"), "\n\n") {
		if block = strings.Trim(block, "\n"); block != "" {
			msgs = append(msgs, block)
		}
	}
	return msgs
}

// collector is a Sink that keeps what it is given.
type collector struct {
	mu  sync.Mutex
	evs []events.Event
}

func (c *collector) Emit(_ context.Context, e events.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.evs = append(c.evs, e)
	return nil
}

func (c *collector) snapshot() []events.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]events.Event(nil), c.evs...)
}

// wait returns the events once there are n, failing after 10 s.
func (c *collector) wait(t *testing.T, n int) []events.Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if evs := c.snapshot(); len(evs) >= n {
			return evs
		}
		time.Sleep(5 * time.Millisecond)
	}
	evs := c.snapshot()
	t.Fatalf("got %d events, want %d:\n%s", len(evs), n, strings.Join(summaries(evs), "\n"))
	return nil
}

func summary(e events.Event) string {
	s := fmt.Sprintf("%s %s>%s leg=%s %s", e.Kind, e.CallerIDNumber, e.DestinationNumber, e.LegUUID, e.Direction)
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

func summaries(evs []events.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = summary(e)
	}
	return out
}

// runConnector makes a connector to a with test timings, lets each option
// adjust it, and runs it until the test ends.
func runConnector(t *testing.T, name string, a *fakeAsterisk, sink events.Sink, opts ...func(*Connector)) *Connector {
	t.Helper()
	c := New(Config{Name: name, URL: a.url(), Username: a.user, Password: a.pass}, testLogger(t), nil)
	c.link.MinBackoff, c.link.MaxBackoff = 10*time.Millisecond, 50*time.Millisecond
	for _, o := range opts {
		o(c)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, sink) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return c
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}
