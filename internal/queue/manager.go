package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/switchhook/switchhook/internal/api/apitypes"
	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/metrics"
	"github.com/switchhook/switchhook/internal/store"
)

// Errors of Join and Pause.
var (
	// ErrFull is Join's answer when the queue has MaxCallers waiting: the
	// caller goes straight to the overflow.
	ErrFull = errors.New("queue: full")
	// ErrUnknownQueue and ErrNotAgent name what a request got wrong.
	ErrUnknownQueue = errors.New("queue: no such queue")
	ErrNotAgent     = errors.New("queue: not an agent of this queue")
	// ErrStopped is returned once the Manager's Run has ended.
	ErrStopped = errors.New("queue: manager stopped")
)

// Presence is what the Manager asks the PBX about an agent's phone.
type Presence interface {
	// Registered reports whether a phone of the extension is registered.
	Registered(ext string) bool
	// Busy reports whether the extension is on a call or ringing, queue
	// calls included.
	Busy(ext string) bool
}

// Pauses keeps which agents are paused in which queue.
type Pauses interface {
	SetAgentPaused(ctx context.Context, p store.AgentPause, paused bool) error
	AgentPauses(ctx context.Context) ([]store.AgentPause, error)
}

// Caller is a call waiting in a queue, as the call core implements it. The
// Manager calls these methods from its goroutine: they must not block (the
// call core posts them to the call's owner).
type Caller interface {
	// Offer asks the call to ring agents, each for at most timeout. The
	// call reports every one of them exactly once with Ticket.Rang; when
	// one answers it stops the others and reports them as not answered.
	Offer(agents []string, timeout time.Duration)
	// Expired says the caller waited the queue's MaxWait: the call stops
	// ringing, moves on to the overflow or hangs up, and calls Ticket.Done.
	Expired()
}

// CallerInfo is what the Manager shows of a waiting caller.
type CallerInfo struct {
	CallUUID       string
	CallerIDNumber string
}

// Options configure a Manager.
type Options struct {
	Presence Presence // nil: every agent is registered and free
	Pauses   Pauses   // nil: pauses last until the process stops
	Metrics  *metrics.Metrics
	Logger   *slog.Logger
	// Recheck is how often the Manager looks again for free agents while
	// callers wait, for the changes Presence does not announce through
	// Poke; 0 means a second.
	Recheck time.Duration
	// Retry is the pause before a caller's agents are offered again once
	// every free one was offered and none answered, so that a phone that
	// refuses at once is not called in a loop; 0 means DefaultRetry.
	Retry time.Duration
}

// DefaultRetry is Options.Retry when it is 0.
const DefaultRetry = 2 * time.Second

// Manager allocates agents to waiting callers. Make one with New and run it
// with Run; its methods are safe for concurrent use.
type Manager struct {
	opts Options
	log  *slog.Logger

	// mu guards queues, order and each queue's cfg and removed: they are
	// written on Run's goroutine (or before Run), and read by the methods
	// other goroutines call.
	mu     sync.RWMutex
	queues map[string]*queue
	order  []string // queue numbers as configured

	inbox   mailbox
	stopped chan struct{}
	started sync.Once
	// running says Run serves the inbox, so a reload must go through it;
	// runMu makes a reload before Run and Run's start exclusive.
	runMu   sync.Mutex
	running bool

	// Owned by Run's goroutine.
	agents  map[string]*agent
	waiting []*waiter // every queue's waiting callers, in the order they joined
	nextID  uint64
}

type queue struct {
	cfg    Config
	paused map[string]bool
	last   int // index in cfg.Agents of the agent round robin rang last
	// removed says a reload dropped the queue: it takes no new callers,
	// serves those waiting, and goes with the last of them.
	removed bool
	// counts by outcome since the process started
	answered, abandoned, overflow int
}

type agent struct {
	ext       string
	ringing   *waiter // the caller this agent is offered, if any
	onCall    *waiter // the queue caller this agent answered, if any
	wrapUntil time.Time
	idleSince time.Time
}

type waiter struct {
	id      uint64
	q       *queue
	caller  Caller
	info    CallerInfo
	joined  time.Time
	offered map[string]bool // agents ringing for this caller
	tried   map[string]bool // agents offered in this round
	// lastNo is when the last offer ended without an answer.
	lastNo  time.Time
	expired bool
	served  *agent // the agent who answered
	gone    bool   // Done was called
	timer   *time.Timer
}

// New checks the queues and makes a Manager.
func New(cfgs []Config, o Options) (*Manager, error) {
	m := &Manager{
		opts:    o,
		log:     o.Logger,
		queues:  make(map[string]*queue, len(cfgs)),
		stopped: make(chan struct{}),
		agents:  make(map[string]*agent),
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if m.opts.Recheck <= 0 {
		m.opts.Recheck = time.Second
	}
	if m.opts.Retry <= 0 {
		m.opts.Retry = DefaultRetry
	}
	m.inbox.init()
	cs, err := checkAll(cfgs)
	if err != nil {
		return nil, err
	}
	m.apply(cs, nil)
	return m, nil
}

// checkAll checks cfgs and returns them with their defaults filled.
func checkAll(cfgs []Config) ([]Config, error) {
	out := make([]Config, len(cfgs))
	for i, c := range cfgs {
		if err := c.check(); err != nil {
			return nil, fmt.Errorf("queues[%d] (%s): %w", i, c.Number, err)
		}
		if slices.IndexFunc(out[:i], func(o Config) bool { return o.Number == c.Number }) >= 0 {
			return nil, fmt.Errorf("queues[%d]: number %s is used already", i, c.Number)
		}
		c.Agents = slices.Clone(c.Agents)
		out[i] = c
	}
	return out, nil
}

// Reload serves cfgs from now on; a cfgs that does not check changes
// nothing. A queue added takes callers at once, its agents paused as the
// Pauses store says. A queue changed keeps its callers, their places and
// their max_wait and overflow (those they joined with); its agents,
// strategy, agent_timeout, wrapup and max_callers apply from the next
// offer or caller on, an agent still ringing for it rings on, and its
// agents keep their pauses. An agent dropped from a queue is offered none
// of its callers any more; one on a call of it finishes that call and
// rests for the queue's wrapup. A queue removed takes no new callers
// (Join answers ErrUnknownQueue) but serves those waiting with its last
// agents until each is answered, hangs up or reaches max_wait, and goes
// with the last of them.
func (m *Manager) Reload(ctx context.Context, cfgs []Config) error {
	cs, err := checkAll(cfgs)
	if err != nil {
		return err
	}
	var stored []store.AgentPause
	if m.opts.Pauses != nil {
		if stored, err = m.opts.Pauses.AgentPauses(ctx); err != nil {
			return fmt.Errorf("queues: load paused agents: %w", err)
		}
	}
	m.runMu.Lock()
	if !m.running {
		defer m.runMu.Unlock()
		m.apply(cs, stored)
		return nil
	}
	m.runMu.Unlock()
	return m.do(ctx, func() { m.apply(cs, stored) })
}

// apply makes cs the queues, on Run's goroutine or before Run. stored are
// the pauses kept in the store, for queues and agents that cs adds.
func (m *Manager) apply(cs []Config, stored []store.AgentPause) {
	now := time.Now()
	next := make(map[string]*queue, len(cs))
	order := make([]string, 0, len(cs))
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range cs {
		q := m.queues[c.Number]
		if q == nil {
			q = &queue{paused: map[string]bool{}, last: -1}
			if mt := m.opts.Metrics; mt != nil {
				mt.QueueWaiting.WithLabelValues(c.Number).Set(0)
				for _, oc := range []events.QueueOutcome{events.QueueAnswered, events.QueueAbandoned, events.QueueOverflow} {
					mt.QueueCalls.WithLabelValues(c.Number, string(oc))
				}
			}
		}
		// Round robin goes on after the agent it rang last, if it is
		// still an agent.
		if q.last >= 0 && q.last < len(q.cfg.Agents) {
			q.last = slices.Index(c.Agents, q.cfg.Agents[q.last])
		}
		for a := range q.paused {
			if !slices.Contains(c.Agents, a) {
				delete(q.paused, a)
			}
		}
		for _, p := range stored {
			if p.Queue == c.Number && slices.Contains(c.Agents, p.Agent) && !slices.Contains(q.cfg.Agents, p.Agent) {
				q.paused[p.Agent] = true
			}
		}
		q.cfg, q.removed = c, false
		next[c.Number] = q
		order = append(order, c.Number)
		for _, a := range c.Agents {
			if m.agents[a] == nil {
				m.agents[a] = &agent{ext: a, idleSince: now}
			}
		}
	}
	for _, n := range m.order {
		if q := m.queues[n]; next[n] == nil && m.count(q) > 0 {
			q.removed = true
			next[n] = q
			order = append(order, n)
		}
	}
	m.queues, m.order = next, order
}

// drop forgets q, a queue a reload removed, once its last caller left.
func (m *Manager) drop(q *queue) {
	if !q.removed || m.count(q) > 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.queues[q.cfg.Number] == q {
		delete(m.queues, q.cfg.Number)
		m.order = slices.DeleteFunc(m.order, func(n string) bool { return n == q.cfg.Number })
	}
}

// queue returns the queue of number that takes callers, if any.
func (m *Manager) queue(number string) *queue {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if q := m.queues[number]; q != nil && !q.removed {
		return q
	}
	return nil
}

// Config returns the queue of number, with its defaults filled.
func (m *Manager) Config(number string) (Config, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	q, ok := m.queues[number]
	if !ok || q.removed {
		return Config{}, false
	}
	c := q.cfg
	c.Agents = slices.Clone(c.Agents)
	return c, true
}

// Restore reads the stored pauses; call it once, before Run. Pauses of
// queues or agents no longer configured are ignored (and kept, should they
// come back).
func (m *Manager) Restore(ctx context.Context) error {
	if m.opts.Pauses == nil {
		return nil
	}
	ps, err := m.opts.Pauses.AgentPauses(ctx)
	if err != nil {
		return fmt.Errorf("queues: load paused agents: %w", err)
	}
	for _, p := range ps {
		if q := m.queues[p.Queue]; q != nil && slices.Contains(q.cfg.Agents, p.Agent) {
			q.paused[p.Agent] = true
		}
	}
	return nil
}

// Run serves the Manager until ctx is done.
func (m *Manager) Run(ctx context.Context) error {
	ran := false
	m.started.Do(func() { ran = true })
	if !ran {
		return errors.New("queue: Run called twice")
	}
	m.runMu.Lock()
	m.running = true
	m.runMu.Unlock()
	defer close(m.stopped)
	// The recheck ticks only while callers wait: an idle Manager sleeps.
	var tick *time.Ticker
	defer func() {
		if tick != nil {
			tick.Stop()
		}
	}()
	for {
		var ticks <-chan time.Time
		switch {
		case len(m.waiting) > 0 && tick == nil:
			tick = time.NewTicker(m.opts.Recheck)
		case len(m.waiting) == 0 && tick != nil:
			tick.Stop()
			tick = nil
		}
		if tick != nil {
			ticks = tick.C
		}
		select {
		case <-ctx.Done():
			m.stop()
			return nil
		case <-m.inbox.signal:
			for _, f := range m.inbox.take() {
				f()
			}
		case <-ticks:
		}
		m.dispatch()
	}
}

// stop ends the waits' timers; the calls themselves end with the PBX.
func (m *Manager) stop() {
	for _, w := range m.waiting {
		w.timer.Stop()
	}
}

// do runs f on the Manager's goroutine and waits for it.
func (m *Manager) do(ctx context.Context, f func()) error {
	done := make(chan struct{})
	m.inbox.post(func() { f(); close(done) })
	select {
	case <-done:
		return nil
	case <-m.stopped:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Poke makes the Manager look for free agents now, e.g. after a phone
// registered or a call ended.
func (m *Manager) Poke() { m.inbox.post(func() {}) }

// Join puts a caller at the end of queue number. ErrFull means the queue
// has MaxCallers waiting.
func (m *Manager) Join(ctx context.Context, number string, c Caller, info CallerInfo) (*Ticket, error) {
	q := m.queue(number)
	if q == nil {
		return nil, fmt.Errorf("%w: %s", ErrUnknownQueue, number)
	}
	var t *Ticket
	var full, removed bool
	var max int
	err := m.do(ctx, func() {
		if q.removed {
			removed = true
			return
		}
		max = q.cfg.MaxCallers
		if n := q.cfg.MaxCallers; n > 0 && m.count(q) >= n {
			full = true
			q.overflow++
			m.observe(q, events.QueueOverflow, 0)
			return
		}
		m.nextID++
		w := &waiter{id: m.nextID, q: q, caller: c, info: info, joined: time.Now(),
			offered: map[string]bool{}, tried: map[string]bool{}}
		w.timer = time.AfterFunc(q.cfg.MaxWait, func() { m.inbox.post(func() { m.expire(w) }) })
		m.waiting = append(m.waiting, w)
		m.gauge(q)
		t = &Ticket{m: m, w: w, Joined: w.joined}
	})
	switch {
	case err != nil:
		return nil, err
	case removed:
		return nil, fmt.Errorf("%w: %s", ErrUnknownQueue, number)
	case full:
		return nil, fmt.Errorf("%w: %s has %d callers waiting", ErrFull, number, max)
	}
	return t, nil
}

// Ticket is a caller's place in a queue; the call core reports on it.
type Ticket struct {
	m      *Manager
	w      *waiter
	Joined time.Time // when the caller joined
}

// Rang reports how the offer of the caller to agent ended. Only the
// first agent to answer takes the caller; a later answer is taken as
// no answer, and the call core must release that agent.
func (t *Ticket) Rang(agent string, answered bool) {
	t.m.inbox.post(func() { t.m.rang(t.w, agent, answered) })
}

// Done reports that the caller left the queue without an agent (hung up,
// or moved on after Expired or ErrFull), or, once an agent answered, that
// the agent's part of the call is over: the agent goes to wrapup.
func (t *Ticket) Done() {
	t.m.inbox.post(func() { t.m.done(t.w) })
}

func (m *Manager) count(q *queue) int {
	n := 0
	for _, w := range m.waiting {
		if w.q == q {
			n++
		}
	}
	return n
}

func (m *Manager) gauge(q *queue) {
	if m.opts.Metrics != nil {
		m.opts.Metrics.QueueWaiting.WithLabelValues(q.cfg.Number).Set(float64(m.count(q)))
	}
}

func (m *Manager) observe(q *queue, o events.QueueOutcome, wait time.Duration) {
	if mt := m.opts.Metrics; mt != nil {
		mt.QueueCalls.WithLabelValues(q.cfg.Number, string(o)).Inc()
		mt.QueueWait.WithLabelValues(q.cfg.Number).Observe(wait.Seconds())
	}
}

// unwait takes w off the waiting list.
func (m *Manager) unwait(w *waiter) {
	if i := slices.Index(m.waiting, w); i >= 0 {
		m.waiting = slices.Delete(m.waiting, i, i+1)
		w.timer.Stop()
		m.gauge(w.q)
		m.drop(w.q)
	}
}

func (m *Manager) expire(w *waiter) {
	if w.gone || w.served != nil || w.expired {
		return
	}
	w.expired = true
	w.caller.Expired()
}

func (m *Manager) rang(w *waiter, ext string, answered bool) {
	a := m.agents[ext]
	if a == nil || !w.offered[ext] {
		return
	}
	delete(w.offered, ext)
	if a.ringing == w {
		a.ringing = nil
	}
	if !answered || w.served != nil || w.gone {
		if len(w.offered) == 0 {
			w.lastNo = time.Now()
		}
		return
	}
	w.served, a.onCall = a, w
	w.q.answered++
	m.unwait(w)
	m.observe(w.q, events.QueueAnswered, time.Since(w.joined))
}

func (m *Manager) done(w *waiter) {
	if w.gone {
		return
	}
	w.gone = true
	for ext := range w.offered {
		if a := m.agents[ext]; a.ringing == w {
			a.ringing = nil
		}
	}
	w.offered = nil
	if a := w.served; a != nil {
		if a.onCall == w {
			a.onCall = nil
			now := time.Now()
			a.wrapUntil = now.Add(w.q.cfg.Wrapup)
			a.idleSince = a.wrapUntil
			if w.q.cfg.Wrapup > 0 {
				time.AfterFunc(w.q.cfg.Wrapup, m.Poke)
			}
		}
		return
	}
	m.unwait(w)
	o := events.QueueAbandoned
	if w.expired {
		o = events.QueueOverflow
		w.q.overflow++
	} else {
		w.q.abandoned++
	}
	m.observe(w.q, o, time.Since(w.joined))
}

// free reports whether ext may be offered a call of q now. reachable
// remembers, for one dispatch, what Presence said of each agent: asking it
// may read the store.
func (m *Manager) free(q *queue, a *agent, now time.Time, reachable map[string]bool) bool {
	if a.ringing != nil || a.onCall != nil || q.paused[a.ext] || now.Before(a.wrapUntil) {
		return false
	}
	p := m.opts.Presence
	if p == nil {
		return true
	}
	ok, known := reachable[a.ext]
	if !known {
		ok = p.Registered(a.ext) && !p.Busy(a.ext)
		reachable[a.ext] = ok
	}
	return ok
}

// dispatch offers free agents to the callers that wait without an offer,
// oldest first, so that an agent in several queues goes to the caller who
// has waited longest.
func (m *Manager) dispatch() {
	now := time.Now()
	reachable := map[string]bool{}
	for _, w := range m.waiting {
		if len(w.offered) > 0 || w.expired {
			continue
		}
		q := w.q
		var free, untried []*agent
		for _, ext := range q.cfg.Agents {
			a := m.agents[ext]
			if m.free(q, a, now, reachable) {
				free = append(free, a)
				if !w.tried[ext] {
					untried = append(untried, a)
				}
			}
		}
		if len(free) == 0 {
			continue
		}
		if len(untried) == 0 {
			if now.Before(w.lastNo.Add(m.opts.Retry)) {
				continue // the recheck comes back to it
			}
			clear(w.tried) // every free agent had its chance: start a new round
			untried = free
		}
		pick := m.pick(q, untried)
		exts := make([]string, len(pick))
		for i, a := range pick {
			a.ringing = w
			w.offered[a.ext], w.tried[a.ext] = true, true
			exts[i] = a.ext
		}
		if q.cfg.Strategy == RoundRobin {
			q.last = slices.Index(q.cfg.Agents, pick[0].ext)
		}
		m.log.Debug("offer", "queue", q.cfg.Number, "call_uuid", w.info.CallUUID, "agents", exts)
		w.caller.Offer(exts, q.cfg.AgentTimeout)
	}
}

// pick chooses from the free agents of q (in listed order) by its strategy.
func (m *Manager) pick(q *queue, free []*agent) []*agent {
	switch q.cfg.Strategy {
	case RoundRobin:
		n := len(q.cfg.Agents)
		for i := 1; i <= n; i++ {
			ext := q.cfg.Agents[(q.last+i)%n]
			for _, a := range free {
				if a.ext == ext {
					return []*agent{a}
				}
			}
		}
	case LongestIdle:
		best := free[0]
		for _, a := range free[1:] {
			if a.idleSince.Before(best.idleSince) {
				best = a
			}
		}
		return []*agent{best}
	case Linear:
		return free[:1]
	}
	return free
}

// Pause pauses or unpauses agent in queue number. The change is stored
// before it takes effect; a call already ringing the agent rings on.
func (m *Manager) Pause(ctx context.Context, number, agent string, paused bool) error {
	m.mu.RLock()
	q := m.queues[number]
	isAgent := q != nil && slices.Contains(q.cfg.Agents, agent)
	m.mu.RUnlock()
	if q == nil {
		return fmt.Errorf("%w: %s", ErrUnknownQueue, number)
	}
	if !isAgent {
		return fmt.Errorf("%w: %s is no agent of queue %s", ErrNotAgent, agent, number)
	}
	if m.opts.Pauses != nil {
		p := store.AgentPause{Queue: number, Agent: agent, Since: time.Now().UTC()}
		if err := m.opts.Pauses.SetAgentPaused(ctx, p, paused); err != nil {
			return fmt.Errorf("store the pause of %s in queue %s: %w", agent, number, err)
		}
	}
	return m.do(ctx, func() {
		if paused {
			q.paused[agent] = true
		} else {
			delete(q.paused, agent)
		}
	})
}

// Status returns every queue, in the configured order, or the one of
// number if it is not empty.
func (m *Manager) Status(ctx context.Context, number string) ([]apitypes.Queue, error) {
	var out []apitypes.Queue
	known := true
	err := m.do(ctx, func() {
		if number != "" && m.queues[number] == nil {
			known = false
			return
		}
		now := time.Now()
		for _, n := range m.order {
			if number != "" && n != number {
				continue
			}
			out = append(out, m.status(m.queues[n], now))
		}
	})
	if err == nil && !known {
		return nil, fmt.Errorf("%w: %s", ErrUnknownQueue, number)
	}
	return out, err
}

func (m *Manager) status(q *queue, now time.Time) apitypes.Queue {
	s := apitypes.Queue{
		Number: q.cfg.Number, Name: q.cfg.Name, Strategy: string(q.cfg.Strategy),
		Callers: []apitypes.QueueCaller{}, Agents: make([]apitypes.QueueAgent, 0, len(q.cfg.Agents)),
		Answered: q.answered, Abandoned: q.abandoned, Overflow: q.overflow,
	}
	for _, w := range m.waiting {
		if w.q != q {
			continue
		}
		ringing := make([]string, 0, len(w.offered))
		for _, ext := range q.cfg.Agents {
			if w.offered[ext] {
				ringing = append(ringing, ext)
			}
		}
		s.Callers = append(s.Callers, apitypes.QueueCaller{
			CallUUID: w.info.CallUUID, CallerIDNumber: w.info.CallerIDNumber, Position: len(s.Callers) + 1,
			Since: w.joined.UTC(), Wait: int64(now.Sub(w.joined) / time.Second), Ringing: ringing,
		})
	}
	for _, ext := range q.cfg.Agents {
		a := m.agents[ext]
		st := apitypes.QueueAgent{Extension: ext, Paused: q.paused[ext], State: apitypes.AgentIdle}
		p := m.opts.Presence
		switch {
		case a.ringing != nil:
			st.State, st.CallUUID = apitypes.AgentRinging, a.ringing.info.CallUUID
		case a.onCall != nil:
			st.State, st.CallUUID = apitypes.AgentOnCall, a.onCall.info.CallUUID
		case now.Before(a.wrapUntil):
			st.State = apitypes.AgentWrapup
		case st.Paused:
			st.State = apitypes.AgentPaused
		case p != nil && !p.Registered(ext):
			st.State = apitypes.AgentUnregistered
		case p != nil && p.Busy(ext):
			st.State = apitypes.AgentOnCall
		}
		s.Agents = append(s.Agents, st)
	}
	return s
}

// mailbox is an unbounded inbox: posting never blocks, so neither the call
// core nor a timer ever waits on the Manager.
type mailbox struct {
	mu     sync.Mutex
	items  []func()
	signal chan struct{}
}

func (b *mailbox) init() { b.signal = make(chan struct{}, 1) }

func (b *mailbox) post(f func()) {
	b.mu.Lock()
	b.items = append(b.items, f)
	b.mu.Unlock()
	select {
	case b.signal <- struct{}{}:
	default:
	}
}

func (b *mailbox) take() []func() {
	b.mu.Lock()
	defer b.mu.Unlock()
	items := b.items
	b.items = nil
	return items
}
