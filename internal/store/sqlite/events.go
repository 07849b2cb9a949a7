package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/store"
	"github.com/switchhook/switchhook/internal/store/query"
)

// subscription is what InsertEvents needs of an endpoint.
type subscription struct {
	id    string
	kinds []events.Kind // empty: all
}

func (sub *subscription) wants(k events.Kind) bool {
	ep := store.Endpoint{Events: sub.kinds}
	return ep.Subscribes(k)
}

func loadSubscriptions(ctx context.Context, st *sql.Stmt) ([]subscription, error) {
	rows, err := st.QueryContext(ctx)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var subs []subscription
	for rows.Next() {
		var id, kinds string
		if err := rows.Scan(&id, &kinds); err != nil {
			return nil, err
		}
		ks, err := decodeKinds(kinds)
		if err != nil {
			return nil, fmt.Errorf("endpoint %s: events: %w", id, err)
		}
		subs = append(subs, subscription{id: id, kinds: ks})
	}
	return subs, rows.Err()
}

// InsertEvents records a batch of events, their deliveries and their calls in
// one transaction. A new delivery is due at its event's OccurredAt, or now if
// that is later, so that a source whose clock runs ahead does not delay it.
//
// An event whose ID is already stored is skipped, so that a batch sent again
// after an uncertain commit creates nothing twice. A test event for an
// endpoint deleted meanwhile is stored without a delivery rather than failing
// the calls' events batched with it.
func (s *Store) InsertEvents(ctx context.Context, node string, evs []events.Event) (int, error) {
	if len(evs) == 0 {
		return 0, nil
	}
	// Encode before taking the writer, which the other writers wait for.
	bodies := make([]string, len(evs))
	for i := range evs {
		e := &evs[i]
		if err := store.ValidateEvent(e); err != nil {
			return 0, fmt.Errorf("insert events: %w", err)
		}
		b, err := json.Marshal(e)
		if err != nil {
			return 0, fmt.Errorf("insert events: event %s: %w", e.ID, err)
		}
		bodies[i] = string(b)
	}
	created := 0
	err := s.submit(ctx, func(ctx context.Context, tx *sql.Tx, g *group) error {
		ds, err := insertEvents(ctx, tx, g, node, evs, bodies)
		if err != nil {
			return err
		}
		created = len(ds)
		g.after = append(g.after, func() { s.q.addAll(ds) })
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("insert events: %w", err)
	}
	return created, nil
}

// insertEvents is InsertEvents's part of a shared transaction. It returns
// the deliveries it created, for the queue.
func insertEvents(ctx context.Context, tx *sql.Tx, g *group, node string, evs []events.Event, bodies []string) ([]*pending, error) {
	now := time.Now()
	subs, err := g.subscriptions(ctx, tx)
	if err != nil {
		return nil, fmt.Errorf("load endpoints: %w", err)
	}
	seqs, err := storeEvents(ctx, tx, g.st, evs, bodies)
	if err != nil {
		return nil, err
	}
	var (
		created []*pending
		calls   callChanges
	)
	for i := range evs {
		seq := seqs[i]
		if seq == 0 {
			continue // stored before
		}
		e := &evs[i]
		due := e.OccurredAt
		if due.After(now) {
			due = now
		}
		var kept *events.Event // shared by its deliveries, which only read it
		deliver := func(endpointID string) {
			if kept == nil {
				c := *e
				kept = &c
			}
			created = append(created, &pending{seq: seq, endpoint: endpointID, call: e.CallUUID,
				next: nanos(due), created: now.UnixNano(), updated: now.UnixNano(), ev: kept})
		}
		if e.Endpoint != "" {
			for _, sub := range subs {
				if sub.id == e.Endpoint {
					deliver(e.Endpoint)
					break
				}
			}
			continue // a test event is no part of a call
		}
		for _, sub := range subs {
			if sub.wants(e.Kind) {
				deliver(sub.id)
			}
		}
		calls.add(e)
	}
	if err := insertDeliveries(ctx, tx, g.st, created); err != nil {
		return nil, err
	}
	if err := calls.write(ctx, tx, g.st, node); err != nil {
		return nil, err
	}
	return created, nil
}

// storeEvents inserts the events not stored yet and returns each one's seq,
// or 0 for those stored before. Of an ID repeated within evs the first is
// stored, as one insert after another would.
//
// The rows of a multi-row INSERT get seqs in the order given, each above
// every seq before (AUTOINCREMENT), and consecutive unless a row was
// skipped, which takes a seq too: so the last one's seq tells them all. The
// seqs of a chunk some of whose events were stored before are read back.
// (RETURNING would tell too, but made recording a batch of 16 cost 40–70%
// more CPU per event.)
func storeEvents(ctx context.Context, tx *sql.Tx, st *statements, evs []events.Event, bodies []string) ([]int64, error) {
	seqs := make([]int64, len(evs))
	var (
		byID = make(map[string]int, len(evs))
		send = make([]int, 0, len(evs))
	)
	for i := range evs {
		if _, ok := byID[evs[i].ID]; !ok {
			byID[evs[i].ID] = i
			send = append(send, i)
		}
	}
	args := make([]any, 0, 7*min(len(send), 1<<maxRowsLog))
	err := st.insertEvents.each(ctx, tx, len(send), func(ins *sql.Stmt, from, to int) error {
		args = args[:0]
		for _, i := range send[from:to] {
			e := &evs[i]
			args = append(args, e.ID, e.CallUUID, string(e.Kind), nanos(e.OccurredAt), e.Sequence, e.Endpoint, bodies[i])
		}
		res, err := ins.ExecContext(ctx, args...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil || n == 0 {
			return err
		}
		last, err := res.LastInsertId()
		if err != nil {
			return err
		}
		if n == int64(to-from) {
			for k, i := range send[from:to] {
				seqs[i] = last - n + 1 + int64(k)
			}
			return nil
		}
		return readSeqs(ctx, tx, n, byID, seqs)
	})
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	return seqs, nil
}

// readSeqs sets the seqs of the n events just stored: the n highest.
func readSeqs(ctx context.Context, tx *sql.Tx, n int64, byID map[string]int, seqs []int64) error {
	rows, err := tx.QueryContext(ctx, "SELECT id, seq FROM events ORDER BY seq DESC LIMIT ?", n)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id  string
			seq int64
		)
		if err := rows.Scan(&id, &seq); err != nil {
			return err
		}
		i, ok := byID[id]
		if !ok {
			return fmt.Errorf("event %d (%s) is not of the batch", seq, id)
		}
		seqs[i] = seq
	}
	return rows.Err()
}

// insertDeliveries inserts ds, in order, and sets their IDs: consecutive,
// as the seqs of events a multi-row INSERT stores all of (storeEvents).
func insertDeliveries(ctx context.Context, tx *sql.Tx, st *statements, ds []*pending) error {
	args := make([]any, 0, 6*min(len(ds), 1<<maxRowsLog))
	err := st.insertDeliveries.each(ctx, tx, len(ds), func(ins *sql.Stmt, from, to int) error {
		args = args[:0]
		for _, d := range ds[from:to] {
			args = append(args, d.seq, d.endpoint, d.call, d.next, d.created, d.updated)
		}
		res, err := ins.ExecContext(ctx, args...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n != int64(to-from) {
			return fmt.Errorf("inserted %d deliveries of %d", n, to-from)
		}
		last, err := res.LastInsertId()
		if err != nil {
			return err
		}
		for k, d := range ds[from:to] {
			d.id = last - n + 1 + int64(k)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("deliveries: %w", err)
	}
	return nil
}

// callChanges are what a batch's new events change in their calls' rows,
// each call's in one row of a multi-row statement or two. They are the
// effect of the calls' statements the events would make one by one: a
// ROUTED creates the row if the call has none (and otherwise only raises
// last_sequence), an ANSWER or a HANGUP of a call without a row changes
// nothing, and the first answer and the first hangup win.
type callChanges struct {
	list  []*callChange
	index map[string]*callChange
}

type callChange struct {
	uuid  string
	first *events.Event // the call's first new event of the batch
	// routed is the call's first ROUTED of the batch, nil if none;
	// fromRouted folds it and the events after it, for a call that gets
	// its row from it.
	routed     *events.Event
	fromRouted callFold
	all        callFold // every event, for a call that had its row
}

// callFold is what a run of a call's events changes in its row, from a row
// that has not been answered nor ended.
type callFold struct {
	answered, ended         bool
	answeredAt, endedAt     int64
	answeredBy, hangupCause string
	last                    int64 // the highest sequence
	some                    bool  // an event has been folded
}

func (f *callFold) add(e *events.Event) {
	switch e.Kind {
	case events.CallAnswer:
		if f.answeredAt == 0 {
			f.answered, f.answeredAt, f.answeredBy = true, nanos(e.OccurredAt), e.DestinationNumber
		}
	case events.CallHangup:
		if f.endedAt == 0 {
			f.ended, f.endedAt, f.hangupCause = true, nanos(e.OccurredAt), ""
			if e.Hangup != nil {
				f.hangupCause = e.Hangup.Cause
			}
		}
	}
	if !f.some || e.Sequence > f.last {
		f.last = e.Sequence
	}
	f.some = true
}

// add folds e, the next new event of its call.
func (cs *callChanges) add(e *events.Event) {
	c := cs.index[e.CallUUID]
	if c == nil {
		if cs.index == nil {
			cs.index = make(map[string]*callChange)
		}
		c = &callChange{uuid: e.CallUUID, first: e}
		cs.index[e.CallUUID] = c
		cs.list = append(cs.list, c)
	}
	if c.routed == nil && e.Kind == events.CallRouted {
		c.routed = e
	}
	if c.routed != nil {
		c.fromRouted.add(e)
	}
	c.all.add(e)
}

// write brings the calls' rows up to the batch. A call with a row before
// the batch has all its events folded into it, and one without, those from
// its first ROUTED on. A call whose events in the batch begin with a ROUTED
// folds the same events either way, and folding them into its row twice
// changes nothing more: its row is created if missing, and changed if
// there was one, or if its chunk of the INSERT cannot tell. The others are
// changed before any row is created, so that their events before their
// ROUTED change nothing, as they would have one by one.
func (cs *callChanges) write(ctx context.Context, tx *sql.Tx, st *statements, node string) error {
	var before, opens, after []*callChange
	for _, c := range cs.list {
		if c.routed == nil || c.routed != c.first {
			before = append(before, c)
		}
		if c.routed != nil {
			opens = append(opens, c)
		}
	}
	args := make([]any, 0, 13*min(len(cs.list), 1<<maxRowsLog))
	update := func(list []*callChange) error {
		var answer, end []*callChange
		for _, c := range list {
			if c.all.ended {
				end = append(end, c)
			} else {
				answer = append(answer, c)
			}
		}
		err := st.answerCalls.each(ctx, tx, len(answer), func(upd *sql.Stmt, from, to int) error {
			args = args[:0]
			for _, c := range answer[from:to] {
				f := &c.all
				args = append(args, c.uuid, f.answered, f.answeredAt, f.answeredBy, f.last)
			}
			_, err := upd.ExecContext(ctx, args...)
			return err
		})
		if err != nil {
			return err
		}
		return st.endCalls.each(ctx, tx, len(end), func(upd *sql.Stmt, from, to int) error {
			args = args[:0]
			for _, c := range end[from:to] {
				f := &c.all
				args = append(args, c.uuid, f.answered, f.answeredAt, f.answeredBy, f.last, f.endedAt, f.hangupCause)
			}
			_, err := upd.ExecContext(ctx, args...)
			return err
		})
	}
	if err := update(before); err != nil {
		return fmt.Errorf("calls: %w", err)
	}
	err := st.openCalls.each(ctx, tx, len(opens), func(ins *sql.Stmt, from, to int) error {
		args = args[:0]
		for _, c := range opens[from:to] {
			e, f := c.routed, &c.fromRouted
			args = append(args, c.uuid, e.SessionUUID, node, e.Source, e.CallerIDNumber, e.DestinationNumber,
				string(e.Direction), nanos(e.OccurredAt), f.answeredAt, f.answeredBy, f.endedAt, f.hangupCause, f.last)
		}
		res, err := ins.ExecContext(ctx, args...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n < int64(to-from) {
			for _, c := range opens[from:to] {
				if c.routed == c.first {
					after = append(after, c)
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("calls: %w", err)
	}
	if err := update(after); err != nil {
		return fmt.Errorf("calls: %w", err)
	}
	return nil
}

// subscriptions returns the endpoints' subscriptions, read again only after
// an endpoint changed. The generation is taken before the read, so that a
// change committed meanwhile makes the next transaction read them again.
func (g *group) subscriptions(ctx context.Context, tx *sql.Tx) ([]subscription, error) {
	c := g.subs
	gen := g.endpoints.generation()
	if c.ok && c.gen == gen {
		return c.list, nil
	}
	subs, err := loadSubscriptions(ctx, tx.StmtContext(ctx, g.st.subscriptions))
	if err != nil {
		return nil, err
	}
	c.list, c.gen, c.ok = subs, gen, true
	return subs, nil
}

// ListEvents returns the events f selects, oldest first.
func (s *Store) ListEvents(ctx context.Context, f store.EventFilter) ([]events.Event, error) {
	var w query.Where
	if f.CallUUID != "" {
		w.Add("call_uuid = ?", f.CallUUID)
	}
	if f.Kind != "" {
		w.Add("kind = ?", string(f.Kind))
	}
	if !f.Since.IsZero() {
		w.Add("occurred_at >= ?", nanos(f.Since))
	}
	if !f.Until.IsZero() {
		w.Add("occurred_at < ?", nanos(f.Until))
	}
	q := "SELECT body FROM events" + w.String() + " ORDER BY seq" + query.Limit(f.Limit)
	if f.Newest {
		q = "SELECT body FROM (SELECT body, seq FROM events" + w.String() + " ORDER BY seq DESC" + query.Limit(f.Limit) + ") ORDER BY seq"
	}
	rows, err := s.r.QueryContext(ctx, q, w.Args()...)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()
	var out []events.Event
	for rows.Next() {
		var body []byte
		if err := rows.Scan(&body); err != nil {
			return nil, fmt.Errorf("list events: %w", err)
		}
		var e events.Event
		if err := json.Unmarshal(body, &e); err != nil {
			return nil, fmt.Errorf("list events: decode: %w", err)
		}
		out = append(out, e)
	}
	return out, wrap("list events", rows.Err())
}

const callColumns = `call_uuid, session_uuid, node, source, caller_id_number, destination_number, direction,
	started_at, answered_at, answered_by, ended_at, hangup_cause, last_sequence`

func scanCall(sc scanner) (*store.Call, error) {
	var (
		c                        store.Call
		dir                      string
		started, answered, ended int64
	)
	if err := sc.Scan(&c.CallUUID, &c.SessionUUID, &c.Node, &c.Source, &c.CallerIDNumber, &c.DestinationNumber, &dir,
		&started, &answered, &c.AnsweredBy, &ended, &c.HangupCause, &c.LastSequence); err != nil {
		return nil, err
	}
	c.Direction = events.Direction(dir)
	c.StartedAt, c.AnsweredAt, c.EndedAt = fromNanos(started), fromNanos(answered), fromNanos(ended)
	return &c, nil
}

func (s *Store) queryCalls(ctx context.Context, what, q string, args ...any) ([]*store.Call, error) {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var out []*store.Call
	for rows.Next() {
		c, err := scanCall(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, c)
	}
	return out, wrap(what, rows.Err())
}

// GetCall returns the call callUUID, or an error wrapping store.ErrNotFound.
func (s *Store) GetCall(ctx context.Context, callUUID string) (*store.Call, error) {
	c, err := scanCall(s.r.QueryRowContext(ctx, "SELECT "+callColumns+" FROM calls WHERE call_uuid = ?", callUUID))
	if errNoRows(err) {
		return nil, fmt.Errorf("get call %s: %w", callUUID, store.ErrNotFound)
	}
	return c, wrap("get call "+callUUID, err)
}

// ListCalls returns the calls f selects, newest first.
func (s *Store) ListCalls(ctx context.Context, f store.CallFilter) ([]*store.Call, error) {
	var w query.Where
	if f.Number != "" {
		w.Add("(caller_id_number = ? OR destination_number = ?)", f.Number, f.Number)
	}
	if f.Session != "" {
		w.Add("session_uuid = ?", f.Session)
	}
	if !f.Since.IsZero() {
		w.Add("started_at >= ?", nanos(f.Since))
	}
	if !f.Until.IsZero() {
		w.Add("started_at < ?", nanos(f.Until))
	}
	if f.Kind != "" {
		w.Add("EXISTS (SELECT 1 FROM events e WHERE e.call_uuid = calls.call_uuid AND e.kind = ?)", string(f.Kind))
	}
	return s.queryCalls(ctx, "list calls",
		"SELECT "+callColumns+" FROM calls"+w.String()+" ORDER BY started_at DESC, rowid DESC"+query.Limit(f.Limit), w.Args()...)
}

// OpenCalls lists the calls owned by node that have not hung up, oldest first.
func (s *Store) OpenCalls(ctx context.Context, node string) ([]*store.Call, error) {
	return s.queryCalls(ctx, "open calls of "+node,
		"SELECT "+callColumns+" FROM calls WHERE node = ? AND ended_at = 0 ORDER BY started_at, rowid", node)
}
