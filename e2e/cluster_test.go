package e2e

import (
	"context"
	"fmt"
	"net/url"
	"slices"
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
		return count("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'node-2'") == 0
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
