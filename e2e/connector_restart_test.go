package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// eslEngine is a stand-in FreeSWITCH event socket on loopback whose channel
// list and start time the test sets: it answers auth, event, "api status"
// and "api show channels as json" as FreeSWITCH does, then hands each
// connection to the test, which writes the engine's events on it.
type eslEngine struct {
	addr  string
	conns chan net.Conn

	mu       sync.Mutex
	started  time.Time
	channels []map[string]string
}

func startESLEngine(t *testing.T) *eslEngine {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	e := &eslEngine{addr: ln.Addr().String(), conns: make(chan net.Conn, 4), started: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			go e.serve(c)
		}
	}()
	return e
}

func (e *eslEngine) setChannels(rows ...map[string]string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.channels = rows
}

func (e *eslEngine) serve(c net.Conn) {
	r := bufio.NewReader(c)
	io.WriteString(c, "Content-Type: auth/request\n\n")
	for {
		var cmd string
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if l = strings.TrimRight(l, "\r\n"); l == "" && cmd != "" {
				break
			}
			cmd += l
		}
		e.mu.Lock()
		started, rows := e.started, e.channels
		e.mu.Unlock()
		switch {
		case strings.HasPrefix(cmd, "auth "):
			io.WriteString(c, "Content-Type: command/reply\nReply-Text: +OK accepted\n\n")
		case strings.HasPrefix(cmd, "event plain "):
			io.WriteString(c, "Content-Type: command/reply\nReply-Text: +OK event listener enabled plain\n\n")
		case cmd == "api status":
			up := time.Since(started)
			body := fmt.Sprintf("UP 0 years, 0 days, 0 hours, %d minutes, %d seconds, 0 milliseconds, 0 microseconds\nFreeSWITCH (Version 1.10.12 -release 64bit) is ready\n",
				int(up.Minutes()), int(up.Seconds())%60)
			fmt.Fprintf(c, "Content-Type: api/response\nContent-Length: %d\n\n%s", len(body), body)
		case cmd == "api show channels as json":
			b, _ := json.Marshal(map[string]any{"row_count": len(rows), "rows": rows})
			fmt.Fprintf(c, "Content-Type: api/response\nContent-Length: %d\n\n%s\n", len(b)+1, b)
			e.conns <- c
		default:
			io.WriteString(c, "Content-Type: command/reply\nReply-Text: -ERR command not found\n\n")
		}
	}
}

// send writes events (header lines, values URL-encoded) as text/event-plain
// frames.
func (e *eslEngine) send(t *testing.T, c net.Conn, evs []string) {
	t.Helper()
	var b strings.Builder
	for _, ev := range evs {
		body := ev + "\n\n"
		fmt.Fprintf(&b, "Content-Length: %d\nContent-Type: text/event-plain\n\n%s", len(body), body)
	}
	if _, err := io.WriteString(c, b.String()); err != nil {
		t.Fatal(err)
	}
}

// recordedESL reads a real FreeSWITCH recording (one event a line, headers
// URL-decoded) into events as the event socket sends them, with each one's
// Event-Name.
func recordedESL(t *testing.T, path string) (evs, names []string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var h map[string]any
		if err := json.Unmarshal([]byte(line), &h); err != nil {
			t.Fatal(err)
		}
		delete(h, "_recv")
		var lines []string
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range h {
				if !yield(k) {
					return
				}
			}
		}) {
			v, _ := h[k].(string)
			lines = append(lines, k+": "+strings.ReplaceAll(url.PathEscape(v), "+", "%2B"))
		}
		evs = append(evs, strings.Join(lines, "\n"))
		names = append(names, h["Event-Name"].(string))
	}
	return evs, names
}

// switchhook stops (SIGTERM, or kill -9) while a FreeSWITCH call rings and
// starts again while FreeSWITCH still carries it: the call goes on as one
// call with the same call_uuid and its sequence, gets the answer it missed
// while switchhook was away (the channel list shows both legs up), and no
// SYSTEM_SHUTDOWN. The call is a real FreeSWITCH 1.10 recording (caller
// DTMF, hold/unhold, caller BYE).
func TestConnectorCallOutlivesRestart(t *testing.T) {
	for _, how := range []string{"SIGTERM", "SIGKILL"} {
		t.Run(how, func(t *testing.T) {
			rcv := NewReceiver(t)
			fs := startESLEngine(t)
			srv := StartServer(t, webhookConfig(rcv, "extended", "")+
				fmt.Sprintf("freeswitch:\n  - {name: fs1, address: %q, password: ClueCon}\n", fs.addr))
			evs, names := recordedESL(t, "../internal/freeswitch/testdata/real/a-esl.jsonl")
			firstAnswer := slices.Index(names, "CHANNEL_ANSWER")
			afterAnswers := firstAnswer + 1 + slices.Index(names[firstAnswer+1:], "CHANNEL_ANSWER") + 1

			fs.send(t, <-fs.conns, evs[:firstAnswer]) // routed, the callee rings
			rcv.WaitCount(t, 2, 20*time.Second)
			if how == "SIGKILL" {
				srv.Kill()
			} else if err := srv.Stop(); err != nil {
				t.Fatal(err)
			}
			// Meanwhile the callee answers: FreeSWITCH lists both legs up.
			const a, b = "d3ccd349-7cfa-4caf-b53a-e9aa27e0e1e1", "4a7e552f-b851-48c8-9624-564efd475fd0"
			fs.setChannels(
				map[string]string{"uuid": a, "direction": "inbound", "callstate": "ACTIVE", "call_uuid": a, "cid_num": "1001", "dest": "1002"},
				map[string]string{"uuid": b, "direction": "outbound", "callstate": "ACTIVE", "call_uuid": a, "cid_num": "1001", "dest": "1002"},
			)
			srv.Restart()
			fs.send(t, <-fs.conns, evs[afterAnswers:]) // DTMF, hold, unhold, BYE

			hooks := rcv.WaitFor(t, 30*time.Second, "the call's hangup", func(h []Webhook) bool {
				return slices.Contains(Events(h), "CALL_HANGUP")
			})
			calls := ByCall(hooks)
			call := calls[a]
			if len(calls) != 1 || len(call) != 8 {
				t.Fatalf("got %d calls, want one of 8 events:\n%s", len(calls), describe(hooks))
			}
			want := "CALL_ROUTED CALL_RINGING CALL_ANSWER CALL_INPUT CALL_INPUT CALL_HOLD CALL_UNHOLD CALL_HANGUP"
			if got := strings.Join(Events(call), " "); got != want {
				t.Fatalf("events %s, want %s", got, want)
			}
			for i, h := range call {
				if h.Body["sequence"] != float64(i+1) {
					t.Errorf("%s has sequence %v, want %d", h.Event(), h.Body["sequence"], i+1)
				}
			}
			// The name came with the call's first events; FreeSWITCH's
			// channel list has none: the recorded call keeps it.
			checkCallerName(t, "extended", call, "1001")
			checkFields(t, "missed answer", call[2].Body, map[string]any{"leg_uuid": b, "destination_number": "1002"})
			checkFields(t, "hangup", call[7].Body, map[string]any{
				"hangup_cause": "NORMAL_CLEARING", "sip_code": 200.0, "hangup_by": "caller", "answered_by": "1002",
			})
		})
	}
}

// ariEngine is a stand-in Asterisk ARI on loopback whose channel list the
// test sets: GET /ari/channels, /ari/bridges and /ari/asterisk/info as
// Asterisk answers them, and each event WebSocket handed to the test.
type ariEngine struct {
	url   string
	conns chan *websocket.Conn

	mu       sync.Mutex
	channels []map[string]any
	bridges  []map[string]any
}

func startARIEngine(t *testing.T) *ariEngine {
	t.Helper()
	e := &ariEngine{conns: make(chan *websocket.Conn, 4)}
	started := time.Now().Add(-time.Hour).UTC().Format("2006-01-02T15:04:05.000-0700")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		chans, bridges := e.channels, e.bridges
		e.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/ari/channels":
			json.NewEncoder(w).Encode(append([]map[string]any{}, chans...))
		case "/ari/bridges":
			json.NewEncoder(w).Encode(append([]map[string]any{}, bridges...))
		case "/ari/asterisk/info":
			fmt.Fprintf(w, `{"system":{"version":"22.10.1"},"status":{"startup_time":%q,"last_reload_time":%q}}`, started, started)
		case "/ari/events":
			ws, err := websocket.Accept(w, r, nil)
			if err != nil {
				return
			}
			ws.CloseRead(context.Background())
			e.conns <- ws
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	e.url = srv.URL
	return e
}

func (e *ariEngine) send(t *testing.T, ws *websocket.Conn, msgs []string) {
	t.Helper()
	for _, m := range msgs {
		if err := ws.Write(context.Background(), websocket.MessageText, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
}

// recordedARI reads a real Asterisk recording (one message a line as
// received, plus the recorder's _recv) into the messages Asterisk sent.
func recordedARI(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	recv := regexp.MustCompile(`, "_recv": [0-9.]+\}$`)
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		out = append(out, recv.ReplaceAllString(line, "}"))
	}
	return out
}

// The same with a real Asterisk 22's call (recording b: 1002 answers,
// holds, sends a digit, hangs up): switchhook stopped while 1002 rings,
// started again once both channels are up.
func TestAsteriskCallOutlivesRestart(t *testing.T) {
	for _, how := range []string{"SIGTERM", "SIGKILL"} {
		t.Run(how, func(t *testing.T) {
			rcv := NewReceiver(t)
			ast := startARIEngine(t)
			srv := StartServer(t, webhookConfig(rcv, "extended", "")+
				fmt.Sprintf("asterisk:\n  - {name: ast1, url: %q, username: u, password: p, app: switchhook}\n", ast.url))
			msgs := recordedARI(t, "../internal/asterisk/testdata/real/b-ari.jsonl")
			const caller, callee = "1796390495.8", "1796390495.9"
			up := func(id string) func(string) bool {
				return func(m string) bool {
					return strings.Contains(m, `"type": "ChannelStateChange"`) && strings.Contains(m, `"id": "`+id+`"`) && strings.Contains(m, `"state": "Up"`)
				}
			}
			calleeUp, callerUp := slices.IndexFunc(msgs, up(callee)), slices.IndexFunc(msgs, up(caller))

			ast.send(t, <-ast.conns, msgs[:calleeUp])
			rcv.WaitCount(t, 2, 20*time.Second)
			if how == "SIGKILL" {
				srv.Kill()
			} else if err := srv.Stop(); err != nil {
				t.Fatal(err)
			}
			ast.mu.Lock()
			ast.channels = []map[string]any{
				{"id": caller, "name": "PJSIP/1001-00000008", "state": "Up", "caller": map[string]string{"number": "1001"}, "dialplan": map[string]any{"exten": "1002"}},
				{"id": callee, "name": "PJSIP/1002-00000009", "state": "Up", "caller": map[string]string{"number": "1001"}},
			}
			ast.bridges = []map[string]any{{"id": "b1", "channels": []string{caller, callee}}}
			ast.mu.Unlock()
			srv.Restart()
			ws := <-ast.conns
			// The rest of the call may follow only once the reconciliation
			// gave the answer missed while away: events that arrive while the
			// connector lists the channels are handled before it. Waited for
			// by name, not by count: after kill -9 CALL_RINGING may come
			// again (delivered, but not recorded as delivered).
			rcv.WaitFor(t, 20*time.Second, "the answer missed while away", func(h []Webhook) bool {
				return slices.Contains(Events(h), "CALL_ANSWER")
			})
			ast.send(t, ws, msgs[callerUp+1:])

			hooks := rcv.WaitFor(t, 30*time.Second, "the call's hangup", func(h []Webhook) bool {
				return slices.Contains(Events(h), "CALL_HANGUP")
			})
			calls := ByCall(hooks)
			if len(calls) != 1 {
				t.Fatalf("got %d calls, want one:\n%s", len(calls), describe(hooks))
			}
			call := calls[hooks[0].CallUUID()]
			want := "CALL_ROUTED CALL_RINGING CALL_ANSWER CALL_HOLD CALL_UNHOLD CALL_INPUT CALL_HANGUP"
			if got := strings.Join(Events(call), " "); got != want {
				t.Fatalf("events %s, want %s", got, want)
			}
			for i, h := range call {
				if h.Body["sequence"] != float64(i+1) {
					t.Errorf("%s has sequence %v, want %d", h.Event(), h.Body["sequence"], i+1)
				}
			}
			checkCallerName(t, "extended", call, "1001")
			checkFields(t, "missed answer", call[2].Body, map[string]any{"leg_uuid": callee, "destination_number": "1002"})
			checkFields(t, "hangup", call[6].Body, map[string]any{
				"hangup_cause": "NORMAL_CLEARING", "sip_code": 200.0, "hangup_by": "callee", "answered_by": "1002",
			})
		})
	}
}

// FreeSWITCH restarts (killed and started again) with a call up while
// switchhook runs: the call, gone with it, gets one CALL_HANGUP, cause
// SYSTEM_SHUTDOWN (FreeSWITCH's start is after the last word of the call),
// stamped with the last time the call was known up.
func TestEngineRestartEndsItsCalls(t *testing.T) {
	rcv := NewReceiver(t)
	fs := startESLEngine(t)
	StartServer(t, webhookConfig(rcv, "extended", "")+
		fmt.Sprintf("freeswitch:\n  - {name: fs1, address: %q, password: ClueCon}\n", fs.addr))
	evs, names := recordedESL(t, "../internal/freeswitch/testdata/real/a-esl.jsonl")
	firstAnswer := slices.Index(names, "CHANNEL_ANSWER")
	afterAnswers := firstAnswer + 1 + slices.Index(names[firstAnswer+1:], "CHANNEL_ANSWER") + 1
	conn := <-fs.conns
	fs.send(t, conn, evs[:afterAnswers])
	up := rcv.WaitCount(t, 3, 20*time.Second)

	fs.mu.Lock()
	fs.started, fs.channels = time.Now(), nil
	fs.mu.Unlock()
	conn.Close()
	<-fs.conns
	hooks := rcv.WaitFor(t, 30*time.Second, "the call's hangup", func(h []Webhook) bool {
		return slices.Contains(Events(h), "CALL_HANGUP")
	})
	if got := strings.Join(Events(hooks), " "); got != "CALL_ROUTED CALL_RINGING CALL_ANSWER CALL_HANGUP" {
		t.Fatalf("events %s:\n%s", got, describe(hooks))
	}
	checkFields(t, "hangup", hooks[3].Body, map[string]any{
		"hangup_cause": "SYSTEM_SHUTDOWN", "sip_code": 0.0, "hangup_by": "system", "answered_by": "1002",
	})
	// The last word of the call was the answers (the recording's time), not
	// the reconnection (now).
	answered, _ := time.Parse(time.RFC3339, up[2].Body["occurred_at"].(string))
	ended, _ := time.Parse(time.RFC3339, hooks[3].Body["occurred_at"].(string))
	if d := ended.Sub(answered); d < 0 || d > time.Second {
		t.Errorf("hangup at %v, %v after the answer; want the last time the call was known up", ended, d)
	}
}

// A FreeSWITCH that is not there: the process is up and keeps trying, and
// /healthz says which source is down (200, status degraded) until it
// connects.
func TestHealthzNamesASourceDown(t *testing.T) {
	fs := startESLEngine(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := ln.Addr().String()
	ln.Close() // nothing listens there now
	srv := StartServer(t, fmt.Sprintf("freeswitch:\n  - {name: down, address: %q, password: ClueCon}\n  - {name: up, address: %q, password: ClueCon}\n", gone, fs.addr))
	<-fs.conns
	var h struct {
		Status      string   `json:"status"`
		SourcesDown []string `json:"sources_down"`
	}
	waitUntil(t, 10*time.Second, "healthz to name the source down", func() bool {
		resp, err := http.Get(srv.URL + "/healthz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		h.Status, h.SourcesDown = "", nil
		return resp.StatusCode == 200 && json.NewDecoder(resp.Body).Decode(&h) == nil && h.Status == "degraded" &&
			slices.Equal(h.SourcesDown, []string{"freeswitch/down"})
	})
}

// The call ends while switchhook is away (killed, started again after the
// BYE): FreeSWITCH no longer lists it, so it gets one CALL_HANGUP,
// NORMAL_UNSPECIFIED (FreeSWITCH did not restart), stamped with the last
// time the previous process heard FreeSWITCH (a HEARTBEAT 30 s after the
// answer), kept in the data directory: duration and billsec cover the
// call as far as it was known, not the time switchhook was away.
func TestCallEndedWhileAwayStampedAtLastContact(t *testing.T) {
	rcv := NewReceiver(t)
	fs := startESLEngine(t)
	srv := StartServer(t, webhookConfig(rcv, "extended", "")+
		fmt.Sprintf("freeswitch:\n  - {name: fs1, address: %q, password: ClueCon}\n", fs.addr))
	evs, names := recordedESL(t, "../internal/freeswitch/testdata/real/a-esl.jsonl")
	firstAnswer := slices.Index(names, "CHANNEL_ANSWER")
	afterAnswers := firstAnswer + 1 + slices.Index(names[firstAnswer+1:], "CHANNEL_ANSWER") + 1
	last := evs[afterAnswers-1]
	stamp := regexp.MustCompile(`Event-Date-Timestamp: (\d+)`).FindStringSubmatch(last)
	us, _ := strconv.ParseInt(stamp[1], 10, 64)
	heartbeat := time.UnixMicro(us).Add(30 * time.Second).UTC()
	fs.send(t, <-fs.conns, append(evs[:afterAnswers:afterAnswers],
		fmt.Sprintf("Event-Name: HEARTBEAT\nCore-UUID: 1251f4c9-d530-43ca-ac3c-58db5d7420e2\nEvent-Date-Timestamp: %d\nEvent-Info: System%%20Ready", heartbeat.UnixMicro())))
	rcv.WaitCount(t, 3, 20*time.Second)
	waitUntil(t, 10*time.Second, "the heartbeat kept", func() bool {
		b, err := os.ReadFile(filepath.Join(srv.Dir, "engines", "freeswitch-fs1.json"))
		return err == nil && strings.Contains(string(b), heartbeat.Format("2006-01-02T15:04:05"))
	})
	srv.Kill()
	fs.setChannels() // the call ended meanwhile
	srv.Restart()
	hooks := rcv.WaitFor(t, 30*time.Second, "the call's hangup", func(h []Webhook) bool {
		return slices.Contains(Events(h), "CALL_HANGUP")
	})
	h := hooks[len(hooks)-1]
	checkFields(t, "hangup", h.Body, map[string]any{
		"hangup_cause": "NORMAL_UNSPECIFIED", "sip_code": 0.0, "hangup_by": "system", "answered_by": "1002",
	})
	if at := h.Body["occurred_at"]; at != heartbeat.Format("2006-01-02T15:04:05.000Z") {
		t.Errorf("hangup at %v, want the last contact %v", at, heartbeat)
	}
	if bill, _ := h.Body["billsec"].(float64); bill < 29 || bill > 31 {
		t.Errorf("billsec %v, want about 30 (answer to last contact)", bill)
	}
}
