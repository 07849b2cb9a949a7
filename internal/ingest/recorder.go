package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/switchhook/switchhook/internal/callrules"
	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/metrics"
	"github.com/switchhook/switchhook/internal/store"
)

// ErrRejected is wrapped by Emit's error for an event that breaks the rules
// of a call's life (it also wraps callrules.ErrRefused then); the event is
// dropped, the call goes on.
var ErrRejected = errors.New("event rejected")

// ErrClosed is returned by Emit once the recorder has stopped taking events.
var ErrClosed = errors.New("recorder closed")

// Options configure a Recorder.
type Options struct {
	// Node owns the calls this recorder opens (see store.Store.OpenCalls).
	Node string
	// Wake is called after each committed batch; the delivery engine's Wake.
	Wake    func()
	Logger  *slog.Logger
	Metrics *metrics.Metrics
	// Queue is how many events may wait for the store; Emit blocks beyond.
	Queue int
	// MaxBatch caps the events of one transaction (default 64). The store
	// may share a transaction between a batch of events and the delivery
	// engine's outcomes, and the engine can record only as many outcomes as
	// it has requests in flight: a small cap keeps a burst of events from
	// taking most of each transaction.
	MaxBatch int
}

// Recorder is the events.Sink of a process. The zero value is not usable;
// call New.
type Recorder struct {
	st   store.Store
	opts Options
	log  *slog.Logger

	mu     sync.Mutex
	closed bool
	calls  map[string]*callrules.Life
	// resumed holds, by source, the events of the calls Recover kept open
	// for their source to reconcile with its engine.
	resumed map[string][][]events.Event
	// ended remembers the latest calls that hung up (and those Recover
	// ended), so that a late event of one, such as a leg an engine made
	// after the caller left, cannot open the call a second time.
	ended      map[string]bool
	endedOrder []string
	emitting   sync.WaitGroup
	queue      chan queued
	watchers   watchers
}

// queued is an event on its way to the store, and who waits for its commit.
type queued struct {
	e events.Event
	// done gets the commit's outcome; nil when nobody waits (Emit). It has
	// room for that one value, so the committer never blocks on a waiter.
	done chan error
}

// batch is what one transaction commits.
type batch struct {
	events  []events.Event
	waiters []chan error
}

func (b *batch) add(q queued) {
	b.events = append(b.events, q.e)
	if q.done != nil {
		b.waiters = append(b.waiters, q.done)
	}
}

func (b *batch) reset() { b.events, b.waiters = b.events[:0], b.waiters[:0] }

// settle tells every waiter of b the commit's outcome.
func (b *batch) settle(err error) {
	for _, w := range b.waiters {
		w <- err
	}
}

// New returns a recorder writing to st.
func New(st store.Store, o Options) *Recorder {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Queue <= 0 {
		o.Queue = 8192
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 64
	}
	if o.Wake == nil {
		o.Wake = func() {}
	}
	return &Recorder{st: st, opts: o, log: o.Logger, calls: map[string]*callrules.Life{}, resumed: map[string][][]events.Event{}, ended: map[string]bool{}, queue: make(chan queued, o.Queue)}
}

// Recover takes up the calls this node left open when it last stopped (a
// restart, a crash, kill -9). A call whose source keep names (a connector,
// whose engine may still carry it) stays open: its events so far are
// replayed into the rules, and Resume hands them to the source, which
// reconciles them with its engine. Every other call (the built-in PBX's,
// whose media died with the process) gets its CALL_HANGUP with cause
// SYSTEM_SHUTDOWN, so every CALL_ROUTED still has exactly one CALL_HANGUP.
// Call it before Run and before any source starts. It returns how many
// calls it ended.
func (r *Recorder) Recover(ctx context.Context, keep func(source string) bool) (int, error) {
	open, err := r.st.OpenCalls(ctx, r.opts.Node)
	if err != nil {
		return 0, fmt.Errorf("recover open calls: %w", err)
	}
	now := time.Now()
	var evs []events.Event
	kept := 0
	for _, c := range open {
		if keep != nil && keep(c.Source) {
			past, err := r.st.ListEvents(ctx, store.EventFilter{CallUUID: c.CallUUID})
			if err != nil {
				return 0, fmt.Errorf("recover call %s: %w", c.CallUUID, err)
			}
			r.calls[c.CallUUID] = callrules.Replay(past)
			r.resumed[c.Source] = append(r.resumed[c.Source], past)
			kept++
			continue
		}
		// The caller's name is only on the call's events.
		first, err := r.st.ListEvents(ctx, store.EventFilter{CallUUID: c.CallUUID, Limit: 1})
		if err != nil {
			return 0, fmt.Errorf("recover call %s: %w", c.CallUUID, err)
		}
		e := events.Event{
			ID:                newEventID(),
			Kind:              events.CallHangup,
			CallUUID:          c.CallUUID,
			SessionUUID:       c.SessionUUID,
			CallerIDNumber:    c.CallerIDNumber,
			DestinationNumber: c.DestinationNumber,
			OccurredAt:        now,
			Sequence:          c.LastSequence + 1,
			Direction:         c.Direction,
			Source:            c.Source,
			Hangup: &events.Hangup{
				Cause:      events.CauseSystemShutdown,
				By:         events.System,
				Duration:   wholeSeconds(now.Sub(c.StartedAt)),
				AnsweredBy: c.AnsweredBy,
			},
		}
		if len(first) > 0 {
			e.CallerIDName = first[0].CallerIDName
		}
		if c.AnsweredBy != "" {
			e.DestinationNumber = c.AnsweredBy
		}
		if !c.AnsweredAt.IsZero() {
			e.Hangup.Billsec = wholeSeconds(now.Sub(c.AnsweredAt))
		}
		evs = append(evs, e)
	}
	if kept > 0 {
		r.log.Info("calls of engines kept open for their connectors to reconcile", "calls", kept)
	}
	if len(evs) == 0 {
		return 0, nil
	}
	if _, err := r.st.InsertEvents(ctx, r.opts.Node, evs); err != nil {
		return 0, fmt.Errorf("record SYSTEM_SHUTDOWN hangups: %w", err)
	}
	r.mu.Lock()
	for _, e := range evs {
		r.remember(e.CallUUID)
	}
	r.mu.Unlock()
	r.log.Warn("ended calls left open by the previous run", "calls", len(evs), "cause", events.CauseSystemShutdown)
	r.opts.Wake()
	return len(evs), nil
}

// Resume returns, once, the recorded events (oldest first) of each call of
// source that Recover kept open.
func (r *Recorder) Resume(source string) [][]events.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	calls := r.resumed[source]
	delete(r.resumed, source)
	return calls
}

// Emit checks e against its call's story so far, numbers it and queues it for
// the store. It returns once the event is queued (not yet committed).
func (r *Recorder) Emit(ctx context.Context, e events.Event) error {
	return r.emit(ctx, queued{e: e})
}

// Record is Emit that returns only once e is committed to the store, so that
// what it returned nil for survives a crash: the path of an API that answers
// 2xx for an event. Events recorded at once share one transaction (group
// commit). When ctx ends first, e may or may not be committed.
func (r *Recorder) Record(ctx context.Context, e events.Event) error {
	done := make(chan error, 1)
	if err := r.emit(ctx, queued{e: e, done: done}); err != nil {
		return err
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("wait for %s %s to commit: %w", e.Kind, e.CallUUID, ctx.Err())
	}
}

func (r *Recorder) emit(ctx context.Context, q queued) error {
	e := &q.e
	if err := e.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrRejected, err)
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrClosed
	}
	if err := r.admit(e); err != nil {
		r.mu.Unlock()
		r.log.Warn("dropped call event", "event", e.Kind, "call_uuid", e.CallUUID, "source", e.Source, "reason", err)
		return fmt.Errorf("%w: %s: %w", ErrRejected, e.CallUUID, err)
	}
	r.emitting.Add(1)
	r.mu.Unlock()
	defer r.emitting.Done()
	select {
	case r.queue <- q:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("queue %s %s: %w", e.Kind, e.CallUUID, ctx.Err())
	}
}

// admit applies the rules of a call's life to e and fills what the recorder
// owns. It runs under r.mu.
func (r *Recorder) admit(e *events.Event) error {
	if e.ID == "" {
		e.ID = newEventID()
	}
	if e.SessionUUID == "" {
		e.SessionUUID = e.CallUUID
	}
	if e.Endpoint != "" {
		// A test event stands alone: it opens no call.
		e.Sequence = 1
		return nil
	}
	c := r.calls[e.CallUUID]
	if c == nil {
		if r.ended[e.CallUUID] {
			return fmt.Errorf("%w: %s: the call hung up already", callrules.ErrRefused, e.Kind)
		}
		if e.Kind != events.CallRouted {
			return fmt.Errorf("%w: %s: no open call with this call_uuid (not routed, or hung up already)", callrules.ErrRefused, e.Kind)
		}
		c = &callrules.Life{}
	}
	if err := c.Apply(e); err != nil {
		return err
	}
	if c.Over() {
		delete(r.calls, e.CallUUID)
		r.remember(e.CallUUID)
	} else {
		r.calls[e.CallUUID] = c
	}
	return nil
}

// rememberEnded bounds how many ended calls the recorder remembers.
const rememberEnded = 1 << 16

func (r *Recorder) remember(callUUID string) {
	r.ended[callUUID] = true
	r.endedOrder = append(r.endedOrder, callUUID)
	if len(r.endedOrder) > rememberEnded {
		delete(r.ended, r.endedOrder[0])
		r.endedOrder = r.endedOrder[1:]
	}
}

// Run writes queued events to the store in batches until ctx is done, then
// stops taking events and writes what was queued. A batch that fails to
// commit is retried, with a pause, until it commits or ctx is done: an event
// Emit accepted is not dropped for a passing store error.
func (r *Recorder) Run(ctx context.Context) error {
	b := &batch{events: make([]events.Event, 0, r.opts.MaxBatch)}
	for {
		select {
		case q := <-r.queue:
			b.reset()
			b.add(q)
			r.fill(b)
			r.commit(ctx, b)
		case <-ctx.Done():
			return r.drain()
		}
	}
}

// fill takes what else is queued, up to MaxBatch, without waiting: under load
// batches grow by themselves, and a lone event is committed at once.
func (r *Recorder) fill(b *batch) {
	for len(b.events) < r.opts.MaxBatch {
		select {
		case q := <-r.queue:
			b.add(q)
		default:
			return
		}
	}
}

func (r *Recorder) commit(ctx context.Context, b *batch) {
	for pause := 50 * time.Millisecond; ; pause = min(2*pause, 5*time.Second) {
		_, err := r.st.InsertEvents(context.WithoutCancel(ctx), r.opts.Node, b.events)
		if err == nil {
			break
		}
		r.log.Error("store events (will retry)", "events", len(b.events), "err", err)
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			// One last try on the way out, then give up loudly.
			if _, err := r.st.InsertEvents(context.WithoutCancel(ctx), r.opts.Node, b.events); err != nil {
				r.log.Error("store events failed at shutdown: events lost", "events", len(b.events), "err", err)
				b.settle(fmt.Errorf("store events: %w", err))
				return
			}
			r.committed(b)
			return
		}
	}
	r.committed(b)
}

// committed wakes the delivery engine, answers b's waiters and tells the
// watchers and the metrics. The engine is woken first: it claims the new
// deliveries while the waiters write their answers, rather than after a
// batch's worth of goroutines readied before it.
func (r *Recorder) committed(b *batch) {
	r.opts.Wake()
	b.settle(nil)
	r.counted(b.events)
}

func (r *Recorder) counted(batch []events.Event) {
	r.watchers.publish(batch)
	if r.opts.Metrics == nil {
		return
	}
	for i := range batch {
		r.opts.Metrics.EventsIn.WithLabelValues(string(batch[i].Kind), sourceLabel(batch[i].Source)).Inc()
	}
}

// sourceLabel keeps the label's cardinality to the source kinds.
func sourceLabel(s string) string {
	kind, _, _ := strings.Cut(s, "/")
	return kind
}

// drainTimeout bounds how long a stopping recorder keeps retrying a store
// that will not commit.
const drainTimeout = 15 * time.Second

// drain closes the recorder and commits what is queued.
func (r *Recorder) drain() error {
	ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	done := make(chan struct{})
	go func() { r.emitting.Wait(); close(done) }()
	b := &batch{events: make([]events.Event, 0, r.opts.MaxBatch)}
	for {
		select {
		case q := <-r.queue:
			b.reset()
			b.add(q)
			r.fill(b)
			r.commit(ctx, b)
		case <-done:
			for len(r.queue) > 0 {
				b.reset()
				r.fill(b)
				r.commit(ctx, b)
			}
			return nil
		}
	}
}

// OpenCalls counts the calls the recorder is following.
func (r *Recorder) OpenCalls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

func newEventID() string {
	return "evt_" + strings.ReplaceAll(uuid.Must(uuid.NewV7()).String(), "-", "")
}

func wholeSeconds(d time.Duration) int64 {
	if d < 0 {
		return 0
	}
	return int64(d / time.Second)
}
