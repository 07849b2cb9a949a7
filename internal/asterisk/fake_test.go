package asterisk

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/switchhook/switchhook/internal/connector/connectortest"
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
	channels []fakeChannel // what GET /ari/channels lists
	bridges  map[string][]string
	started  time.Time // what GET /ari/asterisk/info tells
	requests []string  // method, path and query of every request
	open     []*ariConn
}

type ariConn struct {
	t  *testing.T
	ws *websocket.Conn
}

func startFakeAsterisk(t *testing.T, user, pass string) *fakeAsterisk {
	t.Helper()
	a := &fakeAsterisk{t: t, user: user, pass: pass, conns: make(chan *ariConn, 8), started: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
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
	a.mu.Lock()
	a.started = time.Now()
	a.mu.Unlock()
	a.listen(a.addr)
}

// setChannels lists Up channels with these ids, in no bridge.
func (a *fakeAsterisk) setChannels(ids ...string) {
	var chans []fakeChannel
	for _, id := range ids {
		chans = append(chans, fakeChannel{ID: id})
	}
	a.setChannelRows(nil, chans...)
}

// setChannelRows lists chans, and bridges (by id, their channels' ids).
func (a *fakeAsterisk) setChannelRows(bridges map[string][]string, chans ...fakeChannel) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.channels, a.bridges = chans, bridges
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
		chans := a.channels
		a.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, channelsJSON(chans))
	case r.Method == http.MethodGet && r.URL.Path == "/ari/bridges":
		a.mu.Lock()
		list := []map[string]any{}
		for id, chans := range a.bridges {
			list = append(list, map[string]any{"id": id, "technology": "simple_bridge", "bridge_type": "mixing", "bridge_class": "basic",
				"creator": "Dial", "name": "", "channels": chans, "creationtime": "2026-01-27T12:02:31.000+0000", "video_mode": "none"})
		}
		a.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(list)
	case r.Method == http.MethodGet && r.URL.Path == "/ari/asterisk/info":
		a.mu.Lock()
		started := a.started.UTC().Format(timestampLayout)
		a.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"build":{"os":"Linux","kernel":"6.1.0","machine":"x86_64","options":"","date":"2026-12-04 10:00:00 UTC","user":"root"},`+
			`"system":{"version":"22.10.1","entity_id":"02:fc:00:00:00:01"},"config":{"name":"","default_language":"en","setid":{"user":"","group":""}},`+
			`"status":{"startup_time":%q,"last_reload_time":%q}}`, started, started)
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

// fakeChannel is one channel GET /ari/channels lists; empty fields get an
// Up caller's values.
type fakeChannel struct {
	ID, Name, State, Caller, Connected, Exten, App, AppData string
	Created                                                 time.Time
}

// channelsJSON is GET /ari/channels' answer for chans.
func channelsJSON(chans []fakeChannel) string {
	list := []map[string]any{}
	for _, ch := range chans {
		created := ch.Created
		if created.IsZero() {
			created = time.Date(2026, 1, 27, 12, 2, 30, 0, time.UTC)
		}
		list = append(list, map[string]any{
			"id": ch.ID, "name": cmp.Or(ch.Name, "PJSIP/1001-00000001"), "state": cmp.Or(ch.State, "Up"), "protocol_id": "",
			"caller":    map[string]string{"name": "", "number": cmp.Or(ch.Caller, "1001")},
			"connected": map[string]string{"name": "", "number": ch.Connected}, "accountcode": "",
			"dialplan":     map[string]any{"context": "from-internal", "exten": cmp.Or(ch.Exten, "1002"), "priority": 2, "app_name": cmp.Or(ch.App, "Dial"), "app_data": cmp.Or(ch.AppData, "PJSIP/1002,30")},
			"creationtime": created.Format(timestampLayout), "language": "en",
		})
	}
	b, _ := json.MarshalIndent(list, "", "  ")
	return string(b)
}

// next waits for the connector's next event WebSocket.
func (a *fakeAsterisk) next(t *testing.T) *ariConn {
	t.Helper()
	return connectortest.Receive(t, a.conns, "the connector to connect to the fake Asterisk")
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

// fixture reads a testdata file's messages.
func fixture(t testing.TB, name string) []string {
	t.Helper()
	return connectortest.Fixture(t, filepath.Join("testdata", name))
}

func summaries(evs []events.Event) []string { return connectortest.Summaries(evs, 0) }

// runConnector makes a connector to a with test timings, lets each option
// adjust it, and runs it until the test ends.
func runConnector(t *testing.T, name string, a *fakeAsterisk, sink events.Sink, opts ...func(*Connector)) *Connector {
	t.Helper()
	c := New(Config{Name: name, URL: a.url(), Username: a.user, Password: a.pass}, connectortest.Logger(t), nil)
	c.link.MinBackoff, c.link.MaxBackoff = 10*time.Millisecond, 50*time.Millisecond
	for _, o := range opts {
		o(c)
	}
	connectortest.Run(t, c, sink)
	return c
}
