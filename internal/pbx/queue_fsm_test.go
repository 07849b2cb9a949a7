package pbx

import (
	"context"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/switchhook/switchhook/internal/api/apitypes"
	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/queue"
)

// The queue's races as explicit message orders, without a SIP network:
// agent 1002 (registered at a fake contact) rings for a ringback queue.

func queueFSM(t *testing.T, q queue.Config) *fsm {
	t.Helper()
	q.Number, q.Agents, q.Music = "600", []string{"1002"}, queue.Ringback
	f := newFSM(t, func(c *Config) { c.Queues = []queue.Config{q} }, nil)
	runQueues(t, f)
	return f
}

// runQueues runs the queue manager of f until the test ends: the harness
// serves no Run, which would start it.
func runQueues(t *testing.T, f *fsm) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.p.Queues().Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// queueStatus is the queue as the API shows it, once the manager has
// settled on want (the agent's state).
func queueStatus(t *testing.T, f *fsm, agentState string) apitypes.Queue {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		qs, err := f.p.Queues().Status(t.Context(), "600")
		if err != nil {
			t.Fatal(err)
		}
		if qs[0].Agents[0].State == agentState || time.Now().After(deadline) {
			return qs[0]
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// max_wait ends while the agent rings, and the agent's 200 OK crosses the
// PBX's CANCEL: the late answer is acknowledged and hung up, the caller is
// hung up NO_ANSWER (no overflow) with 480, the agent is free again.
func TestFSMQueueMaxWaitRacingAgentAnswer(t *testing.T) {
	t.Parallel()
	f := queueFSM(t, queue.Config{MaxWait: time.Second, AgentTimeout: time.Minute})
	caller := f.newParty("1001").dial("600")
	caller.response(180) // the queue's ringback
	agent := f.newParty("1002")
	inv := f.next(sip.INVITE)
	inv.reply(180, agent.tag, "")
	f.waitEvents(2) // the agent rings: from now on it is cancelled, not abandoned
	f.next(sip.CANCEL).reply(200, "", "")
	inv.reply(200, agent.tag, agent.sdp())
	f.next(sip.BYE).reply(200, "", "")
	caller.response(480)
	evs := f.wantKinds(events.CallRouted, events.CallRinging, events.CallHangup)
	if h := hangupOf(t, evs); h.Cause != events.CauseNoAnswer || h.By != events.System || h.SIPCode != 480 {
		t.Errorf("hangup %+v", h)
	}
	if q := evs[2].Queue; q == nil || q.Outcome != events.QueueOverflow || q.Number != "600" {
		t.Errorf("queue stay at hangup %+v", q)
	}
	if d := evs[1].Diversion; d == nil || d.Reason != events.DivertQueue || d.From != "600" {
		t.Errorf("agent's ringing diversion %+v", d)
	}
	<-caller.done
	if q := queueStatus(t, f, apitypes.AgentIdle); q.Agents[0].State != apitypes.AgentIdle || q.Overflow != 1 || len(q.Callers) != 0 {
		t.Errorf("queue after the call %+v", q)
	}
}

// The caller cancels while the agent rings, and the agent's 200 OK crosses
// the PBX's CANCEL: one end (abandoned, by the caller), the late answer
// hung up, the agent free again.
func TestFSMQueueCancelRacingAgentAnswer(t *testing.T) {
	t.Parallel()
	f := queueFSM(t, queue.Config{})
	caller := f.newParty("1001").dial("600")
	caller.response(180)
	agent := f.newParty("1002")
	inv := f.next(sip.INVITE)
	inv.reply(180, agent.tag, "")
	f.waitEvents(2)
	if code := finalCode(f.send(caller.request(sip.BYE, ""))); code != 200 {
		t.Errorf("early BYE answered %d", code)
	}
	caller.response(487)
	f.next(sip.CANCEL).reply(200, "", "")
	inv.reply(200, agent.tag, agent.sdp())
	f.next(sip.BYE).reply(200, "", "")
	evs := f.wantKinds(events.CallRouted, events.CallRinging, events.CallHangup)
	if h := hangupOf(t, evs); h.Cause != events.CauseOriginatorCancel || h.By != events.Caller || h.SIPCode != 487 {
		t.Errorf("hangup %+v", h)
	}
	if q := evs[2].Queue; q == nil || q.Outcome != events.QueueAbandoned {
		t.Errorf("queue stay at hangup %+v", q)
	}
	<-caller.done
	if q := queueStatus(t, f, apitypes.AgentIdle); q.Agents[0].State != apitypes.AgentIdle || q.Abandoned != 1 {
		t.Errorf("queue after the call %+v", q)
	}
}

// The agent does not answer within agent_timeout: it is cancelled and,
// after the retry pause, rung again; the second time it answers and the
// caller is connected (one CALL_RINGING per leg rung).
func TestFSMQueueAgentTimeoutThenAnswer(t *testing.T) {
	t.Parallel()
	f := queueFSM(t, queue.Config{AgentTimeout: time.Second})
	caller := f.newParty("1001").dial("600")
	caller.response(180)
	agent := f.newParty("1002")
	first := f.next(sip.INVITE)
	first.reply(180, agent.tag, "")
	f.waitEvents(2)
	f.next(sip.CANCEL).reply(200, "", "")
	first.reply(487, agent.tag, "")
	second := f.next(sip.INVITE)
	second.reply(180, agent.tag+"2", "")
	second.reply(200, agent.tag+"2", agent.sdp())
	f.next(sip.ACK)
	caller.response(200)
	caller.ack()
	evs := f.wantKinds(events.CallRouted, events.CallRinging, events.CallRinging, events.CallAnswer)
	if q := evs[3].Queue; q == nil || q.Number != "600" || q.Wait < 0 {
		t.Errorf("queue stay at answer %+v", q)
	}
	if q := queueStatus(t, f, apitypes.AgentOnCall); q.Agents[0].State != apitypes.AgentOnCall || q.Answered != 1 {
		t.Errorf("queue while the agent talks %+v", q)
	}
	finalCode(f.send(caller.request(sip.BYE, "")))
	f.next(sip.BYE).reply(200, "", "")
	evs = f.wantKinds(events.CallRouted, events.CallRinging, events.CallRinging, events.CallAnswer, events.CallHangup)
	if q := evs[4].Queue; q == nil || q.Outcome != events.QueueAnswered {
		t.Errorf("queue stay at hangup %+v", q)
	}
	<-caller.done
}

// A reload removes queue 600 while a caller waits in it (its agent
// paused): 600 is routed no more, but the caller stays and is served by
// the agent once unpaused; the queue goes with it, the one added stays.
func TestFSMQueueRemovedByReloadServesItsCaller(t *testing.T) {
	t.Parallel()
	var cfg Config
	f := newFSM(t, func(c *Config) {
		c.Queues = []queue.Config{{Number: "600", Agents: []string{"1002"}, Music: queue.Ringback}}
		cfg = *c
	}, nil)
	runQueues(t, f)
	if err := f.p.Queues().Pause(t.Context(), "600", "1002", true); err != nil {
		t.Fatal(err)
	}
	caller := f.newParty("1001").dial("600")
	caller.response(180)
	f.waitEvents(1)
	cfg.Queues = []queue.Config{{Number: "650", Agents: []string{"1002"}, Music: queue.Ringback}}
	if _, err := f.p.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.p.conf().plan.Local("600"); ok {
		t.Error("600 still routed after the reload removed it")
	}
	if qs, err := f.p.Queues().Status(t.Context(), "600"); err != nil || len(qs[0].Callers) != 1 {
		t.Fatalf("removed queue 600 with its caller: %+v, %v", qs, err)
	}
	if err := f.p.Queues().Pause(t.Context(), "600", "1002", false); err != nil {
		t.Fatal(err)
	}
	agent := f.newParty("1002")
	inv := f.next(sip.INVITE)
	inv.reply(180, agent.tag, "")
	inv.reply(200, agent.tag, agent.sdp())
	f.next(sip.ACK)
	caller.response(200)
	caller.ack()
	f.wantKinds(events.CallRouted, events.CallRinging, events.CallAnswer)
	deadline := time.Now().Add(5 * time.Second)
	for {
		qs, err := f.p.Queues().Status(t.Context(), "")
		if err != nil {
			t.Fatal(err)
		}
		if len(qs) == 1 && qs[0].Number == "650" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queues once 600's last caller was answered: %+v", qs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	finalCode(f.send(caller.request(sip.BYE, "")))
	f.next(sip.BYE).reply(200, "", "")
	evs := f.wantKinds(events.CallRouted, events.CallRinging, events.CallAnswer, events.CallHangup)
	if q := evs[3].Queue; q == nil || q.Number != "600" || q.Outcome != events.QueueAnswered {
		t.Errorf("queue stay at hangup %+v", q)
	}
	<-caller.done
}

// A call routed to a queue that a reload removes before the call joins it
// (the manager has taken the reload, the dialplan not yet) is refused as a
// number routed no more: 404, NO_ROUTE_DESTINATION by the system.
func TestFSMQueueRemovedBeforeTheCallJoins(t *testing.T) {
	t.Parallel()
	f := queueFSM(t, queue.Config{})
	if err := f.p.Queues().Reload(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	caller := f.newParty("1001").dial("600")
	caller.response(404)
	evs := f.wantKinds(events.CallRouted, events.CallHangup)
	if h := hangupOf(t, evs); h.Cause != events.CauseNoRouteDestination || h.By != events.System || h.SIPCode != 404 {
		t.Errorf("hangup %+v", h)
	}
	<-caller.done
}
