package freeswitch

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/connector/connectortest"
	"github.com/switchhook/switchhook/internal/events"
)

// fakeFS stands in for FreeSWITCH's mod_event_socket on a loopback port. It
// speaks the inbound protocol byte for byte: auth/request, command/reply to
// auth and event, api/response to "show channels as json", then whatever
// frames the test sends.
type fakeFS struct {
	t        *testing.T
	password string
	addr     string
	conns    chan *fsConn

	mu       sync.Mutex
	ln       net.Listener
	open     []*fsConn
	channels []string // what "show channels" lists
	commands []string // every command received, in order
}

type fsConn struct {
	t      *testing.T
	conn   net.Conn
	format string // plain or json, as the client subscribed
}

func startFakeFS(t *testing.T, password string) *fakeFS {
	t.Helper()
	fs := &fakeFS{t: t, password: password, conns: make(chan *fsConn, 8)}
	fs.listen("127.0.0.1:0")
	t.Cleanup(fs.stop)
	return fs
}

func (fs *fakeFS) listen(addr string) {
	fs.t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fs.t.Fatalf("fake freeswitch listen %s: %v", addr, err)
	}
	fs.mu.Lock()
	fs.ln, fs.addr = ln, ln.Addr().String()
	fs.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go fs.serve(c)
		}
	}()
}

// stop closes the listener and every connection, as a FreeSWITCH going down.
func (fs *fakeFS) stop() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.ln.Close()
	for _, c := range fs.open {
		c.conn.Close()
	}
	fs.open = nil
}

// restart stops FreeSWITCH and starts it again on the same port, with no
// channels: every call it had is gone.
func (fs *fakeFS) restart() {
	fs.stop()
	fs.setChannels()
	fs.listen(fs.addr)
}

func (fs *fakeFS) setChannels(uuids ...string) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.channels = uuids
}

func (fs *fakeFS) serve(c net.Conn) {
	fc := &fsConn{t: fs.t, conn: c}
	fs.mu.Lock()
	fs.open = append(fs.open, fc)
	fs.mu.Unlock()
	r := bufio.NewReader(c)
	io.WriteString(c, "Content-Type: auth/request\n\n")
	for {
		cmd, err := readCommand(r)
		if err != nil {
			return
		}
		fs.mu.Lock()
		fs.commands = append(fs.commands, cmd)
		fs.mu.Unlock()
		switch {
		case strings.HasPrefix(cmd, "auth "):
			if strings.TrimPrefix(cmd, "auth ") != fs.password {
				io.WriteString(c, "Content-Type: command/reply\nReply-Text: -ERR invalid\n\n")
				io.WriteString(c, "Content-Type: text/disconnect-notice\nContent-Length: 67\n\nDisconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n")
				c.Close()
				return
			}
			io.WriteString(c, "Content-Type: command/reply\nReply-Text: +OK accepted\n\n")
		case strings.HasPrefix(cmd, "event "):
			fc.format = strings.Fields(cmd)[1]
			fmt.Fprintf(c, "Content-Type: command/reply\nReply-Text: +OK event listener enabled %s\n\n", fc.format)
		case cmd == "api show channels as json":
			fs.mu.Lock()
			body := channelsJSON(fs.channels)
			fs.mu.Unlock()
			fmt.Fprintf(c, "Content-Type: api/response\nContent-Length: %d\n\n%s", len(body), body)
			fs.conns <- fc
		default:
			io.WriteString(c, "Content-Type: command/reply\nReply-Text: -ERR command not found\n\n")
		}
	}
}

func readCommand(r *bufio.Reader) (string, error) {
	var lines []string
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			return "", err
		}
		l = strings.TrimRight(l, "\r\n")
		if l == "" {
			if len(lines) == 0 {
				continue
			}
			return strings.Join(lines, "\n"), nil
		}
		lines = append(lines, l)
	}
}

// channelsJSON is "show channels as json" as FreeSWITCH answers it.
func channelsJSON(uuids []string) string {
	if len(uuids) == 0 {
		return "{\"row_count\":0}\n"
	}
	type row struct {
		UUID      string `json:"uuid"`
		Direction string `json:"direction"`
		Created   string `json:"created"`
		Name      string `json:"name"`
		State     string `json:"state"`
		CallState string `json:"callstate"`
		CallUUID  string `json:"call_uuid"`
	}
	var rows []row
	for _, u := range uuids {
		rows = append(rows, row{UUID: u, Direction: "inbound", Created: "2026-01-27 12:02:30", Name: "sofia/internal/1001@10.0.0.10:5060", State: "CS_EXECUTE", CallState: "ACTIVE", CallUUID: u})
	}
	b, _ := json.Marshal(map[string]any{"row_count": len(rows), "rows": rows})
	return string(b) + "\n"
}

// next waits for the connector's next connection to be ready for events.
func (fs *fakeFS) next(t *testing.T) *fsConn {
	t.Helper()
	return connectortest.Receive(t, fs.conns, "the connector to connect to the fake FreeSWITCH")
}

// send writes each fixture event as one frame in the format subscribed.
func (c *fsConn) send(evs ...string) {
	c.t.Helper()
	var buf bytes.Buffer
	for _, ev := range evs {
		buf.WriteString(eventFrame(c.t, c.format, ev))
	}
	if _, err := c.conn.Write(buf.Bytes()); err != nil {
		c.t.Fatalf("fake freeswitch write: %v", err)
	}
}

func (c *fsConn) write(raw string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, raw); err != nil {
		c.t.Fatalf("fake freeswitch write: %v", err)
	}
}

// eventFrame frames one fixture event (its header lines, values
// URL-encoded) as text/event-plain or text/event-json.
func eventFrame(t testing.TB, format, ev string) string {
	var body string
	if format == "json" {
		var b strings.Builder
		b.WriteString("{")
		for i, line := range strings.Split(ev, "\n") {
			k, v, _ := strings.Cut(line, ": ")
			dv, err := url.PathUnescape(v)
			if err != nil {
				t.Fatalf("fixture value %q: %v", v, err)
			}
			kj, _ := json.Marshal(k)
			vj, _ := json.Marshal(dv)
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, "%s:%s", kj, vj)
		}
		b.WriteString("}")
		body = b.String()
		return fmt.Sprintf("Content-Length: %d\nContent-Type: text/event-json\n\n%s", len(body), body)
	}
	body = ev + "\n\n"
	return fmt.Sprintf("Content-Length: %d\nContent-Type: text/event-plain\n\n%s", len(body), body)
}

// fixture reads a testdata file's events, each its header lines.
func fixture(t testing.TB, name string) []string {
	t.Helper()
	return connectortest.Fixture(t, filepath.Join("testdata", name))
}

// summaries renders events as the tests' expectations spell them, legs cut
// to a UUID's first eight characters.
func summaries(evs []events.Event) []string { return connectortest.Summaries(evs, 8) }

// runConnector makes a connector to fs with test timings, lets each option
// adjust it, and runs it until the test ends.
func runConnector(t *testing.T, name string, fs *fakeFS, sink events.Sink, opts ...func(*Connector)) *Connector {
	t.Helper()
	c := New(Config{Name: name, Address: fs.addr, Password: fs.password}, connectortest.Logger(t), nil)
	c.link.MinBackoff, c.link.MaxBackoff = 10*time.Millisecond, 50*time.Millisecond
	for _, o := range opts {
		o(c)
	}
	connectortest.Run(t, c, sink)
	return c
}
