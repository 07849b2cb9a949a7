package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/store"
)

// exerciseConcurrent records calls from several goroutines while others
// claim and complete, as the recorder and the delivery engines of a cluster
// do, and checks that every delivery is claimed exactly once and each call's
// events reach each endpoint in order.
func exerciseConcurrent(t *testing.T, open func(t *testing.T) store.Store) {
	const (
		inserters      = 4
		callsPerWriter = 25
		claimers       = 3
		batchCalls     = 5 // calls interleaved in one batch
	)
	h := setup(t, open)
	all := endpoint("a")
	all.MaxInFlight = 1000
	h.create(all, endpoint("b", events.CallHangup))
	// a gets the three events of each call, b its hangup.
	want := inserters * callsPerWriter * 4

	var wg sync.WaitGroup
	for w := range inserters {
		wg.Go(func() {
			for first := 0; first < callsPerWriter; first += batchCalls {
				var calls []*call
				for range batchCalls {
					calls = append(calls, newCall(fmt.Sprint(1000+w), "2000"))
				}
				// Each call's events go in its order over two batches.
				var one, two []events.Event
				for _, c := range calls {
					one = append(one, c.ev(events.CallRouted, 0), c.ev(events.CallAnswer, time.Second))
					two = append(two, c.ev(events.CallHangup, 2*time.Second))
				}
				for _, b := range [][]events.Event{one, two} {
					if _, err := h.s.InsertEvents(h.ctx, "n1", b); err != nil {
						t.Errorf("InsertEvents: %v", err)
						return
					}
				}
			}
		})
	}

	var (
		mu      sync.Mutex
		claimed = map[int64]string{}  // delivery ID: owner
		lastSeq = map[string]int64{}  // endpoint and call: sequence last claimed
		done    int                   // deliveries completed
		stop    = make(chan struct{}) // closed when done reaches want
	)
	deadline := time.Now().Add(60 * time.Second)
	for c := range claimers {
		owner := fmt.Sprintf("w%d", c)
		wg.Go(func() {
			for i := 0; i < 100000 && time.Now().Before(deadline); i++ {
				select {
				case <-stop:
					return
				default:
				}
				jobs, err := h.s.ClaimDeliveries(h.ctx, store.ClaimParams{Owner: owner, Now: later, LeaseUntil: later.Add(time.Hour), Limit: 20})
				if err != nil {
					t.Errorf("ClaimDeliveries: %v", err)
					return
				}
				if len(jobs) == 0 {
					time.Sleep(time.Millisecond)
					continue
				}
				outs := make([]store.Outcome, len(jobs))
				mu.Lock()
				for i, j := range jobs {
					d := j.Delivery
					if prev, dup := claimed[d.ID]; dup {
						t.Errorf("delivery %d claimed by %s and %s", d.ID, prev, owner)
					}
					claimed[d.ID] = owner
					chain := d.EndpointID + "/" + d.CallUUID
					if j.Event.Sequence <= lastSeq[chain] {
						t.Errorf("%s: event %d claimed after event %d", chain, j.Event.Sequence, lastSeq[chain])
					}
					lastSeq[chain] = j.Event.Sequence
					outs[i] = store.Outcome{Attempt: store.Attempt{DeliveryID: d.ID, At: later, StatusCode: 200}, Status: store.Succeeded}
				}
				mu.Unlock()
				if err := h.s.CompleteAttempts(h.ctx, owner, outs); err != nil {
					t.Errorf("CompleteAttempts: %v", err)
					return
				}
				mu.Lock()
				done += len(outs)
				if done == want {
					close(stop)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if done != want {
		t.Fatalf("%d deliveries completed, want %d", done, want)
	}
	if n := h.pending(); n != 0 {
		t.Errorf("PendingCount = %d at the end", n)
	}
	if ds := h.deliveries(store.DeliveryFilter{Status: store.Succeeded}); len(ds) != want {
		t.Errorf("%d deliveries succeeded, want %d", len(ds), want)
	}
}
