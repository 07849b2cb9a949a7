package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/api/apitypes"
)

// reloadConfig is the test's own config: SIP on port, the receivers'
// endpoints, the extensions and whatever more is given.
func reloadConfig(rs map[string]*Receiver, port int, more string) string {
	cfg := pbxConfig(rs, port)
	cfg.WriteString("ring_timeout: 5s\n" + more)
	return cfg.String()
}

// withoutSIP drops the sip block pbxConfig wrote, for a config giving its own.
func withoutSIP(cfg string, port int) string {
	return strings.Replace(cfg, fmt.Sprintf("sip:\n  listen: [\"udp://127.0.0.1:%d\"]\n  domain: pbx.test\n", port), "", 1)
}

// registerFails reports whether ext's REGISTER with password is refused.
func (s *pbxServer) registerFails(t *testing.T, ext, password string) bool {
	t.Helper()
	sf, _ := filepath.Abs(filepath.Join("testdata", "sipp", "register.xml"))
	cmd := exec.Command("sipp", append(sippLocal(freeUDPPort(t)), "-sf", sf, "-m", "1",
		"-timeout", "10s", "-timeout_error", "-nostdin", "-s", ext, "-au", ext, "-ap", password, "-key", "expires", "300", s.sip)...)
	cmd.Dir = t.TempDir()
	return cmd.Run() != nil
}

// hangup sends SIGHUP and waits for the process to log that it reloaded,
// or that it refused the file.
func (s *pbxServer) hangup(t *testing.T, want string) {
	t.Helper()
	before := strings.Count(s.Output(), want)
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the process to log "+want, func() bool { return strings.Count(s.Output(), want) > before })
}

// TestReloadWithACallUp changes the config while a call is up: SIGHUP adds
// extension 1003 and ring group 600 and changes 1002's password. The call
// goes on untouched to its normal end, with the events of a call nobody
// reloaded under; the new extension registers, the ring group rings it, the
// old password is refused and the new one taken. A bad file, by SIGHUP, by
// POST /v1/config/reload and by 'switchhook reload', changes nothing and
// says which key on which line.
func TestReloadWithACallUp(t *testing.T) {
	rcv := NewReceiver(t)
	rs := map[string]*Receiver{"extended": rcv}
	port := freeUDPPort(t)
	exts := "extensions:\n  - {number: \"1001\", password: secret-1001, name: Alice}\n  - {number: \"1002\", password: secret-1002, name: Bob}\n"
	s := launchPBX(t, reloadConfig(rs, port, exts), port)

	calleePort := freeUDPPort(t)
	s.register(t, "1002", calleePort)
	callee := s.listen(t, "callee_answer.xml", calleePort, "-s", "1002")
	caller := s.dial(t, "caller_bye.xml", "1001", "1002", "-d", "6000")
	rcv.WaitFor(t, 10*time.Second, "the call answered", func(h []Webhook) bool {
		return len(h) > 0 && h[len(h)-1].Event() == "CALL_ANSWER"
	})

	// While it is up: 1003 and ring group 600 appear, 1002's password changes.
	exts2 := "extensions:\n  - {number: \"1001\", password: secret-1001, name: Alice}\n  - {number: \"1002\", password: changed-1002, name: Bob}\n" +
		"  - {number: \"1003\", password: secret-1003, name: Carol}\n" +
		"ring_groups:\n  - {number: \"600\", strategy: simultaneous, members: [\"1003\"], timeout: 10s}\n" +
		"sip:\n  listen: [\"udp://127.0.0.1:1\"]\n"
	rewriteConfig(t, s.Server, withoutSIP(reloadConfig(rs, port, exts2), port))
	s.hangup(t, `msg="config reloaded"`)
	if out := s.Output(); !strings.Contains(out, `applied="[extensions ring_groups]"`) || !strings.Contains(out, "restart_required=\"[sip.listen sip.domain]\"") {
		t.Errorf("reload log does not name what applied and what needs a restart:\n%s", out)
	}
	var chans []map[string]any
	s.API("GET", "/v1/channels", nil, 200, &chans)
	if len(chans) != 2 || chans[0]["state"] != "answered" {
		t.Errorf("channels after the reload: %v", chans)
	}
	// The extensions as the API and the CLI show them, the call up.
	var exts3 []struct {
		Number, Name, State string
		Contacts            []map[string]any
	}
	s.API("GET", "/v1/extensions", nil, 200, &exts3)
	if got := fmt.Sprint(exts3); len(exts3) != 3 || exts3[0].State != "in_call" || exts3[1].State != "in_call" || len(exts3[1].Contacts) != 1 ||
		exts3[2].Number != "1003" || exts3[2].Name != "Carol" || exts3[2].State != "unregistered" {
		t.Errorf("GET /v1/extensions during the call: %s", got)
	}
	for cmd, want := range map[string][]string{
		"extensions":    {"1002", "Bob", "in_call", "SIPp", "1003", "Carol", "unregistered"},
		"channels":      {"caller", "callee", "answered"},
		"registrations": {"1002", fmt.Sprintf("127.0.0.1:%d", calleePort), "SIPp"},
	} {
		var out bytes.Buffer
		c := exec.Command(binary, cmd, "list", "--server", s.URL, "--token", testToken)
		c.Stdout, c.Stderr = &out, &out
		if err := c.Run(); err != nil {
			t.Errorf("switchhook %s list: %v\n%s", cmd, err, out.String())
		}
		for _, w := range want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("switchhook %s list does not show %q:\n%s", cmd, w, out.String())
			}
		}
	}
	caller()
	callee()
	hooks := rcv.WaitFor(t, 10*time.Second, "the call's CALL_HANGUP", func(h []Webhook) bool {
		return len(h) > 0 && h[len(h)-1].Event() == "CALL_HANGUP"
	})
	if got := fmt.Sprint(Events(hooks)); got != "[CALL_ROUTED CALL_RINGING CALL_ANSWER CALL_INPUT CALL_HANGUP]" {
		t.Errorf("the call's events: %s", got)
	}
	if last := hooks[len(hooks)-1].Body; last["hangup_cause"] != "NORMAL_CLEARING" || last["hangup_by"] != "caller" {
		t.Errorf("the call ended %v by %v", last["hangup_cause"], last["hangup_by"])
	}
	// The listener stayed where it was: the calls below reach it.

	if !s.registerFails(t, "1002", "secret-1002") {
		t.Error("1002's old password still registers")
	}
	if s.registerFails(t, "1002", "changed-1002") {
		t.Error("1002's new password does not register")
	}
	carol := s.phone(t, "1003", "callee_answer.xml")
	s.dial(t, "caller_bye.xml", "1001", "600", "-d", "300")()
	carol()
	hooks = rcv.WaitFor(t, 10*time.Second, "the ring group call's CALL_HANGUP", func(h []Webhook) bool {
		return len(h) > 5 && h[len(h)-1].Event() == "CALL_HANGUP"
	})
	group := ByCall(hooks)[hooks[len(hooks)-1].CallUUID()]
	if routed := fmt.Sprint(group[0].Body["routed_to"]); group[0].Event() != "CALL_ROUTED" || routed != "map[target:600 type:ring_group]" || group[len(group)-1].Body["answered_by"] != "1003" {
		t.Errorf("the call to ring group 600: routed to %s, %v", routed, group[len(group)-1].Body)
	}

	// A bad file changes nothing, whichever way it is reloaded.
	bad := strings.Replace(exts2, "password: secret-1003", "password: short", 1)
	rewriteConfig(t, s.Server, withoutSIP(reloadConfig(rs, port, bad), port))
	s.hangup(t, "config not reloaded")
	if out := s.Output(); !strings.Contains(out, "extensions[2].password: must be at least 8 characters (line ") {
		t.Errorf("the refusal does not name the key and line:\n%s", out)
	}
	req, _ := http.NewRequest("POST", s.URL+"/v1/config/reload", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var e struct{ Error, Field string }
	json.Unmarshal(body, &e)
	if res.StatusCode != 422 || e.Field != "extensions[2].password" || !strings.Contains(e.Error, "(line ") || !strings.Contains(e.Error, "nothing was changed") {
		t.Errorf("POST /v1/config/reload of a bad file: %d %s", res.StatusCode, body)
	}
	var out bytes.Buffer
	cli := exec.Command(binary, "reload", "--server", s.URL, "--token", testToken)
	cli.Stdout, cli.Stderr = &out, &out
	if err := cli.Run(); err == nil || !strings.Contains(out.String(), "extensions[2].password") {
		t.Errorf("switchhook reload of a bad file: %v\n%s", err, out.String())
	}
	if s.registerFails(t, "1003", "secret-1003") {
		t.Error("1003 no longer registers after a refused reload")
	}

	// The file fixed, 'switchhook reload' applies it and says what it did.
	rewriteConfig(t, s.Server, reloadConfig(rs, port, exts))
	out.Reset()
	cli = exec.Command(binary, "reload", "--server", s.URL, "--token", testToken)
	cli.Stdout, cli.Stderr = &out, &out
	if err := cli.Run(); err != nil || !strings.Contains(out.String(), "Applied: extensions, ring_groups.") {
		t.Errorf("switchhook reload: %v\n%s", err, out.String())
	}
	if !s.registerFails(t, "1003", "secret-1003") {
		t.Error("1003 still registers after it was removed")
	}
}

// TestReloadQueuesWithCallersWaiting changes the queues by SIGHUP while
// callers wait, their agents away: 1003 waits in 600 (agent 1001), 1004 in
// 601 (agent 1002). The reload gives 600 agent 1002 instead of 1001,
// removes 601 and adds 650 (agent 1001). 1001 registers and is not offered
// 600's caller; 1002 registers and serves 600's caller, then 601's, which
// the removed queue kept; 1001 serves a new caller of 650, and a new call
// to 601 is refused, the number routed no more.
func TestReloadQueuesWithCallersWaiting(t *testing.T) {
	rs := bothProfiles(t)
	port := freeUDPPort(t)
	s := launchPBX(t, queueConfig(rs, port, `  - {number: "600", agents: ["1001"]}
  - {number: "601", agents: ["1002"]}
`), port)
	first := s.dial(t, "caller_ivr_wait.xml", "1003", "600")
	waitQueued(t, s, "600", 1)
	second := s.dial(t, "caller_ivr_wait.xml", "1004", "601")
	waitQueued(t, s, "601", 1)

	rewriteConfig(t, s.Server, queueConfig(rs, port, `  - {number: "600", agents: ["1002"], strategy: linear}
  - {number: "650", agents: ["1001"]}
`))
	s.hangup(t, `msg="config reloaded"`)
	if out := s.Output(); !strings.Contains(out, `applied=[queues] restart_required=[]`) {
		t.Errorf("reload log does not say the queues applied:\n%s", out)
	}
	var qs []apitypes.Queue
	s.API("GET", "/v1/queues", nil, 200, &qs)
	got := []string{}
	for _, q := range qs {
		got = append(got, fmt.Sprintf("%s:%d:%s:%s", q.Number, len(q.Callers), q.Strategy, q.Agents[0].Extension))
	}
	if fmt.Sprint(got) != "[600:1:linear:1002 650:0:ring_all:1001 601:1:ring_all:1002]" {
		t.Errorf("queues after the reload: %v", got)
	}

	// 1001, no longer 600's agent, is not offered its caller.
	a1 := s.agent(t, "1001", "callee_answer_bye.xml", 1)
	time.Sleep(1500 * time.Millisecond) // the manager looks again every second
	var qu apitypes.Queue
	s.API("GET", "/v1/queues/600", nil, 200, &qu)
	if len(qu.Callers) != 1 || len(qu.Callers[0].Ringing) != 0 {
		t.Errorf("600's caller with only 1001 registered: %+v", qu.Callers)
	}
	a2 := s.agent(t, "1002", "callee_answer_bye.xml", 2)
	first()
	second()
	a2()
	waitUntil(t, 10*time.Second, "queue 601 gone with its last caller", func() bool {
		s.API("GET", "/v1/queues", nil, 200, &qs)
		return len(qs) == 2
	})
	s.dial(t, "caller_ivr_wait.xml", "1003", "650")()
	a1()
	s.dial(t, "caller_reject_404.xml", "1004", "601")()

	hooks := rs["extended"].WaitFor(t, 20*time.Second, "three queue calls ended", func(h []Webhook) bool {
		n := 0
		for _, w := range h {
			if w.Event() == "CALL_HANGUP" && w.Body["queue"] != nil {
				n++
			}
		}
		return n == 3
	})
	for _, c := range []struct{ caller, queue, agent string }{{"1003", "600", "1002"}, {"1004", "601", "1002"}, {"1003", "650", "1001"}} {
		var end Webhook
		for _, hs := range ByCall(hooks) {
			if hs[0].Body["destination_number"] == c.queue {
				end = hs[len(hs)-1]
			}
		}
		qs, _ := end.Body["queue"].(map[string]any)
		if end.Event() != "CALL_HANGUP" || end.Body["caller_id_number"] != c.caller || end.Body["destination_number"] != c.agent || qs["outcome"] != "answered" {
			t.Errorf("the call of %s to %s: want answered by %s, got %s", c.caller, c.queue, c.agent, end.Raw)
		}
	}
}
