package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/api"
	"github.com/switchhook/switchhook/internal/api/apitypes"
	"github.com/switchhook/switchhook/internal/queue"
)

// waiting is a queue caller that is never answered.
type waiting struct{}

func (waiting) Offer([]string, time.Duration) {}
func (waiting) Expired()                      {}

func TestQueuesShowCallersAndAgentsAndPausesAreStored(t *testing.T) {
	t.Parallel()
	var m *queue.Manager
	e := newEnv(t, func(o *api.Options) {
		var err error
		m, err = queue.New([]queue.Config{
			{Number: "600", Name: "Sales", Strategy: queue.Linear, Agents: []string{"1001", "1002"}},
			{Number: "601", Agents: []string{"1002"}},
		}, queue.Options{Pauses: o.Store})
		if err != nil {
			t.Fatal(err)
		}
		o.Queues = m
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	if _, err := m.Join(ctx, "600", waiting{}, queue.CallerInfo{CallUUID: "c1", CallerIDNumber: "234"}); err != nil {
		t.Fatal(err)
	}
	var qs []apitypes.Queue
	e.do("GET", "/v1/queues", "").want(t, http.StatusOK, &qs)
	if len(qs) != 2 || qs[0].Number != "600" || qs[1].Number != "601" || qs[0].Strategy != "linear" || qs[1].Strategy != "ring_all" {
		t.Fatalf("queues %+v", qs)
	}
	s := qs[0]
	if len(s.Callers) != 1 || s.Callers[0].CallUUID != "c1" || s.Callers[0].Position != 1 || len(s.Agents) != 2 {
		t.Fatalf("queue 600: %+v", s)
	}
	if a := s.Agents[0]; a.Extension != "1001" || a.State != apitypes.AgentRinging || a.CallUUID != "c1" {
		t.Errorf("agent %+v, want 1001 ringing for c1", a)
	}

	var q apitypes.Queue
	e.do("POST", "/v1/queues/600/agents/1002/pause", "").want(t, http.StatusOK, &q)
	if a := q.Agents[1]; !a.Paused || a.State != apitypes.AgentPaused {
		t.Errorf("after pause: %+v", a)
	}
	e.do("GET", "/v1/queues/601", "").want(t, http.StatusOK, &q)
	if a := q.Agents[0]; a.Paused || a.State != apitypes.AgentIdle {
		t.Errorf("1002 in queue 601 after its pause in 600: %+v", a)
	}
	if ps, err := e.st.AgentPauses(ctx); err != nil || len(ps) != 1 || ps[0].Queue != "600" || ps[0].Agent != "1002" {
		t.Errorf("stored pauses %+v, %v", ps, err)
	}
	e.do("POST", "/v1/queues/600/agents/1002/unpause", "").want(t, http.StatusOK, &q)
	if a := q.Agents[1]; a.Paused {
		t.Errorf("after unpause: %+v", a)
	}

	e.do("GET", "/v1/queues/700", "").wantError(t, http.StatusNotFound, "number", "no such queue")
	e.do("POST", "/v1/queues/700/agents/1001/pause", "").wantError(t, http.StatusNotFound, "number", "no such queue")
	e.do("POST", "/v1/queues/601/agents/1001/pause", "").wantError(t, http.StatusNotFound, "ext", "1001 is no agent of queue 601")
	e.do("GET", "/v1/queues?limit=1", "").wantError(t, http.StatusBadRequest, "limit", "")
}

func TestNoQueuesConfigured(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var qs []apitypes.Queue
	e.do("GET", "/v1/queues", "").want(t, http.StatusOK, &qs)
	if qs == nil || len(qs) != 0 {
		t.Errorf("queues %+v, want []", qs)
	}
	e.do("GET", "/v1/queues/600", "").wantError(t, http.StatusNotFound, "number", "no queues are configured")
	e.do("POST", "/v1/queues/600/agents/1001/pause", "").wantError(t, http.StatusNotFound, "number", "no queues are configured")
}
