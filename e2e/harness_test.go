package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchhook/switchhook/receiver"
)

// binary is the switchhook built once for the whole test run.
var binary string

func TestMain(m *testing.M) {
	if addr := os.Getenv(benchReceiverEnv); addr != "" {
		os.Exit(benchReceiverMain(addr))
	}
	if target := os.Getenv(benchRelayEnv); target != "" {
		os.Exit(benchRelayMain(target))
	}
	dir, err := os.MkdirTemp("", "switchhook-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "switchhook")
	args := []string{"build", "-o", binary}
	if os.Getenv("E2E_RACE") != "" {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "../cmd/switchhook")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build switchhook:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// freeUDPPort returns a UDP port on 127.0.0.1 that was free a moment ago.
func freeUDPPort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// sippLocal returns SIPp's arguments for its own addresses: SIP on UDP
// 127.0.0.1:port. Its other sockets are left for SIPp to choose, which binds
// them itself: without -mp it tries the even ports from 6000 up (below the
// kernel's ephemeral range) until one is free with the one two above it (audio
// and video RTP; SIPp 3.6's setup_media_sockets), where -mp N makes it bind N
// and N+2 or exit, and a port picked free here may be taken by then. Without
// -cp its remote-control socket, which no test uses, tries 8888-8897 and is
// only warned about if none is free, where -cp makes a taken port fatal.
func sippLocal(port int) []string {
	return []string{"-i", "127.0.0.1", "-p", strconv.Itoa(port)}
}

// testToken is the admin token of every test server.
const testToken = "e2e-admin-token"

// Server is a running switchhook process.
type Server struct {
	t       testing.TB
	URL     string // http://127.0.0.1:PORT
	Dir     string // its data dir
	Config  string // path of its config file
	port    int
	args    []string // more arguments of serve
	cmd     *exec.Cmd
	done    chan struct{}
	output  *syncBuffer
	waitErr error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// StartServer writes a config of the harness's keys (http, data_dir, store,
// log) followed by extra (YAML of the test's own keys), starts switchhook
// serve with it and waits until /healthz answers.
func StartServer(t testing.TB, extra string, args ...string) *Server {
	t.Helper()
	dir := t.TempDir()
	s := &Server{t: t, Dir: dir, Config: filepath.Join(dir, "switchhook.yaml"), args: args}
	s.port = freePort(t)
	s.URL = fmt.Sprintf("http://127.0.0.1:%d", s.port)
	s.writeConfig(extra)
	s.output = &syncBuffer{}
	s.start()
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("switchhook output:\n%s", s.Output())
		}
	})
	return s
}

func (s *Server) start() {
	s.t.Helper()
	s.cmd = exec.Command(binary, append([]string{"serve", "--config", s.Config}, s.args...)...)
	s.cmd.Stdout, s.cmd.Stderr = s.output, s.output
	s.cmd.Env = append(os.Environ(), "SWITCHHOOK_ADMIN_TOKEN=")
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.done = make(chan struct{})
	go func() { s.waitErr = s.cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			s.t.Fatalf("switchhook exited at start: %v\n%s", s.waitErr, s.Output())
		default:
		}
		resp, err := http.Get(s.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("switchhook did not become healthy in 20s\n%s", s.Output())
}

// Output is what the process printed so far.
func (s *Server) Output() string { return s.output.String() }

// Kill ends the process with SIGKILL, as a crash would.
func (s *Server) Kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
}

// Stop ends the process with SIGTERM and waits up to 30s for it to exit.
func (s *Server) Stop() error {
	if s.cmd == nil || s.cmd.Process == nil {
		return nil
	}
	select {
	case <-s.done:
		return s.waitErr
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		return s.waitErr
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
		return fmt.Errorf("switchhook did not stop within 30s of SIGTERM")
	}
}

// Restart starts the process again on the same config and data.
func (s *Server) Restart() {
	s.t.Helper()
	s.start()
}

// API calls the management API and decodes the JSON answer into out (if
// non-nil). It fails the test on a status other than want.
func (s *Server) API(method, path string, body any, want int, out any) {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		s.t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			s.t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
}

// Webhook is one request a Receiver accepted, its signature verified.
type Webhook struct {
	ID      string         // webhook-id
	Body    map[string]any // the JSON payload
	Raw     []byte
	Header  http.Header
	Arrived time.Time
}

// Event is the payload's event name.
func (w Webhook) Event() string { s, _ := w.Body["event"].(string); return s }

// CallUUID is the payload's call_uuid.
func (w Webhook) CallUUID() string { s, _ := w.Body["call_uuid"].(string); return s }

// Receiver is a real HTTP webhook receiver on loopback. It verifies every
// request's signature against Secret and answers with what Respond says
// (200 when nil). Requests whose signature fails are counted in BadSignatures
// and answered 401.
type Receiver struct {
	URL    string
	Secret string

	mu            sync.Mutex
	got           []Webhook
	badSignatures int
	respond       func(w Webhook, n int) int
	notify        chan struct{}
}

// testSecret is the signing secret of receivers by default.
const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// NewReceiver starts a receiver on a free loopback port.
func NewReceiver(t testing.TB) *Receiver {
	t.Helper()
	r := &Receiver{Secret: testSecret, notify: make(chan struct{}, 1)}
	r.URL = serveHook(t, r)
	return r
}

// serveHook serves h on a free loopback port until the test ends and
// returns the URL webhooks are sent to.
func serveHook(t testing.TB, h http.Handler) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return "http://" + l.Addr().String() + "/hook"
}

// Respond sets how the receiver answers: f gets the webhook and how many
// requests with its webhook-id came before (0 for the first) and returns the
// status code.
func (r *Receiver) Respond(f func(w Webhook, n int) int) {
	r.mu.Lock()
	r.respond = f
	r.mu.Unlock()
}

func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	raw, _ := io.ReadAll(req.Body)
	err := receiver.Verify(r.Secret, req.Header, raw, 5*time.Minute)
	r.mu.Lock()
	if err != nil {
		r.badSignatures++
		r.mu.Unlock()
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	hook := Webhook{ID: req.Header.Get(receiver.HeaderID), Raw: raw, Header: req.Header.Clone(), Arrived: time.Now()}
	json.Unmarshal(raw, &hook.Body)
	status, n := 200, 0
	for _, h := range r.got {
		if h.ID == hook.ID {
			n++
		}
	}
	if r.respond != nil {
		status = r.respond(hook, n)
	}
	if status/100 == 2 {
		r.got = append(r.got, hook)
	}
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
	w.WriteHeader(status)
}

// Accepted returns the webhooks answered with a 2xx so far, in arrival order.
func (r *Receiver) Accepted() []Webhook {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Webhook(nil), r.got...)
}

// BadSignatures counts requests that failed verification.
func (r *Receiver) BadSignatures() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.badSignatures
}

// WaitFor waits until cond holds on the accepted webhooks, or fails the test
// after timeout.
func (r *Receiver) WaitFor(t testing.TB, timeout time.Duration, what string, cond func([]Webhook) bool) []Webhook {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		got := r.Accepted()
		if cond(got) {
			return got
		}
		select {
		case <-r.notify:
		case <-time.After(100 * time.Millisecond):
		case <-deadline.C:
			t.Fatalf("waited %v for %s; got %d webhooks:\n%s", timeout, what, len(got), describe(got))
		}
	}
}

// WaitCount waits for at least n accepted webhooks.
func (r *Receiver) WaitCount(t testing.TB, n int, timeout time.Duration) []Webhook {
	t.Helper()
	return r.WaitFor(t, timeout, fmt.Sprintf("%d webhooks", n), func(w []Webhook) bool { return len(w) >= n })
}

// ByCall groups accepted webhooks per call_uuid, each in arrival order,
// keeping the first of duplicates with the same webhook-id.
func ByCall(hooks []Webhook) map[string][]Webhook {
	seen := map[string]bool{}
	out := map[string][]Webhook{}
	for _, h := range hooks {
		if seen[h.ID] {
			continue
		}
		seen[h.ID] = true
		out[h.CallUUID()] = append(out[h.CallUUID()], h)
	}
	return out
}

// Events lists the event names of hooks.
func Events(hooks []Webhook) []string {
	out := make([]string, len(hooks))
	for i, h := range hooks {
		out[i] = h.Event()
	}
	return out
}

func describe(hooks []Webhook) string {
	var sb strings.Builder
	for _, h := range hooks {
		fmt.Fprintf(&sb, "  %s %s\n", h.ID, h.Raw)
	}
	return sb.String()
}

// waitUntil polls cond every 50ms until it holds or timeout passes.
func waitUntil(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waited %v for %s", timeout, what)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// rewriteConfig replaces the test's own keys of s's config, keeping the
// harness's, for the next Restart.
func rewriteConfig(t testing.TB, s *Server, extra string) {
	t.Helper()
	s.writeConfig(extra)
}

// writeConfig writes the harness's keys (http, data_dir, and store, node,
// log and sip unless extra sets them) followed by extra.
func (s *Server) writeConfig(extra string) {
	s.t.Helper()
	cfg := fmt.Sprintf("http: {listen: \"127.0.0.1:%d\", admin_token: %s}\ndata_dir: %q\n", s.port, testToken, s.Dir)
	if !hasTopKey(extra, "store") {
		cfg += fmt.Sprintf("store: {dsn: \"sqlite://%s/switchhook.db\"}\n", s.Dir)
	}
	if !hasTopKey(extra, "node") {
		cfg += "node: e2e\n"
	}
	if !hasTopKey(extra, "log") {
		cfg += "log: {level: debug}\n"
	}
	if !hasTopKey(extra, "sip") {
		cfg += "sip: {enabled: false}\n"
	}
	if err := os.WriteFile(s.Config, []byte(cfg+extra), 0o600); err != nil {
		s.t.Fatal(err)
	}
}

func hasTopKey(yaml, key string) bool {
	return strings.HasPrefix(yaml, key+":") || strings.Contains(yaml, "\n"+key+":")
}
