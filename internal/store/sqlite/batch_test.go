package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/store"
)

// batchCase is a batch of events that exercises each rule of recording:
// events stored before or repeated within the batch, test events for an
// endpoint deleted meanwhile and for one that exists, events of a call
// before its ROUTED, a ROUTED of a call that has its row, answers and
// hangups after the first, sequences out of order and an answer at the
// Unix epoch (stored as 0, the unanswered mark).
func batchCase() (before, batch []events.Event) {
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	ev := func(id, call string, kind events.Kind, seq int64, dest string, sec int) events.Event {
		e := events.Event{ID: id, CallUUID: call, SessionUUID: "s-" + call, Kind: kind, Sequence: seq,
			OccurredAt: at.Add(time.Duration(sec) * time.Second), CallerIDNumber: "1001", DestinationNumber: dest,
			Direction: events.Internal, Source: "pbx"}
		if kind == events.CallHangup {
			e.Hangup = &events.Hangup{Cause: fmt.Sprintf("CAUSE_%d", sec), By: events.Caller}
		}
		return e
	}
	test := func(id, endpoint string) events.Event {
		e := ev(id, "test-"+id, events.CallAnswer, 1, "1002", 0)
		e.Endpoint = endpoint
		return e
	}
	before = []events.Event{
		ev("c1-1", "c1", events.CallRouted, 1, "1002", 0),
		ev("c1-2", "c1", events.CallRinging, 2, "1002", 1),
		ev("c5-1", "c5", events.CallRouted, 1, "1002", 0),
		ev("c5-2", "c5", events.CallAnswer, 2, "1005", 2),
		ev("c7-1", "c7", events.CallRouted, 1, "1002", 0),
	}
	epoch := func(id, call, dest string) events.Event {
		e := ev(id, call, events.CallAnswer, 2, dest, 0)
		e.OccurredAt = time.Unix(0, 0)
		return e
	}
	batch = []events.Event{
		ev("c1-2", "c1", events.CallRinging, 2, "1002", 1), // stored before
		ev("c1-3", "c1", events.CallAnswer, 3, "1003", 3),
		ev("c2-0", "c2", events.CallAnswer, 9, "1099", 1), // before its ROUTED: no row yet
		test("t-gone", "gone"),
		ev("c2-1", "c2", events.CallRouted, 1, "1002", 2),
		ev("c1-4", "c1", events.CallAnswer, 4, "1004", 4), // a second answer
		ev("c3-1", "c3", events.CallRouted, 1, "1002", 0),
		ev("c3-2", "c3", events.CallRinging, 2, "1002", 1),
		ev("c3-2", "c3", events.CallRinging, 2, "1002", 1), // repeated within the batch
		test("t-a", "a"),
		ev("c2-3", "c2", events.CallAnswer, 3, "1003", 3),
		ev("c5-3", "c5", events.CallRouted, 5, "1002", 5), // the call has its row
		ev("c5-4", "c5", events.CallAnswer, 6, "1006", 6),
		ev("c5-5", "c5", events.CallHangup, 7, "1006", 7),
		ev("c4-1", "c4", events.CallHangup, 1, "1002", 1), // a call never routed
		ev("c2-1b", "c2", events.CallRouted, 2, "1002", 4),
		ev("c2-4", "c2", events.CallHangup, 8, "1003", 5),
		ev("c1-5", "c1", events.CallHangup, 2, "1004", 6), // sequence below the last
		ev("c2-5", "c2", events.CallHangup, 5, "1003", 7), // a second hangup
		ev("c6-1", "c6", events.CallRouted, 1, "1010", 0),
		epoch("c6-2", "c6", "1010"),
		epoch("c7-2", "c7", "1012"),
		ev("c6-3", "c6", events.CallAnswer, 3, "1011", 3),
		test("t-gone2", "gone"),
	}
	return before, batch
}

// batchStoreWith opens a migrated store with endpoints a (every event) and b
// (answers only), and one deleted, gone, and records before.
func batchStoreWith(t *testing.T, before []events.Event) store.Store {
	t.Helper()
	st := open(t, filepath.Join(t.TempDir(), "x.db"))
	ctx := t.Context()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, ep := range []*store.Endpoint{
		{ID: "a", URL: "http://127.0.0.1:9/a", Profile: events.Standard, Timeout: time.Second, MaxInFlight: 100},
		{ID: "b", URL: "http://127.0.0.1:9/b", Profile: events.Standard, Timeout: time.Second, MaxInFlight: 100,
			Events: []events.Kind{events.CallAnswer}},
		{ID: "gone", URL: "http://127.0.0.1:9/gone", Profile: events.Standard, Timeout: time.Second, MaxInFlight: 100},
	} {
		if err := st.CreateEndpoint(ctx, ep); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.InsertEvents(ctx, "node-1", before); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteEndpoint(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestBatchIsOneByOne records a batch in one InsertEvents and, on another
// store, one event at a time, and compares what each store then holds and
// delivers.
func TestBatchIsOneByOne(t *testing.T) {
	t.Parallel()
	before, batch := batchCase()
	ctx := t.Context()
	whole, single := batchStoreWith(t, before), batchStoreWith(t, before)
	n, err := whole.InsertEvents(ctx, "node-1", batch)
	if err != nil {
		t.Fatal(err)
	}
	m := 0
	for _, e := range batch {
		k, err := single.InsertEvents(ctx, "node-1", []events.Event{e})
		if err != nil {
			t.Fatal(err)
		}
		m += k
	}
	if n != m {
		t.Errorf("one batch created %d deliveries, one by one %d", n, m)
	}
	got, want := contents(t, whole), contents(t, single)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("one batch left\n%+v\none by one\n%+v", got, want)
	}
	// The rules, spelled out for the calls most of them meet.
	for _, c := range got.calls {
		switch c.CallUUID {
		case "c1":
			if c.AnsweredBy != "1003" || c.HangupCause != "CAUSE_6" || c.LastSequence != 4 {
				t.Errorf("c1 = %+v: want answered by 1003 (the first answer), CAUSE_6, last sequence 4", c)
			}
		case "c2":
			if c.AnsweredBy != "1003" || c.HangupCause != "CAUSE_5" || c.LastSequence != 8 {
				t.Errorf("c2 = %+v: want answered by 1003 (not by the answer before its ROUTED), CAUSE_5 (the first hangup), last sequence 8", c)
			}
		case "c5":
			if c.AnsweredBy != "1005" || c.HangupCause != "CAUSE_7" || c.LastSequence != 7 {
				t.Errorf("c5 = %+v: want answered by 1005 (before the batch), CAUSE_7, last sequence 7", c)
			}
		case "c6":
			if c.AnsweredBy != "1011" || c.LastSequence != 3 {
				t.Errorf("c6 = %+v: want answered by 1011 (the answer at the epoch reads as none), last sequence 3", c)
			}
		case "c7":
			if c.AnsweredBy != "1012" || !c.AnsweredAt.IsZero() {
				t.Errorf("c7 = %+v: want answered by 1012 at no time (the answer at the epoch)", c)
			}
		case "c4":
			t.Errorf("c4, never routed, has a row: %+v", c)
		}
	}
	if len(got.calls) != 6 {
		t.Errorf("%d calls, want c1, c2, c3, c5, c6, c7", len(got.calls))
	}
	for _, d := range got.deliveries {
		if d.EndpointID == "gone" {
			t.Errorf("delivery %d to the deleted endpoint", d.ID)
		}
	}
	// What the queues in memory hand out, round after round, and the
	// outcomes recorded in one batch and one at a time.
	now := time.Date(2025, 6, 2, 0, 0, 0, 0, time.UTC)
	for round := 0; ; round++ {
		if round > 100 {
			t.Fatal("the deliveries are not all claimed after 100 rounds")
		}
		a, b := claimAll(t, whole, now), claimAll(t, single, now)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("round %d: one batch claimed %v, one by one %v", round, a, b)
		}
		if len(a) == 0 {
			break
		}
		var outs []store.Outcome
		for i, j := range a {
			o := store.Outcome{Attempt: store.Attempt{DeliveryID: j.id, At: now, StatusCode: 200}, Status: store.Succeeded}
			if i%3 == 1 && round == 0 {
				o = store.Outcome{Attempt: store.Attempt{DeliveryID: j.id, At: now, Error: "refused"},
					Status: store.Pending, NextAttemptAt: now, Error: "refused"}
			}
			outs = append(outs, o)
		}
		if err := whole.CompleteAttempts(ctx, "bench", outs); err != nil {
			t.Fatal(err)
		}
		for _, o := range outs {
			if err := single.CompleteAttempts(ctx, "bench", []store.Outcome{o}); err != nil {
				t.Fatal(err)
			}
		}
	}
	got, want = contents(t, whole), contents(t, single)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after delivery, one batch left\n%+v\none by one\n%+v", got, want)
	}
}

type claimed struct {
	id    int64
	event string
}

func claimAll(t *testing.T, st store.Store, now time.Time) []claimed {
	t.Helper()
	jobs, err := st.ClaimDeliveries(t.Context(), store.ClaimParams{Owner: "bench", Now: now, LeaseUntil: now.Add(time.Minute), Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []claimed
	for _, j := range jobs {
		out = append(out, claimed{j.Delivery.ID, j.Event.ID})
	}
	return out
}

// stored is what a store holds, less the times it took from its clock.
type stored struct {
	events     []events.Event
	calls      []*store.Call
	deliveries []store.Delivery
	attempts   map[int64][]store.Attempt
}

func contents(t *testing.T, st store.Store) stored {
	t.Helper()
	ctx := context.WithoutCancel(t.Context())
	var s stored
	var err error
	if s.events, err = st.ListEvents(ctx, store.EventFilter{}); err != nil {
		t.Fatal(err)
	}
	if s.calls, err = st.ListCalls(ctx, store.CallFilter{}); err != nil {
		t.Fatal(err)
	}
	ds, err := st.ListDeliveries(ctx, store.DeliveryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	s.attempts = make(map[int64][]store.Attempt)
	for _, d := range ds {
		c := *d
		c.CreatedAt, c.UpdatedAt, c.LeaseUntil = time.Time{}, time.Time{}, time.Time{}
		s.deliveries = append(s.deliveries, c)
		as, err := st.ListAttempts(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range as {
			s.attempts[d.ID] = append(s.attempts[d.ID], *a)
		}
	}
	return s
}

// TestOutcomesOfOneDeliveryInABatch records two outcomes of one delivery and
// one of a delivery deleted meanwhile in one CompleteAttempts: both attempts
// of the first count, the last outcome stands, and the deleted one's attempt
// is dropped.
func TestOutcomesOfOneDeliveryInABatch(t *testing.T) {
	t.Parallel()
	st := batchStoreWith(t, nil)
	ctx := t.Context()
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	if _, err := st.InsertEvents(ctx, "node-1", []events.Event{
		{ID: "e1", CallUUID: "c1", Kind: events.CallAnswer, OccurredAt: at, Sequence: 1},
	}); err != nil {
		t.Fatal(err)
	}
	jobs, err := st.ClaimDeliveries(ctx, store.ClaimParams{Owner: "n", Now: at, LeaseUntil: at.Add(time.Minute), Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int64{}
	for _, j := range jobs {
		ids[j.Delivery.EndpointID] = j.Delivery.ID
	}
	if len(ids) != 2 {
		t.Fatalf("claimed %v, want a delivery to a and one to b", ids)
	}
	if err := st.DeleteEndpoint(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	err = st.CompleteAttempts(ctx, "n", []store.Outcome{
		{Attempt: store.Attempt{DeliveryID: ids["a"], At: at, Error: "refused"}, Status: store.Pending, NextAttemptAt: at, Error: "refused"},
		{Attempt: store.Attempt{DeliveryID: ids["b"], At: at, StatusCode: 200}, Status: store.Succeeded},
		{Attempt: store.Attempt{DeliveryID: ids["a"], At: at.Add(time.Second), StatusCode: 500}, Status: store.Failed, Error: "gave up"},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := st.GetDelivery(ctx, ids["a"])
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != store.Failed || d.Attempts != 2 || d.LastError != "gave up" || !d.CompletedAt.Equal(at.Add(time.Second)) {
		t.Errorf("delivery = %+v: want failed after 2 attempts, last error %q, completed at %v", d, "gave up", at.Add(time.Second))
	}
	as, err := st.ListAttempts(ctx, ids["a"])
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 2 || as[0].Error != "refused" || as[1].StatusCode != 500 {
		t.Errorf("attempts of a: %+v, want the refused one then the 500", as)
	}
	if as, err := st.ListAttempts(ctx, ids["b"]); err != nil || len(as) != 0 {
		t.Errorf("attempts of the deleted delivery: %v, %v; want none", as, err)
	}
}
