package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/switchhook/switchhook/internal/connector/connectortest"
)

// startFakeFreeSWITCH serves FreeSWITCH's inbound event socket on loopback:
// auth/request, the command replies, an empty channel list, then the
// fixture's events as text/event-plain frames. It returns host:port.
func startFakeFreeSWITCH(t *testing.T, password string, evs []string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serveESL(c, password, evs)
		}
	}()
	return ln.Addr().String()
}

func serveESL(c net.Conn, password string, evs []string) {
	defer c.Close()
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
		switch {
		case cmd == "auth "+password:
			io.WriteString(c, "Content-Type: command/reply\nReply-Text: +OK accepted\n\n")
		case strings.HasPrefix(cmd, "auth "):
			io.WriteString(c, "Content-Type: command/reply\nReply-Text: -ERR invalid\n\n")
			return
		case strings.HasPrefix(cmd, "event plain "):
			io.WriteString(c, "Content-Type: command/reply\nReply-Text: +OK event listener enabled plain\n\n")
		case cmd == "api show channels as json":
			list := "{\"row_count\":0}\n"
			fmt.Fprintf(c, "Content-Type: api/response\nContent-Length: %d\n\n%s", len(list), list)
			for _, ev := range evs {
				body := ev + "\n\n"
				fmt.Fprintf(c, "Content-Length: %d\nContent-Type: text/event-plain\n\n%s", len(body), body)
			}
		default:
			io.WriteString(c, "Content-Type: command/reply\nReply-Text: -ERR command not found\n\n")
		}
	}
}

// startFakeAsterisk serves Asterisk's ARI on loopback: the event WebSocket
// and GET /ari/channels (empty), then the fixture's messages once the
// connector has listed the channels. It returns the base URL.
func startFakeAsterisk(t *testing.T, user, pass string, msgs []string) string {
	t.Helper()
	listed := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, "{\n  \"error\": \"Authentication required\"\n}")
			return
		}
		switch r.URL.Path {
		case "/ari/channels":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, "[]")
			select {
			case listed <- struct{}{}:
			default:
			}
		case "/ari/events":
			if r.URL.Query().Get("subscribeAll") != "true" || r.URL.Query().Get("app") == "" {
				http.Error(w, "app and subscribeAll expected", http.StatusBadRequest)
				return
			}
			ws, err := websocket.Accept(w, r, nil)
			if err != nil {
				return
			}
			defer ws.CloseNow()
			ctx := ws.CloseRead(context.Background())
			select {
			case <-listed:
			case <-time.After(10 * time.Second):
				return
			}
			for _, m := range msgs {
				if ws.Write(ctx, websocket.MessageText, []byte(m)) != nil {
					return
				}
			}
			<-ctx.Done()
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// A FreeSWITCH and an Asterisk at once, each replaying a real-shaped call,
// reach a real receiver as signed webhooks with the calls' facts.
func TestConnectorCallsBecomeWebhooks(t *testing.T) {
	rcv := NewReceiver(t)
	fs := startFakeFreeSWITCH(t, "ClueCon", connectortest.Fixture(t, "../internal/freeswitch/testdata/basic_call.txt"))
	ast := startFakeAsterisk(t, "switchhook", "ari-secret", connectortest.Fixture(t, "../internal/asterisk/testdata/ring_group.txt"))
	srv := StartServer(t, webhookConfig(rcv, "extended", "")+fmt.Sprintf(
		"freeswitch:\n  - {name: fs1, address: %q, password: ClueCon}\n"+
			"asterisk:\n  - {name: ast1, url: %q, username: switchhook, password: ari-secret, app: switchhook}\n", fs, ast))
	_ = srv

	hooks := rcv.WaitCount(t, 4+6, 30*time.Second)
	if rcv.BadSignatures() != 0 {
		t.Fatalf("%d webhooks failed verification", rcv.BadSignatures())
	}
	calls := ByCall(hooks)
	if len(calls) != 2 {
		t.Fatalf("got %d calls, want 2:\n%s", len(calls), describe(hooks))
	}

	// FreeSWITCH: the call keeps the A-leg's UUID.
	fsCall := calls["3f2a9c1e-5b7d-4e8a-9c21-7d4b6a0e1f01"]
	checkHooks(t, "freeswitch", fsCall, []string{
		"CALL_ROUTED 1001>1002 2026-01-27 12:02:30",
		"CALL_RINGING 1001>1002 2026-01-27 12:02:30",
		"CALL_ANSWER 1001>1002 2026-01-27 12:02:34",
		"CALL_HANGUP 1001>1002 2026-01-27 12:03:34",
	})
	checkCallerName(t, "extended", fsCall, "Alice")
	checkFields(t, "freeswitch routed", fsCall[0].Body, map[string]any{
		"direction": "internal", "leg_uuid": "3f2a9c1e-5b7d-4e8a-9c21-7d4b6a0e1f01",
		"routed_to": map[string]any{"type": "extension", "target": "1002"},
	})
	checkFields(t, "freeswitch hangup", fsCall[3].Body, map[string]any{
		"hangup_cause": "NORMAL_CLEARING", "sip_code": 200.0, "hangup_by": "callee",
		"duration": 64.0, "billsec": 60.0, "answered_by": "1002",
	})

	// Asterisk: channel ids are not UUIDs, so the call has a fresh one.
	var astCall []Webhook
	for id, c := range calls {
		if id != "3f2a9c1e-5b7d-4e8a-9c21-7d4b6a0e1f01" {
			astCall = c
			if u, err := uuid.Parse(id); err != nil || u.Version() != 4 || u.String() != id {
				t.Errorf("asterisk call_uuid %q is not a lower-case v4 UUID", id)
			}
		}
	}
	checkHooks(t, "asterisk", astCall, []string{
		"CALL_ROUTED 1001>2000 2026-01-27 12:02:30",
		"CALL_RINGING 1001>1002 2026-01-27 12:02:30",
		"CALL_RINGING 1001>1003 2026-01-27 12:02:30",
		"CALL_RINGING 1001>1004 2026-01-27 12:02:30",
		"CALL_ANSWER 1001>1003 2026-01-27 12:02:35",
		"CALL_HANGUP 1001>1003 2026-01-27 12:03:05",
	})
	checkCallerName(t, "extended", astCall, "Alice")
	checkFields(t, "asterisk routed", astCall[0].Body, map[string]any{
		"direction": "internal", "routed_to": map[string]any{"type": "ring_group", "target": "2000"},
	})
	checkFields(t, "asterisk hangup", astCall[5].Body, map[string]any{
		"hangup_cause": "NORMAL_CLEARING", "sip_code": 200.0, "hangup_by": "caller",
		"duration": 34.0, "billsec": 30.0, "answered_by": "1003",
	})
}

// checkHooks asserts one call's webhooks: names, numbers and timestamps in
// order, sequence 1, 2, 3 …, one session.
func checkHooks(t *testing.T, what string, hooks []Webhook, want []string) {
	t.Helper()
	var got []string
	for i, h := range hooks {
		b := h.Body
		got = append(got, fmt.Sprintf("%s %s>%s %s", b["event"], b["caller_id_number"], b["destination_number"], b["timestamp"]))
		if b["sequence"] != float64(i+1) {
			t.Errorf("%s webhook %d: sequence %v", what, i, b["sequence"])
		}
		if b["call_session_uuid"] != b["call_uuid"] {
			t.Errorf("%s webhook %d: session %v, call %v", what, i, b["call_session_uuid"], b["call_uuid"])
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("%s webhooks:\n%s\nwant:\n%s", what, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func checkFields(t *testing.T, what string, body map[string]any, want map[string]any) {
	t.Helper()
	for k, v := range want {
		if fmt.Sprint(body[k]) != fmt.Sprint(v) {
			t.Errorf("%s: %s = %v, want %v", what, k, body[k], v)
		}
	}
}
