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

// handleNewInvite authenticates and routes a caller's INVITE and, when it is
// routed, runs the call's setup on this goroutine until the call is answered
// or over.
func (p *PBX) handleNewInvite(req *sip.Request, tx sip.ServerTransaction) {
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
	dialed := req.Recipient.User
	route, ok := p.plan.Route(dialed)
	if !ok {
		respond(tx, req, sip.StatusNotFound, "Not Found", fmt.Sprintf("number %q is not routed", dialed))
		return
	}
	t := p.transportFor(req.Transport())
	sess, err := t.ua.ReadInvite(req, tx)
	if err != nil {
		respond(tx, req, sip.StatusBadRequest, "Bad Request", err.Error())
		return
	}
	c := newCall(p, user, dialed, route)
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

// setup rings the routed extension's contacts and connects the caller to
// the first that answers. It returns once the call is answered and the
// caller has acknowledged, or the call is over, and every B-leg has
// finished, so that a late answer from a losing contact is hung up.
func (c *call) setup(offer *media.Description) {
	p, a := c.p, c.a.server
	c.mu.Lock()
	e := c.event(events.CallRouted, c.created, c.dialed, c.a)
	e.RoutedTo = &c.route.Target
	c.emitLocked(e)
	c.mu.Unlock()
	a.Respond(sip.StatusTrying, "Trying", nil)

	var bindings []registrar.Binding
	for _, ext := range c.route.Ring {
		bindings = append(bindings, p.reg.Lookup(ext)...)
	}
	if len(bindings) == 0 {
		c.fail(sip.StatusTemporarilyUnavailable, "Temporarily Unavailable", events.CauseUserNotRegistered, events.System)
		return
	}
	relay, err := p.ports.NewRelay(c.onDTMF)
	if err != nil {
		p.log.Error("allocate media relay", "call_uuid", c.id, "err", err)
		c.fail(sip.StatusServiceUnavailable, "Service Unavailable", events.CauseNormalTemporaryFailure, events.System)
		return
	}
	stream, _ := offer.Audio()
	relay.SetRemote(media.SideA, stream.Addr, stream.EventRates())
	relay.Start()

	results := make(chan legResult, maxLegResults*len(bindings))
	c.mu.Lock()
	c.relay = relay
	c.state = stateRinging
	for _, b := range bindings {
		l := c.newLeg(media.SideB, b.Extension)
		l.binding = b
		body, err := c.sdpForLocked(l, offer)
		if err != nil {
			l.state = "failed"
			results <- legResult{leg: l, err: fmt.Errorf("make offer: %w", err), final: true}
			continue
		}
		ctx, cancel := context.WithCancel(context.WithoutCancel(p.ctx))
		l.cancel = cancel
		c.legs = append(c.legs, l)
		p.wg.Add(1)
		go l.dial(ctx, body, results)
	}
	pending := len(bindings)
	c.mu.Unlock()

	timer := time.NewTimer(p.cfg.RingTimeout)
	defer timer.Stop()
	// Once the call is decided (answered or ended) the loop only drains
	// the legs still finishing; the channels it no longer needs are nil so
	// that a closed one does not spin the select.
	ring, canceled, stopping := timer.C, a.Context().Done(), p.ctx.Done()
	decided, heard, best := false, false, 0
	var bestRes *sip.Response
	decide := func(code int, reason, cause string, by events.Party) {
		decided, ring, canceled, stopping = true, nil, nil, nil
		c.cancelLegs(nil)
		c.fail(code, reason, cause, by)
	}
	for pending > 0 {
		select {
		case r := <-results:
			if r.final {
				pending--
			}
			switch {
			case r.res != nil && r.res.IsProvisional():
				heard = true
				if !decided {
					c.progress(r.leg, r.res)
				}
			case r.res != nil && r.res.IsSuccess():
				heard = true
				if decided || !c.answer(r.leg, r.res) {
					c.setLegState(r.leg, "hung up")
					p.wg.Add(1)
					go r.leg.ackAndBye()
					continue
				}
				decided, ring, canceled, stopping = true, nil, nil, nil
			default:
				c.setLegState(r.leg, "failed")
				code := sip.StatusRequestTimeout
				if r.res != nil {
					heard, code = true, r.res.StatusCode
				} else if !errors.Is(r.err, context.Canceled) {
					p.log.Info("callee leg failed", "call_uuid", c.id, "leg_uuid", r.leg.id, "contact", r.leg.binding.Contact.String(), "err", r.err)
				}
				if decided {
					continue
				}
				if betterFailure(code, best) {
					best, bestRes = code, r.res
				}
				if pending == 0 || code >= 600 {
					reason, by := "Request Timeout", events.System
					if bestRes != nil {
						reason = bestRes.Reason
					}
					if best != sip.StatusRequestTimeout {
						by = events.Callee
					}
					decide(best, reason, failureCause(best), by)
				}
			}
		case <-ring:
			if heard {
				decide(sip.StatusTemporarilyUnavailable, "No Answer", events.CauseNoAnswer, events.System)
			} else {
				decide(sip.StatusRequestTimeout, "Request Timeout", events.CauseRecoveryOnTimerExpire, events.System)
			}
		case <-canceled:
			decided, ring, canceled, stopping = true, nil, nil, nil
			c.cancelLegs(nil)
			h := events.Hangup{Cause: events.CauseOriginatorCancel, SIPCode: sip.StatusRequestTerminated, By: events.Caller}
			if !errors.Is(context.Cause(a.Context()), sip.ErrTransactionCanceled) {
				// Not a CANCEL (which sipgo answered with 487): the INVITE
				// transaction itself failed, e.g. its connection closed.
				h = events.Hangup{Cause: events.CauseRecoveryOnTimerExpire, SIPCode: sip.StatusRequestTimeout, By: events.System}
			}
			c.end(h, c.a)
		case <-stopping:
			decide(sip.StatusServiceUnavailable, "Service Unavailable", events.CauseSystemShutdown, events.System)
		}
	}
}

func (c *call) setLegState(l *leg, state string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l.state = state
}

// fail ends a call that was not answered: CALL_HANGUP, then the final
// response to the caller.
func (c *call) fail(code int, reason, cause string, by events.Party) {
	if !c.end(events.Hangup{Cause: cause, SIPCode: code, By: by}, c.a) {
		return
	}
	if err := c.a.server.Respond(code, reason, nil); err != nil {
		c.p.log.Debug("final response to caller", "call_uuid", c.id, "code", code, "err", err)
	}
}

// cancelLegs stops every B-leg but keep.
func (c *call) cancelLegs(keep *leg) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range c.legs {
		if l != keep && l.cancel != nil {
			l.cancel()
		}
	}
}

// progress handles a provisional response of a B-leg: the first 180 or 183
// of each leg is CALL_RINGING, and ringing or early media is relayed to the
// caller.
func (c *call) progress(l *leg, res *sip.Response) {
	if res.StatusCode < sip.StatusRinging {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != stateRinging {
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
	if !l.rang {
		l.rang = true
		c.emitLocked(c.event(events.CallRinging, time.Now(), l.number, l))
		c.a.state = "ringing"
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
// the callee, emits CALL_ANSWER and answers the caller with the callee's
// SDP, then waits for the caller's ACK. It reports false, leaving the leg
// to be hung up, when the callee's answer is unusable.
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
	c.relay.SetRemote(media.SideB, s.Addr, s.EventRates())
	body, err := c.sdpForLocked(c.a, d)
	if err != nil {
		c.mu.Unlock()
		return false
	}
	c.state, c.answered, c.answeredAt = stateAnswered, l, time.Now()
	l.state, c.a.state = "answered", "answered"
	c.emitLocked(c.event(events.CallAnswer, c.answeredAt, l.number, l))
	c.p.addDialog(cs.ID, l)
	c.mu.Unlock()

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

// dial sends the INVITE of a B-leg and reports its responses.
func (l *leg) dial(ctx context.Context, body []byte, results chan<- legResult) {
	c := l.c
	defer c.p.wg.Done()
	defer l.cancel()
	t := c.p.transportFor(l.binding.Transport)
	req := sip.NewRequest(sip.INVITE, *l.binding.Contact.Clone())
	req.SetTransport(strings.ToUpper(t.network))
	req.SetDestination(c.p.destination(l.binding))
	from := &sip.FromHeader{DisplayName: c.callerName, Address: sip.Uri{Scheme: "sip", User: c.caller, Host: c.p.domain}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	to := &sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: l.number, Host: c.p.domain}, Params: sip.NewParams()}
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
	err = sess.WaitAnswer(ctx, sipgo.AnswerOptions{OnResponse: func(res *sip.Response) error {
		if res.IsProvisional() {
			results <- legResult{leg: l, res: res}
		}
		return nil
	}})
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
	defer l.c.p.wg.Done()
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
