package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/store"
)

func exerciseRetry(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("AnyStatus", func(t *testing.T) {
		for _, status := range []store.DeliveryStatus{store.Failed, store.Succeeded} {
			t.Run(string(status), func(t *testing.T) {
				h := setup(t, open)
				h.create(endpoint("a"))
				h.insert("n1", newCall("1001", "1002").ev(events.CallRouted, 0))
				id := h.claimIDs("w", later, 1)[0]
				h.complete("w", id, status, later, time.Time{})
				now := later.Add(time.Hour)
				if err := h.s.RetryDelivery(h.ctx, id, now); err != nil {
					t.Fatalf("RetryDelivery: %v", err)
				}
				d := h.delivery(id)
				if d.Status != store.Pending || d.Attempts != 1 || !d.CompletedAt.IsZero() || d.LeaseOwner != "" {
					t.Errorf("delivery after RetryDelivery = %+v", d)
				}
				wantTime(t, "NextAttemptAt", d.NextAttemptAt, now)
				wantIDs(t, "claim before the retry time", h.claimIDs("w", now.Add(-time.Microsecond), 10), nil)
				wantIDs(t, "claim at the retry time", h.claimIDs("w", now, 10), []int64{id})
				if n := h.pending(); n != 1 {
					t.Errorf("PendingCount = %d, want 1", n)
				}
			})
		}
	})

	t.Run("BecomesChainHead", func(t *testing.T) {
		h := setup(t, open)
		h.create(endpoint("a"))
		x := newCall("1001", "1002")
		x1, x2 := x.ev(events.CallRouted, 0), x.ev(events.CallHangup, time.Second)
		h.insert("n1", x1, x2)
		d1, d2 := h.deliveryOf("a", x1).ID, h.deliveryOf("a", x2).ID
		wantIDs(t, "first claim", h.claimIDs("w", later, 10), []int64{d1})
		h.complete("w", d1, store.Failed, later, time.Time{})
		// Sent again, the first event goes before the call's next one,
		// which has not been claimed yet.
		if err := h.s.RetryDelivery(h.ctx, d1, later); err != nil {
			t.Fatalf("RetryDelivery: %v", err)
		}
		wantIDs(t, "claim after the retry", h.claimIDs("w", later, 10), []int64{d1})
		h.complete("w", d1, store.Succeeded, later, time.Time{})
		wantIDs(t, "claim after the retried one succeeded", h.claimIDs("w", later, 10), []int64{d2})
	})

	t.Run("NotFound", func(t *testing.T) {
		h := setup(t, open)
		wantNotFound(t, "RetryDelivery", h.s.RetryDelivery(h.ctx, 424242, later))
		_, err := h.s.GetDelivery(h.ctx, 424242)
		wantNotFound(t, "GetDelivery", err)
	})
}

func exerciseReplay(t *testing.T, open func(t *testing.T) store.Store) {
	// a wants everything, b hangups only.
	h := setup(t, open)
	h.create(endpoint("a"), endpoint("b", events.CallHangup))
	p, q := newCall("1001", "1002"), newCall("1003", "1004")
	pR, pH := p.ev(events.CallRouted, time.Minute), p.ev(events.CallHangup, 2*time.Minute)
	qR, qH := q.ev(events.CallRouted, 3*time.Minute), q.ev(events.CallHangup, 4*time.Minute)
	testA, testB := testEvent("a", 3*time.Minute+30*time.Second), testEvent("b", 3*time.Minute+40*time.Second)
	h.insert("n1", pR, pH)
	h.insert("n1", qR, testA, testB, qH)

	now := at(24 * time.Hour)
	for _, tc := range []struct {
		name string
		ep   string
		f    store.ReplayFilter
		want []events.Event
	}{
		{"Range", "a", store.ReplayFilter{Since: at(3 * time.Minute), Until: at(4 * time.Minute)}, []events.Event{qR, testA}},
		{"Everything", "a", store.ReplayFilter{}, []events.Event{pR, pH, qR, testA, qH}},
		// b's own test event is a CALL_ROUTED, which b does not subscribe to.
		{"Subscription", "b", store.ReplayFilter{}, []events.Event{pH, qH}},
		{"Kinds", "a", store.ReplayFilter{Kinds: []events.Kind{events.CallHangup, events.CallInput}}, []events.Event{pH, qH}},
		{"KindsOutsideSubscription", "b", store.ReplayFilter{Kinds: []events.Kind{events.CallAnswer}}, nil},
		{"Since", "b", store.ReplayFilter{Since: at(2*time.Minute + time.Second)}, []events.Event{qH}},
		{"Until", "a", store.ReplayFilter{Until: at(2 * time.Minute)}, []events.Event{pR}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := h.deliveries(store.DeliveryFilter{EndpointID: tc.ep})
			n, err := h.s.Replay(h.ctx, tc.ep, tc.f, now)
			if err != nil {
				t.Fatalf("Replay: %v", err)
			}
			if n != len(tc.want) {
				t.Errorf("Replay created %d deliveries, want %d", n, len(tc.want))
			}
			all := h.deliveries(store.DeliveryFilter{EndpointID: tc.ep})
			fresh := all[:len(all)-len(before)]
			slices.Reverse(fresh) // oldest first
			var got, want []string
			for _, d := range fresh {
				got = append(got, d.EventID)
				if d.Status != store.Pending || d.Attempts != 0 || d.EndpointID != tc.ep {
					t.Errorf("replayed delivery = %+v", d)
				}
				wantTime(t, "replayed delivery's NextAttemptAt", d.NextAttemptAt, now)
			}
			for _, e := range tc.want {
				want = append(want, e.ID)
			}
			if !slices.Equal(got, want) {
				t.Errorf("replayed events %v, want %v (in event order)", got, want)
			}
		})
	}

	t.Run("UnknownEndpoint", func(t *testing.T) {
		_, err := h.s.Replay(h.ctx, "nope", store.ReplayFilter{}, now)
		wantNotFound(t, "Replay", err)
	})

	t.Run("UnknownKind", func(t *testing.T) {
		if _, err := h.s.Replay(h.ctx, "a", store.ReplayFilter{Kinds: []events.Kind{"CALL_PARK"}}, now); err == nil {
			t.Error("Replay of an unknown kind succeeded")
		}
	})
}

func exercisePurge(t *testing.T, open func(t *testing.T) store.Store) {
	h := setup(t, open)
	h.create(endpoint("a"))
	x, w, y, z := newCall("1001", "1002"), newCall("1003", "1004"), newCall("1005", "1006"), newCall("1007", "1008")
	// x was delivered, w given up on, y is still pending (and open): all
	// before the cut. z is after it.
	xR, xH := x.ev(events.CallRouted, 0), x.ev(events.CallHangup, time.Minute)
	wR, wH := w.ev(events.CallRouted, 0), w.ev(events.CallHangup, 30*time.Second)
	yR := y.ev(events.CallRouted, 0)
	zR, zH := z.ev(events.CallRouted, 2*time.Hour), z.ev(events.CallHangup, 2*time.Hour+time.Minute)
	h.insert("n1", xR, wR, yR, xH, wH, zR, zH)
	settle := func(e events.Event, status store.DeliveryStatus) int64 {
		id := h.deliveryOf("a", e).ID
		if ids := h.claimIDs("w", at(3*time.Hour), 100); !slices.Contains(ids, id) {
			t.Fatalf("delivery %d of %s not claimable: claimed %v", id, e.Kind, ids)
		}
		h.complete("w", id, status, at(3*time.Hour), time.Time{})
		if err := h.s.ReleaseLeases(h.ctx, "w"); err != nil {
			t.Fatal(err)
		}
		return id
	}
	xRd := settle(xR, store.Succeeded)
	settle(xH, store.Succeeded)
	settle(wR, store.Failed)
	settle(wH, store.Failed)
	zRd := settle(zR, store.Succeeded)
	settle(zH, store.Succeeded)
	yRd := h.deliveryOf("a", yR).ID

	n, err := h.s.Purge(h.ctx, at(time.Hour))
	if err != nil {
		t.Fatalf("Purge: %v", err)
	}
	if n != 4 {
		t.Errorf("Purge = %d, want 4 (x's and w's events)", n)
	}
	var got []string
	for _, e := range h.listEvents(store.EventFilter{}) {
		got = append(got, e.ID)
	}
	if want := []string{yR.ID, zR.ID, zH.ID}; !slices.Equal(got, want) {
		t.Errorf("events after Purge %v, want %v (y's pending one, z's)", got, want)
	}
	_, err = h.s.GetDelivery(h.ctx, xRd)
	wantNotFound(t, "GetDelivery of a purged delivery", err)
	if atts, err := h.s.ListAttempts(h.ctx, xRd); err != nil || len(atts) != 0 {
		t.Errorf("ListAttempts of a purged delivery = %d, %v", len(atts), err)
	}
	h.delivery(yRd)
	h.delivery(zRd)
	for _, c := range []*call{x, w} {
		_, err := h.s.GetCall(h.ctx, c.uuid)
		wantNotFound(t, "GetCall of a purged call", err)
	}
	h.getCall(y.uuid)
	h.getCall(z.uuid)
	if n := h.pending(); n != 1 {
		t.Errorf("PendingCount = %d after Purge, want 1", n)
	}
	if n, err := h.s.Purge(h.ctx, at(time.Hour)); n != 0 || err != nil {
		t.Errorf("second Purge = %d, %v; want 0", n, err)
	}
}

func exerciseListDeliveries(t *testing.T, open func(t *testing.T) store.Store) {
	h := setup(t, open)
	h.create(endpoint("a"), endpoint("b"))
	x, y := newCall("1001", "1002"), newCall("1003", "1004")
	xR, xH, yR := x.ev(events.CallRouted, 0), x.ev(events.CallHangup, time.Second), y.ev(events.CallRouted, 2*time.Second)
	h.insert("n1", xR, xH, yR)
	aXR, bXR := h.deliveryOf("a", xR).ID, h.deliveryOf("b", xR).ID
	aXH, bXH := h.deliveryOf("a", xH).ID, h.deliveryOf("b", xH).ID
	aYR, bYR := h.deliveryOf("a", yR).ID, h.deliveryOf("b", yR).ID
	h.claimIDs("w", later, 100)
	h.complete("w", aXR, store.Succeeded, later, time.Time{})
	h.complete("w", bXR, store.Failed, later, time.Time{})

	desc := func(ids ...int64) []int64 {
		slices.Sort(ids)
		slices.Reverse(ids)
		return ids
	}
	for _, tc := range []struct {
		name string
		f    store.DeliveryFilter
		want []int64
	}{
		{"All", store.DeliveryFilter{}, desc(aXR, bXR, aXH, bXH, aYR, bYR)},
		{"Endpoint", store.DeliveryFilter{EndpointID: "a"}, desc(aXR, aXH, aYR)},
		{"Succeeded", store.DeliveryFilter{Status: store.Succeeded}, []int64{aXR}},
		{"Failed", store.DeliveryFilter{Status: store.Failed}, []int64{bXR}},
		{"Pending", store.DeliveryFilter{Status: store.Pending}, desc(aXH, bXH, aYR, bYR)},
		{"Call", store.DeliveryFilter{CallUUID: y.uuid}, desc(aYR, bYR)},
		{"Event", store.DeliveryFilter{EventID: xH.ID}, desc(aXH, bXH)},
		{"EndpointAndCall", store.DeliveryFilter{EndpointID: "b", CallUUID: x.uuid}, desc(bXR, bXH)},
		{"Limit", store.DeliveryFilter{Limit: 2}, desc(aXR, bXR, aXH, bXH, aYR, bYR)[:2]},
		{"None", store.DeliveryFilter{EndpointID: "nope"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []int64
			for _, d := range h.deliveries(tc.f) {
				got = append(got, d.ID)
			}
			wantIDs(t, "ListDeliveries", got, tc.want)
		})
	}
	t.Run("Fields", func(t *testing.T) {
		d := h.delivery(bXR)
		if d.EventID != xR.ID || d.EndpointID != "b" || d.CallUUID != x.uuid || d.Kind != events.CallRouted ||
			d.Status != store.Failed || d.Attempts != 1 || d.LastError == "" || d.CreatedAt.IsZero() || d.UpdatedAt.IsZero() || d.CompletedAt.IsZero() {
			t.Errorf("GetDelivery = %+v", d)
		}
	})
}

func exercisePendingCount(t *testing.T, open func(t *testing.T) store.Store) {
	h := setup(t, open)
	if n := h.pending(); n != 0 {
		t.Fatalf("PendingCount of an empty store = %d", n)
	}
	h.create(endpoint("a"), endpoint("b", events.CallHangup))
	c := newCall("1001", "1002")
	h.insert("n1", c.ev(events.CallRouted, 0), c.ev(events.CallHangup, time.Second))
	if n := h.pending(); n != 3 {
		t.Fatalf("PendingCount = %d, want 3", n)
	}
	ids := h.claimIDs("w", later, 10)
	if n := h.pending(); n != 3 {
		t.Errorf("PendingCount with leases out = %d, want 3", n)
	}
	h.complete("w", ids[0], store.Succeeded, later, time.Time{})
	h.complete("w", ids[1], store.Failed, later, time.Time{})
	if n := h.pending(); n != 1 {
		t.Errorf("PendingCount = %d, want 1", n)
	}
}
