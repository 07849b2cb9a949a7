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
	subscriptions    *sql.Stmt
	insertDelivery   *sql.Stmt // Replay's
	insertEvents     *multiRow
	insertDeliveries *multiRow
	openCalls        *multiRow
	answerCalls      *multiRow
	endCalls         *multiRow
	insertAttempts   *multiRow
	finishAttempts   *multiRow

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
		{&st.insertDelivery, s.w, insertDeliverySQL},
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
	// one, where set, is the statement of a single row: a join with a
	// list of one row costs more than the plain statement.
	multi := []struct {
		dst           **multiRow
		sql, row, one string
	}{
		// An event stored before is skipped, so that a batch sent again
		// after an uncertain commit creates nothing twice.
		{&st.insertEvents, `INSERT INTO events (id, call_uuid, kind, occurred_at, sequence, endpoint, body) VALUES %s
			ON CONFLICT (id) DO NOTHING`, "(?, ?, ?, ?, ?, ?, ?)", ""},
		{&st.insertDeliveries, `INSERT INTO deliveries
			(event_seq, endpoint_id, call_uuid, status, head, attempts, next_attempt_at, last_error, created_at, updated_at, completed_at)
			VALUES %s`, "(?, ?, ?, 'pending', 0, 0, ?, '', ?, ?, 0)", ""},
		// A call's row as its first ROUTED of the batch and the events
		// after it make it, if the call has none (callChanges).
		{&st.openCalls, `INSERT INTO calls
			(call_uuid, session_uuid, node, source, caller_id_number, destination_number, direction, started_at,
			answered_at, answered_by, ended_at, hangup_cause, last_sequence)
			VALUES %s ON CONFLICT (call_uuid) DO NOTHING`,
			"(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", ""},
		// What a batch's events change in a call's row: the first answer
		// and the first hangup win. SET expressions all see the row as it
		// was, so answered_at = 0 tells the first answer in both. A
		// statement that sets ended_at rewrites each row's entry in the
		// index of open calls, so the calls a batch does not end take one
		// that leaves it out.
		{&st.answerCalls, `UPDATE calls SET
			answered_by = CASE WHEN answered_at = 0 AND v.column2 THEN v.column4 ELSE answered_by END,
			answered_at = CASE WHEN answered_at = 0 AND v.column2 THEN v.column3 ELSE answered_at END,
			last_sequence = max(last_sequence, v.column5)
			FROM (VALUES %s) AS v WHERE calls.call_uuid = v.column1`, "(?, ?, ?, ?, ?)",
			`UPDATE calls SET
			answered_by = CASE WHEN answered_at = 0 AND ?2 THEN ?4 ELSE answered_by END,
			answered_at = CASE WHEN answered_at = 0 AND ?2 THEN ?3 ELSE answered_at END,
			last_sequence = max(last_sequence, ?5)
			WHERE call_uuid = ?1`},
		{&st.endCalls, `UPDATE calls SET
			answered_by = CASE WHEN answered_at = 0 AND v.column2 THEN v.column4 ELSE answered_by END,
			answered_at = CASE WHEN answered_at = 0 AND v.column2 THEN v.column3 ELSE answered_at END,
			hangup_cause = CASE WHEN ended_at = 0 THEN v.column7 ELSE hangup_cause END,
			ended_at = CASE WHEN ended_at = 0 THEN v.column6 ELSE ended_at END,
			last_sequence = max(last_sequence, v.column5)
			FROM (VALUES %s) AS v WHERE calls.call_uuid = v.column1`, "(?, ?, ?, ?, ?, ?, ?)",
			`UPDATE calls SET
			answered_by = CASE WHEN answered_at = 0 AND ?2 THEN ?4 ELSE answered_by END,
			answered_at = CASE WHEN answered_at = 0 AND ?2 THEN ?3 ELSE answered_at END,
			hangup_cause = CASE WHEN ended_at = 0 THEN ?7 ELSE hangup_cause END,
			ended_at = CASE WHEN ended_at = 0 THEN ?6 ELSE ended_at END,
			last_sequence = max(last_sequence, ?5)
			WHERE call_uuid = ?1`},
		// A completion may race with the deletion of its endpoint; the
		// attempt of a delivery that no longer exists has nowhere to go.
		{&st.insertAttempts, `INSERT INTO attempts (delivery_id, at, status_code, latency_ns, error, response)
			SELECT * FROM (VALUES %s) AS v WHERE EXISTS (SELECT 1 FROM deliveries WHERE id = v.column1)`,
			"(?, ?, ?, ?, ?, ?)",
			`INSERT INTO attempts (delivery_id, at, status_code, latency_ns, error, response)
			SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS (SELECT 1 FROM deliveries WHERE id = ?1)`},
		{&st.finishAttempts, `UPDATE deliveries SET
			status = v.column2,
			attempts = attempts + v.column3,
			next_attempt_at = v.column4,
			last_error = v.column5,
			updated_at = v.column6,
			completed_at = v.column7
			FROM (VALUES %s) AS v WHERE deliveries.id = v.column1`, "(?, ?, ?, ?, ?, ?, ?)",
			`UPDATE deliveries SET
			status = ?2,
			attempts = attempts + ?3,
			next_attempt_at = ?4,
			last_error = ?5,
			updated_at = ?6,
			completed_at = ?7
			WHERE id = ?1`},
	}
	for _, q := range multi {
		m, err := prepareMultiRow(ctx, s.w, q.sql, q.row, q.one)
		if err != nil {
			st.close()
			return nil, fmt.Errorf("prepare statements (has Migrate run?): %w", err)
		}
		*q.dst = m
	}
	s.st = st
	return st, nil
}

func (st *statements) close() {
	for _, p := range []*sql.Stmt{st.subscriptions, st.insertDelivery, st.getEndpoint} {
		if p != nil {
			p.Close()
		}
	}
	for _, m := range []*multiRow{st.insertEvents, st.insertDeliveries, st.openCalls, st.answerCalls, st.endCalls, st.insertAttempts, st.finishAttempts} {
		m.close()
	}
}

// errNoRows reports whether err says a query found nothing.
func errNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
