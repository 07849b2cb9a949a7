package storetest

import (
	"reflect"
	"testing"

	"github.com/switchhook/switchhook/internal/store"
)

// exerciseAgentPauses checks that pauses are kept per queue and agent, that
// pausing twice keeps the first time, and that unpausing is idempotent.
func exerciseAgentPauses(t *testing.T, open func(t *testing.T) store.Store) {
	h := setup(t, open)
	if ps, err := h.s.AgentPauses(h.ctx); err != nil || len(ps) != 0 {
		t.Fatalf("AgentPauses on an empty store = %v, %v", ps, err)
	}
	for _, p := range []store.AgentPause{
		{Queue: "600", Agent: "1002", Since: at(2e9)},
		{Queue: "600", Agent: "1001", Since: at(1e9)},
		{Queue: "601", Agent: "1001", Since: at(3e9)},
		{Queue: "600", Agent: "1002", Since: at(9e9)}, // again: keeps the first
	} {
		if err := h.s.SetAgentPaused(h.ctx, p, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.s.SetAgentPaused(h.ctx, store.AgentPause{Queue: "601", Agent: "1001"}, false); err != nil {
		t.Fatal(err)
	}
	if err := h.s.SetAgentPaused(h.ctx, store.AgentPause{Queue: "601", Agent: "1001"}, false); err != nil {
		t.Fatalf("unpausing an unpaused agent: %v", err)
	}
	got, err := h.s.AgentPauses(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.AgentPause{
		{Queue: "600", Agent: "1001", Since: at(1e9)},
		{Queue: "600", Agent: "1002", Since: at(2e9)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("AgentPauses = %+v\nwant %+v", got, want)
	}
}
