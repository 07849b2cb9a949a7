package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/store"
	"github.com/switchhook/switchhook/internal/store/query"
)

// insertEventsSQL records a batch of events, given as parallel arrays, with
// their deliveries and calls, in one statement. Its CTEs all see the
// database as it was when the statement began, so the calls are updated
// from one aggregate per call (first answer, first hangup, highest
// sequence) rather than event by event. Calls are looked up by an array of
// keys, which is planned as an index scan however large the table.
//
// Delivery IDs follow the events' order, the order of the chains: the rows
// are inserted sorted by the events' seq, which follows the batch's order. A
// new delivery heads its chain if it is the chain's first in the batch and
// the chain has no pending delivery; the batch's calls are locked (see
// chainLock) before the statement begins. The chain is asked with a min()
// rather than NOT EXISTS, which the planner may turn into one read of every
// pending delivery: a min() is one probe of deliveries_chain per row.
const insertEventsSQL = `WITH input AS (
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::bigint[], $6::text[], $7::text[],
		$8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[]) WITH ORDINALITY
		AS i(id, call_uuid, kind, occurred_at, sequence, endpoint, body,
			session_uuid, source, caller, dest, direction, cause, ord)
), inserted AS (
	INSERT INTO events (id, call_uuid, kind, occurred_at, sequence, endpoint, body)
	SELECT id, call_uuid, kind, occurred_at, sequence, endpoint, body::json FROM input ORDER BY ord
	ON CONFLICT (id) DO NOTHING
	RETURNING seq, id
), fresh AS (
	SELECT i.*, n.seq FROM input i JOIN inserted n ON n.id = i.id
), delivered AS (
	INSERT INTO deliveries (event_seq, endpoint_id, call_uuid, status, head, attempts, next_attempt_at, last_error, created_at, updated_at)
	SELECT f.seq, ep.id, f.call_uuid, 'pending',
		row_number() OVER (PARTITION BY ep.id, f.call_uuid ORDER BY f.seq) = 1 AND (SELECT min(p.id) FROM deliveries p
			WHERE p.call_uuid = f.call_uuid AND p.endpoint_id = ep.id AND p.status = 'pending') IS NULL,
		0, least(f.occurred_at, $15), '', $15, $15
	FROM fresh f JOIN endpoints ep ON CASE WHEN f.endpoint = '' THEN cardinality(ep.events) = 0 OR f.kind = ANY (ep.events)
		ELSE ep.id = f.endpoint END
	ORDER BY f.seq, ep.id
	RETURNING 1
), per_call AS (
	SELECT call_uuid,
		max(sequence) AS last_sequence,
		min(ord) FILTER (WHERE kind = 'CALL_ROUTED') AS routed,
		(array_agg(occurred_at ORDER BY ord) FILTER (WHERE kind = 'CALL_ANSWER'))[1] AS answered_at,
		(array_agg(dest ORDER BY ord) FILTER (WHERE kind = 'CALL_ANSWER'))[1] AS answered_by,
		(array_agg(occurred_at ORDER BY ord) FILTER (WHERE kind = 'CALL_HANGUP'))[1] AS ended_at,
		(array_agg(cause ORDER BY ord) FILTER (WHERE kind = 'CALL_HANGUP'))[1] AS cause
	FROM fresh WHERE endpoint = '' GROUP BY call_uuid
), opened AS (
	INSERT INTO calls (call_uuid, session_uuid, node, source, caller_id_number, destination_number, direction,
		started_at, answered_at, answered_by, ended_at, hangup_cause, last_sequence)
	SELECT p.call_uuid, r.session_uuid, $14, r.source, r.caller, r.dest, r.direction,
		r.occurred_at, p.answered_at, coalesce(p.answered_by, ''), p.ended_at, coalesce(p.cause, ''), p.last_sequence
	FROM per_call p JOIN fresh r ON r.ord = p.routed
	ON CONFLICT (call_uuid) DO UPDATE SET
		answered_by = CASE WHEN calls.answered_at IS NULL THEN excluded.answered_by ELSE calls.answered_by END,
		answered_at = coalesce(calls.answered_at, excluded.answered_at),
		hangup_cause = CASE WHEN calls.ended_at IS NULL THEN excluded.hangup_cause ELSE calls.hangup_cause END,
		ended_at = coalesce(calls.ended_at, excluded.ended_at),
		last_sequence = greatest(calls.last_sequence, excluded.last_sequence)
	RETURNING 1
), touched AS (
	UPDATE calls c SET
		answered_by = CASE WHEN c.answered_at IS NULL AND p.answered_at IS NOT NULL THEN p.answered_by ELSE c.answered_by END,
		answered_at = coalesce(c.answered_at, p.answered_at),
		hangup_cause = CASE WHEN c.ended_at IS NULL AND p.ended_at IS NOT NULL THEN p.cause ELSE c.hangup_cause END,
		ended_at = coalesce(c.ended_at, p.ended_at),
		last_sequence = greatest(c.last_sequence, p.last_sequence)
	FROM per_call p
	WHERE c.call_uuid = ANY (ARRAY(SELECT call_uuid FROM per_call WHERE routed IS NULL))
		AND p.call_uuid = c.call_uuid
	RETURNING 1
), notified AS (
	SELECT pg_notify($16, '') FROM (SELECT 1 FROM delivered LIMIT 1) AS any_delivery
)
SELECT (SELECT count(*) FROM delivered), (SELECT count(*) FROM notified)`

// InsertEvents records a batch of events, their deliveries and their calls in
// one round trip (the calls' chain locks, then one statement), and notifies
// the listening nodes when it created deliveries. A new delivery is due at
// its event's OccurredAt, or now if that is later, so that a source whose
// clock runs ahead does not delay it.
//
// An event whose ID is already stored is skipped, so that a batch sent again
// after an uncertain commit creates nothing twice. A test event for an
// endpoint deleted meanwhile is stored without a delivery rather than failing
// the calls' events batched with it.
func (s *Store) InsertEvents(ctx context.Context, node string, evs []events.Event) (int, error) {
	if len(evs) == 0 {
		return 0, nil
	}
	n := len(evs)
	var (
		ids, calls, kinds, endpoints, bodies    = make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
		sessions, sources, callers, dests, dirs = make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
		causes                                  = make([]string, 0, n)
		occurred                                = make([]time.Time, 0, n)
		seqs                                    = make([]int64, 0, n)
		seen                                    = make(map[string]bool, n)
	)
	for i := range evs {
		e := &evs[i]
		if err := store.ValidateEvent(e); err != nil {
			return 0, fmt.Errorf("insert events: %w", err)
		}
		if seen[e.ID] {
			continue // the same event twice in a batch is stored once
		}
		seen[e.ID] = true
		b, err := json.Marshal(e)
		if err != nil {
			return 0, fmt.Errorf("insert events: event %s: %w", e.ID, err)
		}
		var cause string
		if e.Hangup != nil {
			cause = e.Hangup.Cause
		}
		ids, calls, kinds = append(ids, e.ID), append(calls, e.CallUUID), append(kinds, string(e.Kind))
		occurred, seqs = append(occurred, e.OccurredAt), append(seqs, e.Sequence)
		endpoints, bodies = append(endpoints, e.Endpoint), append(bodies, string(b))
		sessions, sources = append(sessions, e.SessionUUID), append(sources, e.Source)
		callers, dests = append(callers, e.CallerIDNumber), append(dests, e.DestinationNumber)
		dirs, causes = append(dirs, string(e.Direction)), append(causes, cause)
	}
	calls = texts(calls)
	b := &pgx.Batch{}
	b.Queue(hotPlansSQL)
	b.Queue(lockCallsSQL, calls)
	b.Queue(insertEventsSQL,
		texts(ids), calls, kinds, occurred, seqs, texts(endpoints), bodies,
		texts(sessions), texts(sources), texts(callers), texts(dests), texts(dirs), texts(causes),
		text(node), time.Now(), channel)
	res := s.pool.SendBatch(ctx, b)
	defer res.Close()
	if _, err := res.Exec(); err != nil {
		return 0, fmt.Errorf("insert events: %w", err)
	}
	if _, err := res.Exec(); err != nil {
		return 0, fmt.Errorf("insert events: lock the calls: %w", err)
	}
	var created, notified int
	if err := res.QueryRow().Scan(&created, &notified); err != nil {
		return 0, fmt.Errorf("insert events: %w", err)
	}
	if err := res.Close(); err != nil {
		return 0, fmt.Errorf("insert events: %w", err)
	}
	return created, nil
}

// ListEvents returns the events f selects, oldest first.
func (s *Store) ListEvents(ctx context.Context, f store.EventFilter) ([]events.Event, error) {
	w := query.Where{Numbered: true}
	if f.CallUUID != "" {
		w.Add("call_uuid = ?", text(f.CallUUID))
	}
	if f.Kind != "" {
		w.Add("kind = ?", text(string(f.Kind)))
	}
	if !f.Since.IsZero() {
		w.Add("occurred_at >= ?", f.Since)
	}
	if !f.Until.IsZero() {
		w.Add("occurred_at < ?", f.Until)
	}
	q := "SELECT body FROM events" + w.String() + " ORDER BY seq" + query.Limit(f.Limit)
	if f.Newest {
		q = "SELECT body FROM (SELECT body, seq FROM events" + w.String() + " ORDER BY seq DESC" + query.Limit(f.Limit) + ") AS last ORDER BY seq"
	}
	rows, err := s.pool.Query(ctx, q, w.Args()...)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (events.Event, error) {
		var (
			body []byte
			e    events.Event
		)
		if err := row.Scan(&body); err != nil {
			return e, err
		}
		if err := json.Unmarshal(body, &e); err != nil {
			return e, fmt.Errorf("decode: %w", err)
		}
		return e, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	return out, nil
}

const callColumns = `call_uuid, session_uuid, node, source, caller_id_number, destination_number, direction,
	started_at, answered_at, answered_by, ended_at, hangup_cause, last_sequence`

func scanCall(row pgx.Row) (*store.Call, error) {
	var (
		c               store.Call
		dir             string
		started         time.Time
		answered, ended pgtype.Timestamptz
	)
	if err := row.Scan(&c.CallUUID, &c.SessionUUID, &c.Node, &c.Source, &c.CallerIDNumber, &c.DestinationNumber, &dir,
		&started, &answered, &c.AnsweredBy, &ended, &c.HangupCause, &c.LastSequence); err != nil {
		return nil, err
	}
	c.Direction = events.Direction(dir)
	c.StartedAt, c.AnsweredAt, c.EndedAt = started.UTC(), fromTS(answered), fromTS(ended)
	return &c, nil
}

func (s *Store) queryCalls(ctx context.Context, what, q string, args ...any) ([]*store.Call, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.Call, error) { return scanCall(row) })
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// GetCall returns the call callUUID, or an error wrapping store.ErrNotFound.
func (s *Store) GetCall(ctx context.Context, callUUID string) (*store.Call, error) {
	c, err := scanCall(s.pool.QueryRow(ctx, "SELECT "+callColumns+" FROM calls WHERE call_uuid = $1", text(callUUID)))
	if errNoRows(err) {
		return nil, fmt.Errorf("get call %s: %w", callUUID, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get call %s: %w", callUUID, err)
	}
	return c, nil
}

// ListCalls returns the calls f selects, newest first.
func (s *Store) ListCalls(ctx context.Context, f store.CallFilter) ([]*store.Call, error) {
	w := query.Where{Numbered: true}
	if f.Number != "" {
		w.Add("(caller_id_number = ? OR destination_number = ?)", text(f.Number), text(f.Number))
	}
	if f.Session != "" {
		w.Add("session_uuid = ?", text(f.Session))
	}
	if !f.Since.IsZero() {
		w.Add("started_at >= ?", f.Since)
	}
	if !f.Until.IsZero() {
		w.Add("started_at < ?", f.Until)
	}
	if f.Kind != "" {
		w.Add("EXISTS (SELECT 1 FROM events e WHERE e.call_uuid = calls.call_uuid AND e.kind = ?)", text(string(f.Kind)))
	}
	return s.queryCalls(ctx, "list calls",
		"SELECT "+callColumns+" FROM calls"+w.String()+" ORDER BY started_at DESC, seq DESC"+query.Limit(f.Limit), w.Args()...)
}

// OpenCalls lists the calls owned by node that have not hung up, oldest first.
func (s *Store) OpenCalls(ctx context.Context, node string) ([]*store.Call, error) {
	return s.queryCalls(ctx, "open calls of "+node,
		"SELECT "+callColumns+" FROM calls WHERE node = $1 AND ended_at IS NULL ORDER BY started_at, seq", text(node))
}
