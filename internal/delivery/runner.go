package delivery

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/switchhook/switchhook/internal/signature"
	"github.com/switchhook/switchhook/internal/store"
)

// runner is the state of one Run. Only Run's goroutine touches it; request
// goroutines get immutable endpoint snapshots and send back a result.
type runner struct {
	e        *Engine
	results  chan result
	inflight int

	eps   map[string]*endpoint
	lease time.Duration

	// outcomes wait here to be recorded in the next CompleteAttempts.
	outcomes []store.Outcome
	// completing is the batch of outcomes being committed by the one
	// CompleteAttempts in flight, whose error comes back on completed; spare
	// is the buffer of the last batch committed, for reuse.
	completing []store.Outcome
	completed  chan error
	spare      []store.Outcome
	// dirty endpoints have a circuit newer than the store's; disable holds
	// endpoints to disable, with the reason.
	dirty   map[string]bool
	disable map[string]string
	// storeRetryAt delays the next write after the store failed one.
	storeRetryAt time.Time

	// wakeAt is the earliest moment this process knows work becomes
	// claimable: a retry it scheduled, or the end of a circuit's pause.
	wakeAt time.Time
}

// endpoint is a snapshot of a store.Endpoint with what the request goroutines
// need precomputed. Those read only the fields set at load; circuit and
// disabled belong to the runner.
type endpoint struct {
	ep *store.Endpoint
	// headers are ep's own headers, canonical, each value a slice of
	// capacity one, so that an append to it cannot write to the shared one.
	headers  http.Header
	keys     []signingKey
	timeout  time.Duration
	schedule []time.Duration
	circuit  store.Circuit
	disabled bool
}

type signingKey struct {
	key     []byte
	expires time.Time // zero: current
}

// keysAt returns the keys still valid at t, the current one first.
func (ep *endpoint) keysAt(t time.Time) [][]byte {
	keys := make([][]byte, 0, len(ep.keys))
	for _, k := range ep.keys {
		if k.expires.IsZero() || k.expires.After(t) {
			keys = append(keys, k.key)
		}
	}
	return keys
}

func (r *runner) newEndpoint(ep *store.Endpoint) *endpoint {
	eff := *ep
	eff.WithDefaults()
	x := &endpoint{ep: ep, timeout: eff.Timeout, schedule: eff.RetrySchedule, circuit: ep.Circuit, disabled: ep.Disabled}
	x.headers = make(http.Header, len(ep.Headers))
	for k, v := range ep.Headers {
		x.headers[http.CanonicalHeaderKey(k)] = []string{v}
	}
	for _, s := range ep.Secrets {
		key, err := signature.Key(s.Value)
		if err != nil {
			// Not fatal here: the endpoint's attempts fail with this error,
			// where its owner sees it.
			r.e.log.Warn("endpoint has an unusable secret", "endpoint", ep.ID, "err", err)
			continue
		}
		x.keys = append(x.keys, signingKey{key: key, expires: s.ExpiresAt})
	}
	if x.circuit.State == "" {
		x.circuit.State = store.CircuitClosed
	}
	return x
}

func (r *runner) loadEndpoints(ctx context.Context) error {
	list, err := r.e.st.ListEndpoints(ctx)
	if err != nil {
		return fmt.Errorf("load endpoints: %w", err)
	}
	eps := make(map[string]*endpoint, len(list))
	longest := time.Duration(0)
	for _, ep := range list {
		x := r.newEndpoint(ep)
		if old := r.eps[ep.ID]; old != nil && r.dirty[ep.ID] {
			x.circuit = old.circuit // ours is newer than the store's
		}
		if r.disable[ep.ID] != "" {
			x.disabled = true
		}
		eps[ep.ID] = x
		longest = max(longest, x.timeout)
	}
	r.eps = eps
	// A lease must outlast the request it covers, or another process could
	// send the same delivery while the first request is still waiting.
	r.lease = max(r.e.o.LeaseDuration, 2*longest)
	for id := range r.dirty {
		if eps[id] == nil {
			delete(r.dirty, id)
		}
	}
	return nil
}

func (r *runner) reloadEndpoints(ctx context.Context) {
	if err := r.loadEndpoints(ctx); err != nil {
		r.e.log.Error("reload endpoints", "err", err)
	}
}

// claim leases as much due work as there is room for and starts a request
// for each. It reports whether more work may be waiting right now.
func (r *runner) claim(dbCtx, reqCtx context.Context) bool {
	o := &r.e.o
	now := o.Now()
	if !r.wakeAt.IsZero() && !r.wakeAt.After(now) {
		r.wakeAt = time.Time{}
	}
	limit := min(o.ClaimBatch, o.Concurrency-r.inflight)
	if limit <= 0 {
		return false // a result frees room, and claims again
	}
	r.halfOpen(now)
	if !r.writeCircuits(dbCtx) {
		return false
	}
	jobs, err := r.e.st.ClaimDeliveries(dbCtx, store.ClaimParams{
		Owner: o.Node, Now: now, LeaseUntil: now.Add(r.lease), Limit: limit,
	})
	if err != nil {
		r.e.log.Error("claim deliveries", "err", err)
		return false // the poll timer tries again
	}
	for _, job := range jobs {
		ep := r.eps[job.Delivery.EndpointID]
		if ep == nil {
			// Created since the last load: read them all again.
			r.reloadEndpoints(dbCtx)
			if ep = r.eps[job.Delivery.EndpointID]; ep == nil {
				r.e.log.Warn("claimed a delivery of an unknown endpoint; leaving it", "delivery", job.Delivery.ID, "endpoint", job.Delivery.EndpointID)
				continue
			}
		}
		r.inflight++
		go func() { r.results <- r.e.attempt(reqCtx, ep, job) }()
	}
	if len(jobs) == 0 && r.inflight == 0 {
		r.idle(dbCtx, now)
	}
	return len(jobs) == limit
}

// idle asks the store when the next work is due, so that work scheduled by
// an earlier run of this process (or another process) is claimed on time
// rather than at the next poll.
func (r *runner) idle(ctx context.Context, now time.Time) {
	at, ok, err := r.e.st.NextDue(ctx)
	if err != nil {
		r.e.log.Error("next due delivery", "err", err)
		return
	}
	// A time not after now says nothing: it is work that is due but not
	// claimable (queued behind a chain head held by another process).
	if ok && at.After(now) {
		r.wakeAt = earliest(r.wakeAt, at)
	}
}

// sleep is how long Run may wait for a signal before it claims again, or,
// once stopping, before it retries a failed write.
func (r *runner) sleep(stopping bool) time.Duration {
	now := r.e.o.Now()
	d := r.e.o.PollInterval
	times := []time.Time{r.storeRetryAt}
	if !stopping {
		times = append(times, r.wakeAt)
	}
	for _, t := range times {
		if !t.IsZero() {
			d = min(d, max(t.Sub(now), 0))
		}
	}
	return d
}

// take accepts a finished request's result.
func (r *runner) take(res result) {
	r.inflight--
	if res.abandoned {
		return // its lease is released at the end of Run; it is sent again
	}
	r.e.o.Health.Observe(res.ep.ep.ID, res.attempt.At, res.attempt.Latency, res.verdict == accepted)
	r.outcomes = append(r.outcomes, r.decide(res))
}

// drain takes the results that are ready without waiting.
func (r *runner) drain() {
	for {
		select {
		case res := <-r.results:
			r.take(res)
		default:
			return
		}
	}
}

// record writes the circuit changes and disables gathered so far, so that
// they hold before the next claim and before the outcomes they follow from
// are committed, and then starts committing the outcomes, in one transaction,
// in a goroutine of its own: Run goes on claiming and taking results
// meanwhile, so a new event does not wait behind unrelated commits. Their
// deliveries stay leased to this node until the commit, so none is claimed
// twice. One commit is in flight at a time; outcomes that arrive meanwhile
// form the next batch.
func (r *runner) record(ctx context.Context) {
	r.drain()
	if len(r.outcomes) == 0 && len(r.dirty) == 0 && len(r.disable) == 0 {
		r.storeRetryAt = time.Time{}
		return
	}
	if now := r.e.o.Now(); now.Before(r.storeRetryAt) {
		return
	}
	r.storeRetryAt = time.Time{}
	if !r.writeCircuits(ctx) {
		return
	}
	for id, reason := range r.disable {
		if err := r.e.st.DisableEndpoint(ctx, id, reason); err != nil {
			r.storeFailed("disable endpoint "+id, err)
			return
		}
		delete(r.disable, id)
	}
	if len(r.outcomes) == 0 || r.completing != nil {
		return
	}
	batch := r.outcomes
	r.completing, r.outcomes, r.spare = batch, r.spare, nil
	go func() { r.completed <- r.e.st.CompleteAttempts(ctx, r.e.o.Node, batch) }()
}

// committed takes the result of the commit record started. It reports
// whether the outcomes were recorded, since a recorded outcome can make the
// next event of a call claimable. A batch that failed goes back ahead of
// the outcomes gathered since, for a later try.
func (r *runner) committed(err error) bool {
	batch := r.completing
	r.completing = nil
	if err != nil {
		r.outcomes = append(batch, r.outcomes...)
		r.storeFailed("complete attempts", err)
		return false
	}
	clear(batch)
	r.spare = batch[:0]
	return true
}

func (r *runner) writeCircuits(ctx context.Context) bool {
	for id := range r.dirty {
		ep := r.eps[id]
		if ep == nil {
			delete(r.dirty, id)
			continue
		}
		if err := r.e.st.SetCircuit(ctx, id, ep.circuit); err != nil {
			r.storeFailed("set circuit of "+id, err)
			return false
		}
		delete(r.dirty, id)
	}
	return true
}

// storeFailed logs a failed write and keeps what was to be written for a
// later try: the leases it covers stay ours until then.
func (r *runner) storeFailed(what string, err error) {
	r.e.log.Error(what, "err", err, "outcomes_waiting", len(r.outcomes))
	r.storeRetryAt = r.e.o.Now().Add(min(100*time.Millisecond, r.e.o.PollInterval))
}

// flush records what is left when Run ends, trying a few times.
func (r *runner) flush(ctx context.Context) {
	if r.completing != nil {
		r.committed(<-r.completed)
	}
	for try := 0; try < 5; try++ {
		if try > 0 {
			time.Sleep(100 * time.Millisecond)
		}
		r.storeRetryAt = time.Time{}
		r.record(ctx)
		if r.completing != nil {
			r.committed(<-r.completed)
		}
		if len(r.outcomes) == 0 && len(r.dirty) == 0 && len(r.disable) == 0 {
			return
		}
	}
	r.e.log.Error("outcomes not recorded at shutdown; those deliveries will be sent again", "outcomes", len(r.outcomes))
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}
