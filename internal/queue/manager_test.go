package queue

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/api/apitypes"
	"github.com/switchhook/switchhook/internal/metrics"
	"github.com/switchhook/switchhook/internal/store"
	"github.com/switchhook/switchhook/internal/store/sqlite"
)

// wait bounds every wait of these tests; nothing should come near it.
const wait = 5 * time.Second

// phones is a Presence the test sets.
type phones struct {
	mu           sync.Mutex
	unregistered map[string]bool
	busy         map[string]bool
}

func (p *phones) Registered(ext string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.unregistered[ext]
}

func (p *phones) Busy(ext string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.busy[ext]
}

func (p *phones) set(m *map[string]bool, ext string, v bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if *m == nil {
		*m = map[string]bool{}
	}
	(*m)[ext] = v
}

// offer is one Offer or Expired a caller got.
type offer struct {
	agents  []string
	timeout time.Duration
	expired bool
}

// caller records what the Manager asks of it.
type caller struct {
	name string
	got  chan offer
	t    *Ticket
}

func newCaller(name string) *caller { return &caller{name: name, got: make(chan offer, 16)} }

func (c *caller) Offer(agents []string, timeout time.Duration) {
	c.got <- offer{agents: agents, timeout: timeout}
}
func (c *caller) Expired() { c.got <- offer{expired: true} }

func (c *caller) next(t *testing.T) offer {
	t.Helper()
	select {
	case o := <-c.got:
		return o
	case <-time.After(wait):
		t.Fatalf("caller %s: no offer within %v", c.name, wait)
		return offer{}
	}
}

// none checks that the caller is offered nothing for a while.
func (c *caller) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case o := <-c.got:
		t.Fatalf("caller %s: got %+v, want nothing", c.name, o)
	case <-time.After(d):
	}
}

type fixture struct {
	t      *testing.T
	m      *Manager
	p      *phones
	ctx    context.Context
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// stop ends the Manager's Run and waits for it.
func (f *fixture) stop() {
	f.once.Do(func() {
		f.cancel()
		<-f.done
	})
}

func start(t *testing.T, cfgs []Config, o Options) *fixture {
	t.Helper()
	f := &fixture{t: t, p: &phones{}, done: make(chan error, 1)}
	if o.Presence == nil {
		o.Presence = f.p
	}
	if o.Recheck == 0 {
		o.Recheck = 20 * time.Millisecond
	}
	if o.Retry == 0 {
		o.Retry = time.Millisecond
	}
	m, err := New(cfgs, o)
	if err != nil {
		t.Fatal(err)
	}
	f.m = m
	if err := m.Restore(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.ctx, f.cancel = context.WithCancel(t.Context())
	go func() { f.done <- m.Run(f.ctx) }()
	t.Cleanup(f.stop)
	return f
}

func (f *fixture) join(number string, c *caller) *caller {
	f.t.Helper()
	tk, err := f.m.Join(f.ctx, number, c, CallerInfo{CallUUID: "call-" + c.name, CallerIDNumber: c.name})
	if err != nil {
		f.t.Fatalf("Join(%s, %s): %v", number, c.name, err)
	}
	c.t = tk
	return c
}

func (f *fixture) status(number string) apitypes.Queue {
	f.t.Helper()
	s, err := f.m.Status(f.ctx, number)
	if err != nil || len(s) != 1 {
		f.t.Fatalf("Status(%s) = %+v, %v", number, s, err)
	}
	return s[0]
}

func (f *fixture) agentState(number, ext string) string {
	f.t.Helper()
	for _, a := range f.status(number).Agents {
		if a.Extension == ext {
			return a.State
		}
	}
	f.t.Fatalf("queue %s has no agent %s", number, ext)
	return ""
}

// eventually polls cond until it holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, wait)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func want(t *testing.T, o offer, agents ...string) {
	t.Helper()
	if o.expired || !slices.Equal(o.agents, agents) {
		t.Fatalf("offer %+v, want agents %v", o, agents)
	}
}

func q(number, strategy string, agents ...string) Config {
	return Config{Number: number, Strategy: Strategy(strategy), Agents: agents}
}

func TestRoundRobinGoesOnFromTheLastAgentRung(t *testing.T) {
	t.Parallel()
	f := start(t, []Config{q("600", "round_robin", "1001", "1002", "1003")}, Options{})
	for _, next := range []string{"1001", "1002", "1003", "1001"} {
		c := f.join("600", newCaller("c"+next))
		o := c.next(t)
		want(t, o, next)
		if o.timeout != DefaultAgentTimeout {
			t.Errorf("timeout %v, want the default %v", o.timeout, DefaultAgentTimeout)
		}
		c.t.Rang(next, true)
		c.t.Done()
	}
}

func TestRingAllOffersEveryFreeAgentAndTheFirstAnswerWins(t *testing.T) {
	t.Parallel()
	f := start(t, []Config{q("600", "ring_all", "1001", "1002", "1003")}, Options{})
	f.p.set(&f.p.unregistered, "1003", true)
	c := f.join("600", newCaller("a"))
	want(t, c.next(t), "1001", "1002")
	c.t.Rang("1002", true)
	c.t.Rang("1001", true) // too late: released by the call core
	eventually(t, "1002 on the call, 1001 idle", func() bool {
		return f.agentState("600", "1002") == apitypes.AgentOnCall && f.agentState("600", "1001") == apitypes.AgentIdle
	})
	if s := f.status("600"); len(s.Callers) != 0 || s.Answered != 1 || f.agentState("600", "1003") != apitypes.AgentUnregistered {
		t.Errorf("status %+v", s)
	}
	// The second caller gets the agent still free only.
	d := f.join("600", newCaller("b"))
	want(t, d.next(t), "1001")
}

func TestLinearStartsFromTheFirstAgentForEveryCaller(t *testing.T) {
	t.Parallel()
	f := start(t, []Config{q("600", "linear", "1001", "1002")}, Options{})
	a := f.join("600", newCaller("a"))
	want(t, a.next(t), "1001")
	a.t.Rang("1001", false)
	want(t, a.next(t), "1002") // 1001 did not answer: the next in the list
	a.t.Rang("1002", false)
	want(t, a.next(t), "1001") // everyone had a chance: a new round
	a.t.Rang("1001", true)
	a.t.Done()
	b := f.join("600", newCaller("b"))
	want(t, b.next(t), "1001")
}

func TestLongestIdleOffersWhoseLastCallEndedFirst(t *testing.T) {
	t.Parallel()
	f := start(t, []Config{q("600", "longest_idle", "1001", "1002", "1003")}, Options{})
	serve := func(name string) string {
		c := f.join("600", newCaller(name))
		o := c.next(t)
		c.t.Rang(o.agents[0], true)
		c.t.Done()
		return o.agents[0]
	}
	// Equal idle times go by the list; then whoever has rested longest.
	var got []string
	for _, n := range []string{"a", "b", "c", "d"} {
		got = append(got, serve(n))
	}
	if !slices.Equal(got, []string{"1001", "1002", "1003", "1001"}) {
		t.Errorf("served by %v", got)
	}
}

func TestUnknownStrategyIsRefused(t *testing.T) {
	t.Parallel()
	_, err := New([]Config{q("600", "random", "1001")}, Options{})
	if err == nil || err.Error() != `queues[0] (600): strategy "random" does not exist (want ring_all, round_robin, longest_idle or linear)` {
		t.Errorf("err = %v", err)
	}
}

func TestSkippedAgents(t *testing.T) {
	t.Parallel()
	f := start(t, []Config{q("600", "linear", "1001", "1002", "1003", "1004")}, Options{})
	f.p.set(&f.p.unregistered, "1001", true)
	f.p.set(&f.p.busy, "1002", true)
	if err := f.m.Pause(f.ctx, "600", "1003", true); err != nil {
		t.Fatal(err)
	}
	c := f.join("600", newCaller("a"))
	want(t, c.next(t), "1004")
	states := map[string]string{}
	for _, a := range f.status("600").Agents {
		states[a.Extension] = a.State
	}
	wantStates := map[string]string{"1001": "unregistered", "1002": "on_call", "1003": "paused", "1004": "ringing"}
	for ext, st := range wantStates {
		if states[ext] != st {
			t.Errorf("agent %s is %q, want %q", ext, states[ext], st)
		}
	}
	c.t.Rang("1004", false)
	// Only 1004 is free: it is offered again; once 1001 registers, it is
	// next in a new round.
	want(t, c.next(t), "1004")
	f.p.set(&f.p.unregistered, "1001", false)
	f.m.Poke()
	c.t.Rang("1004", false)
	want(t, c.next(t), "1001")
}

func TestAnAgentInSeveralQueuesIsOfferedOneCallAtATimeOldestCallerFirst(t *testing.T) {
	t.Parallel()
	f := start(t, []Config{q("600", "ring_all", "1001"), q("601", "ring_all", "1001")}, Options{})
	f.p.set(&f.p.busy, "1001", true)
	a := f.join("601", newCaller("a"))
	b := f.join("600", newCaller("b"))
	f.p.set(&f.p.busy, "1001", false)
	f.m.Poke()
	want(t, a.next(t), "1001")
	b.none(t, 50*time.Millisecond)
	a.t.Rang("1001", true)
	b.none(t, 50*time.Millisecond)
	a.t.Done()
	want(t, b.next(t), "1001")
}

func TestCallersAreServedInArrivalOrder(t *testing.T) {
	t.Parallel()
	f := start(t, []Config{q("600", "ring_all", "1001")}, Options{})
	f.p.set(&f.p.busy, "1001", true)
	callers := []*caller{f.join("600", newCaller("a")), f.join("600", newCaller("b")), f.join("600", newCaller("c"))}
	s := f.status("600")
	for i, c := range s.Callers {
		if c.Position != i+1 || c.CallerIDNumber != callers[i].name {
			t.Errorf("callers %+v", s.Callers)
		}
	}
	f.p.set(&f.p.busy, "1001", false)
	for i, c := range callers {
		want(t, c.next(t), "1001")
		for _, later := range callers[i+1:] {
			later.none(t, 20*time.Millisecond)
		}
		c.t.Rang("1001", true)
		c.t.Done()
	}
}

func TestWrapupRestsTheAgent(t *testing.T) {
	t.Parallel()
	cfg := q("600", "linear", "1001", "1002")
	cfg.Wrapup = 300 * time.Millisecond
	f := start(t, []Config{cfg}, Options{})
	a := f.join("600", newCaller("a"))
	want(t, a.next(t), "1001")
	a.t.Rang("1001", true)
	a.t.Done()
	eventually(t, "1001 in wrapup", func() bool { return f.agentState("600", "1001") == apitypes.AgentWrapup })
	b := f.join("600", newCaller("b"))
	want(t, b.next(t), "1002") // 1001 rests
	b.t.Rang("1002", false)
	// 1002 is offered again until 1001's wrapup ends.
	o := b.next(t)
	for slices.Equal(o.agents, []string{"1002"}) {
		b.t.Rang("1002", false)
		o = b.next(t)
	}
	want(t, o, "1001")
	if f.agentState("600", "1001") != apitypes.AgentRinging {
		t.Error("1001 not ringing after its wrapup")
	}
}

func TestMaxWaitExpiresTheCallerAndCountsAnOverflow(t *testing.T) {
	t.Parallel()
	m := metrics.New(nil)
	cfg := q("600", "ring_all", "1001")
	cfg.MaxWait = 100 * time.Millisecond
	f := start(t, []Config{cfg}, Options{Metrics: m})
	f.p.set(&f.p.unregistered, "1001", true)
	c := f.join("600", newCaller("a"))
	if o := c.next(t); !o.expired {
		t.Fatalf("got %+v, want Expired", o)
	}
	c.t.Done()
	eventually(t, "overflow counted", func() bool {
		s := f.status("600")
		return s.Overflow == 1 && len(s.Callers) == 0
	})
	if got := counter(t, m, "switchhook_call_queue_calls_total", "overflow"); got != 1 {
		t.Errorf("overflow counter = %v", got)
	}
}

func TestAbandonWhileRingingReleasesTheAgent(t *testing.T) {
	t.Parallel()
	m := metrics.New(nil)
	f := start(t, []Config{q("600", "ring_all", "1001")}, Options{Metrics: m})
	c := f.join("600", newCaller("a"))
	want(t, c.next(t), "1001")
	c.t.Done()
	eventually(t, "1001 idle", func() bool { return f.agentState("600", "1001") == apitypes.AgentIdle })
	s := f.status("600")
	if s.Abandoned != 1 || len(s.Callers) != 0 {
		t.Errorf("status %+v", s)
	}
	if got := counter(t, m, "switchhook_call_queue_calls_total", "abandoned"); got != 1 {
		t.Errorf("abandoned counter = %v", got)
	}
	d := f.join("600", newCaller("b"))
	want(t, d.next(t), "1001")
}

func TestMaxCallers(t *testing.T) {
	t.Parallel()
	cfg := q("600", "ring_all", "1001")
	cfg.MaxCallers = 1
	f := start(t, []Config{cfg}, Options{})
	f.p.set(&f.p.busy, "1001", true)
	a := f.join("600", newCaller("a"))
	if _, err := f.m.Join(f.ctx, "600", newCaller("b"), CallerInfo{}); !errors.Is(err, ErrFull) {
		t.Fatalf("second Join: %v, want ErrFull", err)
	}
	a.t.Done()
	eventually(t, "room again", func() bool { return len(f.status("600").Callers) == 0 })
	f.join("600", newCaller("c"))
	if s := f.status("600"); s.Overflow != 1 || s.Abandoned != 1 {
		t.Errorf("status %+v", s)
	}
}

func TestPausesAreStoredAndRestored(t *testing.T) {
	t.Parallel()
	st, err := sqlite.Open(t.Context(), t.TempDir()+"/db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	cfgs := []Config{q("600", "linear", "1001", "1002")}
	f := start(t, cfgs, Options{Pauses: st})
	if err := f.m.Pause(f.ctx, "600", "1001", true); err != nil {
		t.Fatal(err)
	}
	if err := f.m.Pause(f.ctx, "600", "1009", true); !errors.Is(err, ErrNotAgent) {
		t.Errorf("pause of a stranger: %v", err)
	}
	if err := f.m.Pause(f.ctx, "700", "1001", true); !errors.Is(err, ErrUnknownQueue) {
		t.Errorf("pause in no queue: %v", err)
	}
	f.stop()

	g := start(t, cfgs, Options{Pauses: st})
	if s := g.agentState("600", "1001"); s != apitypes.AgentPaused {
		t.Fatalf("after a restart 1001 is %s", s)
	}
	c := g.join("600", newCaller("a"))
	want(t, c.next(t), "1002")
	if err := g.m.Pause(g.ctx, "600", "1001", false); err != nil {
		t.Fatal(err)
	}
	if ps, _ := st.AgentPauses(t.Context()); len(ps) != 0 {
		t.Errorf("stored pauses after unpause: %+v", ps)
	}
	c.t.Rang("1002", false)
	want(t, c.next(t), "1001")
}

// failing is a Pauses store that is down.
type failing struct{}

func (failing) SetAgentPaused(context.Context, store.AgentPause, bool) error {
	return errors.New("disk on fire")
}
func (failing) AgentPauses(context.Context) ([]store.AgentPause, error) { return nil, nil }

func TestAPauseThatCannotBeStoredTakesNoEffect(t *testing.T) {
	t.Parallel()
	f := start(t, []Config{q("600", "linear", "1001")}, Options{Pauses: failing{}})
	if err := f.m.Pause(f.ctx, "600", "1001", true); err == nil {
		t.Fatal("Pause succeeded with the store down")
	}
	if s := f.agentState("600", "1001"); s != apitypes.AgentIdle {
		t.Errorf("1001 is %s", s)
	}
}

func TestStoppedManagerRefusesJoins(t *testing.T) {
	t.Parallel()
	f := start(t, []Config{q("600", "linear", "1001")}, Options{})
	f.stop()
	if _, err := f.m.Join(t.Context(), "600", newCaller("a"), CallerInfo{}); !errors.Is(err, ErrStopped) {
		t.Errorf("Join after stop: %v", err)
	}
}

func counter(t *testing.T, m *metrics.Metrics, name, outcome string) float64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, mm := range mf.GetMetric() {
			for _, l := range mm.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					return mm.GetCounter().GetValue()
				}
			}
		}
	}
	return -1
}

func TestANewRoundWaitsForTheRetryPause(t *testing.T) {
	t.Parallel()
	f := start(t, []Config{q("600", "ring_all", "1001")}, Options{Retry: 300 * time.Millisecond})
	c := f.join("600", newCaller("a"))
	want(t, c.next(t), "1001")
	c.t.Rang("1001", false) // a phone that refuses at once
	c.none(t, 100*time.Millisecond)
	want(t, c.next(t), "1001")
}
