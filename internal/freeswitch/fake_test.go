package freeswitch

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
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
	channels []fakeChannel // what "show channels" lists
	started  time.Time     // what "status" tells
	commands []string      // every command received, in order
}

type fsConn struct {
	t      *testing.T
	conn   net.Conn
	format string // plain or json, as the client subscribed
}

func startFakeFS(t *testing.T, password string) *fakeFS {
	t.Helper()
	fs := &fakeFS{t: t, password: password, conns: make(chan *fsConn, 8), started: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
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
	fs.mu.Lock()
	fs.started = time.Now()
	fs.mu.Unlock()
	fs.listen(fs.addr)
}

// setChannels lists answered inbound channels with these UUIDs.
func (fs *fakeFS) setChannels(uuids ...string) {
	var chans []fakeChannel
	for _, u := range uuids {
		chans = append(chans, fakeChannel{UUID: u, CallState: "ACTIVE"})
	}
	fs.setChannelRows(chans...)
}

func (fs *fakeFS) setChannelRows(chans ...fakeChannel) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.channels = chans
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
		case cmd == "api status":
			fs.mu.Lock()
			up := time.Since(fs.started)
			fs.mu.Unlock()
			body := fmt.Sprintf("UP 0 years, 0 days, %d hours, %d minutes, %d seconds, %d milliseconds, 0 microseconds\n"+
				"FreeSWITCH (Version 1.10.12 -release 64bit) is ready\n0 session(s) since startup\n", int(up.Hours()), int(up.Minutes())%60, int(up.Seconds())%60, up.Milliseconds()%1000)
			fmt.Fprintf(c, "Content-Type: api/response\nContent-Length: %d\n\n%s", len(body), body)
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

// fakeChannel is one row of "show channels"; empty fields get an
// answered inbound SIP channel's values.
type fakeChannel struct {
	UUID, Direction, CallState, CallUUID, CIDNum, Dest, Application, ApplicationData string
	Created                                                                          time.Time
}

// channelsJSON is "show channels as json" as FreeSWITCH answers it.
func channelsJSON(chans []fakeChannel) string {
	if len(chans) == 0 {
		return "{\"row_count\":0}\n"
	}
	type row struct {
		UUID            string `json:"uuid"`
		Direction       string `json:"direction"`
		Created         string `json:"created"`
		CreatedEpoch    string `json:"created_epoch"`
		Name            string `json:"name"`
		State           string `json:"state"`
		CIDNum          string `json:"cid_num"`
		Dest            string `json:"dest"`
		Application     string `json:"application"`
		ApplicationData string `json:"application_data"`
		CallState       string `json:"callstate"`
		CallUUID        string `json:"call_uuid"`
	}
	var rows []row
	for _, ch := range chans {
		created := ch.Created
		if created.IsZero() {
			created = time.Date(2026, 1, 27, 12, 2, 30, 0, time.UTC)
		}
		rows = append(rows, row{
			UUID: ch.UUID, Direction: cmp.Or(ch.Direction, "inbound"), Created: created.Format(time.DateTime),
			CreatedEpoch: strconv.FormatInt(created.Unix(), 10), Name: "sofia/internal/1001@10.0.0.10:5060", State: "CS_EXECUTE",
			CIDNum: ch.CIDNum, Dest: ch.Dest, Application: ch.Application, ApplicationData: ch.ApplicationData,
			CallState: cmp.Or(ch.CallState, "ACTIVE"), CallUUID: cmp.Or(ch.CallUUID, ch.UUID),
		})
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
