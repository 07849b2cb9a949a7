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
// oldest first. It is served from the queue in memory (queue.go); the file
// is read only for the events the queue does not keep.
func (s *Store) ClaimDeliveries(ctx context.Context, p store.ClaimParams) ([]*store.Job, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	now := nanos(p.Now)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.loadQueue(ctx); err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	eps, err := s.claimState(ctx)
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	q := &s.q
	out := make(map[string]int)
	for id, l := range s.leases {
		if l.completing {
			// Its request is over and its outcome is being recorded:
			// it takes none of the endpoint's room for requests, and
			// the next claim need not wait for that commit.
			continue
		}
		if l.activeAt(p.Now) {
			out[l.endpoint]++
			continue
		}
		// An expired lease: its delivery may be claimed again (by
		// anyone), and its owner may still record its outcome.
		if d := q.byID[id]; d != nil && d.leased && q.isHead(d) {
			q.schedule(d)
		}
	}
	var claimed []*pending
	for _, ep := range eps {
		if ep.disabled || ep.pausedUntil > now {
			continue
		}
		room := ep.maxInFlight
		if ep.circuit == store.CircuitHalfOpen {
			room = 1
		}
		claimed = append(claimed, q.takeDue(ep.id, now, min(room-out[ep.id], p.Limit))...)
	}
	// Oldest first, across endpoints; the rest wait for the next claim.
	slices.SortFunc(claimed, func(a, b *pending) int { return cmp.Compare(a.id, b.id) })
	if len(claimed) > p.Limit {
		for _, d := range claimed[p.Limit:] {
			q.schedule(d)
		}
		claimed = claimed[:p.Limit]
	}
	read, err := s.readEvents(ctx, claimed)
	if err != nil {
		for _, d := range claimed {
			q.schedule(d)
		}
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	jobs := make([]*store.Job, len(claimed))
	for i, d := range claimed {
		d.leased = true
		s.leases[d.id] = &lease{owner: p.Owner, endpoint: d.endpoint, until: p.LeaseUntil}
		var ev events.Event // the engine's own copy
		if d.ev != nil {
			ev = *d.ev
		} else {
			ev = *read[d.seq]
		}
		jobs[i] = &store.Job{
			Delivery: &store.Delivery{
				ID: d.id, EventID: ev.ID, EndpointID: d.endpoint, CallUUID: ev.CallUUID, Kind: ev.Kind,
				Status: store.Pending, Attempts: d.attempts, NextAttemptAt: fromNanos(d.next), LastError: d.lastError,
				CreatedAt: fromNanos(d.created), UpdatedAt: fromNanos(d.updated),
				LeaseOwner: p.Owner, LeaseUntil: p.LeaseUntil,
			},
			Event: &ev,
		}
	}
	return jobs, nil
}

// readEventsSQL reads the events whose seqs are in a JSON array.
const readEventsSQL = "SELECT seq, body FROM events WHERE seq IN (SELECT value FROM json_each(?))"

// readEvents reads from the file, by seq, the events of the deliveries that
// do not hold theirs.
func (s *Store) readEvents(ctx context.Context, ds []*pending) (map[int64]*events.Event, error) {
	var seqs []int64
	for _, d := range ds {
		if d.ev == nil {
			seqs = append(seqs, d.seq)
		}
	}
	if len(seqs) == 0 {
		return nil, nil
	}
	list, err := json.Marshal(seqs)
	if err != nil {
		return nil, err
	}
	rows, err := s.c.QueryContext(ctx, readEventsSQL, string(list))
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	defer rows.Close()
	got := make(map[int64]*events.Event, len(seqs))
	for rows.Next() {
		var (
			seq  int64
			body []byte
			ev   = new(events.Event)
		)
		if err := rows.Scan(&seq, &body); err != nil {
			return nil, fmt.Errorf("read events: %w", err)
		}
		if err := json.Unmarshal(body, ev); err != nil {
			return nil, fmt.Errorf("event %d: decode: %w", seq, err)
		}
		got[seq] = ev
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	for _, seq := range seqs {
		if got[seq] == nil {
			return nil, fmt.Errorf("event %d is missing", seq)
		}
	}
	return got, nil
}

// epState is what claims need of an endpoint.
type epState struct {
	id          string
	maxInFlight int
	circuit     store.CircuitState
	pausedUntil int64
	disabled    bool
}

// claimState returns the endpoints' claim state, read from the file again
// after any change of an endpoint.
func (s *Store) claimState(ctx context.Context) ([]epState, error) {
	gen := s.endpoints.generation()
	if s.eps != nil && s.epsGen == gen {
		return s.eps, nil
	}
	rows, err := s.c.QueryContext(ctx, "SELECT id, max_in_flight, circuit_state, paused_until, disabled FROM endpoints ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("endpoints: %w", err)
	}
	defer rows.Close()
	eps := []epState{}
	for rows.Next() {
		var (
			e     epState
			state string
		)
		if err := rows.Scan(&e.id, &e.maxInFlight, &state, &e.pausedUntil, &e.disabled); err != nil {
			return nil, fmt.Errorf("endpoints: %w", err)
		}
		e.circuit = store.CircuitState(state)
		eps = append(eps, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("endpoints: %w", err)
	}
	s.eps, s.epsGen = eps, gen
	return eps, nil
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
		if err := writeOutcomes(ctx, tx, g.st, outcomes, owned); err != nil {
			return err
		}
		g.after = append(g.after, func() { s.applyOutcomes(owner, outcomes, owned) })
		return nil
	})
	if err == nil {
		return nil
	}
	s.mu.Lock()
	for i, o := range outcomes {
		if l := s.leases[o.Attempt.DeliveryID]; owned[i] && l != nil && l.owner == owner {
			l.completing = false
		}
	}
	s.mu.Unlock()
	return fmt.Errorf("complete attempts: %w", err)
}

// writeOutcomes is CompleteAttempts's part of a shared transaction.
func writeOutcomes(ctx context.Context, tx *sql.Tx, st *statements, outcomes []store.Outcome, owned []bool) error {
	now := time.Now()
	at := func(a *store.Attempt) int64 {
		if a.At.IsZero() {
			return nanos(now)
		}
		return nanos(a.At)
	}
	args := make([]any, 0, 7*min(len(outcomes), 1<<maxRowsLog))
	err := st.insertAttempts.each(ctx, tx, len(outcomes), func(ins *sql.Stmt, from, to int) error {
		args = args[:0]
		for i := from; i < to; i++ {
			a := &outcomes[i].Attempt
			args = append(args, a.DeliveryID, at(a), a.StatusCode, int64(a.Latency), a.Error, a.Response)
		}
		_, err := ins.ExecContext(ctx, args...)
		return err
	})
	if err != nil {
		return fmt.Errorf("attempts: %w", err)
	}
	// One row per delivery, as the outcomes one after another would leave
	// it: counted as many times as it has outcomes, the last one's values.
	type finish struct {
		id, attempts, next, at, completed int64
		status, err                       string
	}
	var (
		finishes []finish
		index    map[int64]int
	)
	for i := range outcomes {
		if !owned[i] {
			continue
		}
		o := &outcomes[i]
		f := finish{id: o.Attempt.DeliveryID, attempts: 1, next: nanos(o.NextAttemptAt), at: at(&o.Attempt),
			status: string(o.Status), err: o.Error}
		if o.Status != store.Pending {
			f.completed = f.at
		}
		if k, ok := index[f.id]; ok {
			f.attempts += finishes[k].attempts
			finishes[k] = f
			continue
		}
		if index == nil {
			index = make(map[int64]int)
		}
		index[f.id] = len(finishes)
		finishes = append(finishes, f)
	}
	// A delivery deleted with its endpoint meanwhile changes nothing.
	err = st.finishAttempts.each(ctx, tx, len(finishes), func(upd *sql.Stmt, from, to int) error {
		args = args[:0]
		for _, f := range finishes[from:to] {
			args = append(args, f.id, f.status, f.attempts, f.next, f.err, f.at, f.completed)
		}
		_, err := upd.ExecContext(ctx, args...)
		return err
	})
	if err != nil {
		return fmt.Errorf("deliveries: %w", err)
	}
	return nil
}

// applyOutcomes brings the queue and the leases up to committed outcomes.
// Store.mu is held.
func (s *Store) applyOutcomes(owner string, outcomes []store.Outcome, owned []bool) {
	q := &s.q
	now := time.Now()
	for i, o := range outcomes {
		id := o.Attempt.DeliveryID
		if !owned[i] {
			continue
		}
		if l := s.leases[id]; l != nil && l.owner == owner {
			delete(s.leases, id)
		}
		d := q.byID[id]
		if d == nil {
			continue
		}
		if o.Status != store.Pending {
			q.remove(d)
			continue
		}
		at := o.Attempt.At
		if at.IsZero() {
			at = now
		}
		d.attempts++
		d.next, d.lastError, d.updated = nanos(o.NextAttemptAt), o.Error, nanos(at)
		if q.isHead(d) {
			q.schedule(d)
		}
	}
}

// ReleaseLeases gives back the leases owner holds, leaving their deliveries
// as they are.
func (s *Store) ReleaseLeases(ctx context.Context, owner string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, l := range s.leases {
		if l.owner == owner && !l.completing {
			delete(s.leases, id)
			if d := s.q.byID[id]; d != nil && d.leased && s.q.isHead(d) {
				s.q.schedule(d)
			}
		}
	}
	return nil
}

// NextDue returns when the earliest chain head of an enabled endpoint becomes
// claimable. Deliveries behind a chain head are left out: they become
// claimable only when the head is done, which a claimer learns by completing
// it, and counting them would make a poller spin.
func (s *Store) NextDue(ctx context.Context) (time.Time, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.loadQueue(ctx); err != nil {
		return time.Time{}, false, fmt.Errorf("next due: %w", err)
	}
	eps, err := s.claimState(ctx)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("next due: %w", err)
	}
	var (
		best  int64
		found bool
	)
	consider := func(at int64) {
		if !found || at < best {
			best, found = at, true
		}
	}
	enabled := make(map[string]int64, len(eps))
	for _, e := range eps {
		if e.disabled {
			continue
		}
		enabled[e.id] = e.pausedUntil
		if at, ok := s.q.earliest(e.id); ok {
			consider(max(at, e.pausedUntil))
		}
	}
	for id, l := range s.leases {
		d := s.q.byID[id]
		if d == nil || !d.leased {
			continue
		}
		if paused, ok := enabled[d.endpoint]; ok {
			consider(max(d.next, paused, nanos(l.until)))
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
		// Through the call's events: no index of deliveries is keyed by
		// call (see migration 0005).
		w.Add("d.event_seq IN (SELECT seq FROM events WHERE call_uuid = ?)", f.CallUUID)
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
	err := s.submit(ctx, func(ctx context.Context, tx *sql.Tx, g *group) error {
		d := &pending{id: id, next: nanos(now), updated: nanos(now)}
		err := tx.QueryRowContext(ctx, `UPDATE deliveries SET status = 'pending', next_attempt_at = ?2, completed_at = 0, updated_at = ?2
			WHERE id = ?1 RETURNING event_seq, endpoint_id, call_uuid, attempts, last_error, created_at`, id, nanos(now)).
			Scan(&d.seq, &d.endpoint, &d.call, &d.attempts, &d.lastError, &d.created)
		if errNoRows(err) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		g.after = append(g.after, func() { s.q.retry(d) })
		return nil
	})
	return wrap(fmt.Sprintf("retry delivery %d", id), err)
}

// Replay creates a pending delivery to endpointID, due at now, for each
// stored event f and the endpoint's subscription select, in event order.
func (s *Store) Replay(ctx context.Context, endpointID string, f store.ReplayFilter, now time.Time) (int, error) {
	for _, k := range f.Kinds {
		if !k.Valid() {
			return 0, fmt.Errorf("replay to %s: unknown event %q", endpointID, k)
		}
	}
	n := 0
	err := s.submit(ctx, func(ctx context.Context, tx *sql.Tx, g *group) error {
		ds, err := replay(ctx, tx, g.st, endpointID, f, now)
		if err != nil {
			return err
		}
		n = len(ds)
		g.after = append(g.after, func() { s.q.addAll(ds) })
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("replay to %s: %w", endpointID, err)
	}
	return n, nil
}

// replay is Replay's part of a shared transaction.
func replay(ctx context.Context, tx *sql.Tx, st *statements, endpointID string, f store.ReplayFilter, now time.Time) ([]*pending, error) {
	var kinds string
	err := tx.QueryRowContext(ctx, "SELECT events FROM endpoints WHERE id = ?", endpointID).Scan(&kinds)
	if errNoRows(err) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	subscribed, err := decodeKinds(kinds)
	if err != nil {
		return nil, fmt.Errorf("endpoint events: %w", err)
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
	var ds []*pending
	rows, err := tx.QueryContext(ctx, "SELECT seq, call_uuid, kind FROM events"+w.String()+" ORDER BY seq", w.Args()...)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var (
			d    = &pending{endpoint: endpointID, next: nanos(now), created: nanos(now), updated: nanos(now)}
			kind string
		)
		if err := rows.Scan(&d.seq, &d.call, &kind); err != nil {
			rows.Close()
			return nil, err
		}
		if k := events.Kind(kind); ep.Subscribes(k) && wanted.Subscribes(k) {
			ds = append(ds, d)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	ins := tx.StmtContext(ctx, st.insertDelivery)
	for _, d := range ds {
		res, err := ins.ExecContext(ctx, d.seq, endpointID, d.call, d.next, d.created)
		if err != nil {
			return nil, err
		}
		if d.id, err = res.LastInsertId(); err != nil {
			return nil, err
		}
	}
	return ds, nil
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
	err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM deliveries INDEXED BY deliveries_pending WHERE status = 'pending'").Scan(&n)
	return n, wrap("pending count", err)
}
