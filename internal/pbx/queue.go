package pbx

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/media"
	"github.com/switchhook/switchhook/internal/queue"
)

// queueStep puts the caller in a call queue: it waits there, hearing the
// queue's music (answered by the PBX) or ringback, while the queue manager
// offers it to agents; the first agent to answer takes the call.
type queueStep struct{ number string }

func (queueStep) isStep() {}

// queueStay is the call's time in a queue: what every event of the call
// says of it, and the call's place with the queue manager.
type queueStay struct {
	number string
	cfg    queue.Config
	joined time.Time
	left   time.Time // when an agent answered or the caller left; zero while waiting
	ticket *queue.Ticket
	// outcome is set when the stay is settled: answered, abandoned, overflow.
	outcome events.QueueOutcome
	music   *appLeg // the PBX playing music to the caller; nil for ringback
	agents  *agentRound
	done    bool // the manager was told the queue's part is over
}

// agentRound is the agents rung for one offer of the queue manager.
type agentRound struct {
	id       int
	legs     map[*dialogLeg]bool // true once reported to the manager
	offered  []string            // the agents of the offer
	reported map[string]bool
}

// stay is the queue field of an event at at.
func (q *queueStay) stay(at time.Time) *events.QueueStay {
	end := at
	if !q.left.IsZero() {
		end = q.left
	}
	s := &events.QueueStay{Number: q.number, Outcome: q.outcome}
	if end.After(q.joined) {
		s.Wait = int64(end.Sub(q.joined) / time.Second)
	}
	return s
}

// queueCaller is the call as the queue manager sees it: the manager's
// offers and expiry reach the call's owner as messages. The manager must
// never wait on a call, so a full inbox hands the message to a goroutine.
type queueCaller struct{ c *call }

// msgQueueOffer asks the call to ring agents; msgQueueExpired says the
// caller waited the queue's max_wait.
type (
	msgQueueOffer struct {
		agents  []string
		timeout time.Duration
	}
	msgQueueExpired struct{}
)

func (msgQueueOffer) isMsg()   {}
func (msgQueueExpired) isMsg() {}

func (qc queueCaller) Offer(agents []string, timeout time.Duration) {
	qc.send(msgQueueOffer{agents: agents, timeout: timeout})
}

func (qc queueCaller) Expired() { qc.send(msgQueueExpired{}) }

func (qc queueCaller) send(m msg) {
	select {
	case qc.c.inbox <- m:
	default:
		qc.c.p.wg.Add(1)
		go func() {
			defer qc.c.p.wg.Done()
			qc.c.post(m)
		}()
	}
}

// enterQueue puts the caller in queue number. A full queue sends it
// straight to the overflow.
func (c *call) enterQueue(number string) state {
	// A queue a reload removed since the call was routed has no Config;
	// Join refuses it below.
	cfg, _ := c.p.queues.Config(number)
	q := &queueStay{number: number, cfg: cfg, joined: time.Now()}
	if c.queue != nil && c.queue.number == number && c.queue.ticket == nil {
		q.joined = c.queue.joined // routed straight here: the wait starts at CALL_ROUTED
	}
	c.queue = q
	c.dest = number
	c.dirty = true
	t, err := c.p.queues.Join(c.ctx, number, queueCaller{c}, queue.CallerInfo{CallUUID: c.id, CallerIDNumber: c.caller})
	switch {
	case errors.Is(err, queue.ErrFull):
		c.p.log.Info("queue full; caller goes to its overflow", "call_uuid", c.id, "queue", number)
		return c.overflow()
	case errors.Is(err, queue.ErrUnknownQueue):
		// A reload removed the queue after the call was routed to it: the
		// number is routed no more.
		c.p.log.Info("queue removed by a reload; caller not routed", "call_uuid", c.id, "queue", number)
		q.left, q.outcome = time.Now(), events.QueueOverflow
		return c.fail(failure{sip.StatusNotFound, "Not Found", events.CauseNoRouteDestination, events.System})
	case err != nil:
		c.p.log.Error("join queue", "call_uuid", c.id, "queue", number, "err", err)
		q.left, q.outcome = time.Now(), events.QueueOverflow
		return c.fail(failure{sip.StatusServiceUnavailable, "Service Unavailable", events.CauseSystemShutdown, events.System})
	}
	q.ticket = t
	if cfg.Ringback() {
		if c.callerAnswered {
			// An IVR answered the caller before: the PBX plays ringback.
			c.play(c.p.conf().ringback, true, false)
		} else if !c.alerted {
			c.alerted = true
			c.a.state = LegRinging
			if err := c.a.server.Respond(sip.StatusRinging, "Ringing", nil); err != nil {
				c.p.log.Debug("ringing to caller", "call_uuid", c.id, "err", err)
			}
		}
		return stateQueued
	}
	l, first, ok := c.appAnswer(number, "queue")
	if !ok {
		q.settle(events.QueueOverflow)
		return c.fail(failure{sip.StatusNotAcceptableHere, "Not Acceptable Here", causeIncompatibleDestination, events.System})
	}
	q.music = l
	if !first {
		c.playMusic()
	}
	return stateQueued
}

// playMusic loops the queue's music to the caller.
func (c *call) playMusic() {
	if q := c.queue; q != nil && q.music != nil {
		c.play(c.p.conf().music[q.number], true, false)
	}
}

// queued handles a caller waiting in a queue: the manager's offers ring
// agents, the first to answer is connected, the caller's digits are
// CALL_INPUT, and hanging up abandons the queue.
func (c *call) queued(m msg) state {
	q := c.queue
	switch m := m.(type) {
	case msgQueueOffer:
		return c.ringAgents(m)
	case msgQueueExpired:
		c.p.log.Debug("caller waited the queue's max_wait", "call_uuid", c.id, "queue", q.number)
		return c.overflow()
	case msgDial:
		return c.onAgentDial(m)
	case msgTimer:
		if m.kind != timerRing {
			return c.anyState(m)
		}
		if c.fired(m) {
			c.cancelLegs(nil) // the agents' outcomes report them
		}
		return c.state
	case msgDTMF:
		return c.input(m.side, m.d, m.at)
	case msgCallerAnswered:
		if m.err != nil {
			q.settle(events.QueueAbandoned)
			return c.callerNotAnswered(m.err)
		}
		c.playMusic()
		return c.state
	case msgCallerGone:
		q.settle(events.QueueAbandoned)
		if errors.Is(m.cause, sip.ErrTransactionCanceled) {
			return c.terminate(ended{Hangup: events.Hangup{Cause: events.CauseOriginatorCancel, SIPCode: sip.StatusRequestTerminated, By: events.Caller}, reason: "Request Terminated"})
		}
		return c.terminate(ended{Hangup: events.Hangup{Cause: events.CauseRecoveryOnTimerExpire, SIPCode: sip.StatusRequestTimeout, By: events.System}, reason: "Request Timeout"})
	case *request:
		if m.req.Method == sip.BYE && m.leg == c.a {
			q.settle(events.QueueAbandoned)
			if !c.callerAnswered {
				m.reply(sip.StatusOK, "OK", "")
				return c.fail(failure{sip.StatusRequestTerminated, "Request Terminated", events.CauseOriginatorCancel, events.Caller})
			}
			return c.byeFrom(m)
		}
		if c.callerAnswered {
			return c.inDialog(m)
		}
		m.reply(sip.StatusRequestPending, "Request Pending", "the call is not answered yet")
		return c.state
	case msgRelayed:
		return c.onRelayed(m)
	case msgShutdown:
		if c.callerAnswered {
			return c.terminate(shutdownEnd)
		}
		return c.fail(failure{sip.StatusServiceUnavailable, "Service Unavailable", events.CauseSystemShutdown, events.System})
	}
	return c.anyState(m)
}

// settle records how the caller's stay in the queue ended, once.
func (q *queueStay) settle(o events.QueueOutcome) {
	if q.outcome == "" {
		q.outcome, q.left = o, time.Now()
	}
}

// ringAgents rings the agents of an offer, each contact of each, for the
// offer's timeout. An agent whose phone cannot be rung is reported to the
// manager at once.
func (c *call) ringAgents(m msgQueueOffer) state {
	q := c.queue
	c.rounds++
	ar := &agentRound{id: c.rounds, legs: map[*dialogLeg]bool{}, offered: m.agents, reported: map[string]bool{}}
	q.agents = ar
	// The agents' ringing and answer say they were rung by the queue.
	c.diversion = &events.Diversion{From: q.number, Reason: events.DivertQueue}
	for _, t := range c.p.contacts(m.agents...) {
		l := newDialogLeg(c, t.number, events.Callee, LegRinging)
		l.target, l.round = t.target, ar.id
		c.legs = append(c.legs, l)
		body, err := c.sdpFor(l, c.offer)
		if err != nil {
			c.p.log.Info("agent leg failed", "call_uuid", c.id, "leg_uuid", l.id, "err", err)
			l.state, l.final = LegFailed, true
			continue
		}
		ctx, cancel := context.WithCancelCause(context.WithoutCancel(c.p.ctx))
		l.cancel = cancel
		ar.legs[l] = false
		c.dialing++
		c.p.wg.Add(1)
		go l.dial(ctx, body)
	}
	c.dirty = true
	// Agents with no leg ringing (no phone registered any more) are
	// reported now.
	for _, ext := range m.agents {
		if !ar.ringing(ext) {
			c.reportAgent(ext, false)
		}
	}
	if len(ar.legs) > 0 {
		c.setTimer(timerRing, m.timeout)
	}
	return c.state
}

// ringing reports whether a leg of ext is still ringing in the round.
func (ar *agentRound) ringing(ext string) bool {
	for l := range ar.legs {
		if l.number == ext && !l.final {
			return true
		}
	}
	return false
}

// reportAgent tells the manager, once per agent and offer, whether the
// agent answered.
func (c *call) reportAgent(ext string, answered bool) {
	ar := c.queue.agents
	if ar == nil || ar.reported[ext] {
		return
	}
	ar.reported[ext] = true
	c.queue.ticket.Rang(ext, answered)
}

// onAgentDial handles an agent leg's response: its first ringing is
// CALL_RINGING, its answer connects the caller, its failure is reported
// once none of the agent's contacts rings any more.
func (c *call) onAgentDial(m msgDial) state {
	q, l := c.queue, m.leg
	ar := q.agents
	if ar == nil || l.round != ar.id {
		c.drain(m)
		return c.state
	}
	if m.sess != nil {
		l.client = m.sess
	}
	if !m.final {
		if m.res.StatusCode >= sip.StatusRinging && !l.rang {
			l.rang = true
			c.emit(c.event(events.CallRinging, time.Now(), l.number, l))
			c.dirty = true
		}
		return c.state
	}
	c.dialing--
	l.final = true
	c.dirty = true
	if m.res != nil && m.res.IsSuccess() {
		if c.answer(l, m.res) {
			q.settle(events.QueueAnswered)
			c.reportAgent(l.number, true)
			for _, ext := range ar.offered {
				c.reportAgent(ext, false)
			}
			q.agents = nil
			return stateConnected
		}
		l.state = LegHungUp
		c.ackAndBye(l)
	} else {
		l.state = LegFailed
	}
	if !ar.ringing(l.number) {
		c.reportAgent(l.number, false)
	}
	if len(ar.reported) == len(ar.offered) {
		c.stopTimer(timerRing)
		q.agents = nil
	}
	return c.state
}

// overflow moves a caller who waited the queue's max_wait, or found it
// full, to the queue's overflow number; without one the call ends
// NO_ANSWER.
func (c *call) overflow() state {
	q := c.queue
	c.stopTimer(timerRing)
	c.cancelLegs(nil)
	if ar := q.agents; ar != nil {
		for _, ext := range ar.offered {
			c.reportAgent(ext, false)
		}
		q.agents = nil
	}
	q.settle(events.QueueOverflow)
	c.leaveQueue()
	if q.cfg.Overflow == "" {
		if c.callerAnswered {
			return c.terminate(ended{Hangup: events.Hangup{Cause: events.CauseNoAnswer, SIPCode: sip.StatusOK, By: events.System}})
		}
		return c.fail(failure{sip.StatusTemporarilyUnavailable, "No Answer", events.CauseNoAnswer, events.System})
	}
	c.stopPlay()
	if q.music != nil {
		q.music.state = LegDone
		c.br.join(media.SideB, nil)
	}
	return c.divert(q.number, events.DivertQueueOverflow, q.cfg.Overflow)
}

// leaveQueue tells the manager, once, that the queue's part of the call is
// over: the caller left without an agent, or the agent who answered is no
// longer on the call.
func (c *call) leaveQueue() {
	if q := c.queue; q != nil && q.ticket != nil && !q.done {
		q.done = true
		q.settle(events.QueueAbandoned)
		q.ticket.Done()
	}
}

// Registered reports whether a phone of ext is registered, for the queues.
func (p *PBX) Registered(ext string) bool { return len(p.reg.Lookup(ext)) > 0 }

// Busy reports whether ext is in a call, as caller or callee (ringing or
// answered), for the queues.
func (p *PBX) Busy(ext string) bool {
	p.mu.Lock()
	calls := make([]*call, 0, len(p.calls))
	for _, c := range p.calls {
		calls = append(calls, c)
	}
	p.mu.Unlock()
	for _, c := range calls {
		for _, ch := range c.channels() {
			if ch.Number != ext {
				continue
			}
			switch ch.State {
			case LegRouted.String(), LegRinging.String(), LegEarly.String(), LegAnswered.String(), "held":
				return true
			}
		}
	}
	return false
}

// Queues is the PBX's queue manager, for the API.
func (p *PBX) Queues() *queue.Manager { return p.queues }

// declineOffer reports an offer the call can no longer ring: nobody
// answered it.
func (c *call) declineOffer(m msgQueueOffer) {
	if q := c.queue; q != nil && q.ticket != nil {
		for _, ext := range m.agents {
			q.ticket.Rang(ext, false)
		}
	}
}

// checkQueues checks the queues' agents and overflow numbers against the
// plan and loads their music, so that a file that cannot be played stops
// the PBX from starting rather than a caller from hearing it.
func (c *checked) checkQueues() error {
	c.music = make(map[string]*media.Prompt, len(c.Queues))
	for i, q := range c.Queues {
		for j, a := range q.Agents {
			if r, ok := c.plan.Local(a); !ok || r.Target.Type != events.Extension {
				return fmt.Errorf("pbx: queues[%d] (%s): agents[%d] %q is not an extension", i, q.Number, j, a)
			}
		}
		if _, ok := c.plan.Route(q.Overflow); q.Overflow != "" && !ok {
			return fmt.Errorf("pbx: queues[%d] (%s): overflow %q is no number of the dialplan", i, q.Number, q.Overflow)
		}
		switch q.Music {
		case queue.Ringback:
		case "":
			c.music[q.Number] = media.PromptTone()
		default:
			p, err := media.LoadPrompt(q.Music)
			if err != nil {
				return fmt.Errorf("pbx: queues[%d] (%s): music: %w", i, q.Number, err)
			}
			c.music[q.Number] = p
		}
	}
	return nil
}
