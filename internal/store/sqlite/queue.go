package sqlite

import (
	"cmp"
	"container/heap"
	"context"
	"fmt"
	"slices"

	"github.com/switchhook/switchhook/internal/events"
)

// The pending deliveries are scheduled in memory. The file has one process
// (Open refuses a second), so the file holds what must survive a crash, the
// deliveries and their status, and memory holds what claiming needs: each
// chain's pending deliveries in order, and per endpoint its chain heads by
// due time and by age. A claim then reads nothing from the file but the
// events not kept in memory, and recording a delivery or its outcome writes
// its row and none of the indexes a queue in the file needs, each keyed by
// the call's UUID and so on a page of its own per delivery.
//
// The queue changes only after the transaction that changed the file has
// committed, under Store.mu, in commit order (the writer runs the changes of
// each transaction it commits; see group.after), so that it never holds
// what the file does not.

// maxCachedEvents bounds the events the queue keeps with their pending
// deliveries; past it (a long backlog), an event is read from the file when
// its delivery is claimed.
const maxCachedEvents = 32768

// pending is a pending delivery.
type pending struct {
	id, seq           int64
	endpoint, call    string
	attempts          int
	next              int64 // Unix nanoseconds, as in the file
	lastError         string
	created, updated  int64
	ev                *events.Event // nil: read from the file when claimed
	mark              uint64        // bumped at each (un)scheduling; older heap entries are stale
	scheduled, leased bool
}

type chainKey struct{ endpoint, call string }

// due is a heap entry of a scheduled head.
type due struct {
	p    *pending
	mark uint64
}

func (d due) live() bool { return d.p.scheduled && d.mark == d.p.mark }

// dues is a heap of heads in the order less gives.
type dues struct {
	list []due
	less func(a, b *pending) bool
}

func (h *dues) Len() int           { return len(h.list) }
func (h *dues) Less(i, j int) bool { return h.less(h.list[i].p, h.list[j].p) }
func (h *dues) Swap(i, j int)      { h.list[i], h.list[j] = h.list[j], h.list[i] }
func (h *dues) Push(x any)         { h.list = append(h.list, x.(due)) }
func (h *dues) Pop() any {
	x := h.list[len(h.list)-1]
	h.list = h.list[:len(h.list)-1]
	return x
}

// byNext orders heads not yet known to be due by due time, then age.
func byNext(a, b *pending) bool {
	return cmp.Or(cmp.Compare(a.next, b.next), cmp.Compare(a.id, b.id)) < 0
}

// byAge orders due heads oldest first.
func byAge(a, b *pending) bool { return a.id < b.id }

// heads are an endpoint's scheduled chain heads: later holds those not yet
// seen due (byNext), ready those seen due and waiting for room (byAge).
// Entries go stale rather than being removed (see due.live).
type heads struct {
	later, ready dues
}

// queue is the pending deliveries. Store.mu guards it.
type queue struct {
	loaded bool
	byID   map[int64]*pending
	chains map[chainKey][]*pending // by ID; [0] is the head
	eps    map[string]*heads
	cached int // pendings holding their event
	// maxCached is maxCachedEvents but in tests.
	maxCached int
}

func newQueue() queue {
	return queue{byID: map[int64]*pending{}, chains: map[chainKey][]*pending{}, eps: map[string]*heads{}, maxCached: maxCachedEvents}
}

// loadPendingSQL reads the pending deliveries, oldest first, through their
// partial index (never the whole table of deliveries).
const loadPendingSQL = `SELECT id, event_seq, endpoint_id, call_uuid, attempts, next_attempt_at, last_error, created_at, updated_at
	FROM deliveries INDEXED BY deliveries_pending WHERE status = 'pending' ORDER BY id`

// loadQueue reads the pending deliveries from the file, once.
func (s *Store) loadQueue(ctx context.Context) error {
	q := &s.q
	if q.loaded {
		return nil
	}
	rows, err := s.c.QueryContext(ctx, loadPendingSQL)
	if err != nil {
		return fmt.Errorf("load pending deliveries: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		p := &pending{}
		if err := rows.Scan(&p.id, &p.seq, &p.endpoint, &p.call, &p.attempts, &p.next, &p.lastError, &p.created, &p.updated); err != nil {
			return fmt.Errorf("load pending deliveries: %w", err)
		}
		q.add(p)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load pending deliveries: %w", err)
	}
	q.loaded = true
	return nil
}

// add puts a pending delivery in its chain, unless it is there already (the
// queue may have been loaded after the commit that created it).
func (q *queue) add(p *pending) {
	if q.byID[p.id] != nil {
		return
	}
	if p.ev != nil {
		if q.cached >= q.maxCached {
			p.ev = nil
		} else {
			q.cached++
		}
	}
	q.byID[p.id] = p
	k := chainKey{p.endpoint, p.call}
	c := q.chains[k]
	// Deliveries come in ID order, but for a retried or replayed one.
	i, _ := slices.BinarySearchFunc(c, p.id, func(x *pending, id int64) int { return cmp.Compare(x.id, id) })
	c = slices.Insert(c, i, p)
	q.chains[k] = c
	if i == 0 {
		if len(c) > 1 {
			q.unschedule(c[1])
		}
		q.schedule(p)
	}
}

// remove takes a delivery that is no longer pending out of its chain and
// schedules the chain's next head.
func (q *queue) remove(p *pending) {
	if q.byID[p.id] != p {
		return
	}
	delete(q.byID, p.id)
	if p.ev != nil {
		q.cached--
	}
	q.unschedule(p)
	k := chainKey{p.endpoint, p.call}
	c := q.chains[k]
	i := slices.Index(c, p)
	if i < 0 {
		return
	}
	c = slices.Delete(c, i, i+1)
	if len(c) == 0 {
		delete(q.chains, k)
		return
	}
	q.chains[k] = c
	if i == 0 {
		q.schedule(c[0])
	}
}

func (q *queue) isHead(p *pending) bool {
	c := q.chains[chainKey{p.endpoint, p.call}]
	return len(c) > 0 && c[0] == p
}

// schedule makes a head claimable once due (and not leased).
func (q *queue) schedule(p *pending) {
	p.mark++
	p.scheduled, p.leased = true, false
	h := q.eps[p.endpoint]
	if h == nil {
		h = &heads{later: dues{less: byNext}, ready: dues{less: byAge}}
		q.eps[p.endpoint] = h
	}
	heap.Push(&h.later, due{p, p.mark})
}

// unschedule makes its heap entries stale.
func (q *queue) unschedule(p *pending) {
	p.mark++
	p.scheduled = false
}

// takeDue pops up to n of endpoint's heads due at now, oldest first.
func (q *queue) takeDue(endpoint string, now int64, n int) []*pending {
	h := q.eps[endpoint]
	if h == nil || n <= 0 {
		return nil
	}
	for h.later.Len() > 0 {
		top := h.later.list[0]
		if !top.live() {
			heap.Pop(&h.later)
			continue
		}
		if top.p.next > now {
			break
		}
		heap.Pop(&h.later)
		heap.Push(&h.ready, top)
	}
	var out []*pending
	for len(out) < n && h.ready.Len() > 0 {
		d := heap.Pop(&h.ready).(due)
		if !d.live() {
			continue
		}
		if d.p.next > now {
			// Seen due by a claim with a later clock (tests claim at
			// times of their choosing).
			heap.Push(&h.later, d)
			continue
		}
		q.unschedule(d.p)
		out = append(out, d.p)
	}
	return out
}

// earliest returns the earliest due time of endpoint's scheduled heads.
func (q *queue) earliest(endpoint string) (int64, bool) {
	h := q.eps[endpoint]
	if h == nil {
		return 0, false
	}
	var (
		best  int64
		found bool
	)
	for _, d := range h.ready.list {
		if d.live() && (!found || d.p.next < best) {
			best, found = d.p.next, true
		}
	}
	for h.later.Len() > 0 && !h.later.list[0].live() {
		heap.Pop(&h.later)
	}
	if h.later.Len() > 0 && (!found || h.later.list[0].p.next < best) {
		best, found = h.later.list[0].p.next, true
	}
	return best, found
}

// dropEndpoint forgets an endpoint's pending deliveries.
func (q *queue) dropEndpoint(endpoint string) {
	for k, c := range q.chains {
		if k.endpoint != endpoint {
			continue
		}
		for _, p := range c {
			q.unschedule(p)
			delete(q.byID, p.id)
			if p.ev != nil {
				q.cached--
			}
		}
		delete(q.chains, k)
	}
	delete(q.eps, endpoint)
}

// addAll adds committed new pending deliveries.
func (q *queue) addAll(ds []*pending) {
	if !q.loaded {
		return // loading reads them
	}
	for _, d := range ds {
		q.add(d)
	}
}

// retry makes a committed retry of d (pending again, due at d.next) known.
func (q *queue) retry(d *pending) {
	if !q.loaded {
		return
	}
	p := q.byID[d.id]
	if p == nil {
		q.add(d)
		return
	}
	p.next, p.updated = d.next, d.updated
	if !p.leased && q.isHead(p) {
		q.schedule(p)
	}
}
