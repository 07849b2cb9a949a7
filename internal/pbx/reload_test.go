package pbx

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/queue"
)

// Reload serves new extensions and passwords to the next requests, names
// what needs a restart, and a config that does not check changes nothing.
func TestReload(t *testing.T) {
	t.Parallel()
	tp := startPBX(t, nil)
	w := newWire(t, tp.udp)
	uri := "sip:pbx.test"
	register := func(user, password string) string {
		t.Helper()
		res := w.send(w.request("REGISTER", uri, user, user, nil, ""), 2*time.Second)
		if !strings.HasPrefix(status(res), "SIP/2.0 401") {
			t.Fatalf("REGISTER %s not challenged: %s", user, status(res))
		}
		auth := authorize(t, res, "MD5", "REGISTER", uri, user, password)
		return status(w.send(w.request("REGISTER", uri, user, user, []string{auth}, ""), 2*time.Second))
	}
	cfg := Config{
		Listen: []string{"udp://127.0.0.1:0", "tcp://127.0.0.1:0"}, Domain: "pbx.test", RingTimeout: 5 * time.Second,
		Extensions: append(slices.Clone(exts), Extension{Number: "1005", Password: "pw-1005", Name: "Eve"}),
	}
	cfg.Extensions[0].Password = "new-pw-1001"

	bad := cfg
	bad.Extensions = append(slices.Clone(cfg.Extensions), Extension{Number: "1005", Password: "again"})
	if _, err := tp.Reload(bad); err == nil || !strings.Contains(err.Error(), "defined twice") {
		t.Fatalf("bad config: %v", err)
	}
	if got := register("1005", "pw-1005"); !strings.HasPrefix(got, "SIP/2.0 403") {
		t.Errorf("1005 after a refused reload: %s", got)
	}

	moved := cfg
	moved.Listen = []string{"udp://127.0.0.1:5"}
	restart, err := tp.Reload(moved)
	if err != nil || !slices.Equal(restart, []string{"sip.listen"}) {
		t.Fatalf("Reload = %v, %v; want sip.listen to need a restart", restart, err)
	}
	if got := register("1005", "pw-1005"); !strings.HasPrefix(got, "SIP/2.0 200") {
		t.Errorf("1005 added: %s", got)
	}
	if got := register("1001", "pw-1001"); !strings.HasPrefix(got, "SIP/2.0 403") {
		t.Errorf("1001's old password: %s", got)
	}
	w = newWireFrom(t, []byte{127, 0, 0, 3}, tp.udp) // the failure slowed the first address down
	if got := register("1001", "new-pw-1001"); !strings.HasPrefix(got, "SIP/2.0 200") {
		t.Errorf("1001's new password: %s", got)
	}
	if got := tp.ListenAddrs(); !slices.Contains(got, "udp://"+tp.udp) {
		t.Errorf("listeners moved: %v", got)
	}
}

// A reload applies the queues: one added is routed and served, one
// removed is routed no more, one changed takes its new agents; one whose
// extensions drop a queue's agent, or whose queue does not check, is
// refused and changes nothing.
func TestReloadAppliesTheQueues(t *testing.T) {
	t.Parallel()
	base := Config{
		Listen: []string{"udp://127.0.0.1:0"}, Domain: "pbx.test", Extensions: slices.Clone(exts),
		Queues: []queue.Config{{Number: "600", Agents: []string{"1002"}}, {Number: "601", Agents: []string{"1001"}}},
	}
	p, err := New(base, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	next := base
	next.Queues = []queue.Config{{Number: "601", Agents: []string{"1001", "1003"}, Strategy: queue.Linear}, {Number: "650", Agents: []string{"1003"}}}
	if _, err := p.Reload(next); err != nil {
		t.Fatal(err)
	}
	if _, ok := p.conf().plan.Local("600"); ok {
		t.Error("queue 600 still routed after a reload removed it")
	}
	if _, ok := p.Queues().Config("600"); ok {
		t.Error("queue 600 still served after a reload removed it")
	}
	if r, ok := p.conf().plan.Local("650"); !ok || r.Target.Type != events.Queue {
		t.Errorf("queue 650 added: %+v, %v", r, ok)
	}
	if c, ok := p.Queues().Config("650"); !ok || c.AgentTimeout != queue.DefaultAgentTimeout {
		t.Errorf("queue 650's config %+v, %v", c, ok)
	}
	if c, _ := p.Queues().Config("601"); !slices.Equal(c.Agents, []string{"1001", "1003"}) || c.Strategy != queue.Linear {
		t.Errorf("queue 601 changed: %+v", c)
	}
	gone := next
	gone.Extensions = slices.DeleteFunc(slices.Clone(exts), func(e Extension) bool { return e.Number == "1003" })
	if _, err := p.Reload(gone); err == nil || !strings.Contains(err.Error(), `agents[1] "1003" is not an extension`) {
		t.Errorf("reload dropping a queue's agent: %v", err)
	}
	bad := next
	bad.Queues = []queue.Config{{Number: "660", Agents: []string{"1001"}, Strategy: "sideways"}}
	if _, err := p.Reload(bad); err == nil || !strings.Contains(err.Error(), `queues[0] (660): strategy "sideways"`) {
		t.Errorf("reload with a bad strategy: %v", err)
	}
	if _, ok := p.conf().plan.Local("660"); ok {
		t.Error("a refused reload routed its queue")
	}
	if _, ok := p.Queues().Config("650"); !ok {
		t.Error("a refused reload dropped queue 650")
	}
}
