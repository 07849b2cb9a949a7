package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// statements are the queries of the hot paths (recording events, claiming,
// completing), prepared once: the driver would otherwise parse each of them
// again for every row of every batch.
type statements struct {
	// On the writer.
	subscriptions  *sql.Stmt
	insertEvent    *sql.Stmt
	insertDelivery *sql.Stmt
	openCall       *sql.Stmt
	answerCall     *sql.Stmt
	endCall        *sql.Stmt
	touchCall      *sql.Stmt
	insertAttempt  *sql.Stmt
	finishAttempt  *sql.Stmt
	promoteHead    *sql.Stmt

	// On the claimer's connection.
	claimEndpoints *sql.Stmt
	claimHeads     *sql.Stmt
	claimRows      *sql.Stmt
	claimHeadRows  *sql.Stmt
	dueEndpoints   *sql.Stmt
	dueHeads       *sql.Stmt

	// On the readers.
	getEndpoint *sql.Stmt // every test event reads its endpoint
}

// insertDeliverySQL makes a delivery the head of its chain when the chain has
// no other pending delivery.
const insertDeliverySQL = `INSERT INTO deliveries
	(event_seq, endpoint_id, call_uuid, status, head, attempts, next_attempt_at, last_error, created_at, updated_at, completed_at)
	SELECT ?1, ?2, ?3, 'pending',
		NOT EXISTS (SELECT 1 FROM deliveries WHERE endpoint_id = ?2 AND call_uuid = ?3 AND status = 'pending'),
		0, ?4, '', ?5, ?5, 0`

// promoteHeadSQL makes the oldest pending delivery of a chain its head, after
// the previous head left the pending state.
const promoteHeadSQL = `UPDATE deliveries SET head = 1
	WHERE head = 0 AND id = (SELECT min(id) FROM deliveries WHERE endpoint_id = ?1 AND call_uuid = ?2 AND status = 'pending')`

// claimHeadsSQL reads the IDs of an endpoint's due chain heads, oldest
// first, from the index alone. The planner, left to itself, may pick the
// index on next_attempt_at and sort every due head of the endpoint; walking
// heads in ID order instead stops after LIMIT rows. The heads leased out are
// among them, so the rows and events are read only for the IDs chosen
// (claimRowsSQL).
const claimHeadsSQL = `SELECT id FROM deliveries INDEXED BY deliveries_heads
	WHERE endpoint_id = ? AND head = 1 AND next_attempt_at <= ?
	ORDER BY id LIMIT ?`

// claimHeadRowsSQL reads an endpoint's due chain heads with their events,
// oldest first, for an endpoint that has none leased out.
const claimHeadRowsSQL = `SELECT d.id, d.endpoint_id, d.attempts, d.next_attempt_at, d.last_error, d.created_at, d.updated_at, e.body
	FROM deliveries d INDEXED BY deliveries_heads JOIN events e ON e.seq = d.event_seq
	WHERE d.endpoint_id = ? AND d.head = 1 AND d.next_attempt_at <= ?
	ORDER BY d.id LIMIT ?`

// claimRowsSQL reads the deliveries whose IDs are in a JSON array, with
// their events.
const claimRowsSQL = `SELECT d.id, d.endpoint_id, d.attempts, d.next_attempt_at, d.last_error, d.created_at, d.updated_at, e.body
	FROM deliveries d JOIN events e ON e.seq = d.event_seq
	WHERE d.id IN (SELECT value FROM json_each(?)) AND d.status = 'pending' AND d.head = 1`

// dueHeadsSQL reads an endpoint's chain heads, earliest due first.
const dueHeadsSQL = `SELECT id, next_attempt_at FROM deliveries INDEXED BY deliveries_heads_due WHERE endpoint_id = ? AND head = 1 ORDER BY next_attempt_at, id`

// prepared returns the statements, preparing them on first use. It must not
// be called inside a write transaction: preparing on the writer needs its
// only connection.
func (s *Store) prepared(ctx context.Context) (*statements, error) {
	s.prepMu.Lock()
	defer s.prepMu.Unlock()
	if s.st != nil {
		return s.st, nil
	}
	st := &statements{}
	list := []struct {
		dst *(*sql.Stmt)
		db  *sql.DB
		sql string
	}{
		{&st.subscriptions, s.w, `SELECT id, events FROM endpoints`},
		{&st.insertEvent, s.w, `INSERT INTO events (id, call_uuid, kind, occurred_at, sequence, endpoint, body) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO NOTHING`},
		{&st.insertDelivery, s.w, insertDeliverySQL},
		{&st.openCall, s.w, `INSERT INTO calls
			(call_uuid, session_uuid, node, source, caller_id_number, destination_number, direction, started_at, last_sequence)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (call_uuid) DO UPDATE SET last_sequence = max(last_sequence, excluded.last_sequence)`},
		// SET expressions all see the row as it was, so answered_at = 0
		// tells the first answer in both.
		{&st.answerCall, s.w, `UPDATE calls SET
			answered_by = CASE WHEN answered_at = 0 THEN ?3 ELSE answered_by END,
			answered_at = CASE WHEN answered_at = 0 THEN ?2 ELSE answered_at END,
			last_sequence = max(last_sequence, ?4)
			WHERE call_uuid = ?1`},
		{&st.endCall, s.w, `UPDATE calls SET
			hangup_cause = CASE WHEN ended_at = 0 THEN ?3 ELSE hangup_cause END,
			ended_at = CASE WHEN ended_at = 0 THEN ?2 ELSE ended_at END,
			last_sequence = max(last_sequence, ?4)
			WHERE call_uuid = ?1`},
		{&st.touchCall, s.w, `UPDATE calls SET last_sequence = max(last_sequence, ?2) WHERE call_uuid = ?1`},
		// A completion may race with the deletion of its endpoint; the
		// attempt of a delivery that no longer exists has nowhere to go.
		{&st.insertAttempt, s.w, `INSERT INTO attempts (delivery_id, at, status_code, latency_ns, error, response)
			SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS (SELECT 1 FROM deliveries WHERE id = ?1)`},
		{&st.finishAttempt, s.w, `UPDATE deliveries SET
			status = ?2,
			head = CASE WHEN ?2 = 'pending' THEN head ELSE 0 END,
			attempts = attempts + 1,
			next_attempt_at = ?3,
			last_error = ?4,
			updated_at = ?5,
			completed_at = ?6
			WHERE id = ?1
			RETURNING endpoint_id, call_uuid`},
		{&st.promoteHead, s.w, promoteHeadSQL},

		{&st.claimEndpoints, s.c, `SELECT id, max_in_flight, circuit_state FROM endpoints WHERE disabled = 0 AND paused_until <= ?`},
		{&st.claimHeads, s.c, claimHeadsSQL},
		{&st.claimRows, s.c, claimRowsSQL},
		{&st.claimHeadRows, s.c, claimHeadRowsSQL},
		{&st.dueEndpoints, s.c, `SELECT id, paused_until FROM endpoints WHERE disabled = 0`},
		{&st.dueHeads, s.c, dueHeadsSQL},
		{&st.getEndpoint, s.r, "SELECT " + endpointColumns + " FROM endpoints WHERE id = ?"},
	}
	for _, q := range list {
		p, err := q.db.PrepareContext(ctx, q.sql)
		if err != nil {
			st.close()
			return nil, fmt.Errorf("prepare statements (has Migrate run?): %w", err)
		}
		*q.dst = p
	}
	s.st = st
	return st, nil
}

func (st *statements) close() {
	for _, p := range []*sql.Stmt{
		st.subscriptions, st.insertEvent, st.insertDelivery, st.openCall, st.answerCall, st.endCall,
		st.touchCall, st.insertAttempt, st.finishAttempt, st.promoteHead,
		st.claimEndpoints, st.claimHeads, st.claimRows, st.claimHeadRows, st.dueEndpoints, st.dueHeads, st.getEndpoint,
	} {
		if p != nil {
			p.Close()
		}
	}
}

// errNoRows reports whether err says a query found nothing.
func errNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
