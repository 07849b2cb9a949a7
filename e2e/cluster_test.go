package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchhook/switchhook/internal/store/postgres/pgtest"
)

// clusterNode is the config of one node of a cluster test: the shared
// store, connected under the node's name (its application_name), its own
// name and, when calls > 0, a simulator making calls from its own caller
// number.
func clusterNode(t *testing.T, dsn, webhooks string, n, calls, rate int) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", fmt.Sprintf("node-%d", n))
	u.RawQuery = q.Encode()
	cfg := fmt.Sprintf("%sstore: {dsn: %q}\nnode: node-%d\n", webhooks, u, n)
	if calls > 0 {
		cfg += fmt.Sprintf("simulator: {calls: %d, rate: %d, step: 50ms, caller: \"200%d\"}\n", calls, rate, n)
	}
	return cfg
}

// TestClusterNodeKilledLosesNothing runs three switchhook processes on one
// PostgreSQL database, each recording its own simulated calls, all
// delivering to one endpoint (declared alike in each config, so one endpoint
// with one MaxInFlight for the cluster). Node 2 is killed with SIGKILL in
// the middle of its burst. The test checks that:
//
//   - nodes 1 and 3 take over node 2's committed work that it had not
//     leased, without waiting for it: before node 2 comes back, the only
//     deliveries left are those node 2 held a lease on and the later events
//     of the same calls;
//   - node 2, restarted under the same name, releases its leases (sending
//     those deliveries again) and ends the calls it had up with
//     SYSTEM_SHUTDOWN: calls belong to the node that recorded them, so only
//     it ends them;
//   - in the end every call arrives complete and in order (CALL_ROUTED …
//     CALL_HANGUP, sequence 1..n), nothing failed, and the only webhooks
//     received twice are deliveries node 2 held a lease on when it died.
func TestClusterNodeKilledLosesNothing(t *testing.T) {
	const (
		calls = 150 // per node
		rate  = 75  // calls/s per node
	)
	dsn := pgtest.DSN(t)
	db, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	count := func(q string, args ...any) int {
		t.Helper()
		var n int
		if err := db.QueryRow(t.Context(), q, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}

	rcv := NewReceiver(t)
	// A slow receiver makes a backlog, so that the kill lands mid-delivery.
	rcv.Respond(func(Webhook, int) int { time.Sleep(2 * time.Millisecond); return 200 })
	hooks := webhookConfig(rcv, "extended", "    max_in_flight: 8\n")
	var nodes []*Server
	for n := 1; n <= 3; n++ {
		nodes = append(nodes, StartServer(t, clusterNode(t, dsn, hooks, n, calls, rate)))
	}

	// Kill node 2 once it has recorded a fifth of its calls: the rest of
	// its burst is still to come, and some of its calls are up.
	waitUntil(t, 30*time.Second, "node 2 to record calls", func() bool {
		return count("SELECT count(*) FROM calls WHERE node = 'node-2'") >= calls/5
	})
	nodes[1].Kill()
	killedAt := time.Now()
	// A statement node 2 sent before it died still commits: wait for its
	// connections to end before reading what it left.
	waitUntil(t, 30*time.Second, "node 2's connections to end", func() bool {
		return count("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'node-2'") == 0
	})
	leased := map[string]bool{} // event IDs of node 2's leases at its death
	rows, err := db.Query(t.Context(), `SELECT e.id FROM deliveries d JOIN events e ON e.seq = d.event_seq
		WHERE d.lease_owner = 'node-2' AND d.status = 'pending'`)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		leased[id] = true
	}
	recorded := count("SELECT count(*) FROM calls WHERE node = 'node-2'")
	t.Logf("node 2 killed with %d calls recorded and %d leases", recorded, len(leased))

	// Nodes 1 and 3 deliver everything that is not held by node 2's leases.
	waitUntil(t, 90*time.Second, "nodes 1 and 3 to deliver all but node 2's leased chains", func() bool {
		return count(`SELECT count(*) FROM deliveries d WHERE d.status = 'pending' AND NOT EXISTS (
			SELECT 1 FROM deliveries h WHERE h.endpoint_id = d.endpoint_id AND h.call_uuid = d.call_uuid
				AND h.status = 'pending' AND h.lease_owner = 'node-2' AND h.id <= d.id)`) == 0
	})
	takenOver := 0
	for _, h := range rcv.Accepted() {
		// A request node 2 sent before it died may arrive after: those
		// are of its leases.
		if h.Arrived.After(killedAt) && h.Body["caller_id_number"] == "2002" && !leased[h.ID] {
			takenOver++
		}
	}
	if takenOver == 0 {
		t.Errorf("no event of node 2's calls was delivered after its death: its work was not taken over")
	}

	// Node 2 comes back under its name, without new calls.
	rewriteConfig(t, nodes[1], clusterNode(t, dsn, hooks, 2, 0, 0))
	nodes[1].Restart()
	var pending, failed []map[string]any
	waitUntil(t, 90*time.Second, "no pending deliveries", func() bool {
		nodes[0].API("GET", "/v1/deliveries?status=pending&limit=10", nil, 200, &pending)
		return len(pending) == 0
	})
	nodes[2].API("GET", "/v1/deliveries?status=failed&limit=10", nil, 200, &failed)
	if len(failed) != 0 {
		t.Errorf("%d deliveries failed: %v", len(failed), failed)
	}

	all := rcv.Accepted()
	got := checkCalls(t, all)
	perCaller := map[string]int{}
	shutdown := 0
	for _, hs := range got {
		perCaller[fmt.Sprint(hs[0].Body["caller_id_number"])]++
		if hs[len(hs)-1].Body["hangup_cause"] == "SYSTEM_SHUTDOWN" {
			shutdown++
			if c := hs[0].Body["caller_id_number"]; c != "2002" {
				t.Errorf("call %s of caller %v ended by SYSTEM_SHUTDOWN: only node 2 died", hs[0].CallUUID(), c)
			}
		}
	}
	if perCaller["2001"] != calls || perCaller["2003"] != calls {
		t.Errorf("calls per caller %v: want all %d of nodes 1 and 3", perCaller, calls)
	}
	if n := perCaller["2002"]; n != recorded || n >= calls {
		t.Errorf("%d calls of node 2 delivered; it had recorded %d before its death and was to make %d", n, recorded, calls)
	}
	if shutdown == 0 {
		t.Errorf("no call of node 2 was up at its death: the test did not test recovery")
	}
	seen := map[string]int{}
	for _, h := range all {
		seen[h.ID]++
	}
	var dups []string
	for id, n := range seen {
		if n > 1 {
			dups = append(dups, id)
			if !leased[id] {
				t.Errorf("webhook %s received %d times, but node 2 held no lease on it", id, n)
			}
		}
	}
	slices.Sort(dups)
	t.Logf("%d webhooks (%d distinct), %d calls %v, %d ended by SYSTEM_SHUTDOWN; %d of node 2's events delivered by others; sent twice: %v",
		len(all), len(seen), len(got), perCaller, shutdown, takenOver, dups)
	if rcv.BadSignatures() != 0 {
		t.Errorf("%d requests failed signature verification", rcv.BadSignatures())
	}
}

// TestLoadCluster is the load run of docs/benchmarks.md's PostgreSQL
// section. It is skipped unless SWITCHHOOK_LOAD is set, e.g.
//
//	SWITCHHOOK_LOAD=1 LOAD_NODES=2 go test -run TestLoadCluster -v -timeout 10m ./e2e
//
// It measures how fast a cluster drains a backlog: LOAD_NODES (default 3)
// real processes on one fresh PostgreSQL database (or one on SQLite, with
// LOAD_STORE=sqlite) each simulate their share of LOAD_CALLS calls (default
// 6,000, 7 events each, at LOAD_RATE calls/s in all) while the one receiver
// holds its first requests; once every event is recorded, the receiver lets
// go and the test reports deliveries per second from then to the last
// arrival, and the CPU time the nodes and their PostgreSQL backends used for
// it. Starting the processes one after the other takes longer than the
// burst, so measuring from the first event would measure the start-up.
func TestLoadCluster(t *testing.T) {
	if os.Getenv("SWITCHHOOK_LOAD") == "" {
		t.Skip("load run: set SWITCHHOOK_LOAD=1")
	}
	n := envInt("LOAD_NODES", 3)
	calls := envInt("LOAD_CALLS", 6000)
	rate := envInt("LOAD_RATE", 2000)
	sqlite := envStr("LOAD_STORE", "postgres") == "sqlite"
	var dsn string
	if sqlite {
		n = 1
	} else {
		dsn = pgtest.DSN(t)
	}
	rcv := newBacklogReceiver(t)
	hooks := fmt.Sprintf("webhooks:\n  - url: %q\n    payload: extended\n    secret: %q\n    timeout: 1m\n    max_in_flight: 64\n", rcv.url, testSecret)
	load := loadAverage()
	began := time.Now()
	var nodes []*Server
	for i := 1; i <= n; i++ {
		share := calls / n
		if i <= calls%n {
			share++
		}
		cfg := hooks + "log: {level: warn}\n" +
			fmt.Sprintf("simulator: {calls: %d, rate: %d, caller: \"200%d\"}\n", share, max(rate/n, 1), i)
		if !sqlite {
			cfg += fmt.Sprintf("store: {dsn: %q}\nnode: node-%d\n", dsn, i)
		}
		nodes = append(nodes, StartServer(t, cfg))
	}
	want := calls * 7
	// The held requests wait under the endpoint's timeout (1m, the most
	// the config allows): recording must take less.
	for recorded := 0; recorded < want; {
		if time.Since(began) > 50*time.Second {
			t.Fatalf("%d of %d events recorded in %v: too slow for the receiver to hold its requests until all are; lower LOAD_CALLS",
				recorded, want, time.Since(began).Round(time.Second))
		}
		time.Sleep(500 * time.Millisecond)
		recorded = 0
		for _, s := range nodes {
			recorded += eventsRecorded(t, s)
		}
	}
	var nodePIDs []int
	for _, s := range nodes {
		nodePIDs = append(nodePIDs, s.cmd.Process.Pid)
	}
	dbPIDs := func() []int { return nil }
	if !sqlite {
		db, err := pgx.Connect(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close(context.Background())
		dbPIDs = backendPIDs(t, db)
	}
	nodeCPU, dbCPU := cpuTimes(nodePIDs), cpuTimes(dbPIDs())
	start := time.Now()
	close(rcv.gate)
	got := rcv.waitCount(t, want, 10*time.Minute)
	secs := got[len(got)-1].Arrived.Sub(start).Seconds()
	nodeSecs, dbSecs := cpuSince(nodeCPU, nodePIDs), cpuSince(dbCPU, dbPIDs())
	store := fmt.Sprintf("%d nodes on PostgreSQL", n)
	switch {
	case sqlite:
		store = "1 node on SQLite"
	case n == 1:
		store = "1 node on PostgreSQL"
	}
	per := func(s float64) float64 { return 1000 * 1000 * s / float64(len(got)) }
	t.Logf("%s: delivered a backlog of %d events in %.2fs = %.0f deliveries/s (%d sent twice); "+
		"CPU per 1,000 deliveries: switchhook %.0f ms, PostgreSQL backends %.0f ms; load average before %s, after %s",
		store, len(got), secs, float64(len(got))/secs, rcv.duplicates(), per(nodeSecs), per(dbSecs), load, loadAverage())
	checkCalls(t, got)
}

// backendPIDs returns a function that lists the process IDs of the
// PostgreSQL backends connected to db's database, but db's own.
func backendPIDs(t *testing.T, db *pgx.Conn) func() []int {
	return func() []int {
		rows, err := db.Query(t.Context(), "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
		if err != nil {
			t.Fatal(err)
		}
		pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			t.Fatal(err)
		}
		out := make([]int, len(pids))
		for i, p := range pids {
			out[i] = int(p)
		}
		return out
	}
}

// cpuTimes reads the CPU time (user and system) each of pids has used, where
// Linux tells it.
func cpuTimes(pids []int) map[int]float64 {
	out := map[int]float64{}
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// The fields after the command name, which is in parentheses:
		// utime and stime are the 12th and 13th, in clock ticks (100/s).
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseFloat(f[11], 64)
		s, _ := strconv.ParseFloat(f[12], 64)
		out[pid] = (u + s) / 100
	}
	return out
}

// cpuSince is the CPU time pids used since before was read; a process that
// was not there then counts whole.
func cpuSince(before map[int]float64, pids []int) float64 {
	total := 0.0
	for pid, now := range cpuTimes(pids) {
		total += now - before[pid]
	}
	return total
}

// backlogReceiver is a webhook receiver for backlog runs: until gate is
// closed it holds every request; then it answers 200 at once, keeping the
// first of each webhook-id with what checkCalls needs. (The harness's
// Receiver looks for duplicates among all it got on each request, under
// one lock.)
type backlogReceiver struct {
	url  string
	gate chan struct{}

	mu   sync.Mutex
	got  []Webhook
	seen map[string]bool
	dups int
}

func newBacklogReceiver(t *testing.T) *backlogReceiver {
	t.Helper()
	r := &backlogReceiver{gate: make(chan struct{}), seen: map[string]bool{}}
	r.url = serveHook(t, r)
	return r
}

func (r *backlogReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	select {
	case <-r.gate:
	case <-time.After(time.Minute):
	}
	raw, _ := io.ReadAll(req.Body)
	hook := Webhook{ID: req.Header.Get("webhook-id"), Raw: raw, Arrived: time.Now()}
	json.Unmarshal(raw, &hook.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen[hook.ID] {
		r.dups++
		return
	}
	r.seen[hook.ID] = true
	r.got = append(r.got, hook)
}

func (r *backlogReceiver) duplicates() int { r.mu.Lock(); defer r.mu.Unlock(); return r.dups }

// waitCount waits until n distinct webhooks arrived, for at most timeout.
func (r *backlogReceiver) waitCount(t *testing.T, n int, timeout time.Duration) []Webhook {
	t.Helper()
	var got []Webhook
	waitUntil(t, timeout, fmt.Sprintf("%d webhooks", n), func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		got = r.got
		return len(got) >= n
	})
	return got
}

// eventsRecorded is the number of events s has committed, from its
// switchhook_events_total counters.
func eventsRecorded(t *testing.T, s *Server) int {
	t.Helper()
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "switchhook_events_total{") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		total += int(v)
	}
	return total
}

// loadAverage is the machine's 1, 5 and 15 minute load averages, where
// Linux tells them.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}
