package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchhook/switchhook/internal/store/postgres/pgtest"
)

// TestBenchDelivery is the delivery benchmark of docs/benchmarks.md: in one
// go, with one receiver (a process of its own that answers 204 and records
// each arrival), it offers the same load on each path and prints one
// table, so that every figure is a ratio taken in one run:
//
//   - raw: the load client posts straight to the receiver;
//   - test: the client posts POST /v1/endpoints/{id}/test to switchhook,
//     which records the event and delivers it to the receiver;
//   - sim: switchhook's built-in simulator makes calls (7 events each);
//   - relay and pump: the floors of test and sim, a bare relay process in
//     switchhook's place (see benchRelayEnv).
//
// Latency is the arrival at the receiver minus the client's send (for the
// simulator and the pump, minus the event's occurred_at). CPU is each
// process's user + system time over the run, per delivered event. It is
// skipped unless SWITCHHOOK_BENCH is set:
//
//	SWITCHHOOK_BENCH=1 go test -run TestBenchDelivery -v -timeout 60m ./e2e
//
// BENCH_RATES (events/s, default 100,1000,2000,5000) each run for
// BENCH_SECONDS (default 30); BENCH_BURST events (default 50,000; 0: none)
// are then offered as fast as the client goes. BENCH_PATHS picks paths
// (default raw,relay,pump,test,sim). BENCH_BACKLOG events (default 42,000;
// 0: none) are simulated while the receiver holds every request, until all
// are recorded, and then delivered as a backlog. BENCH_STORE=postgres with
// BENCH_NODES=1 or 2 runs switchhook on a fresh PostgreSQL database;
// BENCH_STEP is the simulator's pause between a call's events (default 1s);
// BENCH_CPUPROFILE=DIR writes a CPU profile of each switchhook process there.
func TestBenchDelivery(t *testing.T) {
	if os.Getenv("SWITCHHOOK_BENCH") == "" {
		t.Skip("benchmark: set SWITCHHOOK_BENCH=1")
	}
	b := &bench{
		seconds: envInt("BENCH_SECONDS", 30),
		nodes:   envInt("BENCH_NODES", 1),
		store:   envStr("BENCH_STORE", "sqlite"),
		step:    envStr("BENCH_STEP", "1s"),
		profile: os.Getenv("BENCH_CPUPROFILE"),
	}
	if b.store == "sqlite" {
		b.nodes = 1
	}
	b.rcv = startBenchReceiver(t)
	b.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024, IdleConnTimeout: time.Minute}}
	paths := strings.Split(envStr("BENCH_PATHS", "raw,relay,pump,test,sim"), ",")
	var rates []int
	for _, f := range strings.Split(envStr("BENCH_RATES", "100,1000,2000,5000"), ",") {
		if r, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && r > 0 {
			rates = append(rates, r)
		}
	}
	burst := 50000
	if v, err := strconv.Atoi(os.Getenv("BENCH_BURST")); err == nil {
		burst = v
	}
	t.Logf("switchhook on %s, %d node(s); load average %s", b.store, b.nodes, loadAverage())
	var rows []benchRow
	for _, rate := range rates {
		for _, p := range paths {
			t.Run(fmt.Sprintf("%s-%d", p, rate), func(t *testing.T) {
				rows = append(rows, b.run(t, p, rate, rate*b.seconds))
			})
		}
	}
	if burst > 0 {
		for _, p := range paths {
			t.Run(fmt.Sprintf("%s-burst", p), func(t *testing.T) {
				rows = append(rows, b.run(t, p, 0, burst))
			})
		}
	}
	backlog := 42000
	if v, err := strconv.Atoi(os.Getenv("BENCH_BACKLOG")); err == nil {
		backlog = v
	}
	if backlog >= 7 {
		t.Run("backlog", func(t *testing.T) {
			rows = append(rows, b.run(t, "backlog", 0, backlog))
		})
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nswitchhook on %s, %d node(s), extended payload, max_in_flight 64, simulator step %s\n", b.store, b.nodes, b.step)
	sb.WriteString("| path | offered | delivered | in order, once | delivered/s while offering | delivered/s | p50 | p90 | p99 | max | CPU ms/event: switchhook (relay, pump: the relay) | PostgreSQL | receiver | client | switchhook peak RSS | load average | other work |\n")
	sb.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		sb.WriteString(r.String() + "\n")
	}
	t.Log(sb.String())
}

type bench struct {
	seconds int
	nodes   int
	store   string
	step    string
	profile string
	rcv     *benchReceiver
	client  *http.Client
}

// benchRow is one line of the table.
type benchRow struct {
	path, offered         string
	sent, delivered, dups int
	disorder              int
	whileRate, rate       float64
	p50, p90, p99, max    time.Duration
	cpuServer, cpuDB      float64 // ms per delivered event
	cpuRcv, cpuClient     float64
	rss                   int // peak KiB of the biggest switchhook process
	load                  string
	other                 float64 // % of one core used by other processes
}

func (r benchRow) String() string {
	order := "yes"
	if r.disorder > 0 || r.dups > 0 || r.delivered < r.sent {
		order = fmt.Sprintf("NO: %d out of order, %d twice, %d missing", r.disorder, r.dups, r.sent-r.delivered)
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/1e6) }
	dash := func(path string, v float64) string {
		if path == "raw" {
			return "—"
		}
		return fmt.Sprintf("%.3f", v)
	}
	db := "—"
	if r.cpuDB > 0 {
		db = fmt.Sprintf("%.3f", r.cpuDB)
	}
	rss := "—"
	if r.rss > 0 {
		rss = fmt.Sprintf("%d MiB", r.rss/1024)
	}
	return fmt.Sprintf("| %s | %s | %d of %d | %s | %.0f | %.0f | %s | %s | %s | %s | %s | %s | %.3f | %.3f | %s | %s | %.0f%% |",
		r.path, r.offered, r.delivered, r.sent, order, r.whileRate, r.rate, ms(r.p50), ms(r.p90), ms(r.p99), ms(r.max),
		dash(r.path, r.cpuServer), db, r.cpuRcv, r.cpuClient, rss, r.load, r.other)
}

// run offers n events on path at rate events/s (0: as fast as the client
// goes) and measures what arrives.
func (b *bench) run(t *testing.T, path string, rate, n int) benchRow {
	b.rcv.take(t) // a clean slate
	row := benchRow{path: path, offered: fmt.Sprintf("%d/s for %d s", rate, b.seconds)}
	switch {
	case path == "backlog":
		row.offered = fmt.Sprintf("%d simulated, held until recorded", n/7*7)
		b.rcv.hold(t, true)
		t.Cleanup(func() { b.rcv.hold(t, false) })
	case rate == 0:
		row.offered = fmt.Sprintf("burst of %d", n)
	}
	var servers []*Server
	var dbPIDs func() []int
	var relay benchProcess
	switch path {
	case "raw":
	case "relay", "pump":
		relay = startBenchProcess(t, benchRelayEnv+"="+b.rcv.url+"/hook")
	default:
		servers, dbPIDs = b.start(t, path, rate, n)
	}
	if path == "backlog" {
		// The receiver holds the first requests (under the endpoint's
		// timeout of 1m) until every event is recorded; from then on the
		// run measures delivery alone.
		for began := time.Now(); ; time.Sleep(200 * time.Millisecond) {
			recorded := 0
			for _, s := range servers {
				recorded += eventsRecorded(t, s)
			}
			if recorded >= n/7/b.nodes*7*b.nodes {
				break
			}
			if time.Since(began) > 50*time.Second {
				t.Fatalf("%d of %d events recorded in 50s: too slow to hold the receiver meanwhile; lower BENCH_BACKLOG", recorded, n)
			}
		}
	}
	var serverPIDs []int
	for _, s := range servers {
		serverPIDs = append(serverPIDs, s.cmd.Process.Pid)
	}
	if relay.pid != 0 {
		serverPIDs = append(serverPIDs, relay.pid)
	}
	self := os.Getpid()
	load := loadAverage()
	busy0 := machineTicks()
	cpu0 := cpuTimes(append([]int{self, b.rcv.pid}, serverPIDs...))
	var db0 map[int]float64
	if dbPIDs != nil {
		db0 = cpuTimes(dbPIDs())
	}

	start := time.Now()
	var sent map[string]time.Time
	var offerEnd time.Time
	switch path {
	case "raw":
		sent = b.offer(t, n, rate, func(i int) (string, error) {
			id := fmt.Sprintf("msg_%d", i)
			return id, b.post(b.rcv.url+"/hook", id, rawBody(id, i))
		})
		offerEnd = time.Now()
	case "test":
		epID := endpointID(t, servers[0])
		sent = b.offer(t, n, rate, func(i int) (string, error) {
			s := servers[i%len(servers)]
			return b.testEvent(s, epID)
		})
		offerEnd = time.Now()
	case "relay":
		sent = b.offer(t, n, rate, func(i int) (string, error) {
			id := fmt.Sprintf("msg_%d", i)
			return id, b.post(relay.url+"/relay", id, rawBody(id, i))
		})
		offerEnd = time.Now()
	case "backlog":
		b.rcv.hold(t, false)
		offerEnd = start
	case "pump", "sim":
		if path == "pump" {
			pumpRate := rate
			if rate == 0 {
				pumpRate = 1000000
			}
			if err := b.post(fmt.Sprintf("%s/pump?n=%d&rate=%d", relay.url, n, pumpRate), "", nil); err != nil {
				t.Fatal(err)
			}
		}
		// The simulator runs from start-up, the pump from now; each is
		// done when all its events were offered, which the receiver's
		// count tells.
		offerEnd = start.Add(time.Duration(float64(n) / float64(max(rate, 1)) * float64(time.Second)))
		if rate == 0 {
			offerEnd = start
		}
	}
	row.sent = len(sent)
	if path == "sim" || path == "backlog" {
		row.sent = n / 7 / b.nodes * 7 * b.nodes // whole calls
	}
	if path == "pump" {
		row.sent = n
	}
	b.rcv.waitCount(t, row.sent, 30*time.Second)
	end := time.Now()
	cpu1 := cpuTimes(append([]int{self, b.rcv.pid}, serverPIDs...))
	busy1 := machineTicks()
	if dbPIDs != nil {
		row.cpuDB = cpuSince(db0, dbPIDs())
	}
	for _, pid := range serverPIDs {
		row.rss = max(row.rss, peakRSS(pid))
	}
	got := b.rcv.take(t)
	row.load = load + " → " + loadAverage()

	// Once, in order, per call.
	seen := map[string]bool{}
	lastSeq := map[string]int64{}
	var lat []time.Duration
	var first, last int64
	for _, a := range got {
		if seen[a.ID] {
			row.dups++
			continue
		}
		seen[a.ID] = true
		row.delivered++
		if a.Seq != lastSeq[a.Call]+1 {
			row.disorder++
		}
		lastSeq[a.Call] = a.Seq
		from := a.Occurred
		switch path {
		case "backlog":
			from = start.UnixNano() // the time to drain up to this one
		case "sim", "pump":
		default:
			s, ok := sent[a.ID]
			if !ok {
				continue
			}
			from = s.UnixNano()
		}
		lat = append(lat, time.Duration(a.At-from))
		if first == 0 || from < first {
			first = from
		}
		last = max(last, a.At)
	}
	if len(lat) == 0 {
		t.Errorf("%s: nothing arrived", path)
		return row
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))] }
	row.p50, row.p90, row.p99, row.max = pct(0.50), pct(0.90), pct(0.99), lat[len(lat)-1]
	row.rate = float64(row.delivered) / time.Duration(last-first).Seconds()
	if rate > 0 {
		whileN := 0
		for _, a := range got {
			if a.At <= offerEnd.UnixNano() {
				whileN++
			}
		}
		row.whileRate = float64(whileN) / offerEnd.Sub(time.Unix(0, first)).Seconds()
	} else {
		row.whileRate = row.rate
	}
	per := func(s float64) float64 { return 1000 * s / float64(max(row.delivered, 1)) }
	row.cpuServer = per(sum(cpu1, cpu0, serverPIDs...))
	row.cpuDB = per(row.cpuDB)
	row.cpuRcv = per(cpu1[b.rcv.pid] - cpu0[b.rcv.pid])
	row.cpuClient = per(cpu1[self] - cpu0[self])
	ours := sum(cpu1, cpu0, append([]int{self, b.rcv.pid}, serverPIDs...)...) + row.cpuDB*float64(row.delivered)/1000
	row.other = max(0, 100*(float64(busy1-busy0)/100-ours)/end.Sub(start).Seconds())
	if row.disorder > 0 || row.dups > 0 || row.delivered < row.sent {
		t.Errorf("%s: %d of %d delivered, %d out of order, %d twice", path, row.delivered, row.sent, row.disorder, row.dups)
	}
	t.Log(row.String())
	return row
}

func sum(after, before map[int]float64, pids ...int) float64 {
	s := 0.0
	for _, p := range pids {
		s += after[p] - before[p]
	}
	return s
}

// start runs the switchhook processes of one run, on a fresh store, with
// one endpoint pointing at the receiver; for path sim each node's simulator
// makes its share of n events at its share of rate. dbPIDs lists the
// PostgreSQL backends, or is nil on SQLite.
func (b *bench) start(t *testing.T, path string, rate, n int) (servers []*Server, dbPIDs func() []int) {
	hook := fmt.Sprintf("webhooks:\n  - url: %q\n    payload: extended\n    secret: %q\n    max_in_flight: 64\n    timeout: 1m\nlog: {level: warn}\n", b.rcv.url+"/hook", testSecret)
	var dsn string
	if b.store == "postgres" {
		dsn = pgtest.DSN(t)
	}
	for i := 1; i <= b.nodes; i++ {
		cfg := hook
		if dsn != "" {
			u, err := url.Parse(dsn)
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			q.Set("application_name", fmt.Sprintf("node-%d", i))
			u.RawQuery = q.Encode()
			cfg += fmt.Sprintf("store: {dsn: %q}\nnode: node-%d\n", u, i)
		}
		if path == "sim" || path == "backlog" {
			calls := n / 7 / b.nodes
			callRate := float64(rate) / 7 / float64(b.nodes)
			step := b.step
			if rate == 0 {
				callRate, step = 1e6, "0s"
			}
			cfg += fmt.Sprintf("simulator: {calls: %d, rate: %g, step: %s, caller: \"300%d\"}\n", calls, callRate, step, i)
		}
		var args []string
		if b.profile != "" {
			args = []string{"--cpuprofile", filepath.Join(b.profile, fmt.Sprintf("%s-node%d.pprof", strings.ReplaceAll(t.Name(), "/", "-"), i))}
		}
		servers = append(servers, StartServer(t, cfg, args...))
	}
	if dsn == "" {
		return servers, nil
	}
	db, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(context.Background()) })
	return servers, backendPIDs(t, db)
}

// offer calls send n times: at rate a second on a fixed schedule (open
// loop, up to 2,048 requests in flight), or, with rate 0, from 256 workers
// as fast as they go. It returns when each send was made, by the id send
// returned.
func (b *bench) offer(t *testing.T, n, rate int, send func(i int) (string, error)) map[string]time.Time {
	var (
		mu       sync.Mutex
		sent     = make(map[string]time.Time, n)
		failed   atomic.Int64
		firstErr atomic.Value
		wg       sync.WaitGroup
	)
	one := func(i int) {
		at := time.Now()
		id, err := send(i)
		if err != nil {
			if failed.Add(1) == 1 {
				firstErr.Store(err)
			}
			return
		}
		mu.Lock()
		sent[id] = at
		mu.Unlock()
	}
	if rate == 0 {
		var next atomic.Int64
		for range 256 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
					one(i)
				}
			}()
		}
	} else {
		sem := make(chan struct{}, 2048)
		start := time.Now()
		interval := time.Second / time.Duration(rate)
		for i := range n {
			if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
				time.Sleep(wait)
			}
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				one(i)
			}()
		}
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Errorf("%d sends failed; the first: %v", n, firstErr.Load())
	}
	return sent
}

func (b *bench) post(u, id string, body []byte) error { return benchPost(b.client, u, id, body) }

// benchPost posts body to u with c, as a webhook with the given id.
func benchPost(c *http.Client, u, id string, body []byte) error {
	req, err := http.NewRequest("POST", u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", id)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: status %d", u, resp.StatusCode)
	}
	return nil
}

// testEvent posts a test event and returns its id once switchhook answered.
func (b *bench) testEvent(s *Server, epID string) (string, error) {
	req, err := http.NewRequest("POST", s.URL+"/v1/endpoints/"+epID+"/test", strings.NewReader(`{"event": "CALL_ANSWER"}`))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		return "", fmt.Errorf("test event: status %d: %s", resp.StatusCode, body)
	}
	var res struct {
		EventID string `json:"event_id"`
	}
	if err := json.Unmarshal(body, &res); err != nil {
		return "", fmt.Errorf("test event: %s: %w", body, err)
	}
	return res.EventID, nil
}

// rawBody is a payload of the size and shape of an extended CALL_ANSWER.
func rawBody(id string, i int) []byte {
	return fmt.Appendf(nil, `{"event":"CALL_ANSWER","event_id":%q,"call_uuid":"raw-%d","session_uuid":"raw-%d","sequence":1,`+
		`"occurred_at":%q,"timestamp":%q,"caller_id_number":"1001","destination_number":"1002","direction":"internal",`+
		`"leg_uuid":"6f1c2b7e-3d4a-4e5f-9a8b-7c6d5e4f3a2b","source":"test","answered_by":"1002"}`,
		id, i, i, time.Now().UTC().Format(time.RFC3339Nano), time.Now().UTC().Format(time.RFC3339Nano))
}

func endpointID(t *testing.T, s *Server) string {
	var eps []struct {
		ID string `json:"id"`
	}
	s.API("GET", "/v1/endpoints", nil, http.StatusOK, &eps)
	if len(eps) != 1 {
		t.Fatalf("%d endpoints, want 1", len(eps))
	}
	return eps[0].ID
}

// peakRSS is the process's peak resident set (VmHWM), in KiB.
func peakRSS(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}

// benchReceiverEnv, when set to a listen address, makes the test binary
// the benchmark's receiver process instead of running tests.
const benchReceiverEnv = "SWITCHHOOK_BENCH_RECEIVER"

// benchArrival is one request the receiver got.
type benchArrival struct {
	ID       string `json:"id"`
	Call     string `json:"call"`
	Seq      int64  `json:"seq"`
	Occurred int64  `json:"occurred"` // the payload's occurred_at, Unix ns
	At       int64  `json:"at"`       // arrival, Unix ns
}

// benchReceiverMain serves as the receiver: POST /hook answers 204 and
// records the arrival (after POST /hold, only once POST /release came);
// GET /count says how many; GET /take hands them over and forgets them. It prints its URL, and exits when its standard input
// closes (the test ended) or after two hours.
func benchReceiverMain(addr string) int {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var (
		mu   sync.Mutex
		got  []benchArrival
		gate chan struct{} // non-nil: requests wait until it is closed
	)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /hook", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		g := gate
		mu.Unlock()
		if g != nil {
			select {
			case <-g:
			case <-time.After(2 * time.Minute):
			}
		}
		at := time.Now().UnixNano()
		var p struct {
			CallUUID   string    `json:"call_uuid"`
			Sequence   int64     `json:"sequence"`
			OccurredAt time.Time `json:"occurred_at"`
		}
		body, _ := io.ReadAll(r.Body)
		json.Unmarshal(body, &p)
		a := benchArrival{ID: r.Header.Get("webhook-id"), Call: p.CallUUID, Seq: p.Sequence, Occurred: p.OccurredAt.UnixNano(), At: at}
		mu.Lock()
		got = append(got, a)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /hold", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if gate == nil {
			gate = make(chan struct{})
		}
	})
	mux.HandleFunc("POST /release", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if gate != nil {
			close(gate)
			gate = nil
		}
	})
	mux.HandleFunc("GET /count", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		fmt.Fprint(w, n)
	})
	mux.HandleFunc("GET /take", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		out := got
		got = nil
		mu.Unlock()
		json.NewEncoder(w).Encode(out)
	})
	exitWithTest()
	fmt.Printf("http://%s\n", l.Addr())
	http.Serve(l, mux)
	return 0
}

// benchProcess is a helper process of the benchmark: the test binary run
// with env set, which prints its URL and exits when its standard input
// closes.
type benchProcess struct {
	url string
	pid int
}

func startBenchProcess(t *testing.T, env string) benchProcess {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), env)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("%s: %v", env, err)
	}
	return benchProcess{url: strings.TrimSpace(line), pid: cmd.Process.Pid}
}

type benchReceiver struct{ benchProcess }

func startBenchReceiver(t *testing.T) *benchReceiver {
	return &benchReceiver{startBenchProcess(t, benchReceiverEnv+"=127.0.0.1:0")}
}

// hold makes the receiver hold requests until it is told to let go.
func (r *benchReceiver) hold(t *testing.T, hold bool) {
	path := "/release"
	if hold {
		path = "/hold"
	}
	resp, err := http.Post(r.url+path, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

func (r *benchReceiver) count(t *testing.T) int {
	resp, err := http.Get(r.url + "/count")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	n, _ := strconv.Atoi(string(b))
	return n
}

// waitCount waits until n requests arrived, or until none arrived for
// quiet.
func (r *benchReceiver) waitCount(t *testing.T, n int, quiet time.Duration) {
	last, lastAt := -1, time.Now()
	for {
		c := r.count(t)
		if c >= n {
			return
		}
		if c != last {
			last, lastAt = c, time.Now()
		} else if time.Since(lastAt) > quiet {
			t.Errorf("%d of %d arrived; none for %v", c, n, quiet)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *benchReceiver) take(t *testing.T) []benchArrival {
	resp, err := http.Get(r.url + "/take")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []benchArrival
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}
