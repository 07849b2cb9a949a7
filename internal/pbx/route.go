package pbx

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"

	"github.com/switchhook/switchhook/internal/dialplan"
	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/media"
)

// step is one step of a route, which a call walks in order: ring some
// targets, answer with an IVR. A ring step that fails leaves its failure
// for the steps after it; when no step is left, the call ends with it.
type step interface{ isStep() }

// ringStep rings the registered contacts of extensions at once, or a
// gateway, for up to timeout (and not past deadline, when set: the end of
// a sequential ring group).
type ringStep struct {
	exts     []string
	gateway  string // a gateway's name, ringing number through it
	number   string
	timeout  time.Duration
	deadline time.Time
}

// ivrStep answers the caller with an IVR, whose choice replaces the steps
// left.
type ivrStep struct{ ivr *dialplan.IVR }

func (ringStep) isStep() {}
func (ivrStep) isStep()  {}

// maxIVRVisits bounds how many IVRs one call goes through, so that IVRs
// whose defaults lead to one another cannot hold a silent caller forever.
const maxIVRVisits = 10

// notRegistered is the failure of a call whose extensions have no phone.
var notRegistered = failure{sip.StatusTemporarilyUnavailable, "Temporarily Unavailable", events.CauseUserNotRegistered, events.System}

// startRoute replaces the steps left with r's.
func (c *call) startRoute(r dialplan.Route) {
	c.failure = nil
	switch {
	case r.IVR != nil:
		c.steps = []step{ivrStep{ivr: r.IVR}}
	case r.Gateway != "":
		c.steps = []step{ringStep{gateway: r.Gateway, number: r.Number, timeout: c.p.conf().RingTimeout}}
	case r.Target.Type == events.Extension:
		c.steps = c.extensionSteps(r.Target.Target, c.p.conf().RingTimeout)
	case r.Target.Type == events.Queue:
		c.steps = []step{queueStep{number: r.Target.Target}}
	case !r.Sequential:
		timeout := r.Timeout
		if timeout == 0 {
			timeout = c.p.conf().RingTimeout
		}
		c.steps = []step{ringStep{exts: r.Ring, timeout: timeout}}
	default:
		// One member at a time, each for the member timeout, all within
		// the group's; members with no phone registered are skipped.
		deadline := time.Now().Add(r.Timeout)
		c.steps = make([]step, 0, len(r.Ring))
		for _, ext := range r.Ring {
			c.steps = append(c.steps, ringStep{exts: []string{ext}, timeout: r.MemberTimeout, deadline: deadline})
		}
	}
}

// walk takes the next step of the route. When none is left, the call ends
// as the last ring step failed.
func (c *call) walk() state {
	for len(c.steps) > 0 {
		s := c.steps[0]
		c.steps = c.steps[1:]
		switch s := s.(type) {
		case ivrStep:
			return c.enterIVR(s.ivr)
		case queueStep:
			return c.enterQueue(s.number)
		case ringStep:
			if next, rung := c.ring(s); rung {
				return next
			}
		case forwardStep:
			return c.divert(s.from, s.reason, s.to)
		case forwardOnStep:
			if next, ok := c.forwardOn(s); ok {
				return next
			}
		}
	}
	f := notRegistered
	if c.failure != nil {
		f = *c.failure
	}
	return c.fail(f)
}

// ring starts a ring step; rung is false when it was skipped (no phone
// registered, or its group's time is up).
func (c *call) ring(s ringStep) (next state, rung bool) {
	timeout := s.timeout
	if !s.deadline.IsZero() {
		left := time.Until(s.deadline)
		if left <= 0 {
			return 0, false
		}
		timeout = min(timeout, left)
	}
	var targets []ringing
	if s.gateway != "" {
		gw := c.p.conf().gateway(s.gateway)
		targets = []ringing{{number: s.number, target: dialTarget{uri: gw.URI(s.number), to: gw.URI(s.number), dest: gw.Address(), transport: gw.Transport(), gw: gw, diversion: c.diversionHeader()}}}
	} else if targets = c.p.contacts(s.exts...); len(targets) == 0 {
		if c.failure == nil {
			c.failure = &notRegistered
		}
		return 0, false
	}
	return c.startRound(targets, timeout), true
}

// ringing is one destination of a ring round.
type ringing struct {
	number string // the extension, or the number sent to a gateway
	target dialTarget
}

// contacts lists the registered contacts of exts, in order.
func (p *PBX) contacts(exts ...string) []ringing {
	var out []ringing
	for _, ext := range exts {
		for _, b := range p.reg.Lookup(ext) {
			dest := p.destination(b)
			out = append(out, ringing{number: ext, target: dialTarget{
				uri: b.Contact, to: sip.Uri{Scheme: "sip", User: ext, Host: p.domainFor(hostOf(dest))},
				dest: dest, transport: strings.ToLower(b.Transport),
			}})
		}
	}
	return out
}

// round is the legs of one ring step, and what their failures add up to.
type round struct {
	id      int
	pending int  // legs without their final outcome
	heard   bool // some callee responded
	best    int  // the failure code the caller hears if none answers
	bestRes *sip.Response
}

// note records a failed leg's code.
func (rd *round) note(code int, res *sip.Response) {
	if betterFailure(code, rd.best) {
		rd.best, rd.bestRes = code, res
	}
}

// startRound rings targets at once for up to timeout.
func (c *call) startRound(targets []ringing, timeout time.Duration) state {
	c.rounds++
	rd := &round{id: c.rounds}
	c.round = rd
	for _, t := range targets {
		l := newDialogLeg(c, t.number, events.Callee, LegRinging)
		l.target, l.round = t.target, rd.id
		c.legs = append(c.legs, l)
		body, err := c.sdpFor(l, c.offer)
		if err != nil {
			c.p.log.Info("callee leg failed", "call_uuid", c.id, "leg_uuid", l.id, "err", fmt.Errorf("make offer: %w", err))
			l.state, l.final = LegFailed, true
			rd.note(sip.StatusRequestTimeout, nil)
			continue
		}
		ctx, cancel := context.WithCancelCause(context.WithoutCancel(c.p.ctx))
		l.cancel = cancel
		rd.pending++
		c.dialing++
		c.p.wg.Add(1)
		go l.dial(ctx, body)
	}
	c.dirty = true
	if rd.pending == 0 {
		return c.roundOver(failureOf(rd.best, rd.bestRes))
	}
	c.setTimer(timerRing, timeout)
	if c.callerAnswered {
		// An app leg answered the caller: it hears ringback from the PBX
		// while its choice rings.
		c.play(c.p.conf().ringback, true, false)
	}
	return stateForking
}

// roundOver ends a ring step that failed with f and walks on.
func (c *call) roundOver(f failure) state {
	c.stopTimer(timerRing)
	c.stopPlay()
	c.cancelLegs(nil)
	c.round = nil
	c.failure = &f
	return c.walk()
}

// onDial handles a callee INVITE's response or outcome while ringing.
func (c *call) onDial(m msgDial) state {
	l, rd := m.leg, c.round
	if rd == nil || l.round != rd.id {
		c.drain(m)
		return c.state
	}
	if m.sess != nil {
		l.client = m.sess
	}
	if !m.final {
		rd.heard = true
		return c.progress(l, m.res)
	}
	c.dialing--
	l.final = true
	rd.pending--
	switch {
	case m.res != nil && m.res.IsSuccess():
		rd.heard = true
		if !l.rang && l.wireRang.Load() {
			// The callee rang, but its 180 reached the transaction after
			// the 200 OK and was dropped there: ring first.
			c.progress(l, sip.NewResponseFromRequest(l.client.InviteRequest, sip.StatusRinging, "Ringing", nil))
		}
		if c.answer(l, m.res) {
			c.transferOver(sip.StatusOK, "OK")
			return stateConnected
		}
		l.state = LegHungUp
		c.ackAndBye(l)
		rd.note(sip.StatusNotAcceptableHere, nil)
	default:
		l.state = LegFailed
		code := sip.StatusRequestTimeout
		if m.res != nil {
			rd.heard, code = true, m.res.StatusCode
		} else if !errors.Is(m.err, context.Canceled) {
			c.p.log.Info("callee leg failed", "call_uuid", c.id, "leg_uuid", l.id, "target", l.target.uri.String(), "err", m.err)
		}
		rd.note(code, m.res)
	}
	c.dirty = true
	if rd.pending == 0 || rd.best >= 600 {
		return c.roundOver(failureOf(rd.best, rd.bestRes))
	}
	return c.state
}

// drain handles the outcome of a callee no longer rung (its step is over,
// or the call): a late answer is hung up.
func (c *call) drain(m msgDial) {
	l := m.leg
	if m.sess != nil {
		l.client = m.sess
	}
	if !m.final {
		return
	}
	c.dialing--
	l.final = true
	c.dirty = true
	if m.res != nil && m.res.IsSuccess() {
		l.state = LegHungUp
		c.ackAndBye(l)
		return
	}
	l.state = LegFailed
}

// failureOf is the failure of a call whose callees all failed, best with
// code (res, when a callee answered it; nil when it was the PBX's
// conclusion: no answer in time, or an unusable answer).
func failureOf(code int, res *sip.Response) failure {
	f := failure{code: code, cause: failureCause(code), by: events.Callee}
	switch {
	case res != nil:
		f.reason = res.Reason
	case code == sip.StatusRequestTimeout:
		f.reason = "Request Timeout"
	default:
		f.reason = "Not Acceptable Here"
	}
	if code == sip.StatusRequestTimeout {
		// Unreachable or timed out: the system's conclusion, whoever
		// sent the 408 (EVENTS.md).
		f.by = events.System
	}
	return f
}

// cancelLegs stops every callee still ringing but keep. A leg whose INVITE
// got no response at all is abandoned rather than cancelled: a CANCEL may
// only follow a response (RFC 3261 §9.1), and waiting for one from a party
// that is down would hold the leg for the INVITE's whole timeout.
func (c *call) cancelLegs(keep *dialogLeg) {
	for _, leg := range c.legs {
		l, ok := leg.(*dialogLeg)
		switch {
		case !ok || l == keep || l.cancel == nil || l.final:
		case l.responded.Load():
			l.cancel(nil)
		default:
			l.cancel(sipgo.WaitAnswerForceCancelErr)
		}
	}
}

// progress handles a provisional response of a callee: the first 180 or
// 183 of each leg is CALL_RINGING, and ringing or early media is relayed to
// a caller that is not answered yet.
func (c *call) progress(l *dialogLeg, res *sip.Response) state {
	if res.StatusCode < sip.StatusRinging {
		return c.state
	}
	if !l.rang {
		l.rang = true
		c.emit(c.event(events.CallRinging, time.Now(), l.number, l))
		if !c.callerAnswered {
			c.a.state = LegRinging
		}
		c.dirty = true
	}
	if c.callerAnswered {
		return c.state
	}
	var early []byte
	if res.StatusCode == sip.StatusSessionInProgress && len(res.Body()) > 0 && !c.early {
		if d, err := media.ParseSDP(res.Body()); err == nil {
			if s, err := d.Audio(); err == nil {
				c.br.setMedia(media.SideB, s)
				early, _ = c.sdpFor(c.a, d)
			}
		}
	}
	// The caller hears the first ringing, or early media once: repeating
	// them tells it nothing new.
	var err error
	next := c.state
	switch {
	case early != nil:
		c.early = true
		l.state, next = LegEarly, stateEarly
		err = c.a.server.Respond(sip.StatusSessionInProgress, "Session Progress", early, sip.NewHeader("Content-Type", "application/sdp"))
	case !c.alerted && !c.early:
		c.alerted = true
		err = c.a.server.Respond(sip.StatusRinging, "Ringing", nil)
	}
	if err != nil {
		c.p.log.Debug("relay progress to caller", "call_uuid", c.id, "err", err)
	}
	return next
}

// answer connects the caller to the callee on l, which answered: it
// acknowledges the callee, emits CALL_ANSWER and, unless an app leg
// answered the caller before, answers the caller with the callee's SDP. It
// reports false, leaving the leg to be hung up, when the callee's answer is
// unusable.
func (c *call) answer(l *dialogLeg, res *sip.Response) bool {
	d, err := media.ParseSDP(res.Body())
	var s media.Stream
	if err == nil {
		s, err = d.Audio()
	}
	if err != nil {
		c.p.log.Info("callee answered with unusable sdp", "call_uuid", c.id, "leg_uuid", l.id, "err", err)
		return false
	}
	c.cancelLegs(l)
	// The dialog is known before it is acknowledged: a callee may send a
	// request (a hold, a REFER) as soon as it has the ACK.
	c.p.addDialog(l.client.ID, l)
	// An ACK is written to the transport, not sent in a transaction that
	// waits: the call's own context is bound enough, with no timer of its
	// own.
	if err := l.client.Ack(c.ctx); err != nil {
		c.p.log.Info("ack callee", "call_uuid", c.id, "err", err)
	}
	var body []byte
	if !c.callerAnswered {
		if body, err = c.sdpFor(c.a, d); err != nil {
			return false
		}
	}
	c.stopTimer(timerRing)
	c.stopPlay()
	c.round = nil
	c.br.setMedia(media.SideB, s)
	c.br.join(media.SideB, l)
	if c.p.conf().SessionExpires > 0 {
		l.st = uacSession(res)
	}
	c.armSession(l)
	c.answeredAt = time.Now()
	l.state, c.a.state = LegAnswered, LegAnswered
	c.emit(c.event(events.CallAnswer, c.answeredAt, l.number, l))
	if !c.callerAnswered {
		c.answerCaller(body)
	}
	return true
}

// ackAndBye hangs up, on a goroutine of its own, a callee that answered
// after another one won, or whose answer was unusable.
func (c *call) ackAndBye(l *dialogLeg) {
	cs := l.client
	c.p.wg.Add(1)
	go func() {
		defer c.p.wg.Done()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(c.p.ctx), byeTimeout)
		defer cancel()
		if err := cs.Ack(ctx); err != nil {
			c.p.log.Debug("ack losing leg", "leg_uuid", l.id, "err", err)
		}
		if err := cs.Bye(ctx); err != nil {
			c.p.log.Debug("bye losing leg", "leg_uuid", l.id, "err", err)
		}
	}()
}

// dial sends the INVITE of a callee leg and posts its responses to the
// call's owner, which waits for the final one before it returns. A
// gateway's challenge (401 or 407) is answered with its credentials; a 422
// (RFC 4028 §7.1) is answered once with the interval the callee asked,
// like a challenge: same Call-ID, next CSeq.
func (l *dialogLeg) dial(ctx context.Context, body []byte) {
	c := l.c
	defer c.p.wg.Done()
	defer l.cancel(nil)
	remote := l.remoteIP()
	t := c.p.transportTo(l.target.transport, remote)
	req := sip.NewRequest(sip.INVITE, l.target.uri)
	req.SetTransport(strings.ToUpper(t.network))
	req.SetDestination(l.target.dest)
	from := &sip.FromHeader{DisplayName: c.callerName, Address: sip.Uri{Scheme: "sip", User: c.caller, Host: c.p.domainFor(remote)}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	to := &sip.ToHeader{Address: *l.target.to.Clone(), Params: sip.NewParams()}
	callID := sip.CallIDHeader(uuid.NewString())
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&callID)
	c.p.ringing.Store(string(callID), l)
	defer c.p.ringing.Delete(string(callID))
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.AppendHeader(sip.NewHeader("Allow", allowed))
	interval := c.p.conf().SessionExpires
	if interval > 0 {
		for _, h := range c.p.uacHeaders(interval) {
			req.AppendHeader(h)
		}
	}
	if l.target.diversion != "" {
		req.AppendHeader(sip.NewHeader("Diversion", l.target.diversion))
	}
	req.SetBody(body)
	out := l.invite(ctx, t, req)
	if res := out.res; res != nil && res.StatusCode == 422 && interval > 0 && ctx.Err() == nil {
		if h := res.GetHeader("Min-SE"); h != nil {
			secs, _, _ := strings.Cut(h.Value(), ";")
			if n, err := strconv.Atoi(strings.TrimSpace(secs)); err == nil && time.Duration(n)*time.Second > interval {
				retry := req.Clone()
				retry.RemoveHeader("Via")
				retry.CSeq().SeqNo++
				retry.ReplaceHeader(sip.NewHeader("Session-Expires", strconv.Itoa(n)))
				retry.ReplaceHeader(sip.NewHeader("Min-SE", strconv.Itoa(n)))
				out = l.invite(ctx, t, retry)
			}
		}
	}
	c.inbox <- out
}

// waitAnswer runs wait (a session's WaitAnswer) and makes a panic in it
// the leg's error rather than the end of the process: sipgo's
// ClientTx.Terminate closes the transaction's Done before it sets its
// error, so a CANCEL whose transaction the stack closes at shutdown can
// come back with neither a response nor an error, and sipgo's inviteCancel
// then reads the status of the response that never came.
func waitAnswer(ctx context.Context, wait func(context.Context, sipgo.AnswerOptions) error, opts sipgo.AnswerOptions) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("wait for the answer: %v", r)
		}
	}()
	return wait(ctx, opts)
}

// invite sends one INVITE of the callee leg, posts its provisional
// responses and returns its outcome.
func (l *dialogLeg) invite(ctx context.Context, t *transport, req *sip.Request) msgDial {
	c := l.c
	sess, err := t.ua.WriteInvite(ctx, req)
	if err != nil {
		return msgDial{leg: l, err: err, final: true}
	}
	opts := sipgo.AnswerOptions{OnResponse: func(res *sip.Response) error {
		l.responded.Store(true)
		if res.IsProvisional() {
			c.inbox <- msgDial{leg: l, sess: sess, res: res}
		}
		return nil
	}}
	if gw := l.target.gw; gw != nil {
		opts.Username, opts.Password = gw.Credentials()
	}
	err = waitAnswer(ctx, sess.WaitAnswer, opts)
	res := sess.InviteResponse
	var pe *sipgo.ErrDialogResponse
	var ve sipgo.ErrDialogResponse
	out := msgDial{leg: l, sess: sess, final: true}
	switch {
	case err == nil, res != nil && res.IsSuccess():
		// Answered, or answered while being cancelled: the owner decides
		// whether this leg is the one connected.
		out.res = res
	case errors.As(err, &pe):
		out.res = pe.Res
	case errors.As(err, &ve):
		out.res = ve.Res
	default:
		out.err = err
	}
	return out
}
