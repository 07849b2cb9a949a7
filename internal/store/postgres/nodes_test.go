package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/store"
	"github.com/switchhook/switchhook/internal/store/postgres"
	"github.com/switchhook/switchhook/internal/store/postgres/pgtest"
)

// These tests run several Stores on one database, each standing for a
// switchhook node with its own connections, as a cluster does.

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// nodes opens n migrated stores on one fresh database and returns them with
// the database's DSN.
func nodes(t *testing.T, n int) ([]*postgres.Store, string) {
	t.Helper()
	dsn := pgtest.DSN(t)
	var sts []*postgres.Store
	for range n {
		sts = append(sts, open(t, dsn))
	}
	if err := sts[0].Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return sts, dsn
}

func testEndpoint(id string, maxInFlight int) *store.Endpoint {
	return &store.Endpoint{
		ID: id, URL: "http://127.0.0.1:9/" + id, Profile: events.Standard,
		Secrets:     []store.Secret{{Value: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}},
		Timeout:     5 * time.Second,
		MaxInFlight: maxInFlight,
	}
}

// callEvents returns the events of one call of the given kinds, a second
// apart from t0.
func callEvents(kinds ...events.Kind) []events.Event {
	id := uuid.NewString()
	evs := make([]events.Event, len(kinds))
	for i, k := range kinds {
		evs[i] = events.Event{
			ID: uuid.NewString(), Kind: k, CallUUID: id, SessionUUID: id, CallerIDNumber: "1001", DestinationNumber: "1002",
			OccurredAt: t0.Add(time.Duration(i) * time.Second), Sequence: int64(i + 1), Direction: events.Internal, Source: "pbx",
		}
		if k == events.CallHangup {
			evs[i].Hangup = &events.Hangup{Cause: events.CauseNormalClearing, SIPCode: 200, By: events.Caller}
		}
	}
	return evs
}

var fourKinds = []events.Kind{events.CallRouted, events.CallRinging, events.CallAnswer, events.CallHangup}

func TestMigrateFromSeveralNodesAtOnce(t *testing.T) {
	dsn := pgtest.DSN(t)
	var sts []*postgres.Store
	for range 4 {
		sts = append(sts, open(t, dsn))
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(sts))
	for _, st := range sts {
		wg.Go(func() { errs <- st.Migrate(t.Context()) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Migrate: %v", err)
		}
	}
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var rows, version int
	if err := conn.QueryRow(t.Context(), "SELECT count(*), max(version) FROM schema_version").Scan(&rows, &version); err != nil {
		t.Fatal(err)
	}
	if rows != version {
		t.Errorf("schema_version has %d rows up to version %d: a migration was applied twice", rows, version)
	}
}

func TestMigrateRefusesNewerSchema(t *testing.T) {
	sts, dsn := nodes(t, 1)
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), "INSERT INTO schema_version (version) VALUES (9999)"); err != nil {
		t.Fatal(err)
	}
	err = sts[0].Migrate(t.Context())
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("Migrate of a database from a newer switchhook = %v, want an error saying its schema is newer", err)
	}
}

// TestLimitsHoldAcrossNodes has three nodes claim one endpoint's work at
// once, completing it as they go, while a watcher reads the live leases:
// never more than MaxInFlight, every delivery once, each call in order.
func TestLimitsHoldAcrossNodes(t *testing.T) {
	const (
		maxInFlight = 3
		calls       = 40
	)
	sts, dsn := nodes(t, 3)
	ctx := t.Context()
	if err := sts[0].CreateEndpoint(ctx, testEndpoint("a", maxInFlight)); err != nil {
		t.Fatal(err)
	}
	for i := range calls {
		if _, err := sts[i%3].InsertEvents(ctx, fmt.Sprintf("n%d", i%3), callEvents(fourKinds...)); err != nil {
			t.Fatal(err)
		}
	}
	want := calls * len(fourKinds)

	watcher, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close(context.Background())
	now := t0.Add(time.Hour)

	var (
		mu      sync.Mutex
		claimed = map[int64]string{}
		lastSeq = map[string]int64{}
		done    int
		most    int
		wg      sync.WaitGroup
	)
	finished := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-finished:
				return
			case <-time.After(time.Millisecond):
			}
			var n int
			if err := watcher.QueryRow(ctx, "SELECT count(*) FROM deliveries WHERE lease_owner IS NOT NULL AND lease_until > $1", now).Scan(&n); err != nil {
				if ctx.Err() == nil {
					t.Errorf("count leases: %v", err)
				}
				return
			}
			mu.Lock()
			most = max(most, n)
			mu.Unlock()
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	var claimers sync.WaitGroup
	for i, st := range sts {
		owner := fmt.Sprintf("n%d", i)
		claimers.Go(func() {
			for time.Now().Before(deadline) {
				mu.Lock()
				all := done == want
				mu.Unlock()
				if all {
					return
				}
				jobs, err := st.ClaimDeliveries(ctx, store.ClaimParams{Owner: owner, Now: now, LeaseUntil: now.Add(time.Hour), Limit: 10})
				if err != nil {
					t.Errorf("ClaimDeliveries: %v", err)
					return
				}
				var outs []store.Outcome
				mu.Lock()
				for _, j := range jobs {
					d := j.Delivery
					if prev, dup := claimed[d.ID]; dup {
						t.Errorf("delivery %d claimed by %s and %s", d.ID, prev, owner)
					}
					claimed[d.ID] = owner
					if j.Event.Sequence != lastSeq[d.CallUUID]+1 {
						t.Errorf("call %s: event %d claimed after event %d", d.CallUUID, j.Event.Sequence, lastSeq[d.CallUUID])
					}
					lastSeq[d.CallUUID] = j.Event.Sequence
					outs = append(outs, store.Outcome{Attempt: store.Attempt{DeliveryID: d.ID, At: now, StatusCode: 200}, Status: store.Succeeded})
				}
				mu.Unlock()
				if len(jobs) == 0 {
					time.Sleep(time.Millisecond)
					continue
				}
				time.Sleep(2 * time.Millisecond) // in flight
				if err := st.CompleteAttempts(ctx, owner, outs); err != nil {
					t.Errorf("CompleteAttempts: %v", err)
					return
				}
				mu.Lock()
				done += len(outs)
				mu.Unlock()
			}
		})
	}
	claimers.Wait()
	close(finished)
	wg.Wait()
	if done != want {
		t.Fatalf("%d deliveries completed, want %d", done, want)
	}
	if most > maxInFlight {
		t.Errorf("%d live leases seen at once, MaxInFlight is %d", most, maxInFlight)
	}
	owners := map[string]int{}
	for _, o := range claimed {
		owners[o]++
	}
	t.Logf("deliveries per node: %v; most live leases seen: %d", owners, most)
}

// TestHalfOpenProbeIsOneAcrossNodes has three nodes claim at once for an
// endpoint whose circuit is half-open: one of them gets the probe.
func TestHalfOpenProbeIsOneAcrossNodes(t *testing.T) {
	sts, _ := nodes(t, 3)
	ctx := t.Context()
	ep := testEndpoint("a", 100)
	ep.Circuit = store.Circuit{State: store.CircuitHalfOpen, PausedUntil: t0, ConsecutiveFailures: 5, FailingSince: t0}
	if err := sts[0].CreateEndpoint(ctx, ep); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if _, err := sts[0].InsertEvents(ctx, "n0", callEvents(events.CallRouted)); err != nil {
			t.Fatal(err)
		}
	}
	now := t0.Add(time.Hour)
	for round := range 5 {
		var (
			wg     sync.WaitGroup
			mu     sync.Mutex
			got    []int64
			prober string
		)
		for i, st := range sts {
			wg.Go(func() {
				jobs, err := st.ClaimDeliveries(ctx, store.ClaimParams{Owner: fmt.Sprintf("n%d", i), Now: now, LeaseUntil: now.Add(time.Minute), Limit: 10})
				if err != nil {
					t.Errorf("ClaimDeliveries: %v", err)
				}
				mu.Lock()
				for _, j := range jobs {
					got, prober = append(got, j.Delivery.ID), j.Delivery.LeaseOwner
				}
				mu.Unlock()
			})
		}
		wg.Wait()
		if len(got) != 1 {
			t.Fatalf("round %d: three nodes claimed %v while half-open, want one probe", round, got)
		}
		// The probe fails; the next round probes again.
		out := store.Outcome{Attempt: store.Attempt{DeliveryID: got[0], At: now, StatusCode: 503}, Status: store.Failed, Error: "503"}
		if err := sts[0].CompleteAttempts(ctx, prober, []store.Outcome{out}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDeadNodesWorkIsTakenOver closes a node holding leases, as a crash
// would leave them, and has another node take its deliveries over when the
// leases end; the dead node's late completion changes nothing.
func TestDeadNodesWorkIsTakenOver(t *testing.T) {
	sts, dsn := nodes(t, 2)
	ctx := t.Context()
	if err := sts[0].CreateEndpoint(ctx, testEndpoint("a", 10)); err != nil {
		t.Fatal(err)
	}
	if _, err := sts[0].InsertEvents(ctx, "n0", callEvents(events.CallRouted, events.CallHangup)); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(time.Hour)
	jobs, err := sts[0].ClaimDeliveries(ctx, store.ClaimParams{Owner: "n0", Now: now, LeaseUntil: now.Add(time.Minute), Limit: 10})
	if err != nil || len(jobs) != 1 {
		t.Fatalf("n0's claim: %d jobs, %v; want the call's first event", len(jobs), err)
	}
	sts[0].Close()

	later, err := sts[1].ClaimDeliveries(ctx, store.ClaimParams{Owner: "n1", Now: now.Add(59 * time.Second), LeaseUntil: now.Add(2 * time.Minute), Limit: 10})
	if err != nil || len(later) != 0 {
		t.Fatalf("n1's claim during n0's lease: %d jobs, %v; want none", len(later), err)
	}
	at, ok, err := sts[1].NextDue(ctx)
	if err != nil || !ok || !at.Equal(now.Add(time.Minute)) {
		t.Errorf("NextDue = %v, %v, %v; want the end of n0's lease, %v", at, ok, err, now.Add(time.Minute))
	}
	taken, err := sts[1].ClaimDeliveries(ctx, store.ClaimParams{Owner: "n1", Now: now.Add(time.Minute), LeaseUntil: now.Add(2 * time.Minute), Limit: 10})
	if err != nil || len(taken) != 1 || taken[0].Delivery.ID != jobs[0].Delivery.ID {
		t.Fatalf("n1's claim when n0's lease ended: %d jobs, %v; want delivery %d", len(taken), err, jobs[0].Delivery.ID)
	}

	// n0 comes back with a completion from its past life: recorded as an
	// attempt, without effect on the delivery n1 holds.
	back := open(t, dsn)
	out := store.Outcome{Attempt: store.Attempt{DeliveryID: jobs[0].Delivery.ID, At: now, StatusCode: 200}, Status: store.Succeeded}
	if err := back.CompleteAttempts(ctx, "n0", []store.Outcome{out}); err != nil {
		t.Fatal(err)
	}
	d, err := sts[1].GetDelivery(ctx, jobs[0].Delivery.ID)
	if err != nil || d.Status != store.Pending || d.LeaseOwner != "n1" {
		t.Errorf("delivery after n0's late completion = %+v, %v; want pending, leased by n1", d, err)
	}
}

// TestChainsSurviveRacingInsertsAndCompletions records calls one event per
// batch on three nodes while three others claim and complete as fast as
// they can, so that a call's next event is often recorded while its previous
// one is being completed: every event must still be claimed once, in order,
// and every chain left with exactly one head.
func TestChainsSurviveRacingInsertsAndCompletions(t *testing.T) {
	// Few calls with many events: a call's next event is recorded while
	// its previous one is claimed and completed.
	const (
		calls = 6
		kinds = 40
	)
	sts, dsn := nodes(t, 3)
	ctx := t.Context()
	if err := sts[0].CreateEndpoint(ctx, testEndpoint("a", 1000)); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(time.Hour)
	want := calls * kinds
	var (
		wg, inserters sync.WaitGroup
		mu            sync.Mutex
		lastSeq       = map[string]int64{}
		done          int
	)
	for i, st := range sts {
		inserters.Go(func() {
			var evs [][]events.Event
			for range calls / len(sts) {
				ks := make([]events.Kind, kinds)
				ks[0], ks[kinds-1] = events.CallRouted, events.CallHangup
				for k := 1; k < kinds-1; k++ {
					ks[k] = events.CallInput
				}
				evs = append(evs, callEvents(ks...))
			}
			for k := range kinds {
				for _, call := range evs {
					e := call[k]
					e.Digit = "1"
					if _, err := st.InsertEvents(ctx, fmt.Sprintf("n%d", i), []events.Event{e}); err != nil {
						t.Errorf("InsertEvents: %v", err)
						return
					}
				}
			}
		})
	}
	deadline := time.Now().Add(60 * time.Second)
	for i, st := range sts {
		owner := fmt.Sprintf("w%d", i)
		wg.Go(func() {
			for time.Now().Before(deadline) {
				mu.Lock()
				all := done == want
				mu.Unlock()
				if all {
					return
				}
				jobs, err := st.ClaimDeliveries(ctx, store.ClaimParams{Owner: owner, Now: now, LeaseUntil: now.Add(time.Hour), Limit: 20})
				if err != nil {
					t.Errorf("ClaimDeliveries: %v", err)
					return
				}
				var outs []store.Outcome
				mu.Lock()
				for _, j := range jobs {
					if j.Event.Sequence != lastSeq[j.Delivery.CallUUID]+1 {
						t.Errorf("call %s: event %d claimed after event %d", j.Delivery.CallUUID, j.Event.Sequence, lastSeq[j.Delivery.CallUUID])
					}
					lastSeq[j.Delivery.CallUUID] = j.Event.Sequence
					outs = append(outs, store.Outcome{Attempt: store.Attempt{DeliveryID: j.Delivery.ID, At: now, StatusCode: 200}, Status: store.Succeeded})
				}
				mu.Unlock()
				if len(jobs) == 0 {
					time.Sleep(time.Millisecond)
					continue
				}
				if err := st.CompleteAttempts(ctx, owner, outs); err != nil {
					t.Errorf("CompleteAttempts: %v", err)
					return
				}
				mu.Lock()
				done += len(outs)
				mu.Unlock()
			}
		})
	}
	inserters.Wait()
	wg.Wait()
	if done != want {
		t.Errorf("%d deliveries completed, want %d", done, want)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var bad int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM (SELECT call_uuid FROM deliveries WHERE status = 'pending'
		GROUP BY endpoint_id, call_uuid HAVING count(*) FILTER (WHERE head) <> 1) AS c`).Scan(&bad); err != nil {
		t.Fatal(err)
	}
	if bad != 0 {
		t.Errorf("%d chains with pending deliveries have not exactly one head", bad)
	}
}
