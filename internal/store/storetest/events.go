package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/store"
)

func exerciseInsertEvents(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("FanOut", func(t *testing.T) {
		h := setup(t, open)
		off := endpoint("c")
		off.Disabled = true
		h.create(endpoint("a"), endpoint("b", events.CallHangup), off)
		c := newCall("1001", "1002")
		routed, hangup := c.ev(events.CallRouted, 0), c.ev(events.CallHangup, time.Second)
		// a and the disabled c want both events, b only the hangup.
		if n := h.insert("n1", routed, hangup); n != 5 {
			t.Fatalf("InsertEvents created %d deliveries, want 5", n)
		}
		for ep, want := range map[string][]events.Event{"a": {routed, hangup}, "b": {hangup}, "c": {routed, hangup}} {
			ds := h.deliveries(store.DeliveryFilter{EndpointID: ep})
			if len(ds) != len(want) {
				t.Errorf("%s has %d deliveries, want %d", ep, len(ds), len(want))
				continue
			}
			slices.Reverse(ds) // newest first
			for i, d := range ds {
				e := want[i]
				if d.EventID != e.ID || d.Kind != e.Kind || d.CallUUID != e.CallUUID || d.EndpointID != ep ||
					d.Status != store.Pending || d.Attempts != 0 || d.LastError != "" || !d.CompletedAt.IsZero() {
					t.Errorf("delivery of %s to %s = %+v", e.Kind, ep, d)
				}
				wantTime(t, "NextAttemptAt of a new delivery", d.NextAttemptAt, e.OccurredAt)
			}
		}
		if n := h.pending(); n != 5 {
			t.Errorf("PendingCount = %d, want 5", n)
		}
	})

	t.Run("NoEndpoints", func(t *testing.T) {
		h := setup(t, open)
		c := newCall("1001", "1002")
		if n := h.insert("n1", c.ev(events.CallRouted, 0)); n != 0 {
			t.Fatalf("InsertEvents created %d deliveries without endpoints", n)
		}
		if evs := h.listEvents(store.EventFilter{}); len(evs) != 1 {
			t.Errorf("%d events stored, want 1", len(evs))
		}
	})

	t.Run("EmptyBatch", func(t *testing.T) {
		h := setup(t, open)
		if n, err := h.s.InsertEvents(h.ctx, "n1", nil); n != 0 || err != nil {
			t.Fatalf("InsertEvents(nil) = %d, %v", n, err)
		}
	})

	t.Run("TestEvent", func(t *testing.T) {
		h := setup(t, open)
		h.create(endpoint("a"), endpoint("b"))
		e := testEvent("b", 0)
		if n := h.insert("n1", e); n != 1 {
			t.Fatalf("a test event created %d deliveries, want 1", n)
		}
		if ds := h.deliveries(store.DeliveryFilter{EndpointID: "a"}); len(ds) != 0 {
			t.Errorf("a test event for b reached a")
		}
		h.deliveryOf("b", e)
		_, err := h.s.GetCall(h.ctx, e.CallUUID)
		wantNotFound(t, "GetCall of a test event's call", err)
		if open, err := h.s.OpenCalls(h.ctx, "n1"); err != nil || len(open) != 0 {
			t.Errorf("OpenCalls after a test event = %d calls, %v", len(open), err)
		}
		evs := h.listEvents(store.EventFilter{})
		if len(evs) != 1 {
			t.Fatalf("%d events stored, want 1", len(evs))
		}
		sameEvent(t, "stored test event", evs[0], e)
	})

	t.Run("TestEventForMissingEndpoint", func(t *testing.T) {
		// The endpoint may be deleted while its test event waits in a
		// batch: the batch, with the calls' events in it, must still go in.
		h := setup(t, open)
		h.create(endpoint("a"))
		c := newCall("1001", "1002")
		n, err := h.s.InsertEvents(h.ctx, "n1", []events.Event{testEvent("gone", 0), c.ev(events.CallRouted, 0)})
		if err != nil || n != 1 {
			t.Fatalf("InsertEvents = %d, %v; want 1 delivery (a's), no error", n, err)
		}
	})

	t.Run("Idempotent", func(t *testing.T) {
		// The recorder sends a batch again when it cannot tell whether its
		// commit went through.
		h := setup(t, open)
		h.create(endpoint("a"))
		c := newCall("1001", "1002")
		batch := []events.Event{c.ev(events.CallRouted, 0), c.ev(events.CallAnswer, time.Second)}
		h.insert("n1", batch...)
		if n := h.insert("n1", batch...); n != 0 {
			t.Errorf("the same batch again created %d deliveries, want 0", n)
		}
		more := c.ev(events.CallHangup, 2*time.Second)
		if n := h.insert("n1", batch[1], more); n != 1 {
			t.Errorf("a batch with one new event created %d deliveries, want 1", n)
		}
		if evs := h.listEvents(store.EventFilter{}); len(evs) != 3 {
			t.Errorf("%d events stored, want 3", len(evs))
		}
		if n := h.pending(); n != 3 {
			t.Errorf("PendingCount = %d, want 3", n)
		}
	})

	t.Run("RejectsBadEventAtomically", func(t *testing.T) {
		h := setup(t, open)
		h.create(endpoint("a"))
		for name, spoil := range map[string]func(e *events.Event){
			"empty ID":       func(e *events.Event) { e.ID = "" },
			"unknown kind":   func(e *events.Event) { e.Kind = "CALL_TRANSFER" },
			"empty call":     func(e *events.Event) { e.CallUUID = "" },
			"zero timestamp": func(e *events.Event) { e.OccurredAt = time.Time{} },
		} {
			c := newCall("1001", "1002")
			good, bad := c.ev(events.CallRouted, 0), c.ev(events.CallAnswer, time.Second)
			spoil(&bad)
			if _, err := h.s.InsertEvents(h.ctx, "n1", []events.Event{good, bad}); err == nil {
				t.Errorf("InsertEvents with an event with %s succeeded", name)
			}
		}
		if evs := h.listEvents(store.EventFilter{}); len(evs) != 0 {
			t.Errorf("%d events stored from failed batches", len(evs))
		}
		if n := h.pending(); n != 0 {
			t.Errorf("PendingCount = %d after failed batches", n)
		}
	})

	t.Run("RoundTrip", func(t *testing.T) {
		h := setup(t, open)
		c := newCall("+4930123456", "1002")
		want := []events.Event{
			c.ev(events.CallRouted, 0), c.ev(events.CallRinging, time.Second), c.ev(events.CallAnswer, 2*time.Second),
			c.ev(events.CallInput, 3*time.Second), c.ev(events.CallHold, 4*time.Second), c.ev(events.CallUnhold, 5*time.Second),
			c.ev(events.CallHangup, 6*time.Second+123456*time.Microsecond),
		}
		want[0].Direction, want[0].SessionUUID = events.Inbound, "11111111-2222-4333-8444-555555555555"
		h.insert("n1", want...)
		got := h.listEvents(store.EventFilter{})
		if len(got) != len(want) {
			t.Fatalf("%d events stored, want %d", len(got), len(want))
		}
		for i := range want {
			sameEvent(t, string(want[i].Kind), got[i], want[i])
		}
	})

	t.Run("DueAtOccurredAt", func(t *testing.T) {
		h := setup(t, open)
		h.create(endpoint("a"))
		e := newCall("1001", "1002").ev(events.CallRouted, time.Minute)
		h.insert("n1", e)
		if ids := h.claimIDs("w", at(time.Minute-time.Microsecond), 10); len(ids) != 0 {
			t.Errorf("claimed %v before the event occurred", ids)
		}
		if ids := h.claimIDs("w", at(time.Minute), 10); len(ids) != 1 {
			t.Errorf("claimed %v when the event occurred, want its delivery", ids)
		}
	})
}

func exerciseCalls(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("Lifecycle", func(t *testing.T) {
		h := setup(t, open)
		c := newCall("1001", "600")
		routed := c.ev(events.CallRouted, 0)
		routed.SessionUUID, routed.Direction, routed.Source = "99999999-2222-4333-8444-555555555555", events.Outbound, "freeswitch/fs1"
		h.insert("n1", routed)
		got := h.getCall(c.uuid)
		want := store.Call{
			CallUUID: c.uuid, SessionUUID: routed.SessionUUID, Node: "n1", Source: "freeswitch/fs1",
			CallerIDNumber: "1001", DestinationNumber: "600", Direction: events.Outbound, LastSequence: 1,
		}
		checkCall(t, "after CALL_ROUTED", got, want, at(0), time.Time{}, time.Time{})

		ring := c.ev(events.CallRinging, time.Second)
		ring.DestinationNumber = "1002"
		ans := c.ev(events.CallAnswer, 5*time.Second)
		ans.DestinationNumber = "1002"
		h.insert("n1", ring, ans)
		want.AnsweredBy, want.LastSequence = "1002", 3
		checkCall(t, "after CALL_ANSWER", h.getCall(c.uuid), want, at(0), at(5*time.Second), time.Time{})

		// A second answer (the IVR passing the call on) changes nothing.
		ans2 := c.ev(events.CallAnswer, 9*time.Second)
		ans2.DestinationNumber = "1003"
		h.insert("n1", ans2, c.ev(events.CallHold, 10*time.Second))
		want.LastSequence = 5
		checkCall(t, "after a second CALL_ANSWER", h.getCall(c.uuid), want, at(0), at(5*time.Second), time.Time{})
		open, err := h.s.OpenCalls(h.ctx, "n1")
		if err != nil || len(open) != 1 || open[0].CallUUID != c.uuid {
			t.Fatalf("OpenCalls(n1) = %d calls, %v; want the call", len(open), err)
		}

		hangup := c.ev(events.CallHangup, 20*time.Second)
		hangup.Hangup.Cause = events.CauseUserBusy
		h.insert("n1", hangup)
		want.HangupCause, want.LastSequence = events.CauseUserBusy, 6
		checkCall(t, "after CALL_HANGUP", h.getCall(c.uuid), want, at(0), at(5*time.Second), at(20*time.Second))
		if open, err := h.s.OpenCalls(h.ctx, "n1"); err != nil || len(open) != 0 {
			t.Errorf("OpenCalls(n1) after the hangup = %d calls, %v", len(open), err)
		}
	})

	t.Run("OneBatch", func(t *testing.T) {
		h := setup(t, open)
		c := newCall("1001", "1002")
		h.insert("n1", c.ev(events.CallRouted, 0), c.ev(events.CallAnswer, time.Second), c.ev(events.CallHangup, 3*time.Second))
		want := store.Call{
			CallUUID: c.uuid, SessionUUID: c.uuid, Node: "n1", Source: "pbx", CallerIDNumber: "1001", DestinationNumber: "1002",
			Direction: events.Internal, AnsweredBy: "1002", HangupCause: events.CauseNormalClearing, LastSequence: 3,
		}
		checkCall(t, "call", h.getCall(c.uuid), want, at(0), at(time.Second), at(3*time.Second))
	})

	t.Run("UnansweredHangup", func(t *testing.T) {
		h := setup(t, open)
		c := newCall("1001", "1002")
		hangup := c.ev(events.CallHangup, 30*time.Second)
		h.insert("n1", c.ev(events.CallRouted, 0))
		hangup.Hangup.Cause = events.CauseNoAnswer
		h.insert("n1", hangup)
		got := h.getCall(c.uuid)
		if !got.AnsweredAt.IsZero() || got.AnsweredBy != "" || got.HangupCause != events.CauseNoAnswer {
			t.Errorf("call = %+v", got)
		}
	})

	t.Run("OpenCallsPerNode", func(t *testing.T) {
		h := setup(t, open)
		a, b, c := newCall("1001", "1002"), newCall("1003", "1004"), newCall("1005", "1006")
		h.insert("n1", a.ev(events.CallRouted, 0), c.ev(events.CallRouted, time.Second), c.ev(events.CallHangup, 2*time.Second))
		h.insert("n2", b.ev(events.CallRouted, 0))
		for node, want := range map[string][]string{"n1": {a.uuid}, "n2": {b.uuid}, "n3": nil} {
			open, err := h.s.OpenCalls(h.ctx, node)
			if err != nil {
				t.Fatalf("OpenCalls(%s): %v", node, err)
			}
			var got []string
			for _, c := range open {
				got = append(got, c.CallUUID)
			}
			if !slices.Equal(got, want) {
				t.Errorf("OpenCalls(%s) = %v, want %v", node, got, want)
			}
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		h := setup(t, open)
		_, err := h.s.GetCall(h.ctx, "e3c1f4a8-0000-4000-8000-000000000000")
		wantNotFound(t, "GetCall", err)
	})
}

// checkCall compares a call with want, whose times are given apart.
func checkCall(t *testing.T, what string, got *store.Call, want store.Call, started, answered, ended time.Time) {
	t.Helper()
	wantTime(t, what+": StartedAt", got.StartedAt, started)
	wantTime(t, what+": AnsweredAt", got.AnsweredAt, answered)
	wantTime(t, what+": EndedAt", got.EndedAt, ended)
	g := *got
	g.StartedAt, g.AnsweredAt, g.EndedAt = time.Time{}, time.Time{}, time.Time{}
	if g != want {
		t.Errorf("%s:\n got %+v\nwant %+v", what, g, want)
	}
}

func exerciseListEvents(t *testing.T, open func(t *testing.T) store.Store) {
	h := setup(t, open)
	x, y := newCall("1001", "1002"), newCall("1003", "1004")
	x1, x2, x3 := x.ev(events.CallRouted, time.Minute), x.ev(events.CallAnswer, 2*time.Minute), x.ev(events.CallHangup, 4*time.Minute)
	// y's events are inserted after x's but occurred earlier: lists follow
	// the insertion order.
	y1, y2 := y.ev(events.CallRouted, 0), y.ev(events.CallHangup, 3*time.Minute)
	h.insert("n1", x1, x2)
	h.insert("n1", y1, x3, y2)

	for _, tc := range []struct {
		name string
		f    store.EventFilter
		want []events.Event
	}{
		{"All", store.EventFilter{}, []events.Event{x1, x2, y1, x3, y2}},
		{"Call", store.EventFilter{CallUUID: x.uuid}, []events.Event{x1, x2, x3}},
		{"Kind", store.EventFilter{Kind: events.CallHangup}, []events.Event{x3, y2}},
		{"CallAndKind", store.EventFilter{CallUUID: y.uuid, Kind: events.CallHangup}, []events.Event{y2}},
		{"Since", store.EventFilter{Since: at(2 * time.Minute)}, []events.Event{x2, x3, y2}},
		{"Until", store.EventFilter{Until: at(2 * time.Minute)}, []events.Event{x1, y1}},
		{"SinceUntil", store.EventFilter{Since: at(time.Minute), Until: at(4 * time.Minute)}, []events.Event{x1, x2, y2}},
		{"Limit", store.EventFilter{Limit: 2}, []events.Event{x1, x2}},
		{"LimitFiltered", store.EventFilter{Kind: events.CallRouted, Limit: 1}, []events.Event{x1}},
		{"Newest", store.EventFilter{Limit: 2, Newest: true}, []events.Event{x3, y2}},
		{"NewestFiltered", store.EventFilter{Kind: events.CallRouted, Limit: 1, Newest: true}, []events.Event{y1}},
		{"None", store.EventFilter{CallUUID: "nope"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := h.listEvents(tc.f)
			if len(got) != len(tc.want) {
				t.Fatalf("%d events, want %d", len(got), len(tc.want))
			}
			for i := range got {
				sameEvent(t, tc.name, got[i], tc.want[i])
			}
		})
	}
}

func exerciseListCalls(t *testing.T, open func(t *testing.T) store.Store) {
	h := setup(t, open)
	a, b, c := newCall("1001", "1002"), newCall("1002", "1003"), newCall("+4930123456", "600")
	h.insert("n1", a.ev(events.CallRouted, time.Minute), a.ev(events.CallHangup, time.Minute+time.Second))
	h.insert("n1", b.ev(events.CallRouted, 2*time.Minute), b.ev(events.CallAnswer, 2*time.Minute+time.Second))
	h.insert("n2", c.ev(events.CallRouted, 3*time.Minute), c.ev(events.CallInput, 3*time.Minute+time.Second))
	// d is a consultation call of b's session.
	d := newCall("1003", "1004")
	dr := d.ev(events.CallRouted, 150*time.Second)
	dr.SessionUUID = b.uuid
	h.insert("n1", dr)

	for _, tc := range []struct {
		name string
		f    store.CallFilter
		want []*call
	}{
		{"All", store.CallFilter{}, []*call{c, d, b, a}},
		{"NumberCallerOrDestination", store.CallFilter{Number: "1002"}, []*call{b, a}},
		{"Session", store.CallFilter{Session: b.uuid}, []*call{d, b}},
		{"SessionOfOne", store.CallFilter{Session: a.uuid}, []*call{a}},
		{"NumberExact", store.CallFilter{Number: "100"}, nil},
		{"Since", store.CallFilter{Since: at(2 * time.Minute)}, []*call{c, d, b}},
		{"Until", store.CallFilter{Until: at(2 * time.Minute)}, []*call{a}},
		{"Kind", store.CallFilter{Kind: events.CallInput}, []*call{c}},
		{"KindHangup", store.CallFilter{Kind: events.CallHangup}, []*call{a}},
		{"Limit", store.CallFilter{Limit: 2}, []*call{c, d}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls, err := h.s.ListCalls(h.ctx, tc.f)
			if err != nil {
				t.Fatalf("ListCalls: %v", err)
			}
			var got, want []string
			for _, c := range calls {
				got = append(got, c.CallUUID)
			}
			for _, c := range tc.want {
				want = append(want, c.uuid)
			}
			if !slices.Equal(got, want) {
				t.Errorf("ListCalls(%+v) = %v, want %v", tc.f, got, want)
			}
		})
	}
}
