package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/store"
	"github.com/switchhook/switchhook/internal/store/query"
)

// lease is a claimed delivery. Leases live in memory, not in the file: the
// file has one process, so memory is as good a place to keep them and
// claiming needs no write transaction at all.
type lease struct {
	owner    string
	endpoint string
	until    time.Time
	// completing is set while CompleteAttempts writes the outcome: the
	// delivery must not be claimed again, whatever until says, before the
	// outcome is committed.
	completing bool
}

func (l *lease) activeAt(now time.Time) bool { return l.completing || l.until.After(now) }

// ClaimDeliveries leases up to p.Limit claimable deliveries to p.Owner,
// oldest first.
func (s *Store) ClaimDeliveries(ctx context.Context, p store.ClaimParams) ([]*store.Job, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	st, err := s.prepared(ctx)
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	now := nanos(p.Now)

	// The lock spans the reads: a delivery read as pending here cannot have
	// been completed and unleased in between, because CompleteAttempts drops
	// a lease only after its outcome is committed.
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int)
	for _, l := range s.leases {
		if l.activeAt(p.Now) {
			out[l.endpoint]++
		}
	}
	type room struct {
		endpoint string
		n        int
	}
	var rooms []room
	rows, err := st.claimEndpoints.QueryContext(ctx, now)
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: endpoints: %w", err)
	}
	for rows.Next() {
		var (
			id    string
			max   int
			state string
		)
		if err := rows.Scan(&id, &max, &state); err != nil {
			rows.Close()
			return nil, fmt.Errorf("claim deliveries: endpoints: %w", err)
		}
		if store.CircuitState(state) == store.CircuitHalfOpen {
			max = 1
		}
		if n := min(max-out[id], p.Limit); n > 0 {
			rooms = append(rooms, room{id, n})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim deliveries: endpoints: %w", err)
	}

	var (
		ids  []int64
		jobs []*store.Job
	)
	for _, r := range rooms {
		if out[r.endpoint] == 0 {
			// No head of this endpoint is leased out: its first heads
			// are the ones to send, read with their events at once.
			rows, err := st.claimHeadRows.QueryContext(ctx, r.endpoint, now, r.n)
			if err != nil {
				return nil, fmt.Errorf("claim deliveries of %s: %w", r.endpoint, err)
			}
			if jobs, err = scanJobs(rows, jobs, p); err != nil {
				return nil, fmt.Errorf("claim deliveries of %s: %w", r.endpoint, err)
			}
			continue
		}
		// The heads this endpoint has leased out may come anywhere in
		// the order; reading that many IDs more than wanted gets past
		// them, and the rows and events are read for the others only.
		rows, err := st.claimHeads.QueryContext(ctx, r.endpoint, now, r.n+out[r.endpoint])
		if err != nil {
			return nil, fmt.Errorf("claim deliveries of %s: %w", r.endpoint, err)
		}
		got := 0
		for got < r.n && rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, fmt.Errorf("claim deliveries of %s: %w", r.endpoint, err)
			}
			if l := s.leases[id]; l != nil && l.activeAt(p.Now) {
				continue
			}
			ids = append(ids, id)
			got++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("claim deliveries of %s: %w", r.endpoint, err)
		}
	}
	if len(ids) > 0 {
		list, err := json.Marshal(ids)
		if err != nil {
			return nil, fmt.Errorf("claim deliveries: %w", err)
		}
		rows, err := st.claimRows.QueryContext(ctx, string(list))
		if err != nil {
			return nil, fmt.Errorf("claim deliveries: %w", err)
		}
		if jobs, err = scanJobs(rows, jobs, p); err != nil {
			return nil, fmt.Errorf("claim deliveries: %w", err)
		}
	}
	// Oldest first, across endpoints.
	slices.SortFunc(jobs, func(a, b *store.Job) int { return cmp.Compare(a.Delivery.ID, b.Delivery.ID) })
	if len(jobs) > p.Limit {
		jobs = jobs[:p.Limit]
	}
	for _, j := range jobs {
		s.leases[j.Delivery.ID] = &lease{owner: p.Owner, endpoint: j.Delivery.EndpointID, until: p.LeaseUntil}
	}
	return jobs, nil
}

// scanJobs appends the jobs of rows (claimHeadRowsSQL's columns) to jobs,
// leased per p, and closes rows.
func scanJobs(rows *sql.Rows, jobs []*store.Job, p store.ClaimParams) ([]*store.Job, error) {
	defer rows.Close()
	for rows.Next() {
		var (
			d                      = &store.Delivery{Status: store.Pending, LeaseOwner: p.Owner, LeaseUntil: p.LeaseUntil}
			next, created, updated int64
			body                   []byte
			ev                     = new(events.Event)
		)
		if err := rows.Scan(&d.ID, &d.EndpointID, &d.Attempts, &next, &d.LastError, &created, &updated, &body); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(body, ev); err != nil {
			return nil, fmt.Errorf("delivery %d: decode event: %w", d.ID, err)
		}
		d.NextAttemptAt, d.CreatedAt, d.UpdatedAt = fromNanos(next), fromNanos(created), fromNanos(updated)
		d.EventID, d.CallUUID, d.Kind = ev.ID, ev.CallUUID, ev.Kind
		jobs = append(jobs, &store.Job{Delivery: d, Event: ev})
	}
	return jobs, rows.Err()
}

// CompleteAttempts records attempts and, where owner still holds the lease,
// their outcomes, in one transaction.
func (s *Store) CompleteAttempts(ctx context.Context, owner string, outcomes []store.Outcome) error {
	if len(outcomes) == 0 {
		return nil
	}
	for _, o := range outcomes {
		switch o.Status {
		case store.Pending, store.Succeeded, store.Failed:
		default:
			return fmt.Errorf("complete attempts: delivery %d: unknown status %q", o.Attempt.DeliveryID, o.Status)
		}
	}
	owned := make([]bool, len(outcomes))
	s.mu.Lock()
	for i, o := range outcomes {
		if l := s.leases[o.Attempt.DeliveryID]; l != nil && l.owner == owner {
			owned[i] = true
			l.completing = true
		}
	}
	s.mu.Unlock()

	err := s.submit(ctx, func(ctx context.Context, tx *sql.Tx, g *group) error {
		return writeOutcomes(ctx, tx, g.st, outcomes, owned)
	})
	if err != nil {
		err = fmt.Errorf("complete attempts: %w", err)
	}

	s.mu.Lock()
	for i, o := range outcomes {
		l := s.leases[o.Attempt.DeliveryID]
		if !owned[i] || l == nil || l.owner != owner {
			continue
		}
		if err == nil {
			delete(s.leases, o.Attempt.DeliveryID)
		} else {
			l.completing = false
		}
	}
	s.mu.Unlock()
	return err
}

// writeOutcomes is CompleteAttempts's part of a shared transaction.
func writeOutcomes(ctx context.Context, tx *sql.Tx, st *statements, outcomes []store.Outcome, owned []bool) error {
	var (
		insAttempt = tx.StmtContext(ctx, st.insertAttempt)
		finish     = tx.StmtContext(ctx, st.finishAttempt)
		promote    = tx.StmtContext(ctx, st.promoteHead)
		now        = time.Now()
	)
	for i, o := range outcomes {
		a := o.Attempt
		at := a.At
		if at.IsZero() {
			at = now
		}
		if _, err := insAttempt.ExecContext(ctx, a.DeliveryID, nanos(at), a.StatusCode, int64(a.Latency), a.Error, a.Response); err != nil {
			return fmt.Errorf("attempt of delivery %d: %w", a.DeliveryID, err)
		}
		if !owned[i] {
			continue
		}
		var completed int64
		if o.Status != store.Pending {
			completed = nanos(at)
		}
		var endpointID, callUUID string
		err := finish.QueryRowContext(ctx, a.DeliveryID, string(o.Status), nanos(o.NextAttemptAt), o.Error, nanos(at), completed).
			Scan(&endpointID, &callUUID)
		if errNoRows(err) {
			continue // deleted with its endpoint meanwhile
		}
		if err != nil {
			return fmt.Errorf("delivery %d: %w", a.DeliveryID, err)
		}
		if o.Status != store.Pending {
			if _, err := promote.ExecContext(ctx, endpointID, callUUID); err != nil {
				return fmt.Errorf("next delivery after %d: %w", a.DeliveryID, err)
			}
		}
	}
	return nil
}

// ReleaseLeases gives back the leases owner holds, leaving their deliveries
// as they are.
func (s *Store) ReleaseLeases(ctx context.Context, owner string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, l := range s.leases {
		if l.owner == owner && !l.completing {
			delete(s.leases, id)
		}
	}
	return nil
}

// NextDue returns when the earliest chain head of an enabled endpoint becomes
// claimable. Deliveries behind a chain head are left out: they become
// claimable only when the head is done, which a claimer learns by completing
// it, and counting them would make a poller spin.
func (s *Store) NextDue(ctx context.Context) (time.Time, bool, error) {
	st, err := s.prepared(ctx)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("next due: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	type ep struct {
		id     string
		paused int64
	}
	var eps []ep
	rows, err := st.dueEndpoints.QueryContext(ctx)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("next due: %w", err)
	}
	for rows.Next() {
		var e ep
		if err := rows.Scan(&e.id, &e.paused); err != nil {
			rows.Close()
			return time.Time{}, false, fmt.Errorf("next due: %w", err)
		}
		eps = append(eps, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return time.Time{}, false, fmt.Errorf("next due: %w", err)
	}

	var (
		best  int64
		found bool
	)
	for _, e := range eps {
		// Heads come in order of NextAttemptAt; once that (or the pause)
		// is past the best so far, no later head can beat it. Only leased
		// heads are read past, so this reads few rows.
		rows, err := st.dueHeads.QueryContext(ctx, e.id)
		if err != nil {
			return time.Time{}, false, fmt.Errorf("next due of %s: %w", e.id, err)
		}
		for rows.Next() {
			var (
				id   int64
				next int64
			)
			if err := rows.Scan(&id, &next); err != nil {
				rows.Close()
				return time.Time{}, false, fmt.Errorf("next due of %s: %w", e.id, err)
			}
			base := max(next, e.paused)
			if found && base >= best {
				break
			}
			at := base
			if l := s.leases[id]; l != nil {
				at = max(at, nanos(l.until))
			}
			if !found || at < best {
				best, found = at, true
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return time.Time{}, false, fmt.Errorf("next due of %s: %w", e.id, err)
		}
	}
	return fromNanos(best), found, nil
}

const deliveryQuery = `SELECT d.id, e.id, d.endpoint_id, d.call_uuid, e.kind, d.status, d.attempts,
	d.next_attempt_at, d.last_error, d.created_at, d.updated_at, d.completed_at
	FROM deliveries d JOIN events e ON e.seq = d.event_seq`

func scanDelivery(sc scanner) (*store.Delivery, error) {
	var (
		d                                 store.Delivery
		kind, status                      string
		next, created, updated, completed int64
	)
	if err := sc.Scan(&d.ID, &d.EventID, &d.EndpointID, &d.CallUUID, &kind, &status, &d.Attempts,
		&next, &d.LastError, &created, &updated, &completed); err != nil {
		return nil, err
	}
	d.Kind, d.Status = events.Kind(kind), store.DeliveryStatus(status)
	d.NextAttemptAt, d.CreatedAt, d.UpdatedAt, d.CompletedAt = fromNanos(next), fromNanos(created), fromNanos(updated), fromNanos(completed)
	return &d, nil
}

// withLeases fills in the leases, which are not in the file.
func (s *Store) withLeases(ds ...*store.Delivery) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range ds {
		if l := s.leases[d.ID]; l != nil {
			d.LeaseOwner, d.LeaseUntil = l.owner, l.until
		}
	}
}

// GetDelivery returns the delivery id, or an error wrapping store.ErrNotFound.
func (s *Store) GetDelivery(ctx context.Context, id int64) (*store.Delivery, error) {
	d, err := scanDelivery(s.r.QueryRowContext(ctx, deliveryQuery+" WHERE d.id = ?", id))
	if errNoRows(err) {
		return nil, fmt.Errorf("get delivery %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get delivery %d: %w", id, err)
	}
	s.withLeases(d)
	return d, nil
}

// ListDeliveries returns the deliveries f selects, newest first.
func (s *Store) ListDeliveries(ctx context.Context, f store.DeliveryFilter) ([]*store.Delivery, error) {
	var w query.Where
	if f.EndpointID != "" {
		w.Add("d.endpoint_id = ?", f.EndpointID)
	}
	if f.Status != "" {
		w.Add("d.status = ?", string(f.Status))
	}
	if f.CallUUID != "" {
		w.Add("d.call_uuid = ?", f.CallUUID)
	}
	if f.EventID != "" {
		w.Add("d.event_seq = (SELECT seq FROM events WHERE id = ?)", f.EventID)
	}
	rows, err := s.r.QueryContext(ctx, deliveryQuery+w.String()+" ORDER BY d.id DESC"+query.Limit(f.Limit), w.Args()...)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	defer rows.Close()
	var out []*store.Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("list deliveries: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	s.withLeases(out...)
	return out, nil
}

// ListAttempts returns the attempts of a delivery, oldest first.
func (s *Store) ListAttempts(ctx context.Context, deliveryID int64) ([]*store.Attempt, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, delivery_id, at, status_code, latency_ns, error, response
		FROM attempts WHERE delivery_id = ? ORDER BY id`, deliveryID)
	if err != nil {
		return nil, fmt.Errorf("list attempts of %d: %w", deliveryID, err)
	}
	defer rows.Close()
	var out []*store.Attempt
	for rows.Next() {
		var (
			a       store.Attempt
			at, lat int64
		)
		if err := rows.Scan(&a.ID, &a.DeliveryID, &at, &a.StatusCode, &lat, &a.Error, &a.Response); err != nil {
			return nil, fmt.Errorf("list attempts of %d: %w", deliveryID, err)
		}
		a.At, a.Latency = fromNanos(at), time.Duration(lat)
		out = append(out, &a)
	}
	return out, wrap(fmt.Sprintf("list attempts of %d", deliveryID), rows.Err())
}

// RetryDelivery makes a delivery pending and due at now, keeping its attempt
// count. It becomes the head of its chain again if it is the oldest pending.
func (s *Store) RetryDelivery(ctx context.Context, id int64, now time.Time) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("retry delivery %d: %w", id, err)
	}
	defer tx.Rollback()
	var endpointID, callUUID string
	err = tx.QueryRowContext(ctx, `UPDATE deliveries SET status = 'pending', next_attempt_at = ?, completed_at = 0, updated_at = ?
		WHERE id = ? RETURNING endpoint_id, call_uuid`, nanos(now), nanos(now), id).Scan(&endpointID, &callUUID)
	if errNoRows(err) {
		return fmt.Errorf("retry delivery %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("retry delivery %d: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE deliveries
		SET head = (id = (SELECT min(id) FROM deliveries WHERE endpoint_id = ?1 AND call_uuid = ?2 AND status = 'pending'))
		WHERE endpoint_id = ?1 AND call_uuid = ?2 AND status = 'pending'`, endpointID, callUUID); err != nil {
		return fmt.Errorf("retry delivery %d: chain: %w", id, err)
	}
	return wrap(fmt.Sprintf("retry delivery %d", id), tx.Commit())
}

// Replay creates a pending delivery to endpointID, due at now, for each
// stored event f and the endpoint's subscription select, in event order.
func (s *Store) Replay(ctx context.Context, endpointID string, f store.ReplayFilter, now time.Time) (int, error) {
	for _, k := range f.Kinds {
		if !k.Valid() {
			return 0, fmt.Errorf("replay to %s: unknown event %q", endpointID, k)
		}
	}
	st, err := s.prepared(ctx)
	if err != nil {
		return 0, fmt.Errorf("replay to %s: %w", endpointID, err)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("replay to %s: %w", endpointID, err)
	}
	defer tx.Rollback()
	var kinds string
	err = tx.QueryRowContext(ctx, "SELECT events FROM endpoints WHERE id = ?", endpointID).Scan(&kinds)
	if errNoRows(err) {
		return 0, fmt.Errorf("replay to %s: %w", endpointID, store.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("replay to %s: %w", endpointID, err)
	}
	subscribed, err := decodeKinds(kinds)
	if err != nil {
		return 0, fmt.Errorf("replay to %s: endpoint events: %w", endpointID, err)
	}
	ep := store.Endpoint{Events: subscribed}
	wanted := store.Endpoint{Events: f.Kinds}

	var w query.Where
	w.Add("(endpoint = '' OR endpoint = ?)", endpointID)
	if !f.Since.IsZero() {
		w.Add("occurred_at >= ?", nanos(f.Since))
	}
	if !f.Until.IsZero() {
		w.Add("occurred_at < ?", nanos(f.Until))
	}
	type ev struct {
		seq  int64
		call string
	}
	var evs []ev
	rows, err := tx.QueryContext(ctx, "SELECT seq, call_uuid, kind FROM events"+w.String()+" ORDER BY seq", w.Args()...)
	if err != nil {
		return 0, fmt.Errorf("replay to %s: %w", endpointID, err)
	}
	for rows.Next() {
		var (
			e    ev
			kind string
		)
		if err := rows.Scan(&e.seq, &e.call, &kind); err != nil {
			rows.Close()
			return 0, fmt.Errorf("replay to %s: %w", endpointID, err)
		}
		if k := events.Kind(kind); ep.Subscribes(k) && wanted.Subscribes(k) {
			evs = append(evs, e)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("replay to %s: %w", endpointID, err)
	}
	ins := tx.StmtContext(ctx, st.insertDelivery)
	for _, e := range evs {
		if _, err := ins.ExecContext(ctx, e.seq, endpointID, e.call, nanos(now), nanos(now)); err != nil {
			return 0, fmt.Errorf("replay to %s: %w", endpointID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("replay to %s: %w", endpointID, err)
	}
	return len(evs), nil
}

// purgeBatch bounds each purge transaction, so that a large purge does not
// hold the writer, and with it event recording, for long.
const purgeBatch = 1000

// Purge deletes the events that occurred before before and have no pending
// delivery, with their deliveries and attempts, and the calls that ended
// before it. It returns how many events it deleted.
func (s *Store) Purge(ctx context.Context, before time.Time) (int, error) {
	total := 0
	for {
		res, err := s.w.ExecContext(ctx, `DELETE FROM events WHERE seq IN (
			SELECT seq FROM events e WHERE e.occurred_at < ?
			AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = e.seq AND d.status = 'pending')
			LIMIT ?)`, nanos(before), purgeBatch)
		if err != nil {
			return total, fmt.Errorf("purge events: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("purge events: %w", err)
		}
		total += int(n)
		if n < purgeBatch {
			break
		}
	}
	if _, err := s.w.ExecContext(ctx, "DELETE FROM calls WHERE ended_at != 0 AND ended_at < ?", nanos(before)); err != nil {
		return total, fmt.Errorf("purge calls: %w", err)
	}
	return total, nil
}

// PendingCount counts pending deliveries.
func (s *Store) PendingCount(ctx context.Context) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM deliveries WHERE status = 'pending'").Scan(&n)
	return n, wrap("pending count", err)
}
