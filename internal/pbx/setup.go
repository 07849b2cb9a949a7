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

	"github.com/switchhook/switchhook/internal/dialplan"
	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/media"
	"github.com/switchhook/switchhook/internal/registrar"
)

// legResult is what a B-leg reports to its call's setup: a provisional
// response, or its final outcome (final=true), once.
type legResult struct {
	leg   *leg
	res   *sip.Response
	err   error
	final bool
}

// maxLegResults bounds what one B-leg reports: sipgo gives up on an INVITE
// after ten responses, plus the final outcome.
const maxLegResults = 12

// failure is how a call that was not connected ends: the final response to
// the caller (when it is still waiting for one) and the hangup cause.
type failure struct {
	code   int
	reason string
	cause  string
	by     events.Party
}

// handleNewInvite routes a new INVITE and, when it is routed, runs the
// call's setup on this goroutine until the caller is connected or the call
// is over. A call from a gateway's address is trusted as the carrier's and
// routed by the number it dialled (DID); any other caller is an extension
// and authenticates.
func (p *PBX) handleNewInvite(req *sip.Request, tx sip.ServerTransaction) {
	var (
		caller, name, dialed string
		route                dialplan.Route
		dir                  = events.Internal
	)
	if gw := p.gatewayFrom(req); gw != nil {
		offer, ok := readOffer(req, tx)
		if !ok {
			return
		}
		// The DID is the Request-URI's user; a carrier that sends calls to
		// the PBX's registered contact keeps it in To.
		dialed = req.Recipient.User
		route, ok = p.cfg.plan.Inbound(dialed)
		if to := req.To().Address.User; !ok && to != dialed {
			if route, ok = p.cfg.plan.Inbound(to); ok {
				dialed = to
			}
		}
		if !ok {
			respond(tx, req, sip.StatusNotFound, "Not Found", fmt.Sprintf("number %q is not routed from gateway %s", req.Recipient.User, gw.Name()))
			return
		}
		caller, name = req.From().Address.User, req.From().DisplayName
		if caller == "" {
			caller = "anonymous"
		}
		p.startCall(req, tx, offer, caller, name, dialed, route, events.Inbound)
		return
	}
	user, ok := p.authenticate(req, tx, true)
	if !ok {
		return
	}
	if from := req.From(); from.Address.User != user {
		respond(tx, req, sip.StatusForbidden, "Forbidden", fmt.Sprintf("From user %q is not the authenticated user %q", from.Address.User, user))
		return
	}
	offer, ok := readOffer(req, tx)
	if !ok {
		return
	}
	dialed = req.Recipient.User
	route, ok = p.cfg.plan.Route(dialed)
	if !ok {
		respond(tx, req, sip.StatusNotFound, "Not Found", fmt.Sprintf("number %q is not routed", dialed))
		return
	}
	if route.Target.Type == events.Gateway {
		dir = events.Outbound
	}
	p.startCall(req, tx, offer, user, p.cfg.exts[user].Name, dialed, route, dir)
}

// startCall makes the call of a routed INVITE and runs its setup.
func (p *PBX) startCall(req *sip.Request, tx sip.ServerTransaction, offer *media.Description, caller, name, dialed string, route dialplan.Route, dir events.Direction) {
	t := p.transportFor(req.Transport())
	sess, err := t.ua.ReadInvite(req, tx)
	if err != nil {
		respond(tx, req, sip.StatusBadRequest, "Bad Request", err.Error())
		return
	}
	c := newCall(p, caller, name, dialed, route, dir)
	c.a.server = sess
	if !p.addCall(c) {
		respond(tx, req, sip.StatusServiceUnavailable, "Service Unavailable", "the PBX is shutting down")
		return
	}
	defer p.wg.Done()
	p.addDialog(sess.ID, c.a)
	c.setup(offer)
}

// readOffer reads the SDP offer of an INVITE and keeps the codecs the PBX
// relays; it answers the request itself when there is no usable offer.
func readOffer(req *sip.Request, tx sip.ServerTransaction) (*media.Description, bool) {
	ct := req.ContentType()
	if len(req.Body()) == 0 || ct == nil {
		respond(tx, req, sip.StatusNotAcceptableHere, "Not Acceptable Here", "an INVITE without an SDP offer is not supported")
		return nil, false
	}
	if v, _, _ := strings.Cut(ct.Value(), ";"); !strings.EqualFold(strings.TrimSpace(v), "application/sdp") {
		res := sip.NewResponseFromRequest(req, sip.StatusUnsupportedMediaType, "Unsupported Media Type", nil)
		res.AppendHeader(sip.NewHeader("Accept", "application/sdp"))
		res.AppendHeader(warning(fmt.Sprintf("body of type %q; want application/sdp", ct.Value())))
		tx.Respond(res)
		return nil, false
	}
	d, err := media.ParseSDP(req.Body())
	if err == nil {
		_, err = d.Audio()
	}
	if err == nil {
		err = d.KeepRelayable()
	}
	if err != nil {
		respond(tx, req, sip.StatusNotAcceptableHere, "Not Acceptable Here", err.Error())
		return nil, false
	}
	return d, true
}

// maxIVRVisits bounds how many IVRs one call goes through, so that IVRs
// whose defaults lead to one another cannot hold a silent caller forever.
const maxIVRVisits = 10

// setup emits CALL_ROUTED, anchors the caller's media and takes the call
// where it is routed: through IVRs, if any, to the phones or the gateway
// that ring. It returns once the caller is connected to a callee or the
// call is over.
func (c *call) setup(offer *media.Description) {
	p := c.p
	c.mu.Lock()
	e := c.event(events.CallRouted, c.created, c.dialed, c.a)
	e.RoutedTo = &c.route.Target
	c.emitLocked(e)
	c.offer = offer
	c.mu.Unlock()
	c.a.server.Respond(sip.StatusTrying, "Trying", nil)

	relay, err := p.ports.NewRelay(c.onDTMF)
	if err != nil {
		p.log.Error("allocate media relay", "call_uuid", c.id, "err", err)
		c.fail(failure{sip.StatusServiceUnavailable, "Service Unavailable", events.CauseNormalTemporaryFailure, events.System})
		return
	}
	stream, _ := offer.Audio()
	relay.SetRemote(media.SideA, stream.Addr, stream.EventRates())
	relay.Start()
	c.mu.Lock()
	c.relay = relay
	c.mu.Unlock()

	route := c.route
	for visits := 0; route.IVR != nil; visits++ {
		if visits == maxIVRVisits {
			p.log.Warn("call went through too many IVRs; hanging up", "call_uuid", c.id, "ivr", route.IVR.Number)
			c.hangup(events.Hangup{Cause: events.CauseNormalClearing, SIPCode: sip.StatusOK, By: events.System})
			return
		}
		var ok bool
		if route, ok = c.ivr(route.IVR); !ok {
			return
		}
	}
	c.ring(route)
}

// notRegistered is the failure of a call whose extensions have no phone.
var notRegistered = failure{sip.StatusTemporarilyUnavailable, "Temporarily Unavailable", events.CauseUserNotRegistered, events.System}

// ring rings what r routes to: the contacts of an extension, the members of
// a ring group at once or in turn, or a gateway. It returns once a callee
// is connected or the call is over.
func (c *call) ring(r dialplan.Route) {
	p := c.p
	switch {
	case r.Gateway != "":
		gw := p.cfg.gateway(r.Gateway)
		t := dialTarget{uri: gw.URI(r.Number), to: gw.URI(r.Number), dest: gw.Address(), transport: gw.Transport(), gw: gw}
		if f, ok := c.ringRound([]ringing{{number: r.Number, target: t}}, p.cfg.RingTimeout); ok {
			c.fail(f)
		}
	case !r.Sequential:
		timeout := r.Timeout
		if timeout == 0 {
			timeout = p.cfg.RingTimeout
		}
		targets := p.contacts(r.Ring...)
		if len(targets) == 0 {
			c.fail(notRegistered)
			return
		}
		if f, ok := c.ringRound(targets, timeout); ok {
			c.fail(f)
		}
	default:
		// One member at a time, each for the member timeout, all within
		// the group's; members with no phone registered are skipped. The
		// call ends as the last member rung did.
		deadline := time.Now().Add(r.Timeout)
		last := notRegistered
		for _, ext := range r.Ring {
			left := time.Until(deadline)
			if left <= 0 {
				break
			}
			targets := p.contacts(ext)
			if len(targets) == 0 {
				continue
			}
			f, ok := c.ringRound(targets, min(r.MemberTimeout, left))
			if !ok {
				return
			}
			last = f
		}
		c.fail(last)
	}
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
			out = append(out, ringing{number: ext, target: dialTarget{
				uri: b.Contact, to: sip.Uri{Scheme: "sip", User: ext, Host: p.domain},
				dest: p.destination(b), transport: strings.ToLower(b.Transport),
			}})
		}
	}
	return out
}

// ringRound rings targets at once for up to timeout and connects the caller
// to the first that answers. It reports the failure with ok=true when none
// answered and the caller still waits; ok=false when a callee is connected
// or the call is over. Legs still finishing when it returns are drained by
// a goroutine of their own, which hangs up a late answer.
func (c *call) ringRound(targets []ringing, timeout time.Duration) (f failure, ok bool) {
	p, a := c.p, c.a.server
	results := make(chan legResult, maxLegResults*len(targets))
	c.mu.Lock()
	if c.state == stateEnded {
		c.mu.Unlock()
		return failure{}, false
	}
	c.state = stateRinging
	callerUp := c.callerUp
	for _, t := range targets {
		l := c.newLeg(media.SideB, t.number)
		l.target = t.target
		c.legs = append(c.legs, l)
		body, err := c.sdpForLocked(l, c.offer)
		if err != nil {
			l.state = "failed"
			results <- legResult{leg: l, err: fmt.Errorf("make offer: %w", err), final: true}
			continue
		}
		ctx, cancel := context.WithCancelCause(context.WithoutCancel(p.ctx))
		l.cancel = cancel
		p.wg.Add(1)
		go l.dial(ctx, body, results)
	}
	pending := len(targets)
	c.mu.Unlock()
	if callerUp {
		// The caller was answered by an IVR: it hears ringback from the
		// PBX while its choice rings.
		defer c.play(p.cfg.ringback, true)()
	}

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	// A caller already answered cannot cancel: it hangs up with a BYE,
	// which ends the call (c.ctx).
	var canceled <-chan struct{}
	if !callerUp {
		canceled = a.Context().Done()
	}
	heard, best := false, 0
	var bestRes *sip.Response
	stopLegs := func() {
		c.cancelLegs(nil)
		c.drain(results, pending)
	}
	for {
		select {
		case r := <-results:
			if r.final {
				pending--
			}
			switch {
			case r.res != nil && r.res.IsProvisional():
				heard = true
				c.progress(r.leg, r.res)
				continue
			case r.res != nil && r.res.IsSuccess():
				heard = true
				if c.answer(r.leg, r.res) {
					c.drain(results, pending)
					return failure{}, false
				}
				c.setLegState(r.leg, "hung up")
				p.wg.Add(1)
				go func() {
					defer p.wg.Done()
					r.leg.ackAndBye()
				}()
				if betterFailure(sip.StatusNotAcceptableHere, best) {
					best, bestRes = sip.StatusNotAcceptableHere, nil
				}
			default:
				c.setLegState(r.leg, "failed")
				code := sip.StatusRequestTimeout
				if r.res != nil {
					heard, code = true, r.res.StatusCode
				} else if !errors.Is(r.err, context.Canceled) {
					p.log.Info("callee leg failed", "call_uuid", c.id, "leg_uuid", r.leg.id, "target", r.leg.target.uri.String(), "err", r.err)
				}
				if betterFailure(code, best) {
					best, bestRes = code, r.res
				}
			}
			if pending == 0 || best >= 600 {
				stopLegs()
				return failureOf(best, bestRes), true
			}
		case <-timer.C:
			stopLegs()
			if heard {
				return failure{sip.StatusTemporarilyUnavailable, "No Answer", events.CauseNoAnswer, events.System}, true
			}
			return failure{sip.StatusRequestTimeout, "Request Timeout", events.CauseRecoveryOnTimerExpire, events.System}, true
		case <-canceled:
			stopLegs()
			h := events.Hangup{Cause: events.CauseOriginatorCancel, SIPCode: sip.StatusRequestTerminated, By: events.Caller}
			if !errors.Is(context.Cause(a.Context()), sip.ErrTransactionCanceled) {
				// Not a CANCEL (which sipgo answered with 487): the INVITE
				// transaction itself failed, e.g. its connection closed.
				h = events.Hangup{Cause: events.CauseRecoveryOnTimerExpire, SIPCode: sip.StatusRequestTimeout, By: events.System}
			}
			c.end(h, c.a)
			return failure{}, false
		case <-c.callerBye:
			stopLegs()
			c.fail(failure{sip.StatusRequestTerminated, "Request Terminated", events.CauseOriginatorCancel, events.Caller})
			return failure{}, false
		case <-c.ctx.Done():
			// Ended elsewhere: the caller, answered by an IVR, hung up.
			stopLegs()
			return failure{}, false
		case <-p.ctx.Done():
			stopLegs()
			c.fail(failure{sip.StatusServiceUnavailable, "Service Unavailable", events.CauseSystemShutdown, events.System})
			return failure{}, false
		}
	}
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

// drain waits, on a goroutine of its own, for the pending legs of a ring
// round that is decided, and hangs up any that answers late.
func (c *call) drain(results <-chan legResult, pending int) {
	if pending == 0 {
		return
	}
	c.p.wg.Add(1)
	go func() {
		defer c.p.wg.Done()
		for pending > 0 {
			r := <-results
			if !r.final {
				continue
			}
			pending--
			if r.res != nil && r.res.IsSuccess() {
				c.setLegState(r.leg, "hung up")
				r.leg.ackAndBye()
				continue
			}
			c.setLegState(r.leg, "failed")
		}
	}()
}

func (c *call) setLegState(l *leg, state string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l.state = state
}

// fail ends a call that was not connected: CALL_HANGUP, then the final
// response to the caller, or a BYE when an IVR had answered it.
func (c *call) fail(f failure) {
	if !c.end(events.Hangup{Cause: f.cause, SIPCode: f.code, By: f.by}, c.a) {
		return
	}
	c.mu.Lock()
	up := c.callerUp
	c.mu.Unlock()
	if up {
		c.byeCaller()
		return
	}
	code, reason := f.code, f.reason
	var hdrs []sip.Header
	if code == sip.StatusServiceUnavailable && f.by == events.Callee {
		// A 503 means "this server is overloaded, try another" to the
		// caller's phone (RFC 3261 §16.7 has proxies turn a relayed one
		// into 500): it is the callee's or carrier's server that is.
		code, reason = sip.StatusInternalServerError, "Server Internal Error"
		hdrs = append(hdrs, warning("the callee answered 503 "+f.reason))
	}
	if err := c.a.server.Respond(code, reason, nil, hdrs...); err != nil {
		c.p.log.Debug("final response to caller", "call_uuid", c.id, "code", code, "err", err)
	}
}

// hangup ends a call whose caller is answered, from the PBX: CALL_HANGUP,
// then BYE to the caller.
func (c *call) hangup(h events.Hangup) {
	if c.end(h, c.a) {
		c.byeCaller()
	}
}

func (c *call) byeCaller() {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.p.ctx), byeTimeout)
	defer cancel()
	c.a.bye(ctx)
}

// cancelLegs stops every B-leg but keep. A leg whose INVITE got no
// response at all is abandoned rather than cancelled: a CANCEL may only
// follow a response (RFC 3261 §9.1), and waiting for one from a party that
// is down would hold the leg for the INVITE's whole timeout.
func (c *call) cancelLegs(keep *leg) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range c.legs {
		switch {
		case l == keep || l.cancel == nil:
		case l.responded:
			l.cancel(nil)
		default:
			l.cancel(sipgo.WaitAnswerForceCancelErr)
		}
	}
}

// progress handles a provisional response of a B-leg: the first 180 or 183
// of each leg is CALL_RINGING, and ringing or early media is relayed to a
// caller that is not answered yet.
func (c *call) progress(l *leg, res *sip.Response) {
	if res.StatusCode < sip.StatusRinging {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != stateRinging {
		return
	}
	if !l.rang {
		l.rang = true
		c.emitLocked(c.event(events.CallRinging, time.Now(), l.number, l))
		if !c.callerUp {
			c.a.state = "ringing"
		}
	}
	if c.callerUp {
		return
	}
	var early []byte
	if res.StatusCode == sip.StatusSessionInProgress && len(res.Body()) > 0 && !c.early {
		if d, err := media.ParseSDP(res.Body()); err == nil {
			if s, err := d.Audio(); err == nil {
				c.relay.SetRemote(media.SideB, s.Addr, s.EventRates())
				early, _ = c.sdpForLocked(c.a, d)
			}
		}
	}
	// The caller hears the first ringing, or early media once: repeating
	// them tells it nothing new.
	var err error
	switch {
	case early != nil:
		c.early = true
		err = c.a.server.Respond(sip.StatusSessionInProgress, "Session Progress", early, sip.NewHeader("Content-Type", "application/sdp"))
	case !c.alerted && !c.early:
		c.alerted = true
		err = c.a.server.Respond(sip.StatusRinging, "Ringing", nil)
	}
	if err != nil {
		c.p.log.Debug("relay progress to caller", "call_uuid", c.id, "err", err)
	}
}

// answer connects the caller to the B-leg that answered: it acknowledges
// the callee, emits CALL_ANSWER and, unless an IVR answered the caller
// before, answers the caller with the callee's SDP and waits for its ACK.
// It reports false, leaving the leg to be hung up, when the callee's answer
// is unusable or the call is over.
func (c *call) answer(l *leg, res *sip.Response) bool {
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
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.p.ctx), byeTimeout)
	defer cancel()
	c.mu.Lock()
	cs := l.client
	c.mu.Unlock()
	if err := cs.Ack(ctx); err != nil {
		c.p.log.Info("ack callee", "call_uuid", c.id, "err", err)
	}
	c.mu.Lock()
	if c.state != stateRinging {
		c.mu.Unlock()
		return false
	}
	var body []byte
	if !c.callerUp {
		if body, err = c.sdpForLocked(c.a, d); err != nil {
			c.mu.Unlock()
			return false
		}
	}
	c.relay.SetRemote(media.SideB, s.Addr, s.EventRates())
	c.state, c.answered, c.answeredAt = stateAnswered, l, time.Now()
	l.state, c.a.state = "answered", "answered"
	c.emitLocked(c.event(events.CallAnswer, c.answeredAt, l.number, l))
	c.p.addDialog(cs.ID, l)
	wasUp := c.callerUp
	c.callerUp = true
	c.mu.Unlock()
	if wasUp {
		return true
	}

	if err := c.a.server.RespondSDP(body); err != nil {
		// The caller cancelled as the callee answered, or never sent ACK.
		h := events.Hangup{Cause: events.CauseRecoveryOnTimerExpire, SIPCode: sip.StatusRequestTimeout, By: events.System}
		if errors.Is(context.Cause(c.a.server.Context()), sip.ErrTransactionCanceled) {
			h = events.Hangup{Cause: events.CauseOriginatorCancel, SIPCode: sip.StatusRequestTerminated, By: events.Caller}
		}
		if c.end(h, c.a) {
			l.bye(ctx)
			c.a.bye(ctx)
		}
	}
	return true
}

// dial sends the INVITE of a B-leg and reports its responses. A gateway's
// challenge (401 or 407) is answered with its credentials.
func (l *leg) dial(ctx context.Context, body []byte, results chan<- legResult) {
	c := l.c
	defer c.p.wg.Done()
	defer l.cancel(nil)
	t := c.p.transportFor(l.target.transport)
	req := sip.NewRequest(sip.INVITE, *l.target.uri.Clone())
	req.SetTransport(strings.ToUpper(t.network))
	req.SetDestination(l.target.dest)
	from := &sip.FromHeader{DisplayName: c.callerName, Address: sip.Uri{Scheme: "sip", User: c.caller, Host: c.p.domain}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	to := &sip.ToHeader{Address: *l.target.to.Clone(), Params: sip.NewParams()}
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.AppendHeader(sip.NewHeader("Allow", allowed))
	req.SetBody(body)

	sess, err := t.ua.WriteInvite(ctx, req)
	if err != nil {
		results <- legResult{leg: l, err: err, final: true}
		return
	}
	c.mu.Lock()
	l.client = sess
	c.mu.Unlock()
	opts := sipgo.AnswerOptions{OnResponse: func(res *sip.Response) error {
		c.mu.Lock()
		l.responded = true
		c.mu.Unlock()
		if res.IsProvisional() {
			results <- legResult{leg: l, res: res}
		}
		return nil
	}}
	if gw := l.target.gw; gw != nil {
		opts.Username, opts.Password = gw.Credentials()
	}
	err = sess.WaitAnswer(ctx, opts)
	res := sess.InviteResponse
	var pe *sipgo.ErrDialogResponse
	var ve sipgo.ErrDialogResponse
	switch {
	case err == nil, res != nil && res.IsSuccess():
		// Answered, or answered while being cancelled: the call's setup
		// decides whether this leg is the one connected.
		results <- legResult{leg: l, res: res, final: true}
	case errors.As(err, &pe):
		results <- legResult{leg: l, res: pe.Res, final: true}
	case errors.As(err, &ve):
		results <- legResult{leg: l, res: ve.Res, final: true}
	default:
		results <- legResult{leg: l, err: err, final: true}
	}
}

// ackAndBye hangs up a B-leg that answered after another one won, or whose
// answer was unusable.
func (l *leg) ackAndBye() {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(l.c.p.ctx), byeTimeout)
	defer cancel()
	l.c.mu.Lock()
	cs := l.client
	l.c.mu.Unlock()
	if err := cs.Ack(ctx); err != nil {
		l.c.p.log.Debug("ack losing leg", "leg_uuid", l.id, "err", err)
	}
	if err := cs.Bye(ctx); err != nil {
		l.c.p.log.Debug("bye losing leg", "leg_uuid", l.id, "err", err)
	}
}

// destination is where to send a request for binding b: over UDP the
// address the REGISTER came from (what reaches a phone behind NAT); over TCP
// the registration's connection while it is open, else the contact.
func (p *PBX) destination(b registrar.Binding) string {
	if strings.EqualFold(b.Transport, "udp") && b.Source != "" {
		return b.Source
	}
	if b.Source != "" {
		if conn, err := p.ua.TransportLayer().GetConnection(b.Transport, b.Source); err == nil && conn != nil {
			conn.TryClose()
			return b.Source
		}
	}
	port := b.Contact.Port
	if port == 0 {
		port = 5060
	}
	return b.Contact.Host + ":" + strconv.Itoa(port)
}
