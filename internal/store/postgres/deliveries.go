package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/store"
	"github.com/switchhook/switchhook/internal/store/query"
)

// roomSQL is, for endpoint e at $2, how many more deliveries it may have
// leased: its MaxInFlight (1 while half-open) minus the live leases of every
// owner. The leases are counted in index order, up to MaxInFlight: an
// ordered index scan marks the entries of leases since ended as dead, so
// that the next count steps over them without reading the table, where a
// bitmap scan would read every lease taken since the last vacuum.
const roomSQL = `(CASE WHEN e.circuit_state = 'half_open' THEN 1 ELSE e.max_in_flight END
	- (SELECT count(*) FROM (SELECT FROM deliveries l
		WHERE l.endpoint_id = e.id AND l.lease_owner IS NOT NULL AND l.lease_until > $2
		ORDER BY l.lease_until LIMIT e.max_in_flight) AS live)::int)`

// claimableSQL selects, with e, the endpoints that may be claimed from at
// $2: enabled, not paused.
const claimableSQL = `FROM endpoints e WHERE NOT e.disabled AND (e.paused_until IS NULL OR e.paused_until <= $2)`

// claimHeadsSQL are the conditions on a chain head d of endpoint e that can
// be claimed at $2: due, and not leased or its lease ended.
const claimHeadsSQL = `d.endpoint_id = e.id AND d.status = 'pending' AND d.head AND d.next_attempt_at <= $2
	AND (d.lease_owner IS NULL OR d.lease_until <= $2)`

// claimLockSQL takes the claim lock, and sets the transaction's
// switchhook.claim to on, only if some endpoint has room and a claimable
// chain head as the statement sees the database: when every endpoint is
// full, as it is whenever the nodes together keep its MaxInFlight busy, a
// claim reads a little and takes no lock, rather than waiting in line to
// find nothing. $1 is the lock's key. The chain heads are asked for one at
// a time per endpoint (a scalar subquery with LIMIT), not with EXISTS, which
// the planner may turn into one read of every chain head.
const claimLockSQL = `SELECT pg_advisory_xact_lock($1), set_config('switchhook.claim', 'on', true)
	WHERE EXISTS (SELECT ` + claimableSQL + ` AND ` + roomSQL + ` > 0
		AND (SELECT 1 FROM deliveries d WHERE ` + claimHeadsSQL + ` LIMIT 1) IS NOT NULL)`

// claimSQL leases up to $4 claimable deliveries to $1 until $3, at $2, if the
// claim lock was taken (see claimLockSQL). Each endpoint gets no more than
// its room. Within an endpoint, chain heads are read oldest first and taken
// when due and not leased; rows another transaction holds (a claim, a
// completion) are skipped rather than waited for. The leased rows are then
// found by ID, and each event by its key, so that no plan reads a whole
// table.
const claimSQL = `WITH room AS (
	SELECT e.id, least($4::int, ` + roomSQL + `) AS n ` + claimableSQL + `
		AND current_setting('switchhook.claim', true) = 'on'
), picked AS (
	SELECT c.id FROM room r JOIN endpoints e ON e.id = r.id CROSS JOIN LATERAL (
		SELECT d.id FROM deliveries d
		WHERE ` + claimHeadsSQL + `
		ORDER BY d.id
		LIMIT greatest(r.n, 0)
		FOR NO KEY UPDATE OF d SKIP LOCKED
	) c
	ORDER BY c.id
	LIMIT $4
)
UPDATE deliveries d SET lease_owner = $1, lease_until = $3
WHERE d.id = ANY (ARRAY(SELECT id FROM picked))
RETURNING d.id, d.endpoint_id, d.attempts, d.next_attempt_at, d.last_error, d.created_at, d.updated_at,
	(SELECT e.body FROM events e WHERE e.seq = d.event_seq)`

// asyncCommitSQL makes the transaction it runs in commit without waiting
// for its WAL to reach the disk, and plan its statements as hotPlansSQL
// does. Claims and completions use it: if the database crashes within the
// fraction of a second before the WAL writer flushes, what is lost is a
// lease or an outcome, and the delivery is sent again: a duplicate, which
// at-least-once delivery allows, never a lost or reordered event, since any
// later commit that waits for the disk (such as recording events) flushes
// the WAL before it. Events are recorded with the server's setting, which
// should be synchronous.
const asyncCommitSQL = "SELECT set_config('synchronous_commit', 'off', true), " + hotPlans

// ClaimDeliveries leases up to p.Limit claimable deliveries to p.Owner,
// oldest first, in one round trip: the claim lock and the claim go in one
// pipelined transaction, committed asynchronously (see asyncCommitSQL). The
// lock makes claims from every node take turns, so that each one's count of
// leases includes those the previous one took (a statement only sees what
// was committed when it began); a claim holds it for about a millisecond.
func (s *Store) ClaimDeliveries(ctx context.Context, p store.ClaimParams) ([]*store.Job, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	b := &pgx.Batch{}
	b.Queue(asyncCommitSQL)
	b.Queue(claimLockSQL, claimLock, p.Now)
	b.Queue(claimSQL, text(p.Owner), p.Now, p.LeaseUntil, p.Limit)
	res := s.pool.SendBatch(ctx, b)
	defer res.Close()
	if _, err := res.Exec(); err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	if _, err := res.Exec(); err != nil {
		return nil, fmt.Errorf("claim deliveries: take the claim lock: %w", err)
	}
	rows, err := res.Query()
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	jobs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.Job, error) {
		var (
			d            = &store.Delivery{Status: store.Pending, LeaseOwner: p.Owner, LeaseUntil: p.LeaseUntil}
			next, cr, up time.Time
			body         []byte
		)
		if err := row.Scan(&d.ID, &d.EndpointID, &d.Attempts, &next, &d.LastError, &cr, &up, &body); err != nil {
			return nil, err
		}
		d.NextAttemptAt, d.CreatedAt, d.UpdatedAt = next.UTC(), cr.UTC(), up.UTC()
		ev := new(events.Event)
		if err := json.Unmarshal(body, ev); err != nil {
			return nil, fmt.Errorf("delivery %d: decode event: %w", d.ID, err)
		}
		d.EventID, d.CallUUID, d.Kind = ev.ID, ev.CallUUID, ev.Kind
		return &store.Job{Delivery: d, Event: ev}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	if err := res.Close(); err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	slices.SortFunc(jobs, func(a, b *store.Job) int { return cmp.Compare(a.Delivery.ID, b.Delivery.ID) })
	return jobs, nil
}

// completeSQL records a batch of attempts, given as parallel arrays, and the
// outcomes of those whose lease $1 holds. An attempt of a delivery deleted
// meanwhile (with its endpoint) has nowhere to go and is dropped.
const completeSQL = `WITH o AS (
	SELECT * FROM unnest($2::bigint[], $3::timestamptz[], $4::int[], $5::bigint[], $6::text[], $7::text[],
		$8::text[], $9::timestamptz[], $10::text[]) WITH ORDINALITY
		AS o(delivery_id, at, status_code, latency_ns, attempt_error, response, status, next_attempt_at, error, ord)
), recorded AS (
	INSERT INTO attempts (delivery_id, at, status_code, latency_ns, error, response)
	SELECT o.delivery_id, o.at, o.status_code, o.latency_ns, o.attempt_error, o.response
	FROM o WHERE EXISTS (SELECT 1 FROM deliveries d WHERE d.id = o.delivery_id)
	ORDER BY o.ord
)
UPDATE deliveries d SET
	status = o.status,
	head = d.head AND o.status = 'pending',
	attempts = d.attempts + 1,
	next_attempt_at = coalesce(o.next_attempt_at, d.next_attempt_at),
	last_error = o.error,
	updated_at = o.at,
	completed_at = CASE WHEN o.status = 'pending' THEN NULL ELSE o.at END,
	lease_owner = NULL,
	lease_until = NULL
FROM o
WHERE d.id = ANY ($2) AND d.id = o.delivery_id AND d.lease_owner = $1`

// fixHeadsSQL makes the oldest pending delivery of each chain of the
// deliveries whose IDs are in $1 its head, and no other, flipping the flags
// that are wrong. It runs after the statements that changed those chains,
// under their calls' chain locks. Each chain is read through
// deliveries_chain, and the rows to change are found by ID, so that no plan
// reads the whole queue.
const fixHeadsSQL = `WITH chains AS (
	SELECT DISTINCT call_uuid, endpoint_id FROM deliveries WHERE id = ANY ($1::bigint[])
), wrong AS (
	SELECT p.id FROM chains c CROSS JOIN LATERAL (
		SELECT p.id, p.head, min(p.id) OVER () AS first FROM deliveries p
		WHERE p.call_uuid = c.call_uuid AND p.endpoint_id = c.endpoint_id AND p.status = 'pending'
	) p
	WHERE p.head <> (p.id = p.first)
)
UPDATE deliveries SET head = NOT head WHERE id = ANY (ARRAY(SELECT id FROM wrong))`

// CompleteAttempts records attempts and, where owner still holds the lease
// (live or ended but not taken over), their outcomes, and passes the head of
// each chain whose head is done to the next pending delivery, in one round
// trip, committed asynchronously (see asyncCommitSQL).
func (s *Store) CompleteAttempts(ctx context.Context, owner string, outcomes []store.Outcome) error {
	if len(outcomes) == 0 {
		return nil
	}
	n := len(outcomes)
	var (
		ids, latencies                          = make([]int64, n), make([]int64, n)
		ats, nexts                              = make([]time.Time, n), make([]pgtype.Timestamptz, n)
		codes                                   = make([]int32, n)
		attemptErrs, responses, statuses, errs2 = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	)
	now := time.Now()
	for i, o := range outcomes {
		switch o.Status {
		case store.Pending, store.Succeeded, store.Failed:
		default:
			return fmt.Errorf("complete attempts: delivery %d: unknown status %q", o.Attempt.DeliveryID, o.Status)
		}
		a := o.Attempt
		at := a.At
		if at.IsZero() {
			at = now
		}
		ids[i], ats[i], codes[i], latencies[i] = a.DeliveryID, at, int32(a.StatusCode), int64(a.Latency)
		attemptErrs[i], responses[i] = text(a.Error), text(a.Response)
		statuses[i], nexts[i], errs2[i] = string(o.Status), ts(o.NextAttemptAt), text(o.Error)
	}
	b := &pgx.Batch{}
	b.Queue(asyncCommitSQL)
	b.Queue(lockDeliveryCallsSQL, ids)
	b.Queue(completeSQL, text(owner), ids, ats, codes, latencies, attemptErrs, responses, statuses, nexts, errs2)
	b.Queue(fixHeadsSQL, ids)
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("complete attempts: %w", err)
	}
	return nil
}

// ReleaseLeases gives back the leases owner holds, leaving their deliveries
// as they are, and tells the other nodes they can take them.
func (s *Store) ReleaseLeases(ctx context.Context, owner string) error {
	_, err := s.pool.Exec(ctx, `WITH released AS (
			UPDATE deliveries SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1 RETURNING 1
		)
		SELECT pg_notify($2, '') FROM (SELECT 1 FROM released LIMIT 1) AS any_released`, text(owner), channel)
	if err != nil {
		return fmt.Errorf("release leases of %s: %w", owner, err)
	}
	return nil
}

// nextDueSQL finds the earliest moment a chain head of an enabled endpoint
// becomes claimable: its due time, or its lease's end if later, or its
// endpoint's pause's end if later still. It reads every chain head, one per
// call with pending deliveries.
const nextDueSQL = `SELECT min(greatest(d.next_attempt_at,
		CASE WHEN d.lease_owner IS NULL THEN NULL ELSE d.lease_until END, e.paused_until))
	FROM endpoints e JOIN deliveries d ON d.endpoint_id = e.id AND d.status = 'pending' AND d.head
	WHERE NOT e.disabled`

// NextDue returns when the earliest chain head of an enabled endpoint becomes
// claimable. Deliveries behind a chain head are left out: they become
// claimable only when the head is done, which its claimer learns by
// completing it, and counting them would make a poller spin.
func (s *Store) NextDue(ctx context.Context) (time.Time, bool, error) {
	var at pgtype.Timestamptz
	if err := s.pool.QueryRow(ctx, nextDueSQL).Scan(&at); err != nil {
		return time.Time{}, false, fmt.Errorf("next due: %w", err)
	}
	return fromTS(at), at.Valid, nil
}

const deliveryQuery = `SELECT d.id, e.id, d.endpoint_id, d.call_uuid, e.kind, d.status, d.attempts,
	d.next_attempt_at, d.last_error, d.lease_owner, d.lease_until, d.created_at, d.updated_at, d.completed_at
	FROM deliveries d JOIN events e ON e.seq = d.event_seq`

func scanDelivery(row pgx.Row) (*store.Delivery, error) {
	var (
		d                     store.Delivery
		kind, status          string
		owner                 pgtype.Text
		next, cr, up          time.Time
		leaseUntil, completed pgtype.Timestamptz
	)
	if err := row.Scan(&d.ID, &d.EventID, &d.EndpointID, &d.CallUUID, &kind, &status, &d.Attempts,
		&next, &d.LastError, &owner, &leaseUntil, &cr, &up, &completed); err != nil {
		return nil, err
	}
	d.Kind, d.Status, d.LeaseOwner = events.Kind(kind), store.DeliveryStatus(status), owner.String
	d.NextAttemptAt, d.CreatedAt, d.UpdatedAt = next.UTC(), cr.UTC(), up.UTC()
	d.LeaseUntil, d.CompletedAt = fromTS(leaseUntil), fromTS(completed)
	return &d, nil
}

// GetDelivery returns the delivery id, or an error wrapping store.ErrNotFound.
func (s *Store) GetDelivery(ctx context.Context, id int64) (*store.Delivery, error) {
	d, err := scanDelivery(s.pool.QueryRow(ctx, deliveryQuery+" WHERE d.id = $1", id))
	if errNoRows(err) {
		return nil, fmt.Errorf("get delivery %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get delivery %d: %w", id, err)
	}
	return d, nil
}

// ListDeliveries returns the deliveries f selects, newest first.
func (s *Store) ListDeliveries(ctx context.Context, f store.DeliveryFilter) ([]*store.Delivery, error) {
	w := query.Where{Numbered: true}
	if f.EndpointID != "" {
		w.Add("d.endpoint_id = ?", text(f.EndpointID))
	}
	if f.Status != "" {
		w.Add("d.status = ?", text(string(f.Status)))
	}
	if f.CallUUID != "" {
		w.Add("d.call_uuid = ?", text(f.CallUUID))
	}
	if f.EventID != "" {
		w.Add("d.event_seq = (SELECT seq FROM events WHERE id = ?)", text(f.EventID))
	}
	rows, err := s.pool.Query(ctx, deliveryQuery+w.String()+" ORDER BY d.id DESC"+query.Limit(f.Limit), w.Args()...)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.Delivery, error) { return scanDelivery(row) })
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	return out, nil
}

// ListAttempts returns the attempts of a delivery, oldest first.
func (s *Store) ListAttempts(ctx context.Context, deliveryID int64) ([]*store.Attempt, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, delivery_id, at, status_code, latency_ns, error, response
		FROM attempts WHERE delivery_id = $1 ORDER BY id`, deliveryID)
	if err != nil {
		return nil, fmt.Errorf("list attempts of %d: %w", deliveryID, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.Attempt, error) {
		var (
			a   store.Attempt
			at  time.Time
			lat int64
		)
		if err := row.Scan(&a.ID, &a.DeliveryID, &at, &a.StatusCode, &lat, &a.Error, &a.Response); err != nil {
			return nil, err
		}
		a.At, a.Latency = at.UTC(), time.Duration(lat)
		return &a, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list attempts of %d: %w", deliveryID, err)
	}
	return out, nil
}

// RetryDelivery makes a delivery pending and due at now, keeping its attempt
// count, and tells the nodes, in one round trip. Being the oldest of its
// chain again, it heads the chain: it goes before the call's later events
// that are still pending.
func (s *Store) RetryDelivery(ctx context.Context, id int64, now time.Time) error {
	ids := []int64{id}
	b := &pgx.Batch{}
	b.Queue(lockDeliveryCallsSQL, ids)
	b.Queue(`UPDATE deliveries SET status = 'pending', next_attempt_at = $2, completed_at = NULL, updated_at = $2
		WHERE id = $1`, id, now)
	b.Queue(fixHeadsSQL, ids)
	b.Queue("SELECT pg_notify($1, '')", channel)
	res := s.pool.SendBatch(ctx, b)
	defer res.Close()
	if _, err := res.Exec(); err != nil {
		return fmt.Errorf("retry delivery %d: lock the call: %w", id, err)
	}
	tag, err := res.Exec()
	if err := oneRow(fmt.Sprintf("retry delivery %d", id), tag, err); err != nil {
		return err
	}
	if err := res.Close(); err != nil {
		return fmt.Errorf("retry delivery %d: %w", id, err)
	}
	return nil
}

// replayChunk bounds the events one replay transaction covers, and so the
// chain locks it holds at once.
const replayChunk = 1000

// Replay creates a pending delivery to endpointID, due at now, for each
// stored event f and the endpoint's subscription select, in event order,
// and tells the nodes. It works through the events in transactions of
// replayChunk events, each holding the chain locks of its calls; if one
// fails, the deliveries of the transactions before it stay, and their
// number is returned with the error.
func (s *Store) Replay(ctx context.Context, endpointID string, f store.ReplayFilter, now time.Time) (int, error) {
	kinds := make([]string, len(f.Kinds))
	for i, k := range f.Kinds {
		if !k.Valid() {
			return 0, fmt.Errorf("replay to %s: unknown event %q", endpointID, k)
		}
		kinds[i] = string(k)
	}
	var subscribed []string
	err := s.pool.QueryRow(ctx, "SELECT events FROM endpoints WHERE id = $1", text(endpointID)).Scan(&subscribed)
	if errNoRows(err) {
		return 0, fmt.Errorf("replay to %s: %w", endpointID, store.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("replay to %s: %w", endpointID, err)
	}
	total := 0
	for after := int64(0); ; {
		n, last, err := s.replayChunk(ctx, text(endpointID), subscribed, kinds, f, after, now)
		total += n
		if err != nil {
			return total, fmt.Errorf("replay to %s: %w", endpointID, err)
		}
		if last == 0 {
			return total, nil
		}
		after = last
	}
}

// replayChunk replays up to replayChunk events after seq after, in one
// transaction. It returns how many deliveries it created and the seq of the
// last event it read, 0 when there was none.
func (s *Store) replayChunk(ctx context.Context, endpointID string, subscribed, kinds []string, f store.ReplayFilter, after int64, now time.Time) (int, int64, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer tx.Rollback(ctx)
	rows, err := tx.Query(ctx, `SELECT seq, call_uuid FROM events
		WHERE seq > $1 AND (endpoint = '' OR endpoint = $2)
			AND ($3::timestamptz IS NULL OR occurred_at >= $3)
			AND ($4::timestamptz IS NULL OR occurred_at < $4)
			AND (cardinality($5::text[]) = 0 OR kind = ANY ($5))
			AND (cardinality($6::text[]) = 0 OR kind = ANY ($6))
		ORDER BY seq LIMIT $7`, after, endpointID, ts(f.Since), ts(f.Until), kinds, subscribed, replayChunk)
	if err != nil {
		return 0, 0, err
	}
	var (
		seqs  []int64
		calls []string
		seq   int64
		call  string
	)
	if _, err := pgx.ForEachRow(rows, []any{&seq, &call}, func() error {
		seqs, calls = append(seqs, seq), append(calls, call)
		return nil
	}); err != nil {
		return 0, 0, err
	}
	if len(seqs) == 0 {
		return 0, 0, nil
	}
	if _, err := tx.Exec(ctx, lockCallsSQL, calls); err != nil {
		return 0, 0, fmt.Errorf("lock the calls: %w", err)
	}
	tag, err := tx.Exec(ctx, `INSERT INTO deliveries
			(event_seq, endpoint_id, call_uuid, status, head, attempts, next_attempt_at, last_error, created_at, updated_at)
		SELECT e.seq, $2, e.call_uuid, 'pending',
			row_number() OVER (PARTITION BY e.call_uuid ORDER BY e.seq) = 1 AND (SELECT min(p.id) FROM deliveries p
				WHERE p.call_uuid = e.call_uuid AND p.endpoint_id = $2 AND p.status = 'pending') IS NULL,
			0, $3, '', $3, $3
		FROM events e WHERE e.seq = ANY ($1)
		ORDER BY e.seq`, seqs, endpointID, now)
	if err != nil {
		return 0, 0, err
	}
	if _, err := tx.Exec(ctx, "SELECT pg_notify($1, '')", channel); err != nil {
		return 0, 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, 0, err
	}
	return int(tag.RowsAffected()), seqs[len(seqs)-1], nil
}

// purgeBatch bounds each purge statement, so that a large purge holds its
// row locks briefly.
const purgeBatch = 1000

// Purge deletes the events that occurred before before and have no pending
// delivery, with their deliveries and attempts, and the calls that ended
// before it. It returns how many events it deleted.
//
// It first deletes pending deliveries whose endpoint is gone: an
// InsertEvents that read the endpoints just before a DeleteEndpoint
// committed can leave some, which nothing would ever claim.
func (s *Store) Purge(ctx context.Context, before time.Time) (int, error) {
	if _, err := s.pool.Exec(ctx, `DELETE FROM deliveries d WHERE d.status = 'pending'
		AND NOT EXISTS (SELECT 1 FROM endpoints e WHERE e.id = d.endpoint_id)`); err != nil {
		return 0, fmt.Errorf("purge deliveries of deleted endpoints: %w", err)
	}
	total := 0
	for {
		tag, err := s.pool.Exec(ctx, `DELETE FROM events WHERE seq IN (
			SELECT seq FROM events e WHERE e.occurred_at < $1
			AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = e.seq AND d.status = 'pending')
			LIMIT $2)`, before, purgeBatch)
		if err != nil {
			return total, fmt.Errorf("purge events: %w", err)
		}
		n := int(tag.RowsAffected())
		total += n
		if n < purgeBatch {
			break
		}
	}
	if _, err := s.pool.Exec(ctx, "DELETE FROM calls WHERE ended_at < $1", before); err != nil {
		return total, fmt.Errorf("purge calls: %w", err)
	}
	return total, nil
}

// PendingCount counts pending deliveries.
func (s *Store) PendingCount(ctx context.Context) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM deliveries WHERE status = 'pending'").Scan(&n); err != nil {
		return 0, fmt.Errorf("pending count: %w", err)
	}
	return n, nil
}
