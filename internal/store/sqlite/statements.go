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

	// On the readers.
	getEndpoint *sql.Stmt // every test event reads its endpoint
}

// insertDeliverySQL records a new pending delivery; the queue in memory
// orders it in its chain (queue.go). The head column is unused (migration
// 0005).
const insertDeliverySQL = `INSERT INTO deliveries
	(event_seq, endpoint_id, call_uuid, status, head, attempts, next_attempt_at, last_error, created_at, updated_at, completed_at)
	VALUES (?1, ?2, ?3, 'pending', 0, 0, ?4, '', ?5, ?5, 0)`

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
			attempts = attempts + 1,
			next_attempt_at = ?3,
			last_error = ?4,
			updated_at = ?5,
			completed_at = ?6
			WHERE id = ?1`},

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
		st.touchCall, st.insertAttempt, st.finishAttempt, st.getEndpoint,
	} {
		if p != nil {
			p.Close()
		}
	}
}

// errNoRows reports whether err says a query found nothing.
func errNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
