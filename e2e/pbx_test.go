package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// SIPp drives the built-in PBX of the real process; the scenarios are the
// ones the PBX's own tests use.

func sippPcapDir() string {
	if d := os.Getenv("SIPP_PCAP_DIR"); d != "" {
		return d
	}
	return "/usr/share/sip-tester"
}

// pbxServer is a switchhook process with its PBX on a free UDP port and one
// endpoint per receiver, in the receiver's profile.
type pbxServer struct {
	*Server
	sip string // host:port of the PBX
	dir string // SIPp's working directory
}

func startPBXServer(t *testing.T, receivers map[string]*Receiver) *pbxServer {
	t.Helper()
	if _, err := exec.LookPath("sipp"); err != nil {
		t.Skip("sipp is not installed")
	}
	port := freeUDPPort(t)
	cfg := pbxConfig(receivers, port)
	cfg.WriteString("extensions:\n  - {number: \"1001\", password: secret-1001, name: Alice}\n  - {number: \"1002\", password: secret-1002, name: Bob}\n")
	cfg.WriteString("ring_timeout: 5s\n")
	return launchPBX(t, cfg.String(), port)
}

// pbxConfig begins a PBX process's config: one endpoint per receiver, in
// the order of their profiles' names, and SIP on port.
func pbxConfig(receivers map[string]*Receiver, port int) *strings.Builder {
	var cfg strings.Builder
	cfg.WriteString("webhooks:\n")
	profiles := make([]string, 0, len(receivers))
	for p := range receivers {
		profiles = append(profiles, p)
	}
	slices.Sort(profiles)
	for _, p := range profiles {
		r := receivers[p]
		fmt.Fprintf(&cfg, "  - url: %q\n    payload: %s\n    secret: %q\n", r.URL, p, r.Secret)
	}
	fmt.Fprintf(&cfg, "sip:\n  listen: [\"udp://127.0.0.1:%d\"]\n  domain: pbx.test\n", port)
	return &cfg
}

// launchPBX starts the process with cfg, its SIP on port, and links SIPp's
// pcaps into the directory its scenarios run in.
func launchPBX(t *testing.T, cfg string, port int) *pbxServer {
	t.Helper()
	s := &pbxServer{Server: StartServer(t, cfg), sip: fmt.Sprintf("127.0.0.1:%d", port), dir: t.TempDir()}
	for _, f := range []string{"dtmf_2833_1.pcap", "dtmf_2833_2.pcap", "dtmf_2833_pound.pcap", "g711a.pcap"} {
		os.Symlink(filepath.Join(sippPcapDir(), f), filepath.Join(s.dir, f))
	}
	return s
}

// sippRun is one SIPp process: its output, and its exit once it has come.
type sippRun struct {
	scenario, dir string
	cmd           *exec.Cmd
	out           syncBuffer
	exited        chan struct{} // closed when the process has ended
	err           error         // its exit, once exited is closed
}

// startSIPp starts one SIPp call of scenario from port (0: any) in s's
// directory; remote is the address to call, "" for a server scenario.
func (s *pbxServer) startSIPp(t *testing.T, scenario, remote string, port int, args ...string) *sippRun {
	t.Helper()
	if port == 0 {
		port = freeUDPPort(t)
	}
	sf, err := filepath.Abs(filepath.Join("testdata", "sipp", scenario))
	if err != nil {
		t.Fatal(err)
	}
	all := append(sippLocal(port), "-sf", sf, "-m", "1", "-timeout", "30s", "-timeout_error", "-nostdin", "-trace_err", "-trace_msg")
	all = append(all, args...)
	if remote != "" {
		all = append(all, remote)
	}
	r := &sippRun{scenario: scenario, dir: s.dir, exited: make(chan struct{})}
	r.cmd = exec.Command("sipp", all...)
	r.cmd.Dir = s.dir
	r.cmd.Stdout, r.cmd.Stderr = &r.out, &r.out
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.err = r.cmd.Wait(); close(r.exited) }()
	// Kill is harmless on a process that has exited; reading ProcessState
	// here would race with Wait.
	t.Cleanup(func() { r.cmd.Process.Kill() })
	return r
}

// fail fails the test with SIPp's output and its logs.
func (r *sippRun) fail(t *testing.T, why string) {
	t.Helper()
	logs, _ := filepath.Glob(filepath.Join(r.dir, strings.TrimSuffix(r.scenario, ".xml")+"_*"))
	var b strings.Builder
	for _, f := range logs {
		data, _ := os.ReadFile(f)
		fmt.Fprintf(&b, "\n==== %s ====\n%s", filepath.Base(f), data)
	}
	t.Fatalf("sipp %s: %s\n%s%s", r.scenario, why, r.out.String(), b.String())
}

// wait waits for SIPp to succeed.
func (r *sippRun) wait(t *testing.T) {
	t.Helper()
	select {
	case <-r.exited:
		if r.err != nil {
			r.fail(t, r.err.Error())
		}
	case <-time.After(40 * time.Second):
		r.cmd.Process.Kill()
		r.fail(t, "did not finish")
	}
}

// sipp runs one SIPp call of scenario from port (0: any) and returns once
// it is started; the returned func waits for it to succeed.
func (s *pbxServer) sipp(t *testing.T, scenario, remote string, port int, args ...string) func() {
	t.Helper()
	r := s.startSIPp(t, scenario, remote, port, args...)
	return func() { t.Helper(); r.wait(t) }
}

// listen starts the server scenario on port and returns once SIPp listens
// there, so that the PBX's first INVITE to it is not lost; the returned
// func waits for it to succeed.
func (s *pbxServer) listen(t *testing.T, scenario string, port int, args ...string) func() {
	t.Helper()
	r := s.startSIPp(t, scenario, "", port, args...)
	r.waitBound(t, port)
	return func() { t.Helper(); r.wait(t) }
}

func (s *pbxServer) register(t *testing.T, ext string, port int) {
	t.Helper()
	s.sipp(t, "register.xml", s.sip, port, "-s", ext, "-au", ext, "-ap", "secret-"+ext, "-key", "expires", "300")()
}

// phone registers ext from a free port and starts scenario there as ext,
// with SIPp arguments extra; the returned func waits for it to succeed.
func (s *pbxServer) phone(t *testing.T, ext, scenario string, extra ...string) func() {
	t.Helper()
	port := freeUDPPort(t)
	s.register(t, ext, port)
	return s.listen(t, scenario, port, append([]string{"-s", ext}, extra...)...)
}

// waitBound waits until something listens on UDP port: SIPp, unless it
// exits first. It reads the kernel's socket table rather than probing with
// a bind of its own, which could take the port from under SIPp. SIPp binds
// its port within a second on an idle machine; the bound is for one loaded
// many times over, and is reached only if SIPp hangs.
func (r *sippRun) waitBound(t *testing.T, port int) {
	t.Helper()
	local := fmt.Sprintf(":%04X ", port)
	deadline := time.After(2 * time.Minute)
	for {
		table, err := os.ReadFile("/proc/net/udp")
		if err != nil {
			return // no socket table to read: go on as before
		}
		for _, line := range strings.Split(string(table), "\n") {
			if f := strings.Fields(line); len(f) > 1 && strings.HasSuffix(f[1]+" ", local) {
				return
			}
		}
		select {
		case <-r.exited:
			r.fail(t, fmt.Sprintf("exited (%v) before listening on UDP %d", r.err, port))
		case <-deadline:
			r.fail(t, fmt.Sprintf("not listening on UDP %d after 2 minutes", port))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// dial starts scenario as extension from calling to, with its password;
// extra adds to SIPp's arguments. The returned func waits for it to succeed.
func (s *pbxServer) dial(t *testing.T, scenario, from, to string, extra ...string) func() {
	t.Helper()
	args := append([]string{"-s", to, "-key", "caller", from, "-au", from, "-ap", "secret-" + from}, extra...)
	return s.sipp(t, scenario, s.sip, 0, args...)
}

var (
	uuidV4    = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	stamp     = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$`)
	rfc3339ms = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
)

// extensionNames are the names the tests' configs give the extensions, and
// the display name the SIPp carrier's caller sends.
var extensionNames = map[string]string{"1001": "Alice", "1002": "Bob", "1003": "Carol", "+15557654321": "Outside Caller"}

// hookWant is what one webhook of a PBX call must carry beyond the fields
// every one has.
type hookWant struct {
	event string
	leg   string // A: the caller's leg, B: the callee's
	std   map[string]any
	ext   map[string]any
}

// checkPBXCall checks one call's webhooks in one profile, every field.
func checkPBXCall(t *testing.T, profile string, hooks []Webhook, wants []hookWant) {
	t.Helper()
	if len(hooks) != len(wants) {
		t.Fatalf("%s: %d webhooks %v, want %d", profile, len(hooks), Events(hooks), len(wants))
	}
	call := hooks[0].CallUUID()
	if !uuidV4.MatchString(call) {
		t.Errorf("%s: call_uuid %q", profile, call)
	}
	legs := map[string]string{}
	for i, w := range wants {
		h := hooks[i]
		where := fmt.Sprintf("%s webhook %d (%s)", profile, i+1, h.Event())
		want := map[string]any{
			"event": w.event, "call_uuid": call, "call_session_uuid": call,
			"caller_id_number": "1001", "destination_number": "1002",
		}
		for k, v := range w.std {
			want[k] = v
		}
		if profile == "extended" {
			// The calling extension's name, where the test's config gives
			// it one (TestSoftphones checks it is there).
			if _, named := h.Body["caller_id_name"]; named {
				want["caller_id_name"] = extensionNames[fmt.Sprint(want["caller_id_number"])]
			}
			want["event_id"] = h.ID
			want["sequence"] = float64(i + 1)
			want["direction"] = "internal"
			for k, v := range w.ext {
				want[k] = v
			}
			leg, _ := h.Body["leg_uuid"].(string)
			if prev, ok := legs[w.leg]; ok && prev != leg || !uuidV4.MatchString(leg) {
				t.Errorf("%s: leg_uuid %q, leg %s was %q", where, leg, w.leg, prev)
			}
			legs[w.leg] = leg
			if ts, _ := h.Body["occurred_at"].(string); !rfc3339ms.MatchString(ts) {
				t.Errorf("%s: occurred_at %q", where, ts)
			}
		}
		if ts, _ := h.Body["timestamp"].(string); !stamp.MatchString(ts) {
			t.Errorf("%s: timestamp %q", where, ts)
		}
		for k, v := range want {
			if got, ok := h.Body[k]; !ok || !reflect.DeepEqual(got, v) {
				t.Errorf("%s: %s = %v, want %v\n%s", where, k, got, v, h.Raw)
			}
		}
		for k := range h.Body {
			switch k {
			case "timestamp", "leg_uuid", "occurred_at":
				if k == "timestamp" || profile == "extended" {
					continue
				}
			}
			if _, ok := want[k]; !ok {
				t.Errorf("%s: unexpected field %s in %s", where, k, h.Raw)
			}
		}
	}
	if legs["A"] != "" && legs["A"] == legs["B"] {
		t.Errorf("%s: caller and callee legs are the same", profile)
	}
}

// A call between two registered extensions through the real process:
// both profiles get every event with every field.
func TestPBXCallWebhooks(t *testing.T) {
	std, ext := NewReceiver(t), NewReceiver(t)
	s := startPBXServer(t, map[string]*Receiver{"standard": std, "extended": ext})
	calleePort := freeUDPPort(t)
	s.register(t, "1002", calleePort)
	var regs []map[string]any
	s.API("GET", "/v1/registrations", nil, 200, &regs)
	if len(regs) != 1 || regs[0]["extension"] != "1002" {
		t.Errorf("GET /v1/registrations = %v", regs)
	}
	callee := s.sipp(t, "callee_answer.xml", "", calleePort, "-s", "1002")
	caller := s.dial(t, "caller_dtmf_hold.xml", "1001", "1002")
	caller()
	callee()

	input := func(d string) map[string]any { return map[string]any{"digit": d, "digit_duration": float64(280)} }
	wants := []hookWant{
		{event: "CALL_ROUTED", leg: "A", ext: map[string]any{"routed_to": map[string]any{"type": "extension", "target": "1002"}}},
		{event: "CALL_RINGING", leg: "B"},
		{event: "CALL_ANSWER", leg: "B"},
		{event: "CALL_INPUT", leg: "A", std: input("1"), ext: map[string]any{"party": "caller"}},
		{event: "CALL_INPUT", leg: "A", std: input("#"), ext: map[string]any{"party": "caller"}},
		{event: "CALL_HOLD", leg: "A", ext: map[string]any{"party": "caller"}},
		{event: "CALL_UNHOLD", leg: "A", ext: map[string]any{"party": "caller"}},
		{event: "CALL_HANGUP", leg: "A", ext: map[string]any{"hangup_cause": "NORMAL_CLEARING", "sip_code": float64(200), "hangup_by": "caller", "answered_by": "1002"}},
	}
	for profile, r := range map[string]*Receiver{"standard": std, "extended": ext} {
		hooks := r.WaitCount(t, len(wants), 20*time.Second)
		if profile == "extended" {
			checkCalls(t, hooks)
			last := hooks[len(hooks)-1].Body
			dur, _ := last["duration"].(float64)
			bill, _ := last["billsec"].(float64)
			if bill < 1 || dur < bill || dur > 10 {
				t.Errorf("duration %v billsec %v for a call of about two seconds answered at once", dur, bill)
			}
			// Checked above by range; the exact compare cannot know them.
			wants[len(wants)-1].ext["duration"], wants[len(wants)-1].ext["billsec"] = dur, bill
		}
		checkPBXCall(t, profile, hooks, wants)
		if r.BadSignatures() != 0 {
			t.Errorf("%s: %d bad signatures", profile, r.BadSignatures())
		}
	}
	var chans []map[string]any
	s.API("GET", "/v1/channels", nil, 200, &chans)
	if len(chans) != 0 {
		t.Errorf("channels left after the call: %v", chans)
	}
}

// A busy callee and an unknown number: the first is routed and ends with
// USER_BUSY, the second emits nothing.
func TestPBXRefusedCallWebhooks(t *testing.T) {
	ext := NewReceiver(t)
	s := startPBXServer(t, map[string]*Receiver{"extended": ext})
	calleePort := freeUDPPort(t)
	s.register(t, "1002", calleePort)
	s.dial(t, "caller_reject_404.xml", "1001", "9999")()
	callee := s.sipp(t, "callee_busy.xml", "", calleePort, "-s", "1002")
	s.dial(t, "caller_reject_486.xml", "1001", "1002")()
	callee()
	hooks := ext.WaitCount(t, 2, 20*time.Second)
	checkPBXCall(t, "extended", hooks, []hookWant{
		{event: "CALL_ROUTED", leg: "A", ext: map[string]any{"routed_to": map[string]any{"type": "extension", "target": "1002"}}},
		{event: "CALL_HANGUP", leg: "A", ext: map[string]any{"hangup_cause": "USER_BUSY", "sip_code": float64(486), "hangup_by": "callee", "answered_by": "", "duration": hooks[1].Body["duration"], "billsec": float64(0)}},
	})
	time.Sleep(300 * time.Millisecond)
	if n := len(ext.Accepted()); n != 2 {
		t.Errorf("%d webhooks; the unknown number must add none: %v", n, Events(ext.Accepted()))
	}
}
