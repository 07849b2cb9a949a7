package pbx

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/events"
)

// The SIPp scenarios live with the end-to-end tests, which drive the same
// flows through the real process.
var scenarioDir = filepath.Join("..", "..", "e2e", "testdata", "sipp")

// pcapDir holds SIPp's RFC 2833 DTMF captures (Debian's sip-tester package).
func pcapDir() string {
	if d := os.Getenv("SIPP_PCAP_DIR"); d != "" {
		return d
	}
	return "/usr/share/sip-tester"
}

// collector is an events.Sink that keeps what the PBX emits.
type collector struct {
	mu     sync.Mutex
	evs    []events.Event
	ended  int // CALL_HANGUP events among evs
	notify chan struct{}
	bad    []error
}

func newCollector() *collector { return &collector{notify: make(chan struct{}, 1)} }

func (c *collector) Emit(_ context.Context, e events.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := e.Validate(); err != nil {
		c.bad = append(c.bad, err)
	}
	c.evs = append(c.evs, e)
	if e.Kind == events.CallHangup {
		c.ended++
	}
	select {
	case c.notify <- struct{}{}:
	default:
	}
	return nil
}

func (c *collector) all() []events.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.evs)
}

// hangups counts as it goes rather than scanning a copy of every event, so
// that waiting on a load run does not make garbage in the process measured.
func (c *collector) hangups() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ended
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.evs)
}

// waitHangups waits until n calls have ended.
func (c *collector) waitHangups(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for c.hangups() < n {
		select {
		case <-c.notify:
		case <-deadline:
			t.Fatalf("%d of %d calls ended within %s; events:\n%s", c.hangups(), n, timeout, dump(c.all()))
		}
	}
}

// waitEvents waits until n events have been emitted.
func (c *collector) waitEvents(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for c.count() < n {
		select {
		case <-c.notify:
		case <-deadline:
			t.Fatalf("%d of %d events within %s:\n%s", len(c.all()), n, timeout, dump(c.all()))
		}
	}
}

// byCall groups events by call, calls in the order they started.
func byCall(evs []events.Event) [][]events.Event {
	idx := map[string]int{}
	var out [][]events.Event
	for _, e := range evs {
		i, ok := idx[e.CallUUID]
		if !ok {
			i = len(out)
			idx[e.CallUUID] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], e)
	}
	return out
}

func dump(evs []events.Event) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "  %s call=%s dest=%s party=%s digit=%q dur=%s leg=%s", e.Kind, e.CallUUID, e.DestinationNumber, e.Party, e.Digit, e.DigitDuration, e.LegUUID)
		if e.Hangup != nil {
			fmt.Fprintf(&b, " hangup=%+v", *e.Hangup)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// want is one expected event; the fields every event shares are checked
// for all.
type want struct {
	kind   events.Kind
	dest   string
	leg    string // "A" (the caller's leg) or "B" (the callee's)
	party  events.Party
	digit  string
	dur    time.Duration
	routed *events.Target
	hangup *events.Hangup
	dir    events.Direction // internal when empty
}

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// checkCall asserts the exact event sequence of one call, every field.
func checkCall(t *testing.T, got []events.Event, caller string, start time.Time, wants []want) {
	t.Helper()
	if len(got) != len(wants) {
		t.Fatalf("call has %d events, want %d:\n%s", len(got), len(wants), dump(got))
	}
	legs := map[string]string{}
	id := got[0].CallUUID
	if !uuidV4.MatchString(id) {
		t.Errorf("call_uuid %q is not a lower-case v4 UUID", id)
	}
	prev := start
	for i, w := range wants {
		e := got[i]
		where := fmt.Sprintf("event %d (%s)", i+1, e.Kind)
		if e.Kind != w.kind {
			t.Fatalf("%s: kind %s, want %s\n%s", where, e.Kind, w.kind, dump(got))
		}
		if e.CallUUID != id || e.SessionUUID != id {
			t.Errorf("%s: call %q session %q, want both %q", where, e.CallUUID, e.SessionUUID, id)
		}
		if e.CallerIDNumber != caller {
			t.Errorf("%s: caller_id_number %q, want %q", where, e.CallerIDNumber, caller)
		}
		if e.DestinationNumber != w.dest {
			t.Errorf("%s: destination_number %q, want %q", where, e.DestinationNumber, w.dest)
		}
		dir := w.dir
		if dir == "" {
			dir = events.Internal
		}
		if e.Direction != dir || e.Source != "pbx" {
			t.Errorf("%s: direction %q source %q, want %q pbx", where, e.Direction, e.Source, dir)
		}
		if e.OccurredAt.Before(prev) || e.OccurredAt.After(time.Now()) {
			t.Errorf("%s: occurred_at %s not after the previous event (%s) or in the future", where, e.OccurredAt, prev)
		}
		prev = e.OccurredAt
		if !uuidV4.MatchString(e.LegUUID) {
			t.Errorf("%s: leg_uuid %q is not a v4 UUID", where, e.LegUUID)
		}
		if name, ok := legs[e.LegUUID]; ok && name != w.leg {
			t.Errorf("%s: on leg %s, want leg %s", where, name, w.leg)
		}
		for uuid, name := range legs {
			if name == w.leg && uuid != e.LegUUID {
				t.Errorf("%s: leg %s is %s here, %s before", where, w.leg, e.LegUUID, uuid)
			}
		}
		legs[e.LegUUID] = w.leg
		if e.Party != w.party || e.Digit != w.digit || e.DigitDuration != w.dur {
			t.Errorf("%s: party %q digit %q duration %s, want %q %q %s", where, e.Party, e.Digit, e.DigitDuration, w.party, w.digit, w.dur)
		}
		switch {
		case w.routed == nil && e.RoutedTo != nil, w.routed != nil && (e.RoutedTo == nil || *e.RoutedTo != *w.routed):
			t.Errorf("%s: routed_to %+v, want %+v", where, e.RoutedTo, w.routed)
		case w.hangup == nil && e.Hangup != nil, w.hangup != nil && (e.Hangup == nil || *e.Hangup != *w.hangup):
			t.Errorf("%s: hangup %+v, want %+v", where, e.Hangup, w.hangup)
		}
	}
}

var exts = []Extension{
	{Number: "1001", Password: "pw-1001", Name: "Alice"},
	{Number: "1002", Password: "pw-1002", Name: "Bob"},
	{Number: "1003", Password: "pw-1003", Name: "Carol"},
	{Number: "1004", Password: "pw-1004", Name: "Dave"},
}

func password(ext string) string {
	for _, e := range exts {
		if e.Number == ext {
			return e.Password
		}
	}
	return "nope"
}

// testPBX is a running PBX on loopback with a collecting sink.
type testPBX struct {
	*PBX
	events *collector
	udp    string // host:port of the UDP listener
	tcp    string
	dir    string // SIPp's working directory, with the DTMF pcaps
	stop   func() // stops the PBX and checks it released everything
}

// startPBX runs a PBX with the test extensions; edit changes its config
// and tweaks change the PBX before it runs.
func startPBX(t *testing.T, edit func(*Config), tweaks ...func(*PBX)) *testPBX {
	t.Helper()
	cfg := Config{
		Listen:      []string{"udp://127.0.0.1:0", "tcp://127.0.0.1:0"},
		Domain:      "pbx.test",
		Extensions:  exts,
		RingTimeout: 5 * time.Second,
	}
	if edit != nil {
		edit(&cfg)
	}
	level := slog.LevelWarn
	if os.Getenv("PBX_DEBUG") != "" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
	label := fmt.Sprintf("%s#%d", t.Name(), pbxSeq.Add(1))
	var (
		p      *PBX
		err    error
		tp     *testPBX
		cancel context.CancelFunc
		done   = make(chan error, 1)
	)
	// Every goroutine the PBX starts, and theirs in turn, carries the label
	// (a goroutine inherits its creator's), so that the check at the end
	// counts this PBX's and not those of the tests running beside it.
	pprof.Do(context.Background(), pprof.Labels(pbxLabel, label), func(ctx context.Context) {
		p, err = New(cfg, log, nil)
		if err != nil {
			return
		}
		for _, f := range tweaks {
			f(p)
		}
		tp = &testPBX{PBX: p, events: newCollector(), dir: t.TempDir()}
		ctx, cancel = context.WithCancel(ctx)
		go func() { done <- p.Run(ctx, tp.events) }()
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	for _, a := range p.ListenAddrs() {
		if s, ok := strings.CutPrefix(a, "udp://"); ok {
			tp.udp = s
		}
		if s, ok := strings.CutPrefix(a, "tcp://"); ok {
			tp.tcp = s
		}
	}
	for _, f := range []string{"dtmf_2833_1.pcap", "dtmf_2833_pound.pcap", "g711a.pcap"} {
		os.Symlink(filepath.Join(pcapDir(), f), filepath.Join(tp.dir, f))
	}
	var once sync.Once
	tp.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run returned %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Error("Run did not return after its context was cancelled")
			}
			tp.checkReleased(t)
			waitGoroutines(t, label)
			tp.events.mu.Lock()
			for _, err := range tp.events.bad {
				t.Errorf("invalid event emitted: %v", err)
			}
			tp.events.mu.Unlock()
		})
	}
	t.Cleanup(tp.stop)
	return tp
}

// checkReleased asserts that no call, channel or RTP port is left.
func (tp *testPBX) checkReleased(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		calls, ports, chans := tp.activeCalls(), tp.ports.InUse(), len(tp.Channels())
		if calls == 0 && ports == 0 && chans == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("left behind: %d calls, %d RTP port pairs, %d channels", calls, ports, chans)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pbxLabel is the profiler label under which startPBX runs a PBX; its
// value names the PBX.
const pbxLabel = "pbx"

// pbxSeq numbers the PBXes the tests start.
var pbxSeq atomic.Int64

// waitGoroutines waits until no goroutine carries the PBX's label. (A
// timer's function runs on a goroutine without labels; the PBX's only post
// a message to their call or queue.)
func waitGoroutines(t *testing.T, label string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, stacks := pbxGoroutines(label)
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%d goroutines left:\n%s", n, stacks)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pbxGoroutines counts the goroutines labelled with label, and gives their
// stacks.
func pbxGoroutines(label string) (int, string) {
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
		return 0, err.Error()
	}
	want := fmt.Sprintf("# labels: {%q:%q}", pbxLabel, label)
	_, records, _ := strings.Cut(buf.String(), "\n") // after the header, "goroutine profile: total N"
	n := 0
	var stacks strings.Builder
	for _, rec := range strings.Split(records, "\n\n") {
		count, _, _ := strings.Cut(rec, " @ ") // each record starts "count @ addresses"
		c, err := strconv.Atoi(count)
		if err != nil || !strings.Contains(rec, want) {
			continue
		}
		n += c
		stacks.WriteString(rec + "\n\n")
	}
	return n, stacks.String()
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// freePort returns a port free on loopback for both UDP and TCP now.
func freePort(t *testing.T) int {
	t.Helper()
	for range 50 {
		u, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		u.Close()
		if err != nil {
			continue
		}
		l.Close()
		return port
	}
	t.Fatal("no free port")
	return 0
}

// sippRun is one SIPp process.
type sippRun struct {
	name string
	cmd  *exec.Cmd
	out  bytes.Buffer
	done chan error
	port int
}

// sipp starts SIPp with scenario on a free port. remote is the PBX's
// host:port for a client scenario, "" for a server one.
func (tp *testPBX) sipp(t *testing.T, scenario, remote string, port int, args ...string) *sippRun {
	t.Helper()
	bin, err := exec.LookPath("sipp")
	if err != nil {
		t.Skip("sipp is not installed")
	}
	if port == 0 {
		port = freePort(t)
	}
	sf, err := filepath.Abs(filepath.Join(scenarioDir, scenario))
	if err != nil {
		t.Fatal(err)
	}
	// No -mp or -cp: SIPp then binds its RTP pair (an even port and the
	// one two above) and its control socket itself, trying ports until
	// some are free, where given ports it binds those or exits, and ports
	// picked free here may be taken by the time it binds them.
	all := []string{"-sf", sf, "-i", "127.0.0.1", "-p", strconv.Itoa(port),
		"-timeout_error", "-nostdin", "-trace_err"}
	if !slices.Contains(args, "-m") {
		// One call, with every message traced for the failure report.
		all = append(all, "-m", "1", "-timeout", "30s", "-trace_msg")
	}
	all = append(all, args...)
	if remote != "" {
		all = append(all, remote)
	}
	r := &sippRun{name: scenario, done: make(chan error, 1), port: port}
	r.cmd = exec.Command(bin, all...)
	r.cmd.Dir = tp.dir
	r.cmd.Stdout, r.cmd.Stderr = &r.out, &r.out
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.done <- r.cmd.Wait() }()
	t.Cleanup(func() {
		if r.cmd.ProcessState == nil {
			r.cmd.Process.Kill()
			<-r.done
		}
		if t.Failed() {
			t.Logf("sipp %s:\n%s", r.name, r.logs(tp.dir))
		}
	})
	return r
}

// waitBound waits until SIPp listens on its UDP port, so that the PBX's
// first INVITE to it is not lost, and fails if SIPp exits first. It reads
// the kernel's socket table rather than binding the port itself, which
// could take it from under SIPp.
func (r *sippRun) waitBound(t *testing.T, dir string) {
	t.Helper()
	local := fmt.Sprintf(":%04X ", r.port)
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
		case err := <-r.done:
			r.done <- err
			t.Fatalf("sipp %s exited (%v) before listening on UDP %d\n%s", r.name, err, r.port, r.logs(dir))
		case <-deadline:
			r.cmd.Process.Kill()
			r.done <- <-r.done
			t.Fatalf("sipp %s not listening on UDP %d after 2 minutes\n%s", r.name, r.port, r.logs(dir))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// wait waits for SIPp to finish its scenario successfully.
func (r *sippRun) wait(t *testing.T, dir string) {
	t.Helper()
	r.waitFor(t, dir, 40*time.Second)
}

func (r *sippRun) waitFor(t *testing.T, dir string, timeout time.Duration) {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err
		if err != nil {
			t.Fatalf("sipp %s: %v\n%s", r.name, err, r.logs(dir))
		}
	case <-time.After(timeout):
		r.cmd.Process.Kill()
		t.Fatalf("sipp %s did not finish\n%s", r.name, r.logs(dir))
	}
}

func (r *sippRun) logs(dir string) string {
	var b strings.Builder
	out := r.out.String()
	if i := strings.LastIndex(out, "------------------------------ Scenario Screen"); i >= 0 {
		out = out[i:]
	}
	b.WriteString(out)
	files, _ := filepath.Glob(filepath.Join(dir, strings.TrimSuffix(r.name, ".xml")+"_*"))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		if len(data) > 20000 {
			data = data[len(data)-20000:]
		}
		fmt.Fprintf(&b, "\n==== %s ====\n%s", filepath.Base(f), data)
	}
	return b.String()
}

// register registers ext from port with SIPp and waits for it.
func (tp *testPBX) register(t *testing.T, ext string, port int, transport string) {
	t.Helper()
	remote := tp.udp
	args := []string{"-s", ext, "-au", ext, "-ap", password(ext), "-key", "expires", "300"}
	if transport == "tcp" {
		remote = tp.tcp
		args = append(args, "-t", "t1")
	}
	tp.sipp(t, "register.xml", remote, port, args...).wait(t, tp.dir)
}
