package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/api/apitest"
	"github.com/switchhook/switchhook/internal/api/apitypes"
	"github.com/switchhook/switchhook/internal/cli"
	"github.com/switchhook/switchhook/internal/client"
	"github.com/switchhook/switchhook/internal/store"
)

const hook = "http://127.0.0.1:9/hook"

// run executes the switchhook command with args and returns what it wrote.
func run(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	var out, errb bytes.Buffer
	cmd := cli.New("v1.2.3", &out, &errb)
	cmd.SetArgs(args)
	err = cmd.ExecuteContext(ctx)
	return out.String(), errb.String(), err
}

// remote runs a command against s with --server and --token.
func remote(t *testing.T, s *apitest.Server, args ...string) string {
	t.Helper()
	out, stderr, err := run(context.Background(), append(args, "--server", s.URL, "--token", apitest.Token)...)
	if err != nil {
		t.Fatalf("switchhook %s: %v\nstderr: %s", strings.Join(args, " "), err, stderr)
	}
	return out
}

// remoteErr runs a command that must fail and returns its error text.
func remoteErr(t *testing.T, s *apitest.Server, args ...string) string {
	t.Helper()
	_, stderr, err := run(context.Background(), append(args, "--server", s.URL, "--token", apitest.Token)...)
	if err == nil {
		t.Fatalf("switchhook %s succeeded", strings.Join(args, " "))
	}
	if !strings.Contains(stderr, err.Error()) {
		t.Errorf("stderr %q does not show the error %q", stderr, err)
	}
	return err.Error()
}

func contains(t *testing.T, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

func decode(t *testing.T, out string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out)
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, _, err := run(context.Background(), args...)
		if err != nil || out != "switchhook v1.2.3\n" {
			t.Fatalf("%v: %q, %v", args, out, err)
		}
	}
}

func TestEndpointsCommands(t *testing.T) {
	s := apitest.New(t)
	out := remote(t, s, "endpoints", "add", hook, "--events", "CALL_ANSWER,call_hangup", "--payload", "extended",
		"--header", "X-Api-Key: k1", "--timeout", "5s", "--retry-schedule", "0s,1m", "--max-in-flight", "2", "--description", "CRM")
	contains(t, out, "Created endpoint ep_", "whsec_", "CALL_ANSWER,CALL_HANGUP", "extended", "X-Api-Key: k1", "5s", "0s 1m0s", "CRM")

	// The same URL again is refused, naming the endpoint that has it, unless
	// --allow-duplicate.
	if _, stderr, err := run(context.Background(), "endpoints", "add", hook, "--server", s.URL, "--token", apitest.Token); err == nil ||
		!strings.Contains(err.Error()+stderr, "already delivers to "+hook) {
		t.Errorf("a second endpoint to %s: %v %s", hook, err, stderr)
	}
	var ep apitypes.Endpoint
	decode(t, remote(t, s, "endpoints", "add", hook, "--json", "--allow-duplicate"), &ep)
	if ep.ID == "" || ep.Secret == "" || ep.Payload != "standard" {
		t.Fatalf("--json add: %+v", ep)
	}

	out = remote(t, s, "endpoints", "list")
	contains(t, out, "ID", "URL", "EVENTS", "STATE", ep.ID, hook, "all", "enabled", "CALL_ANSWER,CALL_HANGUP")
	if strings.Contains(out, "whsec_") {
		t.Errorf("list shows secrets:\n%s", out)
	}
	var eps []apitypes.Endpoint
	decode(t, remote(t, s, "endpoints", "list", "--json"), &eps)
	if len(eps) != 2 {
		t.Fatalf("--json list: %d endpoints", len(eps))
	}

	contains(t, remote(t, s, "endpoints", "show", ep.ID), ep.Secret, hook, "10s")

	out = remote(t, s, "endpoints", "update", ep.ID, "--disabled", "--description", "paused", "--events", "CALL_ROUTED")
	contains(t, out, "Updated endpoint", "disabled", "paused", "CALL_ROUTED")
	out = remote(t, s, "endpoints", "update", ep.ID, "--disabled=false", "--events", "", "--header", "A: 1", "--header", "B: 2")
	contains(t, out, "enabled", "all", "A: 1", "B: 2")
	contains(t, remote(t, s, "endpoints", "update", ep.ID, "--header", ""), "Events") // removes the headers
	got, err := client.New(s.URL, apitest.Token).GetEndpoint(context.Background(), ep.ID)
	if err != nil || len(got.Headers) != 0 || got.Description != "paused" || got.Disabled {
		t.Fatalf("after updates: %+v, %v", got, err)
	}
	contains(t, remoteErr(t, s, "endpoints", "update", ep.ID), "nothing to change")

	out = remote(t, s, "endpoints", "rotate-secret", ep.ID, "--grace", "1h")
	contains(t, out, "New secret of "+ep.ID+": whsec_", "Still signing until", ep.Secret)

	out = remote(t, s, "endpoints", "test", ep.ID, "--event", "call_input")
	contains(t, out, "Sent test event evt_", "switchhook calls show ")
	var res apitypes.TestEventResult
	decode(t, remote(t, s, "endpoints", "test", ep.ID, "--json"), &res)
	if res.CallUUID == "" {
		t.Errorf("--json test: %+v", res)
	}

	contains(t, remote(t, s, "endpoints", "remove", ep.ID), "Removed endpoint "+ep.ID)
	contains(t, remoteErr(t, s, "endpoints", "show", ep.ID), "not found", "404")
}

func TestEndpointsErrors(t *testing.T) {
	s := apitest.New(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"endpoints", "add", "ftp://x/"}, `url "ftp://x/" is not an absolute http:// or https:// URL`},
		{[]string{"endpoints", "add", hook, "--events", "CALL_DIAL"}, "CALL_DIAL"},
		{[]string{"endpoints", "add", hook, "--header", "no colon"}, `"Name: value"`},
		{[]string{"endpoints", "add", hook, "--timeout", "100s"}, "timeout"},
		{[]string{"endpoints", "add"}, "accepts 1 arg"},
		{[]string{"endpoints", "test", "ep_nope"}, `endpoint "ep_nope" not found`},
		{[]string{"endpoints", "replay", "ep_nope"}, `"since" not set`},
		{[]string{"endpoints", "replay", "ep_nope", "--since", "last week"}, "--since"},
		{[]string{"endpoints", "rotate-secret", "ep_nope", "--grace", "soon"}, "grace"},
	} {
		contains(t, remoteErr(t, s, c.args...), c.want)
	}
}

func TestDeliveriesAndCallsCommands(t *testing.T) {
	s := apitest.New(t)
	ctx := context.Background()
	ep, err := client.New(s.URL, apitest.Token).CreateEndpoint(ctx, apitypes.NewEndpoint{URL: hook})
	if err != nil {
		t.Fatal(err)
	}
	id := s.Call("1001", "1002", time.Now().Add(-30*time.Minute))
	s.Attempt(store.Failed, 500, "HTTP 500 from the receiver")

	out := remote(t, s, "calls", "list")
	contains(t, out, "CALL", "FROM", id, "1001", "1002", "internal", "4s", "NORMAL_CLEARING")
	contains(t, remote(t, s, "calls", "list", "--number", "9999"), "No calls.")
	contains(t, remote(t, s, "calls", "list", "--since", "1h", "--event", "CALL_INPUT", "--limit", "5"), id)
	contains(t, remote(t, s, "calls", "list", "--since", "10m"), "No calls.")
	var calls []apitypes.Call
	decode(t, remote(t, s, "calls", "list", "--json"), &calls)
	if len(calls) != 1 {
		t.Fatalf("--json calls: %+v", calls)
	}

	out = remote(t, s, "calls", "show", id)
	contains(t, out, "From", "1001", "CALL_ROUTED", "to extension 1002", "digit 5 (120 ms) by caller",
		"NORMAL_CLEARING, SIP 200, by callee, 4s (billed 2s)", "Deliveries to "+ep.ID, "failed", "pending")
	var detail apitypes.CallDetail
	decode(t, remote(t, s, "calls", "show", id, "--json"), &detail)
	if len(detail.Events) != 5 {
		t.Fatalf("--json call: %+v", detail)
	}
	contains(t, remoteErr(t, s, "calls", "show", "nope"), "not found")

	out = remote(t, s, "deliveries", "list", "--status", "failed")
	contains(t, out, "ID", "ENDPOINT", ep.ID, "CALL_ROUTED", "failed", "HTTP 500 from the receiver")
	// --attempts lists each attempt under the table.
	contains(t, remote(t, s, "deliveries", "list", "--status", "failed", "--attempts"), "attempts:", "STATUS", "500", "1.5 ms", "HTTP 500 from the receiver")
	var ds []apitypes.Delivery
	decode(t, remote(t, s, "deliveries", "list", "--json", "--endpoint", ep.ID, "--call", id, "--limit", "10"), &ds)
	if len(ds) != 5 {
		t.Fatalf("--json deliveries: %d", len(ds))
	}
	failed := fmt.Sprint(detail.Endpoints[0].Deliveries[0].ID)
	out = remote(t, s, "deliveries", "show", failed)
	contains(t, out, "Status", "failed", "Last error", "500", "1.5 ms", "body")
	contains(t, remote(t, s, "deliveries", "retry", failed), "Delivery "+failed+" of CALL_ROUTED to "+ep.ID+" is pending again.")
	var d apitypes.Delivery
	decode(t, remote(t, s, "deliveries", "show", failed, "--json"), &d)
	if d.Status != "pending" {
		t.Errorf("after retry: %+v", d)
	}
	contains(t, remoteErr(t, s, "deliveries", "show", "abc"), "not a positive whole number")
	contains(t, remoteErr(t, s, "deliveries", "retry", "4242"), "delivery 4242 not found")
	contains(t, remoteErr(t, s, "deliveries", "list", "--status", "done"), "done")
	contains(t, remote(t, s, "deliveries", "list", "--endpoint", "ep_none"), "No deliveries.")

	out = remote(t, s, "endpoints", "replay", ep.ID, "--since", "1h", "--events", "CALL_HANGUP")
	contains(t, out, "Queued 1 deliveries to "+ep.ID)
}

func TestServerAndTokenFromEnvironment(t *testing.T) {
	s := apitest.New(t)
	ctx := context.Background()
	_, _, err := run(ctx, "endpoints", "list", "--server", s.URL)
	if err == nil || !strings.Contains(err.Error(), "no admin token") {
		t.Fatalf("no token: %v", err)
	}
	t.Setenv("SWITCHHOOK_SERVER", s.URL)
	t.Setenv("SWITCHHOOK_ADMIN_TOKEN", apitest.Token)
	out, _, err := run(ctx, "endpoints", "list")
	if err != nil || !strings.Contains(out, "No endpoints") {
		t.Fatalf("from the environment: %q, %v", out, err)
	}
	// Flags win over the environment.
	_, _, err = run(ctx, "endpoints", "list", "--token", "wrong")
	if err == nil || !strings.Contains(err.Error(), "invalid admin token") {
		t.Fatalf("--token over the environment: %v", err)
	}
	_, _, err = run(ctx, "calls", "list", "--server", "http://"+freeAddr(t))
	if err == nil || !strings.Contains(err.Error(), "Is switchhook serve running there?") {
		t.Fatalf("unreachable server: %v", err)
	}
}

// freeAddr returns a loopback address nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// writeConfig writes a config for a process with no SIP, its HTTP server on
// a free loopback port and its store in a temp dir.
func writeConfig(t *testing.T) (path, addr string) {
	t.Helper()
	dir := t.TempDir()
	addr = freeAddr(t)
	cfg := fmt.Sprintf(`data_dir: %s
log: {level: error}
http: {listen: "%s", admin_token: "%s"}
store: {dsn: "sqlite://%s"}
sip: {enabled: false}
`, dir, addr, apitest.Token, filepath.Join(dir, "switchhook.db"))
	path = filepath.Join(dir, "switchhook.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, addr
}

func TestMigrate(t *testing.T) {
	path, _ := writeConfig(t)
	out, _, err := run(context.Background(), "migrate", "--config", path)
	if err != nil || !strings.Contains(out, "up to date") {
		t.Fatalf("migrate: %q, %v", out, err)
	}
	_, _, err = run(context.Background(), "migrate", "--config", filepath.Join(t.TempDir(), "missing.yaml"))
	if err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("missing config: %v", err)
	}
}

// serve runs the real server until the test ends, and the CLI manages it.
func TestServe(t *testing.T) {
	path, addr := writeConfig(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var serveOut, serveErr bytes.Buffer
	go func() {
		cmd := cli.New("v1.2.3", &serveOut, &serveErr)
		cmd.SetArgs([]string{"serve", "--config", path})
		done <- cmd.ExecuteContext(ctx)
	}()
	c := client.New("http://"+addr, apitest.Token)
	apitest.Eventually(t, "the server to answer /healthz", func() bool {
		h, err := c.Health(context.Background())
		return err == nil && h.Version == "v1.2.3"
	})
	out, stderr, err := run(context.Background(), "endpoints", "add", hook, "--server", "http://"+addr, "--token", apitest.Token)
	if err != nil || !strings.Contains(out, "Created endpoint") {
		t.Errorf("add against serve: %q %q %v", out, stderr, err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve returned %v; stderr: %s", err, serveErr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
}

func TestEventsCommands(t *testing.T) {
	s := apitest.New(t, apitest.Streaming)
	id := s.Call("1001", "1002", time.Now().Add(-5*time.Minute))
	out := remote(t, s, "events", "list", "--call", id)
	contains(t, out, "TIME", "EVENT", "CALL_ROUTED", "CALL_HANGUP", id, "digit 5 (120 ms) by caller")
	contains(t, remote(t, s, "events", "list", "--since", "1m"), "No events.")
	var evs []apitypes.Event
	decode(t, remote(t, s, "events", "list", "--event", "CALL_INPUT", "--json"), &evs)
	if len(evs) != 1 || evs[0].Digit != "5" {
		t.Fatalf("--json events: %+v", evs)
	}
	contains(t, remoteErr(t, s, "events", "list", "--event", "DIAL"), "DIAL")

	// tail prints events as they come, until its context ends.
	ep, err := client.New(s.URL, apitest.Token).CreateEndpoint(context.Background(), apitypes.NewEndpoint{URL: hook})
	if err != nil {
		t.Fatal(err)
	}
	for _, asJSON := range []bool{false, true} {
		ctx, cancel := context.WithCancel(context.Background())
		var out syncBuffer
		done := make(chan error, 1)
		go func() {
			cmd := cli.New("v1.2.3", &out, &out)
			args := []string{"events", "tail", "--server", s.URL, "--token", apitest.Token}
			if asJSON {
				args = append(args, "--json")
			}
			cmd.SetArgs(args)
			done <- cmd.ExecuteContext(ctx)
		}()
		c := client.New(s.URL, apitest.Token)
		apitest.Eventually(t, "a test event on the tail", func() bool {
			if _, err := c.TestEndpoint(context.Background(), ep.ID, "CALL_HOLD"); err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond)
			return strings.Contains(out.String(), "CALL_HOLD")
		})
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("tail: %v", err)
		}
		if asJSON {
			line, _, _ := strings.Cut(out.String(), "\n")
			var se apitypes.StreamEvent
			decode(t, line, &se)
			if se.EndpointID != ep.ID || se.Source != "test" {
				t.Errorf("--json tail: %+v", se)
			}
		} else {
			contains(t, out.String(), "CALL_HOLD", "1001", "by caller", "via test")
		}
	}
}

// syncBuffer is a bytes.Buffer written by a command on one goroutine and
// read by the test on another.
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

func TestForwardCommands(t *testing.T) {
	s := apitest.New(t, apitest.Forwarding)
	out := remote(t, s, "forward", "set", "1001", "--busy", "1002", "--no-answer", "9004930", "--no-answer-after", "15s")
	contains(t, out, "Extension", "1001", "Busy", "1002", "No answer", "9004930 after 15s", "Unconditional", "-", "Set by", "the API, ")
	out = remote(t, s, "forward", "list")
	contains(t, out, "EXTENSION", "1001", "1002", "1003", "9004930", "15s", "api", "config")
	out = remote(t, s, "forward", "show", "1002")
	contains(t, out, "Busy", "1003", "the config file")
	var f apitypes.Forward
	decode(t, remote(t, s, "forward", "reset", "1001", "--json"), &f)
	if f.Source != "config" || f.UserBusy != "" {
		t.Errorf("reset: %+v", f)
	}
	msg := remoteErr(t, s, "forward", "set", "1001", "--unavailable", "555")
	if !strings.Contains(msg, `set forwarding of 1001: unavailable: "555" is no extension`) || !strings.Contains(msg, "HTTP 400") {
		t.Errorf("refusal: %s", msg)
	}
	if msg := remoteErr(t, s, "forward", "show", "4242"); !strings.Contains(msg, `extension "4242" not found`) {
		t.Errorf("unknown extension: %s", msg)
	}
}

// When the stream ends, tail says when and why; with --follow it connects
// again until interrupted.
func TestTailEndsAndFollows(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	conns := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		conns++
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "retry: 2000\n\n: closing: the server is shutting down\n\n")
	}))
	defer srv.Close()
	_, _, err := run(context.Background(), "events", "tail", "--server", srv.URL, "--token", "t")
	if err == nil || !strings.Contains(err.Error(), "the event stream ended: the server is shutting down at ") {
		t.Errorf("tail of a stream that ends: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		cmd := cli.New("v1.2.3", &out, &out)
		cmd.SetArgs([]string{"events", "tail", "--follow", "--server", srv.URL, "--token", "t"})
		done <- cmd.ExecuteContext(ctx)
	}()
	apitest.Eventually(t, "tail --follow to connect again", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return conns >= 2
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("tail --follow: %v", err)
	}
	contains(t, out.String(), "the server is shutting down; connecting again in 1s", "not replayed")
}

func TestQueueCommands(t *testing.T) {
	s := apitest.New(t, apitest.Queues(t))
	out := remote(t, s, "queues", "list")
	contains(t, out, "QUEUE", "600", "Sales", "ring_all", "1001 idle, 1002 idle", "601")
	out = remote(t, s, "queues", "pause", "600", "1002")
	contains(t, out, "Queue 600 (Sales), ring all", "Nobody is waiting.", "AGENT", "1002", "paused", "yes")
	out = remote(t, s, "queues", "show", "601")
	contains(t, out, "Queue 601", "1002", "idle", "no")
	var q apitypes.Queue
	decode(t, remote(t, s, "queues", "unpause", "600", "1002", "--json"), &q)
	if q.Agents[1].Paused {
		t.Errorf("unpause: %+v", q.Agents[1])
	}
	if msg := remoteErr(t, s, "queues", "pause", "601", "1001"); !strings.Contains(msg, "pause queue 601: ") || !strings.Contains(msg, "1001 is no agent of queue 601") {
		t.Errorf("pause of a stranger: %s", msg)
	}
	if msg := remoteErr(t, s, "queues", "show", "700"); !strings.Contains(msg, "no such queue") {
		t.Errorf("unknown queue: %s", msg)
	}
}
