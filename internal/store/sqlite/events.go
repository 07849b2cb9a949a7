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
	st := g.st
	now := time.Now()
	subs, err := g.subscriptions(ctx, tx)
	if err != nil {
		return nil, fmt.Errorf("load endpoints: %w", err)
	}
	var (
		insEvent    = tx.StmtContext(ctx, st.insertEvent)
		insDelivery = tx.StmtContext(ctx, st.insertDelivery)
		openCall    = tx.StmtContext(ctx, st.openCall)
		answerCall  = tx.StmtContext(ctx, st.answerCall)
		endCall     = tx.StmtContext(ctx, st.endCall)
		touchCall   = tx.StmtContext(ctx, st.touchCall)
	)
	var created []*pending
	for i := range evs {
		e := &evs[i]
		res, err := insEvent.ExecContext(ctx, e.ID, e.CallUUID, string(e.Kind), nanos(e.OccurredAt), e.Sequence, e.Endpoint, bodies[i])
		if err != nil {
			return nil, fmt.Errorf("event %s: %w", e.ID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, fmt.Errorf("event %s: %w", e.ID, err)
		} else if n == 0 {
			continue // stored before
		}
		seq, err := res.LastInsertId()
		if err != nil {
			return nil, fmt.Errorf("event %s: %w", e.ID, err)
		}
		due := e.OccurredAt
		if due.After(now) {
			due = now
		}
		var kept *events.Event // shared by its deliveries, which only read it
		deliver := func(endpointID string) error {
			res, err := insDelivery.ExecContext(ctx, seq, endpointID, e.CallUUID, nanos(due), now.UnixNano())
			if err != nil {
				return fmt.Errorf("delivery of %s to %s: %w", e.ID, endpointID, err)
			}
			id, err := res.LastInsertId()
			if err != nil {
				return fmt.Errorf("delivery of %s to %s: %w", e.ID, endpointID, err)
			}
			if kept == nil {
				c := *e
				kept = &c
			}
			created = append(created, &pending{id: id, seq: seq, endpoint: endpointID, call: e.CallUUID,
				next: nanos(due), created: now.UnixNano(), updated: now.UnixNano(), ev: kept})
			return nil
		}
		if e.Endpoint != "" {
			found := false
			for _, sub := range subs {
				found = found || sub.id == e.Endpoint
			}
			if found {
				if err := deliver(e.Endpoint); err != nil {
					return nil, err
				}
			}
			continue // a test event is no part of a call
		}
		for _, sub := range subs {
			if sub.wants(e.Kind) {
				if err := deliver(sub.id); err != nil {
					return nil, err
				}
			}
		}
		switch e.Kind {
		case events.CallRouted:
			_, err = openCall.ExecContext(ctx, e.CallUUID, e.SessionUUID, node, e.Source, e.CallerIDNumber, e.DestinationNumber,
				string(e.Direction), nanos(e.OccurredAt), e.Sequence)
		case events.CallAnswer:
			_, err = answerCall.ExecContext(ctx, e.CallUUID, nanos(e.OccurredAt), e.DestinationNumber, e.Sequence)
		case events.CallHangup:
			var cause string
			if e.Hangup != nil {
				cause = e.Hangup.Cause
			}
			_, err = endCall.ExecContext(ctx, e.CallUUID, nanos(e.OccurredAt), cause, e.Sequence)
		default:
			_, err = touchCall.ExecContext(ctx, e.CallUUID, e.Sequence)
		}
		if err != nil {
			return nil, fmt.Errorf("call %s of event %s: %w", e.CallUUID, e.ID, err)
		}
	}
	return created, nil
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
