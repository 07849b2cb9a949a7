package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/app"
	"github.com/switchhook/switchhook/receiver"
)

// The PBX load runs of docs/benchmarks.md. They are skipped unless
// SWITCHHOOK_PBX_LOAD is set, and take these knobs:
//
//	PBX_LOAD_RATE   calls per second SIPp places (default 100)
//	PBX_LOAD_CALLS  calls in all (default 30 seconds' worth)
//	PBX_LOAD_HOLD   how long each call stays up once answered (default 1s)
//
// e.g. 1,000 concurrent calls with RTP both ways:
//
//	SWITCHHOOK_PBX_LOAD=1 PBX_LOAD_RATE=100 PBX_LOAD_CALLS=1000 PBX_LOAD_HOLD=45s \
//	  go test -run 'TestPBXLoad$' -v -timeout 20m ./e2e
//
// Every call is load_caller.xml calling load_callee.xml through the PBX:
// digest auth, two 180s, answer after 200 ms, one RFC 4733 digit, G.711
// RTP streamed both ways for PBX_LOAD_HOLD, BYE; five webhooks each.
// TestPBXLoadDirect runs the same caller against load_direct.xml, SIPp
// standing in for PBX and callee: what SIPp alone manages on the machine.

const (
	loadCallee     = "2000" // the extension every call rings
	loadFirstPhone = 10000  // callers are extensions 10000, 10001, …
	// loadMaxPhones bounds the caller extensions; SIPp uses them in turn,
	// so calls with the same caller are far apart and still told apart.
	loadMaxPhones = 5000
)

// loadPassword is the SIP password of a load run's extension.
func loadPassword(number string) string { return "secret-" + number }

// loadEvents are the webhooks of every load call, in order.
var loadEvents = []string{"CALL_ROUTED", "CALL_RINGING", "CALL_ANSWER", "CALL_INPUT", "CALL_HANGUP"}

type loadParams struct {
	rate, calls int
	hold        time.Duration
}

func loadParamsFromEnv(t *testing.T) loadParams {
	t.Helper()
	if os.Getenv("SWITCHHOOK_PBX_LOAD") == "" {
		t.Skip("PBX load run: set SWITCHHOOK_PBX_LOAD=1")
	}
	if _, err := exec.LookPath("sipp"); err != nil {
		t.Skip("sipp is not installed")
	}
	p := loadParams{rate: envInt("PBX_LOAD_RATE", 100)}
	p.calls = envInt("PBX_LOAD_CALLS", 30*p.rate)
	hold, err := time.ParseDuration(envStr("PBX_LOAD_HOLD", "1s"))
	if err != nil || hold <= 0 {
		t.Fatalf("PBX_LOAD_HOLD=%q is not a positive duration", os.Getenv("PBX_LOAD_HOLD"))
	}
	p.hold = hold
	return p
}

// TestPBXLoad runs the load through the real switchhook process to a
// webhook receiver on loopback, checks that every call's five webhooks
// arrived in order, and reports the rate reached, the latency from SIP
// message to webhook request, CPU and memory. With PBX_LOAD_CPUPROFILE=file
// the same server runs in the test process instead, its CPU profile written
// to file and its heap, as the last calls are about to end, to file.heap.
func TestPBXLoad(t *testing.T) {
	lp := loadParamsFromEnv(t)
	phones := min(lp.calls, loadMaxPhones)
	rcv := newLoadReceiver(t)
	sipPort := freeUDPPort(t)
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "log: {level: warn}\nwebhooks:\n  - url: %q\n    payload: extended\n    secret: %q\n    max_in_flight: 64\n", rcv.url, rcv.secret)
	fmt.Fprintf(&cfg, "sip:\n  listen: [\"udp://127.0.0.1:%d\"]\n  domain: pbx.test\n  rtp_ports: \"20000-40000\"\nring_timeout: 10s\n", sipPort)
	fmt.Fprintf(&cfg, "extensions:\n  - {number: %q, password: %s}\n", loadCallee, loadPassword(loadCallee))
	for i := range phones {
		n := strconv.Itoa(loadFirstPhone + i)
		fmt.Fprintf(&cfg, "  - {number: %q, password: %s}\n", n, loadPassword(n))
	}
	srv := startLoadServer(t, cfg.String())
	pbx := fmt.Sprintf("127.0.0.1:%d", sipPort)

	dir := loadDir(t, phones)
	calleePort := freeUDPPort(t)
	startSIPp(t, dir, "register.xml", pbx, calleePort, "-m", "1", "-s", loadCallee, "-au", loadCallee, "-ap", loadPassword(loadCallee),
		"-key", "expires", "3600").wait(t, 30*time.Second)

	baseRSS, baseHeap := srv.rss(), srv.heapInuse()
	runFor := time.Duration(lp.calls/lp.rate)*time.Second + lp.hold + 2*time.Minute
	timeout := strconv.Itoa(int(runFor.Seconds())) + "s"
	callee := startSIPp(t, dir, "load_callee.xml", "", calleePort, "-m", strconv.Itoa(lp.calls), "-timeout", timeout, "-trace_logs")
	start := time.Now()
	caller := startSIPp(t, dir, "load_caller.xml", pbx, 0, "-s", loadCallee, "-inf", "callers.csv",
		"-r", strconv.Itoa(lp.rate), "-m", strconv.Itoa(lp.calls), "-l", strconv.Itoa(lp.calls),
		"-d", strconv.Itoa(int(lp.hold.Milliseconds())), "-timeout", timeout, "-trace_logs")
	mon := monitor(srv, caller, callee)
	if srv.inProcess {
		// The heap as the last calls are about to end, with the most up.
		heapAt := time.AfterFunc(time.Duration(lp.calls)*time.Second/time.Duration(lp.rate)+lp.hold*9/10, func() {
			writeHeapProfile(t, os.Getenv("PBX_LOAD_CPUPROFILE")+".heap")
		})
		defer heapAt.Stop()
	}
	callerErr := caller.wait(t, runFor+time.Minute)
	calleeErr := callee.wait(t, time.Minute)
	elapsed := time.Since(start)
	samples := mon.stop()

	// Every call that was routed must end, and every event arrive.
	hooks := rcv.waitSettled(t, 2*time.Minute)
	st := caller.stats(t)

	rep := &loadReport{t: t}
	rep.line("through the PBX: %d calls offered at %d/s, %s of RTP each way per call; load average %s at start, %s at end",
		lp.calls, lp.rate, lp.hold, samples[0].loadavg, samples[len(samples)-1].loadavg)
	rep.sippStats(st, elapsed)
	procs := map[string]string{"switchhook": "switchhook", "caller": "SIPp caller", "callee": "SIPp callee", "test": "test (receiver)"}
	if srv.inProcess {
		delete(procs, "test")
		rep.line("switchhook ran in the test process (profiled): its CPU includes the receiver's")
	}
	rep.usage(samples, procs)
	peak := peakSample(samples)
	rep.line("peak: %d calls up at SIPp, %d channels at the PBX; switchhook RSS %.0f MiB, heap in use %.0f MiB (%.0f and %.0f MiB before the calls)",
		peak.sippCalls, peak.channels, mib(peak.rss), mib(peak.heap), mib(baseRSS), mib(baseHeap))
	if late := lateSample(samples); late.sippCalls > 0 {
		// Late, so that the transactions of the calls' setup, which sipgo
		// keeps for up to 32s after they end, count as little as they can.
		rep.line("as the last calls were about to end (%d up): RSS %.0f MiB, heap in use %.0f MiB: %.1f KiB of RSS, %.1f KiB of heap per live call",
			late.sippCalls, mib(late.rss), mib(late.heap),
			float64(late.rss-baseRSS)/float64(late.sippCalls)/1024, float64(late.heap-baseHeap)/float64(late.sippCalls)/1024)
	}
	rep.udp(samples, 2)
	sent := readSIPpLogs(t, dir)
	rep.line("SIPp sent the authenticated INVITEs at %.1f/s; %d webhooks (%d duplicates, %d bad signatures), the last %s after the last BYE",
		sent.rate("CALL_ROUTED"), len(hooks), rcv.duplicates(), rcv.badSignatures(), rcv.last().Sub(sent.last("CALL_HANGUP")).Round(time.Millisecond))
	rep.latency(hooks, sent)

	// Correctness: SIPp's verdict, then every call's webhooks.
	if callerErr != nil || calleeErr != nil || st.failed > 0 {
		t.Errorf("SIPp: caller %v, callee %v, %d failed calls", callerErr, calleeErr, st.failed)
	}
	checkLoadCalls(t, hooks, st.successful)
}

// TestPBXLoadDirect is the ceiling of TestPBXLoad: the same caller at the
// same rate calling SIPp directly, with nothing between.
func TestPBXLoadDirect(t *testing.T) {
	lp := loadParamsFromEnv(t)
	dir := loadDir(t, min(lp.calls, loadMaxPhones))
	port := freeUDPPort(t)
	runFor := time.Duration(lp.calls/lp.rate)*time.Second + lp.hold + 2*time.Minute
	timeout := strconv.Itoa(int(runFor.Seconds())) + "s"
	callee := startSIPp(t, dir, "load_direct.xml", "", port, "-m", strconv.Itoa(lp.calls), "-timeout", timeout)
	start := time.Now()
	caller := startSIPp(t, dir, "load_caller.xml", fmt.Sprintf("127.0.0.1:%d", port), 0, "-s", loadCallee, "-inf", "callers.csv",
		"-r", strconv.Itoa(lp.rate), "-m", strconv.Itoa(lp.calls), "-l", strconv.Itoa(lp.calls),
		"-d", strconv.Itoa(int(lp.hold.Milliseconds())), "-timeout", timeout, "-trace_logs")
	mon := monitor(nil, caller, callee)
	callerErr := caller.wait(t, runFor+time.Minute)
	calleeErr := callee.wait(t, time.Minute)
	elapsed := time.Since(start)
	samples := mon.stop()
	st := caller.stats(t)
	rep := &loadReport{t: t}
	rep.line("SIPp to SIPp directly: %d calls offered at %d/s, %s of RTP each way per call; load average %s at start, %s at end",
		lp.calls, lp.rate, lp.hold, samples[0].loadavg, samples[len(samples)-1].loadavg)
	rep.sippStats(st, elapsed)
	rep.line("SIPp sent the authenticated INVITEs at %.1f/s", readSIPpLogs(t, dir).rate("CALL_ROUTED"))
	rep.usage(samples, map[string]string{"caller": "SIPp caller", "callee": "SIPp direct callee"})
	rep.udp(samples, 1)
	if callerErr != nil || calleeErr != nil || st.failed > 0 {
		t.Errorf("SIPp: caller %v, callee %v, %d failed calls", callerErr, calleeErr, st.failed)
	}
}

// checkLoadCalls checks that each of the calls SIPp completed has its five
// webhooks, in order, and that no call has fewer or more.
func checkLoadCalls(t *testing.T, hooks []loadHook, completed int) {
	t.Helper()
	calls := map[string][]loadHook{}
	for _, h := range hooks {
		calls[h.call] = append(calls[h.call], h)
	}
	if len(calls) != completed {
		t.Errorf("webhooks of %d calls, SIPp completed %d", len(calls), completed)
	}
	bad := 0
	for id, hs := range calls {
		got := make([]string, len(hs))
		for i, h := range hs {
			got[i] = h.event
			if h.seq != i+1 {
				got[i] += fmt.Sprintf("(sequence %d)", h.seq)
			}
		}
		last := hs[len(hs)-1]
		if !slices.Equal(got, loadEvents) || last.cause != "NORMAL_CLEARING" || last.by != "caller" {
			if bad++; bad <= 5 {
				t.Errorf("call %s: webhooks %v ending %s by %s, want %v ending NORMAL_CLEARING by caller", id, got, last.cause, last.by, loadEvents)
			}
		}
	}
	if bad > 5 {
		t.Errorf("… %d calls in all have wrong webhooks", bad)
	}
}

// loadDir makes SIPp's working directory: the DTMF capture, one second of
// A-law silence to stream, and the callers' extensions and credentials
// (SIPp takes the [authentication …] keyword from an injected field).
func loadDir(t *testing.T, phones int) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Symlink(filepath.Join(sippPcapDir(), "dtmf_2833_1.pcap"), filepath.Join(dir, "dtmf_2833_1.pcap")); err != nil {
		t.Fatal(err)
	}
	// 0xD5 is A-law's zero; 8,000 samples are one second, streamed in
	// 20 ms packets of 160 bytes.
	if err := os.WriteFile(filepath.Join(dir, "load.alaw"), bytes.Repeat([]byte{0xD5}, 8000), 0o600); err != nil {
		t.Fatal(err)
	}
	var csv strings.Builder
	csv.WriteString("SEQUENTIAL\n")
	for i := range phones {
		n := strconv.Itoa(loadFirstPhone + i)
		fmt.Fprintf(&csv, "%s;[authentication username=%s password=%s]\n", n, n, loadPassword(n))
	}
	if err := os.WriteFile(filepath.Join(dir, "callers.csv"), []byte(csv.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// loadServer is the switchhook under load: the real process, or the same
// server run in the test process when a CPU profile is asked for.
type loadServer struct {
	url       string
	pid       int
	inProcess bool
}

func startLoadServer(t *testing.T, cfg string) *loadServer {
	t.Helper()
	profile := os.Getenv("PBX_LOAD_CPUPROFILE")
	if profile == "" {
		s := StartServer(t, cfg)
		return &loadServer{url: s.URL, pid: s.cmd.Process.Pid}
	}
	// The harness's config, written without starting a process.
	s := &Server{t: t, Dir: t.TempDir(), port: freePort(t)}
	s.Config = filepath.Join(s.Dir, "switchhook.yaml")
	s.URL = fmt.Sprintf("http://127.0.0.1:%d", s.port)
	s.writeConfig(cfg)
	f, err := os.Create(profile)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Serve(ctx, app.Options{ConfigPath: s.Config, Stdout: io.Discard}) }()
	waitUntil(t, 20*time.Second, "in-process switchhook healthy", func() bool {
		resp, err := http.Get(s.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusOK
	})
	if err := pprof.StartCPUProfile(f); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pprof.StopCPUProfile()
		f.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("in-process switchhook: %v", err)
		}
	})
	return &loadServer{url: s.URL, pid: os.Getpid(), inProcess: true}
}

// writeHeapProfile writes the live heap, collected first, to file.
func writeHeapProfile(t *testing.T, file string) {
	f, err := os.Create(file)
	if err != nil {
		t.Error(err)
		return
	}
	defer f.Close()
	runtime.GC()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		t.Error(err)
	}
}

func (s *loadServer) rss() int64 { return procRSS(s.pid) }

// heapInuse reads go_memstats_heap_inuse_bytes from /metrics.
func (s *loadServer) heapInuse() int64 {
	resp, err := http.Get(s.url + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_memstats_heap_inuse_bytes "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return int64(f)
		}
	}
	return 0
}

// channels counts the legs GET /v1/channels lists.
func (s *loadServer) channels() int {
	req, _ := http.NewRequest("GET", s.url+"/v1/channels", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var chans []json.RawMessage
	json.NewDecoder(resp.Body).Decode(&chans)
	return len(chans)
}

// loadHook is what the load receiver keeps of one webhook.
type loadHook struct {
	id, event, call, caller string
	seq                     int
	occurred, arrived       time.Time
	cause, by               string
	dest                    string
	queue                   *receiver.Queue // of a queued call
}

// loadReceiver is a webhook receiver for load runs, built on the public
// receiver package: it verifies each signature, parses the event and keeps
// the fields the run checks. (NewReceiver keeps whole requests and scans
// them all for duplicates on each one, which is quadratic over a run.)
type loadReceiver struct {
	url, secret string

	mu     sync.Mutex
	hooks  []loadHook
	seen   map[string]bool
	dups   int
	bad    int
	latest time.Time
}

func newLoadReceiver(t *testing.T) *loadReceiver {
	t.Helper()
	r := &loadReceiver{secret: testSecret, seen: map[string]bool{}}
	r.url = serveHook(t, r)
	return r
}

func (r *loadReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	arrived := time.Now()
	e, err := receiver.ParseRequest(req, r.secret, 0)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.bad++
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	r.latest = arrived
	if r.seen[e.WebhookID] {
		r.dups++
		w.WriteHeader(http.StatusNoContent)
		return
	}
	r.seen[e.WebhookID] = true
	r.hooks = append(r.hooks, loadHook{
		id: e.WebhookID, event: string(e.Kind), call: e.CallUUID, caller: e.CallerIDNumber, seq: int(e.Sequence),
		occurred: e.OccurredAt, arrived: arrived, cause: e.HangupCause, by: e.HangupBy,
		dest: e.DestinationNumber, queue: e.Queue,
	})
	w.WriteHeader(http.StatusNoContent)
}

func (r *loadReceiver) duplicates() int    { r.mu.Lock(); defer r.mu.Unlock(); return r.dups }
func (r *loadReceiver) badSignatures() int { r.mu.Lock(); defer r.mu.Unlock(); return r.bad }
func (r *loadReceiver) last() time.Time    { r.mu.Lock(); defer r.mu.Unlock(); return r.latest }

// waitSettled waits until every call routed so far has its CALL_HANGUP and
// nothing has arrived for a second, and returns the webhooks.
func (r *loadReceiver) waitSettled(t *testing.T, timeout time.Duration) []loadHook {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r.mu.Lock()
		hooks := slices.Clone(r.hooks)
		quiet := time.Since(r.latest) > time.Second
		r.mu.Unlock()
		routed, ended := 0, 0
		for _, h := range hooks {
			switch h.event {
			case "CALL_ROUTED":
				routed++
			case "CALL_HANGUP":
				ended++
			}
		}
		if routed == ended && quiet {
			return hooks
		}
		if time.Now().After(deadline) {
			t.Errorf("after %s: %d calls routed, %d ended", timeout, routed, ended)
			return hooks
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// sippProc is one SIPp process of a load run.
type sippProc struct {
	name, dir string
	cmd       *exec.Cmd
	out       syncBuffer
	done      chan error
}

// startSIPp starts SIPp with scenario from port (0: any free one) in dir;
// remote is the address to call, "" for a server scenario. Its statistics
// go to a CSV file each second (-trace_stat).
func startSIPp(t *testing.T, dir, scenario, remote string, port int, args ...string) *sippProc {
	t.Helper()
	if port == 0 {
		port = freeUDPPort(t)
	}
	sf, err := filepath.Abs(filepath.Join("testdata", "sipp", scenario))
	if err != nil {
		t.Fatal(err)
	}
	all := append(append(sippLocal(port), "-sf", sf, "-nostdin", "-timeout_error", "-trace_err", "-trace_stat", "-fd", "1"), args...)
	if remote != "" {
		all = append(all, remote)
	}
	p := &sippProc{name: strings.TrimSuffix(scenario, ".xml"), dir: dir, done: make(chan error, 1)}
	p.cmd = exec.Command("sipp", all...)
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case err := <-p.done:
			p.done <- err
		default:
			p.cmd.Process.Kill()
		}
	})
	return p
}

// wait waits for SIPp to finish and returns its error, with the tail of
// its error log; it kills SIPp after timeout.
func (p *sippProc) wait(t *testing.T, timeout time.Duration) error {
	t.Helper()
	var err error
	select {
	case err = <-p.done:
		p.done <- err
	case <-time.After(timeout):
		p.cmd.Process.Kill()
		err = fmt.Errorf("did not finish within %s", timeout)
	}
	if err == nil {
		return nil
	}
	logs, _ := filepath.Glob(filepath.Join(p.dir, p.name+"_*_errors.log"))
	var tail []byte
	for _, f := range logs {
		b, _ := os.ReadFile(f)
		tail = append(tail, b[max(0, len(b)-3000):]...)
	}
	out := p.out.String()
	return fmt.Errorf("sipp %s: %w\n%s\n%s", p.name, err, out[max(0, len(out)-3000):], tail)
}

// sippStats is the caller's last line of statistics.
type sippStats struct {
	created, successful, failed, retransmissions, deadCallMsgs int
}

func (p *sippProc) statRows() []map[string]string {
	files, _ := filepath.Glob(filepath.Join(p.dir, p.name+"_*_.csv"))
	if len(files) == 0 {
		return nil
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		return nil
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) < 2 {
		return nil
	}
	head := strings.Split(lines[0], ";")
	rows := make([]map[string]string, 0, len(lines)-1)
	for _, l := range lines[1:] {
		row := map[string]string{}
		for i, v := range strings.Split(l, ";") {
			if i < len(head) {
				row[head[i]] = v
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// currentCalls is how many calls SIPp had up at its last statistics line.
func (p *sippProc) currentCalls() int {
	rows := p.statRows()
	if len(rows) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(rows[len(rows)-1]["CurrentCall"])
	return n
}

func (p *sippProc) stats(t *testing.T) sippStats {
	t.Helper()
	rows := p.statRows()
	if len(rows) == 0 {
		t.Fatalf("sipp %s wrote no statistics", p.name)
	}
	last := rows[len(rows)-1]
	n := func(k string) int { v, _ := strconv.Atoi(last[k]); return v }
	return sippStats{created: n("TotalCallCreated"), successful: n("SuccessfulCall(C)"), failed: n("FailedCall(C)"),
		retransmissions: n("Retransmissions(C)"), deadCallMsgs: n("DeadCallMsgs(C)")}
}

// sample is the state of the machine at one second of a run.
type sample struct {
	at        time.Time
	ticks     map[string]int64 // CPU time in clock ticks, by process
	rss, heap int64            // switchhook's
	udpOut    int64            // UDP datagrams sent on the machine so far
	sippCalls int              // calls up at the SIPp caller
	channels  int              // legs at the PBX (sampled every 3s, else 0)
	loadavg   string
}

type monitorRun struct {
	stopc chan struct{}
	done  chan []sample
}

// monitor samples CPU, memory and calls every second until stop.
func monitor(srv *loadServer, caller, callee *sippProc) *monitorRun {
	m := &monitorRun{stopc: make(chan struct{}), done: make(chan []sample, 1)}
	pids := map[string]int{"caller": caller.cmd.Process.Pid, "callee": callee.cmd.Process.Pid}
	if srv != nil {
		pids["switchhook"] = srv.pid
		if !srv.inProcess {
			pids["test"] = os.Getpid()
		}
	}
	go func() {
		var out []sample
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for i := 0; ; i++ {
			s := sample{at: time.Now(), ticks: map[string]int64{machine: machineTicks()}, udpOut: udpDatagramsOut(), loadavg: loadavg(), sippCalls: caller.currentCalls()}
			for name, pid := range pids {
				s.ticks[name] = procTicks(pid)
			}
			if srv != nil {
				s.rss, s.heap = srv.rss(), srv.heapInuse()
				if i%3 == 0 {
					s.channels = srv.channels()
				}
			}
			out = append(out, s)
			select {
			case <-m.stopc:
				m.done <- out
				return
			case <-tick.C:
			}
		}
	}()
	return m
}

func (m *monitorRun) stop() []sample {
	close(m.stopc)
	return <-m.done
}

// peakSample holds the most calls, channels and memory seen in the run.
func peakSample(samples []sample) sample {
	var p sample
	for _, s := range samples {
		if s.sippCalls > p.sippCalls {
			p.sippCalls = s.sippCalls
		}
		p.channels = max(p.channels, s.channels)
		p.rss = max(p.rss, s.rss)
		p.heap = max(p.heap, s.heap)
	}
	return p
}

// lateSample is the last sample with at least 95% of the peak calls up.
func lateSample(samples []sample) sample {
	peak := peakSample(samples).sippCalls
	var late sample
	for _, s := range samples {
		if s.sippCalls > 0 && s.sippCalls*100 >= peak*95 {
			late = s
		}
	}
	return late
}

// steady returns the samples while at least 80% of the peak calls were up.
func steady(samples []sample) []sample {
	peak := peakSample(samples).sippCalls
	var out []sample
	for _, s := range samples {
		if s.sippCalls > 0 && s.sippCalls*100 >= peak*80 {
			out = append(out, s)
		}
	}
	return out
}

// udpRate is the UDP datagrams sent per second on the machine over the
// steady samples, and the calls up on average then.
func udpRate(samples []sample) (perSecond float64, calls int) {
	st := steady(samples)
	if len(st) < 2 {
		return 0, 0
	}
	a, b := st[0], st[len(st)-1]
	for _, s := range st {
		calls += s.sippCalls
	}
	return float64(b.udpOut-a.udpOut) / b.at.Sub(a.at).Seconds(), calls / len(st)
}

// clockTicks is the kernel's USER_HZ, 100 on Linux.
const clockTicks = 100

func procTicks(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return utime + stime
}

// machine names the busy time of all cores in sample.ticks.
const machine = "machine"

// machineTicks is the time all cores spent busy (not idle or waiting for
// I/O), from /proc/stat.
func machineTicks() int64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var busy int64
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy
}

func procRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// udpDatagramsOut is the Udp OutDatagrams counter of /proc/net/snmp.
func udpDatagramsOut() int64 {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return 0
	}
	var head []string
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 || f[0] != "Udp:" {
			continue
		}
		if head == nil {
			head = f
			continue
		}
		for i, name := range head {
			if name == "OutDatagrams" && i < len(f) {
				n, _ := strconv.ParseInt(f[i], 10, 64)
				return n
			}
		}
	}
	return 0
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// sippTimes are the wall-clock times SIPp logged sending the messages that
// cause webhooks: by event, by calling number, in order.
type sippTimes map[string]map[string][]time.Time

// readSIPpLogs reads the -trace_logs files of the caller and the callee:
// lines "EVENT NUMBER SECONDS MICROSECONDS".
func readSIPpLogs(t *testing.T, dir string) sippTimes {
	t.Helper()
	out := sippTimes{}
	files, _ := filepath.Glob(filepath.Join(dir, "load_*_logs.log"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			fs := strings.Fields(l)
			if len(fs) != 4 {
				continue
			}
			sec, err1 := strconv.ParseFloat(fs[2], 64)
			usec, err2 := strconv.ParseFloat(fs[3], 64)
			if err1 != nil || err2 != nil {
				continue
			}
			if out[fs[0]] == nil {
				out[fs[0]] = map[string][]time.Time{}
			}
			out[fs[0]][fs[1]] = append(out[fs[0]][fs[1]], time.Unix(int64(sec), int64(usec)*1000))
		}
	}
	for _, byNumber := range out {
		for _, ts := range byNumber {
			slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
		}
	}
	return out
}

// rate is how many messages of event's kind SIPp sent per second, from
// its first to its last.
func (s sippTimes) rate(event string) float64 {
	var first, last time.Time
	n := 0
	for _, ts := range s[event] {
		for _, t := range ts {
			if first.IsZero() || t.Before(first) {
				first = t
			}
			last = latest(last, t)
			n++
		}
	}
	if n < 2 {
		return 0
	}
	return float64(n-1) / last.Sub(first).Seconds()
}

// last is when SIPp sent its last message of event's kind.
func (s sippTimes) last(event string) time.Time {
	var last time.Time
	for _, ts := range s[event] {
		for _, t := range ts {
			last = latest(last, t)
		}
	}
	return last
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// loadReport logs a run's results.
type loadReport struct{ t *testing.T }

func (r *loadReport) line(format string, args ...any) {
	r.t.Helper()
	r.t.Logf(format, args...)
}

func (r *loadReport) sippStats(st sippStats, elapsed time.Duration) {
	r.t.Helper()
	r.line("SIPp: %d calls created, %d successful, %d failed, %d retransmissions, %d messages for dead calls; all done in %s",
		st.created, st.successful, st.failed, st.retransmissions, st.deadCallMsgs, elapsed.Round(time.Second))
}

// usage logs each process's CPU over the whole run and over the steady
// part (80% of the peak calls up), in percent of one core.
func (r *loadReport) usage(samples []sample, names map[string]string) {
	r.t.Helper()
	pct := func(ss []sample, proc string) float64 {
		if len(ss) < 2 {
			return 0
		}
		a, b := ss[0], ss[len(ss)-1]
		return float64(b.ticks[proc]-a.ticks[proc]) / clockTicks / b.at.Sub(a.at).Seconds() * 100
	}
	st := steady(samples)
	procs := make([]string, 0, len(names))
	for p := range names {
		procs = append(procs, p)
	}
	slices.Sort(procs)
	list := func(ss []sample) []string {
		var out []string
		others := pct(ss, machine)
		for _, p := range procs {
			out = append(out, fmt.Sprintf("%s %.0f%%", names[p], pct(ss, p)))
			others -= pct(ss, p)
		}
		return append(out, fmt.Sprintf("everything else on the machine %.0f%%", max(0, others)))
	}
	whole, plateau := list(samples), list(st)
	r.line("CPU (%% of one core; the machine has %d cores) over the run: %s", 2, strings.Join(whole, ", "))
	if len(st) >= 2 {
		r.line("CPU over the steady %s (≥80%% of peak calls up): %s", st[len(st)-1].at.Sub(st[0].at).Round(time.Second), strings.Join(plateau, ", "))
	}
}

// udp logs the UDP datagrams sent on the machine in the steady part beside
// what the calls' RTP makes: 50 packets a second each way, each sent twice
// through the PBX (caller → PBX → callee and back), once without it.
func (r *loadReport) udp(samples []sample, hops int) {
	r.t.Helper()
	if pps, calls := udpRate(samples); pps > 0 {
		r.line("UDP datagrams sent on the machine in the steady part: %.0f/s for %d calls up on average (their RTP alone: %d/s)", pps, calls, calls*2*50*hops)
	}
}

// latency logs percentiles of the time from the SIP message to the webhook
// request's arrival: from SIPp's log of the send (what the PBX saw, queueing
// included) and from the event's occurred_at (the PBX's own stamp).
func (r *loadReport) latency(hooks []loadHook, sent sippTimes) {
	r.t.Helper()
	// The n-th call of a caller, by CALL_ROUTED, is SIPp's n-th with it.
	nth := map[string]int{}
	calls := map[string][]loadHook{}
	var order []string
	for _, h := range hooks {
		if _, ok := calls[h.call]; !ok {
			order = append(order, h.call)
		}
		calls[h.call] = append(calls[h.call], h)
	}
	slices.SortFunc(order, func(a, b string) int { return calls[a][0].occurred.Compare(calls[b][0].occurred) })
	fromSIP := map[string][]time.Duration{}
	fromStamp := map[string][]time.Duration{}
	stampLag := map[string][]time.Duration{}
	for _, id := range order {
		hs := calls[id]
		caller := hs[0].caller
		n := nth[caller]
		nth[caller]++
		for _, h := range hs {
			fromStamp[h.event] = append(fromStamp[h.event], h.arrived.Sub(h.occurred))
			ts := sent[h.event][caller]
			if n >= len(ts) {
				continue
			}
			fromSIP[h.event] = append(fromSIP[h.event], h.arrived.Sub(ts[n]))
			stampLag[h.event] = append(stampLag[h.event], h.occurred.Sub(ts[n]))
		}
	}
	all := func(m map[string][]time.Duration) []time.Duration {
		var out []time.Duration
		for _, d := range m {
			out = append(out, d...)
		}
		return out
	}
	r.line("SIP message sent by SIPp → webhook request received: %s", percentiles(all(fromSIP)))
	for _, e := range loadEvents {
		if len(fromSIP[e]) > 0 {
			r.line("  %s: %s", e, percentiles(fromSIP[e]))
		}
	}
	r.line("occurred_at (ms) → webhook request received: %s", percentiles(all(fromStamp)))
	r.line("  of which CALL_INPUT (stamped as the digit's last RTP packet arrives): %s", percentiles(fromStamp["CALL_INPUT"]))
	r.line("SIP message sent by SIPp → occurred_at (time inside the PBX before the event; ±1 ms): %s", percentiles(all(stampLag)))
}

func percentiles(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	slices.Sort(ds)
	p := func(q float64) time.Duration { return ds[int(q*float64(len(ds)-1))].Round(100 * time.Microsecond) }
	return fmt.Sprintf("n=%d p50 %v p90 %v p99 %v max %v", len(ds), p(0.50), p(0.90), p(0.99), ds[len(ds)-1].Round(100*time.Microsecond))
}
