package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/store/postgres/pgtest"
)

// A phone registered before a restart is reached after it without
// registering again: its registration is kept in the store, with its
// expiry.
func TestPBXRegistrationSurvivesRestart(t *testing.T) {
	t.Parallel()
	rcv := NewReceiver(t)
	s := startPBXServer(t, map[string]*Receiver{"extended": rcv})
	calleePort := freeUDPPort(t)
	s.register(t, "1002", calleePort)
	var before []map[string]any
	s.API("GET", "/v1/registrations", nil, 200, &before)
	if len(before) != 1 {
		t.Fatalf("registrations before the restart: %v", before)
	}

	var srcs []map[string]any
	s.API("GET", "/v1/sources", nil, 200, &srcs)
	if len(srcs) != 1 || srcs[0]["kind"] != "pbx" || srcs[0]["connected"] != true || fmt.Sprint(srcs[0]["listen"]) != "[udp://"+s.sip+"]" {
		t.Errorf("GET /v1/sources = %v, want the PBX on udp://%s", srcs, s.sip)
	}

	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	s.Restart()
	var after []map[string]any
	s.API("GET", "/v1/registrations", nil, 200, &after)
	if len(after) != 1 || after[0]["extension"] != "1002" || after[0]["contact"] != before[0]["contact"] || after[0]["expires_at"] != before[0]["expires_at"] {
		t.Fatalf("registrations after the restart: %v, before: %v", after, before)
	}

	// 1002 does not register again; its phone still answers where it was.
	callee := s.listen(t, "callee_answer.xml", calleePort, "-s", "1002")
	s.dial(t, "caller_bye.xml", "1001", "1002", "-d", "300")()
	callee()
	hooks := rcv.WaitFor(t, 20*time.Second, "the call's CALL_HANGUP", func(h []Webhook) bool {
		return len(h) > 0 && h[len(h)-1].Event() == "CALL_HANGUP"
	})
	if got := Events(hooks); fmt.Sprint(got) != "[CALL_ROUTED CALL_RINGING CALL_ANSWER CALL_INPUT CALL_HANGUP]" {
		t.Fatalf("events after the restart: %v", got)
	}
	if cause := hooks[len(hooks)-1].Body["hangup_cause"]; cause != "NORMAL_CLEARING" {
		t.Errorf("hangup_cause %v, want NORMAL_CLEARING", cause)
	}
}

// On PostgreSQL the nodes share the registrations: a phone registered with
// node 1 is called through node 2.
func TestPBXRegistrationSharedByNodes(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	rcv := NewReceiver(t)
	exts := "extensions:\n  - {number: \"1001\", password: secret-1001, name: Alice}\n  - {number: \"1002\", password: secret-1002, name: Bob}\n"
	node := func(n int) *pbxServer {
		port := freeUDPPort(t)
		cfg := pbxConfig(map[string]*Receiver{"extended": rcv}, port)
		cfg.WriteString(exts)
		fmt.Fprintf(cfg, "store: {dsn: %q}\nnode: node-%d\n", dsn, n)
		return launchPBX(t, cfg.String(), port)
	}
	n1 := node(1)
	n2 := node(2)
	calleePort := freeUDPPort(t)
	n1.register(t, "1002", calleePort)
	var regs []map[string]any
	n2.API("GET", "/v1/registrations", nil, 200, &regs)
	if len(regs) != 1 || regs[0]["extension"] != "1002" {
		t.Fatalf("node 2 lists %v", regs)
	}
	callee := n2.listen(t, "callee_answer.xml", calleePort, "-s", "1002")
	n2.dial(t, "caller_bye.xml", "1001", "1002", "-d", "300")()
	callee()
	hooks := rcv.WaitFor(t, 20*time.Second, "the call's CALL_HANGUP", func(h []Webhook) bool {
		return len(h) > 0 && h[len(h)-1].Event() == "CALL_HANGUP"
	})
	if last := hooks[len(hooks)-1].Body; last["hangup_cause"] != "NORMAL_CLEARING" || last["answered_by"] != "1002" {
		t.Errorf("call through node 2: %v", last)
	}
}
