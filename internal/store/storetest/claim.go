package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/store"
)

// later is a time by which every delivery the tests create is due.
var later = at(time.Hour)

func exerciseClaim(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("Job", func(t *testing.T) {
		h := setup(t, open)
		h.create(endpoint("a"))
		e := newCall("1001", "1002").ev(events.CallInput, 0)
		h.insert("n1", e)
		jobs, err := h.s.ClaimDeliveries(h.ctx, store.ClaimParams{Owner: "w1", Now: later, LeaseUntil: later.Add(30 * time.Second), Limit: 10})
		if err != nil || len(jobs) != 1 {
			t.Fatalf("ClaimDeliveries = %d jobs, %v; want 1", len(jobs), err)
		}
		d := jobs[0].Delivery
		if d.EventID != e.ID || d.EndpointID != "a" || d.CallUUID != e.CallUUID || d.Kind != e.Kind ||
			d.Status != store.Pending || d.Attempts != 0 || d.LeaseOwner != "w1" {
			t.Errorf("claimed delivery = %+v", d)
		}
		wantTime(t, "LeaseUntil", d.LeaseUntil, later.Add(30*time.Second))
		if jobs[0].Event == nil {
			t.Fatal("job without its event")
		}
		sameEvent(t, "job's event", *jobs[0].Event, e)
		stored := h.delivery(d.ID)
		if stored.LeaseOwner != "w1" {
			t.Errorf("GetDelivery after the claim: LeaseOwner = %q, want w1", stored.LeaseOwner)
		}
		wantTime(t, "GetDelivery after the claim: LeaseUntil", stored.LeaseUntil, later.Add(30*time.Second))
	})

	t.Run("OnlyDue", func(t *testing.T) {
		h := setup(t, open)
		h.create(endpoint("a"))
		e := newCall("1001", "1002").ev(events.CallRouted, 0)
		h.insert("n1", e)
		id := h.claimIDs("w", later, 1)[0]
		h.complete("w", id, store.Pending, later, later.Add(30*time.Second))
		if ids := h.claimIDs("w", later.Add(29*time.Second), 10); len(ids) != 0 {
			t.Errorf("claimed %v before its next attempt time", ids)
		}
		wantIDs(t, "claim at the next attempt time", h.claimIDs("w", later.Add(30*time.Second), 10), []int64{id})
	})

	t.Run("ChainHeads", func(t *testing.T) {
		h := setup(t, open)
		h.create(endpoint("a"))
		x, y := newCall("1001", "1002"), newCall("1003", "1004")
		x1, x2, x3 := x.ev(events.CallRouted, 0), x.ev(events.CallRinging, time.Second), x.ev(events.CallAnswer, 2*time.Second)
		y1 := y.ev(events.CallRouted, 3*time.Second)
		h.insert("n1", x1, x2, x3, y1)
		d1, d2, d3, dy := h.deliveryOf("a", x1).ID, h.deliveryOf("a", x2).ID, h.deliveryOf("a", x3).ID, h.deliveryOf("a", y1).ID
		if !(d1 < d2 && d2 < d3) {
			t.Fatalf("delivery IDs %d, %d, %d do not follow the events' order", d1, d2, d3)
		}

		// x's second event waits while the first is leased; y is not held up.
		wantIDs(t, "first claim", h.claimIDs("w1", later, 10), []int64{d1, dy})
		wantIDs(t, "claim while x's head is leased", h.claimIDs("w2", later, 10), nil)
		h.complete("w1", dy, store.Succeeded, later, time.Time{})

		// ... and while the first is pending, waiting for a retry.
		h.complete("w1", d1, store.Pending, later, later.Add(time.Minute))
		wantIDs(t, "claim while x's head waits for a retry", h.claimIDs("w2", later, 10), nil)

		// Once the head succeeded, the next event can go.
		wantIDs(t, "claim at the retry", h.claimIDs("w1", later.Add(time.Minute), 10), []int64{d1})
		h.complete("w1", d1, store.Succeeded, later.Add(time.Minute), time.Time{})
		wantIDs(t, "claim after the head succeeded", h.claimIDs("w1", later.Add(time.Minute), 10), []int64{d2})

		// A head given up on lets the next one go as well.
		h.complete("w1", d2, store.Failed, later.Add(time.Minute), time.Time{})
		wantIDs(t, "claim after the head failed", h.claimIDs("w1", later.Add(time.Minute), 10), []int64{d3})
	})

	t.Run("ChainsPerEndpoint", func(t *testing.T) {
		h := setup(t, open)
		h.create(endpoint("a"), endpoint("b"))
		x := newCall("1001", "1002")
		x1, x2 := x.ev(events.CallRouted, 0), x.ev(events.CallHangup, time.Second)
		h.insert("n1", x1, x2)
		a1, b1 := h.deliveryOf("a", x1).ID, h.deliveryOf("b", x1).ID
		wantIDs(t, "claim of one", h.claimIDs("w", later, 1), []int64{min(a1, b1)})
		wantIDs(t, "claim of the other endpoint's head", h.claimIDs("w", later, 10), []int64{max(a1, b1)})
	})

	t.Run("LeaseExclusiveUntilExpiry", func(t *testing.T) {
		h := setup(t, open)
		h.create(endpoint("a"))
		h.insert("n1", newCall("1001", "1002").ev(events.CallRouted, 0))
		ids := h.claimIDs("w1", later, 10) // leased until later+1m
		if len(ids) != 1 {
			t.Fatalf("claimed %v, want one", ids)
		}
		wantIDs(t, "claim by another owner during the lease", h.claimIDs("w2", later.Add(59*time.Second), 10), nil)
		wantIDs(t, "claim by the same owner during the lease", h.claimIDs("w1", later.Add(59*time.Second), 10), nil)
		jobs := h.claim("w2", later.Add(time.Minute), 10)
		wantIDs(t, "claim when the lease ends", jobIDs(jobs), ids)
		if len(jobs) == 1 && jobs[0].Delivery.LeaseOwner != "w2" {
			t.Errorf("LeaseOwner = %q, want w2", jobs[0].Delivery.LeaseOwner)
		}
	})

	t.Run("MaxInFlight", func(t *testing.T) {
		h := setup(t, open)
		ep := endpoint("a")
		ep.MaxInFlight = 2
		h.create(ep, endpoint("b"))
		var evs []events.Event
		for i := range 5 {
			evs = append(evs, newCall("1001", "1002").ev(events.CallRouted, time.Duration(i)*time.Second))
		}
		h.insert("n1", evs...)
		var a []int64
		for _, e := range evs {
			a = append(a, h.deliveryOf("a", e).ID)
		}
		// ofA claims and returns a's deliveries among those claimed.
		ofA := func(now time.Time) (ids []int64, others int) {
			for _, j := range h.claim("w", now, 100) {
				if j.Delivery.EndpointID == "a" {
					ids = append(ids, j.Delivery.ID)
				} else {
					others++
				}
			}
			return ids, others
		}
		gotA, others := ofA(later)
		if others != 5 {
			t.Errorf("claimed %d of b's deliveries, want 5: a's limit holds a back only", others)
		}
		wantIDs(t, "a's deliveries in the first claim", gotA, a[:2])
		gotA, _ = ofA(later)
		wantIDs(t, "claim with a's two leases out", gotA, nil)
		h.complete("w", a[0], store.Succeeded, later, time.Time{})
		gotA, _ = ofA(later)
		wantIDs(t, "claim after one of a's finished", gotA, a[2:3])
		// Expired leases do not count: at their end, the two deliveries
		// still leased are claimable again, and no more.
		gotA, _ = ofA(later.Add(time.Minute))
		wantIDs(t, "claim when the leases end", gotA, []int64{a[1], a[2]})
	})

	t.Run("OpenCircuit", func(t *testing.T) {
		h := setup(t, open)
		h.create(endpoint("a"), endpoint("b"))
		e := newCall("1001", "1002").ev(events.CallRouted, 0)
		h.insert("n1", e)
		h.setCircuit("a", store.Circuit{State: store.CircuitOpen, PausedUntil: later.Add(30 * time.Second), ConsecutiveFailures: 5, FailingSince: later})
		b := h.deliveryOf("b", e).ID
		wantIDs(t, "claim while a's circuit is open", h.claimIDs("w", later.Add(29*time.Second), 10), []int64{b})
		wantIDs(t, "claim when the pause ends", h.claimIDs("w", later.Add(30*time.Second), 10), []int64{h.deliveryOf("a", e).ID})
	})

	t.Run("HalfOpen", func(t *testing.T) {
		h := setup(t, open)
		h.create(endpoint("a"))
		var evs []events.Event
		for range 3 {
			evs = append(evs, newCall("1001", "1002").ev(events.CallRouted, 0))
		}
		h.insert("n1", evs...)
		h.setCircuit("a", store.Circuit{State: store.CircuitHalfOpen, PausedUntil: later, ConsecutiveFailures: 5, FailingSince: at(0)})
		probe := h.claimIDs("w", later, 10)
		wantIDs(t, "claim while half-open", probe, []int64{h.deliveryOf("a", evs[0]).ID})
		wantIDs(t, "claim with the probe out", h.claimIDs("w", later, 10), nil)
		h.complete("w", probe[0], store.Failed, later, time.Time{})
		wantIDs(t, "claim after the probe", h.claimIDs("w", later, 10), []int64{h.deliveryOf("a", evs[1]).ID})
	})

	t.Run("Disabled", func(t *testing.T) {
		h := setup(t, open)
		ep := endpoint("a")
		ep.Disabled, ep.DisabledReason = true, "410 Gone"
		h.create(ep)
		e := newCall("1001", "1002").ev(events.CallRouted, 0)
		h.insert("n1", e)
		wantIDs(t, "claim while disabled", h.claimIDs("w", later, 10), nil)
		ep.Disabled, ep.DisabledReason = false, ""
		if err := h.s.UpdateEndpoint(h.ctx, ep); err != nil {
			t.Fatal(err)
		}
		wantIDs(t, "claim when enabled again", h.claimIDs("w", later, 10), []int64{h.deliveryOf("a", e).ID})
	})

	t.Run("LimitOldestFirst", func(t *testing.T) {
		h := setup(t, open)
		h.create(endpoint("a"), endpoint("b"))
		var evs []events.Event
		for i := range 4 {
			evs = append(evs, newCall("1001", "1002").ev(events.CallRouted, time.Duration(i)*time.Second))
		}
		h.insert("n1", evs[:2]...)
		h.insert("n1", evs[2:]...)
		var all []int64
		for _, e := range evs {
			all = append(all, h.deliveryOf("a", e).ID, h.deliveryOf("b", e).ID)
		}
		slices.Sort(all)
		wantIDs(t, "claim of 3", h.claimIDs("w", later, 3), all[:3])
		wantIDs(t, "claim of the rest", h.claimIDs("w", later, 100), all[3:])
	})

	t.Run("BadParams", func(t *testing.T) {
		h := setup(t, open)
		for name, p := range map[string]store.ClaimParams{
			"no owner":             {Now: later, LeaseUntil: later.Add(time.Minute), Limit: 1},
			"zero limit":           {Owner: "w", Now: later, LeaseUntil: later.Add(time.Minute)},
			"lease ending at once": {Owner: "w", Now: later, LeaseUntil: later, Limit: 1},
		} {
			if _, err := h.s.ClaimDeliveries(h.ctx, p); err == nil {
				t.Errorf("ClaimDeliveries with %s succeeded", name)
			}
		}
	})
}

func exerciseComplete(t *testing.T, open func(t *testing.T) store.Store) {
	// one sets up endpoint a and one call event, claimed by w1, and returns
	// its delivery ID.
	one := func(t *testing.T) (*h, int64) {
		h := setup(t, open)
		h.create(endpoint("a"))
		h.insert("n1", newCall("1001", "1002").ev(events.CallRouted, 0))
		ids := h.claimIDs("w1", later, 10)
		if len(ids) != 1 {
			t.Fatalf("claimed %v, want one delivery", ids)
		}
		return h, ids[0]
	}

	t.Run("Succeeded", func(t *testing.T) {
		h, id := one(t)
		att := store.Attempt{DeliveryID: id, At: later.Add(time.Second), StatusCode: 204, Latency: 35 * time.Millisecond, Response: `{"ok":true}`}
		if err := h.s.CompleteAttempts(h.ctx, "w1", []store.Outcome{{Attempt: att, Status: store.Succeeded}}); err != nil {
			t.Fatalf("CompleteAttempts: %v", err)
		}
		d := h.delivery(id)
		if d.Status != store.Succeeded || d.Attempts != 1 || d.LeaseOwner != "" || !d.LeaseUntil.IsZero() || d.CompletedAt.IsZero() {
			t.Errorf("delivery after success = %+v", d)
		}
		atts, err := h.s.ListAttempts(h.ctx, id)
		if err != nil || len(atts) != 1 {
			t.Fatalf("ListAttempts = %d, %v; want 1", len(atts), err)
		}
		got := atts[0]
		if got.ID == 0 || got.DeliveryID != id || got.StatusCode != 204 || got.Latency != att.Latency || got.Error != "" || got.Response != att.Response {
			t.Errorf("attempt = %+v, want %+v", got, att)
		}
		wantTime(t, "attempt At", got.At, att.At)
		if n := h.pending(); n != 0 {
			t.Errorf("PendingCount = %d, want 0", n)
		}
	})

	t.Run("RetryLater", func(t *testing.T) {
		h, id := one(t)
		att := store.Attempt{DeliveryID: id, At: later, StatusCode: 0, Latency: 5 * time.Second, Error: "timeout"}
		err := h.s.CompleteAttempts(h.ctx, "w1", []store.Outcome{{Attempt: att, Status: store.Pending, NextAttemptAt: later.Add(time.Minute), Error: "timeout after 5s"}})
		if err != nil {
			t.Fatalf("CompleteAttempts: %v", err)
		}
		d := h.delivery(id)
		if d.Status != store.Pending || d.Attempts != 1 || d.LastError != "timeout after 5s" || d.LeaseOwner != "" || !d.CompletedAt.IsZero() {
			t.Errorf("delivery after a failed attempt = %+v", d)
		}
		wantTime(t, "NextAttemptAt", d.NextAttemptAt, later.Add(time.Minute))
		atts, _ := h.s.ListAttempts(h.ctx, id)
		if len(atts) != 1 || atts[0].Error != "timeout" || atts[0].StatusCode != 0 {
			t.Errorf("attempts = %+v", atts)
		}
	})

	t.Run("Failed", func(t *testing.T) {
		h, id := one(t)
		h.complete("w1", id, store.Failed, later, time.Time{})
		d := h.delivery(id)
		if d.Status != store.Failed || d.Attempts != 1 || d.LastError == "" || d.CompletedAt.IsZero() || d.LeaseOwner != "" {
			t.Errorf("delivery after giving up = %+v", d)
		}
		wantIDs(t, "claim after giving up", h.claimIDs("w1", later.Add(time.Hour), 10), nil)
	})

	t.Run("AttemptsAccumulate", func(t *testing.T) {
		h, id := one(t)
		h.complete("w1", id, store.Pending, later, later.Add(time.Second))
		wantIDs(t, "claim for the second attempt", h.claimIDs("w1", later.Add(time.Second), 10), []int64{id})
		h.complete("w1", id, store.Succeeded, later.Add(time.Second), time.Time{})
		if d := h.delivery(id); d.Attempts != 2 || d.Status != store.Succeeded {
			t.Errorf("after two attempts: %+v", d)
		}
		atts, err := h.s.ListAttempts(h.ctx, id)
		if err != nil || len(atts) != 2 || atts[0].ID >= atts[1].ID || atts[0].StatusCode != 503 || atts[1].StatusCode != 200 {
			t.Errorf("ListAttempts = %+v, %v; want the 503 then the 200", atts, err)
		}
	})

	t.Run("NotOwner", func(t *testing.T) {
		h, id := one(t)
		h.complete("w2", id, store.Succeeded, later, time.Time{})
		d := h.delivery(id)
		if d.Status != store.Pending || d.Attempts != 0 || d.LeaseOwner != "w1" {
			t.Errorf("a completion by a non-owner changed the delivery: %+v", d)
		}
		if atts, _ := h.s.ListAttempts(h.ctx, id); len(atts) != 1 {
			t.Errorf("%d attempts recorded, want the non-owner's one", len(atts))
		}
	})

	t.Run("ExpiredAndReclaimed", func(t *testing.T) {
		h, id := one(t)
		wantIDs(t, "claim by w2 when w1's lease ends", h.claimIDs("w2", later.Add(time.Minute), 10), []int64{id})
		h.complete("w1", id, store.Succeeded, later.Add(61*time.Second), time.Time{})
		if d := h.delivery(id); d.Status != store.Pending || d.Attempts != 0 || d.LeaseOwner != "w2" {
			t.Errorf("w1's late completion changed the delivery w2 holds: %+v", d)
		}
		h.complete("w2", id, store.Succeeded, later.Add(62*time.Second), time.Time{})
		if d := h.delivery(id); d.Status != store.Succeeded || d.Attempts != 1 {
			t.Errorf("w2's completion: %+v", d)
		}
		if atts, _ := h.s.ListAttempts(h.ctx, id); len(atts) != 2 {
			t.Errorf("%d attempts recorded, want 2", len(atts))
		}
	})

	t.Run("ExpiredNotReclaimed", func(t *testing.T) {
		// A slow request finishing after its lease ended still counts if
		// nobody took the delivery over.
		h, id := one(t)
		h.complete("w1", id, store.Succeeded, later.Add(2*time.Minute), time.Time{})
		if d := h.delivery(id); d.Status != store.Succeeded || d.Attempts != 1 {
			t.Errorf("a late completion by the lease's owner: %+v", d)
		}
	})

	t.Run("DeliveryGone", func(t *testing.T) {
		h, id := one(t)
		if err := h.s.DeleteEndpoint(h.ctx, "a"); err != nil {
			t.Fatal(err)
		}
		out := store.Outcome{Attempt: store.Attempt{DeliveryID: id, At: later, StatusCode: 200}, Status: store.Succeeded}
		if err := h.s.CompleteAttempts(h.ctx, "w1", []store.Outcome{out}); err != nil {
			t.Errorf("CompleteAttempts for a delivery deleted meanwhile: %v", err)
		}
	})

	t.Run("Batch", func(t *testing.T) {
		h := setup(t, open)
		h.create(endpoint("a"))
		var evs []events.Event
		for range 3 {
			evs = append(evs, newCall("1001", "1002").ev(events.CallRouted, 0))
		}
		h.insert("n1", evs...)
		ids := h.claimIDs("w1", later, 10)
		if len(ids) != 3 {
			t.Fatalf("claimed %v, want 3", ids)
		}
		outs := []store.Outcome{
			{Attempt: store.Attempt{DeliveryID: ids[0], At: later, StatusCode: 200}, Status: store.Succeeded},
			{Attempt: store.Attempt{DeliveryID: ids[1], At: later, StatusCode: 500}, Status: store.Pending, NextAttemptAt: later.Add(time.Minute), Error: "500"},
			{Attempt: store.Attempt{DeliveryID: ids[2], At: later, StatusCode: 410}, Status: store.Failed, Error: "410"},
		}
		if err := h.s.CompleteAttempts(h.ctx, "w1", outs); err != nil {
			t.Fatalf("CompleteAttempts: %v", err)
		}
		for i, want := range []store.DeliveryStatus{store.Succeeded, store.Pending, store.Failed} {
			if d := h.delivery(ids[i]); d.Status != want || d.Attempts != 1 {
				t.Errorf("delivery %d: %+v, want %s", i, d, want)
			}
		}
		if err := h.s.CompleteAttempts(h.ctx, "w1", nil); err != nil {
			t.Errorf("CompleteAttempts(nil): %v", err)
		}
	})
}

func exerciseRelease(t *testing.T, open func(t *testing.T) store.Store) {
	h := setup(t, open)
	h.create(endpoint("a"))
	var evs []events.Event
	for range 3 {
		evs = append(evs, newCall("1001", "1002").ev(events.CallRouted, 0))
	}
	h.insert("n1", evs...)
	mine := h.claimIDs("w1", later, 2)
	theirs := h.claimIDs("w2", later, 10)
	if len(mine) != 2 || len(theirs) != 1 {
		t.Fatalf("claims %v and %v, want 2 and 1", mine, theirs)
	}
	if err := h.s.ReleaseLeases(h.ctx, "w1"); err != nil {
		t.Fatalf("ReleaseLeases: %v", err)
	}
	for _, id := range mine {
		if d := h.delivery(id); d.LeaseOwner != "" || d.Attempts != 0 || d.Status != store.Pending {
			t.Errorf("released delivery = %+v", d)
		}
	}
	if d := h.delivery(theirs[0]); d.LeaseOwner != "w2" {
		t.Errorf("w2's lease: LeaseOwner = %q after w1 released its own", d.LeaseOwner)
	}
	wantIDs(t, "claim after the release", h.claimIDs("w3", later, 10), mine)
	if err := h.s.ReleaseLeases(h.ctx, "nobody"); err != nil {
		t.Errorf("ReleaseLeases of an owner without leases: %v", err)
	}
}

func exerciseNextDue(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("Empty", func(t *testing.T) {
		h := setup(t, open)
		if at, ok := h.nextDue(); ok {
			t.Errorf("NextDue of an empty store = %v", at)
		}
	})

	t.Run("Earliest", func(t *testing.T) {
		h := setup(t, open)
		h.create(endpoint("a"))
		h.insert("n1", newCall("1001", "1002").ev(events.CallRouted, 2*time.Minute), newCall("1001", "1002").ev(events.CallRouted, time.Minute))
		got, ok := h.nextDue()
		if !ok {
			t.Fatal("NextDue: nothing pending")
		}
		wantTime(t, "NextDue", got, at(time.Minute))
	})

	t.Run("LeasedRetryingPaused", func(t *testing.T) {
		h := setup(t, open)
		h.create(endpoint("a"))
		x := newCall("1001", "1002")
		// x's second event is due at once but is not its chain's head.
		h.insert("n1", x.ev(events.CallRouted, 0), x.ev(events.CallRinging, time.Second))
		id := h.claimIDs("w", later, 1)[0] // leased until later+1m
		got, _ := h.nextDue()
		wantTime(t, "NextDue while the head is leased", got, later.Add(time.Minute))

		h.complete("w", id, store.Pending, later, later.Add(5*time.Minute))
		got, _ = h.nextDue()
		wantTime(t, "NextDue while the head waits for a retry", got, later.Add(5*time.Minute))

		h.setCircuit("a", store.Circuit{State: store.CircuitOpen, PausedUntil: later.Add(10 * time.Minute), ConsecutiveFailures: 5, FailingSince: later})
		got, _ = h.nextDue()
		wantTime(t, "NextDue while the circuit is open", got, later.Add(10*time.Minute))
	})

	t.Run("DisabledIgnored", func(t *testing.T) {
		h := setup(t, open)
		ep := endpoint("a")
		ep.Disabled = true
		h.create(ep)
		h.insert("n1", newCall("1001", "1002").ev(events.CallRouted, 0))
		if at, ok := h.nextDue(); ok {
			t.Errorf("NextDue = %v with only a disabled endpoint's deliveries pending", at)
		}
	})

	t.Run("NothingPending", func(t *testing.T) {
		h := setup(t, open)
		h.create(endpoint("a"))
		h.insert("n1", newCall("1001", "1002").ev(events.CallRouted, 0))
		h.complete("w", h.claimIDs("w", later, 1)[0], store.Succeeded, later, time.Time{})
		if at, ok := h.nextDue(); ok {
			t.Errorf("NextDue = %v with nothing pending", at)
		}
	})
}
