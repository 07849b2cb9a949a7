package queue

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/api/apitypes"
	"github.com/switchhook/switchhook/internal/store"
	"github.com/switchhook/switchhook/internal/store/sqlite"
)

func (f *fixture) reload(cfgs ...Config) {
	f.t.Helper()
	if err := f.m.Reload(f.ctx, cfgs); err != nil {
		f.t.Fatalf("Reload: %v", err)
	}
}

func (f *fixture) numbers() []string {
	f.t.Helper()
	s, err := f.m.Status(f.ctx, "")
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, q := range s {
		out = append(out, q.Number)
	}
	return out
}

// A changed queue keeps its caller; the agent ringing for it rings on, and
// the next offer follows the new agents, strategy and agent_timeout. An
// agent dropped from the queue while on one of its calls finishes it and
// rests for the queue's (new) wrapup; it is offered none of its callers.
func TestReloadChangesTheNextOffer(t *testing.T) {
	t.Parallel()
	f := start(t, []Config{q("600", "linear", "1001", "1002"), q("601", "linear", "1004")}, Options{})
	a := f.join("600", newCaller("a"))
	want(t, a.next(t), "1001")
	changed := q("600", "ring_all", "1002", "1003")
	changed.AgentTimeout, changed.Wrapup = 2*time.Second, time.Hour
	f.reload(changed, q("601", "linear", "1004"))
	if s := f.status("600"); len(s.Callers) != 1 || s.Callers[0].CallerIDNumber != "a" || s.Strategy != "ring_all" {
		t.Fatalf("queue after the reload %+v", s)
	}
	a.t.Rang("1001", false)
	o := a.next(t)
	want(t, o, "1002", "1003")
	if o.timeout != 2*time.Second {
		t.Errorf("offer's timeout %v, want the new agent_timeout", o.timeout)
	}
	a.t.Rang("1002", true)
	a.t.Rang("1003", false)

	// 1002 on the call is dropped from 600 and made 601's agent.
	kept := q("600", "ring_all", "1003")
	kept.Wrapup = time.Hour
	f.reload(kept, q("601", "linear", "1002", "1004"))
	f.p.set(&f.p.busy, "1004", true)
	b := f.join("601", newCaller("b"))
	b.none(t, 100*time.Millisecond) // 1002 is still on 600's call
	a.t.Done()
	// It rests for 600's wrapup of an hour, so 601's caller waits on.
	eventually(t, "1002 in wrapup", func() bool { return f.agentState("601", "1002") == apitypes.AgentWrapup })
	b.none(t, 100*time.Millisecond)
	c := f.join("600", newCaller("c"))
	want(t, c.next(t), "1003")
}

// A queue added takes callers at once; one removed takes none, and serves
// those waiting with its agents until the last has gone, still shown
// meanwhile; then it is gone.
func TestReloadAddsAndRemovesQueues(t *testing.T) {
	t.Parallel()
	f := start(t, []Config{q("600", "linear", "1001"), q("601", "linear", "1002")}, Options{})
	f.p.set(&f.p.unregistered, "1002", true)
	b := f.join("601", newCaller("b"))
	b.none(t, 50*time.Millisecond)
	f.reload(q("600", "linear", "1001"), q("650", "linear", "1003"))
	if got := f.numbers(); !slices.Equal(got, []string{"600", "650", "601"}) {
		t.Errorf("queues after the reload %v, want 601 last while its caller waits", got)
	}
	if _, err := f.m.Join(f.ctx, "601", newCaller("x"), CallerInfo{}); !errors.Is(err, ErrUnknownQueue) {
		t.Errorf("Join of a removed queue: %v, want ErrUnknownQueue", err)
	}
	if _, ok := f.m.Config("601"); ok {
		t.Error("a removed queue's Config is still given")
	}
	n := f.join("650", newCaller("n"))
	want(t, n.next(t), "1003")
	n.t.Rang("1003", true)
	n.t.Done()
	f.p.set(&f.p.unregistered, "1002", false)
	want(t, b.next(t), "1002")
	b.t.Rang("1002", true)
	eventually(t, "601 gone with its last caller", func() bool { return slices.Equal(f.numbers(), []string{"600", "650"}) })
	if _, err := f.m.Status(f.ctx, "601"); !errors.Is(err, ErrUnknownQueue) {
		t.Errorf("Status of a drained queue: %v", err)
	}
	// The agent it connected still ends its call and is free again.
	b.t.Done()
	f.reload(q("600", "linear", "1001"), q("650", "linear", "1002"))
	c := f.join("650", newCaller("c"))
	want(t, c.next(t), "1002")
	// A queue removed with nobody waiting goes at once, and comes back new.
	f.reload(q("600", "linear", "1001"))
	if got := f.numbers(); !slices.Equal(got, []string{"600", "650"}) {
		t.Errorf("650 removed with a caller waiting: %v", got)
	}
	c.t.Done()
	eventually(t, "650 gone", func() bool { return slices.Equal(f.numbers(), []string{"600"}) })
}

// Pauses outlive a reload: an agent kept keeps its pause, one added to a
// queue (or a queue added) takes the pause the store keeps for it, even
// one dropped and listed again.
func TestReloadKeepsPauses(t *testing.T) {
	t.Parallel()
	st, err := sqlite.Open(t.Context(), t.TempDir()+"/db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	f := start(t, []Config{q("600", "linear", "1001", "1002")}, Options{Pauses: st})
	if err := f.m.Pause(f.ctx, "600", "1001", true); err != nil {
		t.Fatal(err)
	}
	// A pause of 650 from an earlier run of the config.
	if err := st.SetAgentPaused(t.Context(), store.AgentPause{Queue: "650", Agent: "1003", Since: time.Now()}, true); err != nil {
		t.Fatal(err)
	}
	f.reload(q("600", "linear", "1001", "1002", "1003"), q("650", "linear", "1003"))
	for _, c := range []struct{ queue, agent, state string }{
		{"600", "1001", apitypes.AgentPaused}, {"600", "1003", apitypes.AgentIdle}, {"650", "1003", apitypes.AgentPaused},
	} {
		if got := f.agentState(c.queue, c.agent); got != c.state {
			t.Errorf("%s in %s: %s, want %s", c.agent, c.queue, got, c.state)
		}
	}
	f.reload(q("600", "linear", "1002"))
	f.reload(q("600", "linear", "1001", "1002"))
	if got := f.agentState("600", "1001"); got != apitypes.AgentPaused {
		t.Errorf("1001 dropped and listed again: %s, want paused", got)
	}
	a := f.join("600", newCaller("a"))
	want(t, a.next(t), "1002")
}

// A reload that does not check changes nothing.
func TestReloadRefusesABadConfig(t *testing.T) {
	t.Parallel()
	f := start(t, []Config{q("600", "linear", "1001")}, Options{})
	for _, bad := range [][]Config{
		{q("600", "linear", "1001"), q("600", "linear", "1002")},
		{q("600", "sideways", "1001")},
		{q("650", "linear")},
	} {
		if err := f.m.Reload(f.ctx, bad); err == nil {
			t.Errorf("Reload(%+v) accepted", bad)
		}
	}
	if got := f.numbers(); !slices.Equal(got, []string{"600"}) {
		t.Errorf("queues after refused reloads %v", got)
	}
	a := f.join("600", newCaller("a"))
	want(t, a.next(t), "1001")
}

// Round robin goes on after the agent it rang last when the list changes
// around it.
func TestReloadRoundRobinGoesOn(t *testing.T) {
	t.Parallel()
	f := start(t, []Config{q("600", "round_robin", "1001", "1002", "1003")}, Options{})
	a := f.join("600", newCaller("a"))
	want(t, a.next(t), "1001")
	a.t.Rang("1001", true)
	a.t.Done()
	f.reload(q("600", "round_robin", "1004", "1001", "1003"))
	b := f.join("600", newCaller("b"))
	want(t, b.next(t), "1003")
}

// A caller already waiting keeps the max_wait it joined with; a caller
// joining after the reload gets the new one.
func TestReloadKeepsAWaitingCallersMaxWait(t *testing.T) {
	t.Parallel()
	short := q("600", "linear", "1001")
	short.MaxWait = 200 * time.Millisecond
	f := start(t, []Config{short}, Options{})
	f.p.set(&f.p.unregistered, "1001", true)
	a := f.join("600", newCaller("a"))
	long := q("600", "linear", "1001")
	long.MaxWait = time.Hour
	f.reload(long)
	b := f.join("600", newCaller("b"))
	if o := a.next(t); !o.expired {
		t.Fatalf("a got %+v, want Expired after the max_wait it joined with", o)
	}
	b.none(t, 300*time.Millisecond)
}
