package pbx

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/media"
)

// relayTimeout bounds the wait for the other party's answer to a relayed
// in-dialog request (a re-INVITE may ring a user for a while).
const relayTimeout = 32 * time.Second

// inDialog handles a request of a party bridged in an answered call.
func (c *call) inDialog(r *request) state {
	if c.fromTransferor(r) {
		return c.state
	}
	side, ok := c.br.sideOf(r.leg)
	if !ok {
		r.reply(sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", "")
		return c.state
	}
	switch r.req.Method {
	case sip.BYE:
		return c.byeFrom(r)
	case sip.INFO:
		return c.info(r, side)
	case sip.REFER:
		return c.refer(r, side)
	}
	c.offerFrom(r, side)
	return c.state
}

// offerFrom relays an offer, in a re-INVITE or UPDATE from the party on
// side, to the other end of the bridge; msgRelayed brings its answer back.
// An app leg answers it at once: the PBX plays on as it answered, to
// wherever the party now receives.
func (c *call) offerFrom(r *request, side media.Side) {
	l := r.leg
	if side == media.SideB && c.callerAnswered && !c.acked && c.a.server != nil {
		// The caller has not acknowledged its answer yet: its INVITE
		// transaction is not over, and no new one may start in its dialog
		// (RFC 3261 §14.1). The offer waits for the ACK.
		c.waitingOffers = append(c.waitingOffers, r)
		return
	}
	if c.br.updating {
		// Two offers crossing (RFC 3261 §14.2): the client retries.
		res := sip.NewResponseFromRequest(r.req, sip.StatusRequestPending, "Request Pending", nil)
		res.AppendHeader(sip.NewHeader("Retry-After", strconv.Itoa(1+rand.IntN(2))))
		r.respond(res)
		return
	}
	if err := l.dialog().ReadRequest(r.req, r.tx); err != nil {
		res := sip.NewResponseFromRequest(r.req, sip.StatusInternalServerError, "Server Internal Error", nil)
		res.AppendHeader(sip.NewHeader("Retry-After", strconv.Itoa(rand.IntN(10))))
		res.AppendHeader(warning(err.Error()))
		r.respond(res)
		return
	}
	se, timer, ok := c.p.checkSessionExpires(r.req, r.respond)
	if !ok {
		return
	}
	if timer {
		r.se = &se
	}
	if len(r.req.Body()) == 0 {
		// A session refresh without an offer: the description is
		// unchanged. An UPDATE gets no answer body (RFC 3311 §5.2); a
		// re-INVITE gets the PBX's description, as it stands, as its
		// offer.
		if r.req.Method == sip.UPDATE {
			res := sip.NewResponseFromRequest(r.req, sip.StatusOK, "OK", nil)
			res.AppendHeader(l.contact())
			c.refreshedBy(r, res)
			r.respond(res)
			return
		}
		c.respondSDP(r, l.sdp)
		return
	}
	offer, err := media.ParseSDP(r.req.Body())
	var s media.Stream
	if err == nil {
		s, err = offer.Audio()
	}
	if err == nil {
		err = offer.KeepRelayable()
	}
	if err != nil {
		r.reply(sip.StatusNotAcceptableHere, "Not Acceptable Here", err.Error())
		return
	}
	other, ok := c.br.other(side).(*dialogLeg)
	if !ok {
		c.br.setMedia(side, s)
		c.setHold(l, s.Held(), r.at)
		c.respondSDP(r, l.sdp)
		return
	}
	body, err := c.sdpFor(other, offer)
	if err != nil {
		r.reply(sip.StatusInternalServerError, "Server Internal Error", err.Error())
		return
	}
	c.br.updating = true
	c.relayRequest(r, other, s, "application/sdp", body)
}

// relayRequest sends r's method to the party on to, on a goroutine of its
// own so the owner goes on meanwhile, and posts the answer back. A call
// that ends meanwhile cancels it; when the owner is gone, the request is
// answered here.
func (c *call) relayRequest(r *request, to *dialogLeg, offer media.Stream, contentType string, body []byte) {
	c.p.wg.Add(1)
	go func() {
		defer c.p.wg.Done()
		ctx, cancel := context.WithTimeout(c.ctx, relayTimeout)
		defer cancel()
		res, err := to.request(ctx, r.req.Method, contentType, body)
		if err == nil && res.IsSuccess() && r.req.Method == sip.INVITE {
			if err := to.ack(res); err != nil {
				c.p.log.Info("ack relayed re-INVITE", "call_uuid", c.id, "err", err)
			}
		}
		if !c.post(msgRelayed{r: r, to: to, offer: offer, res: res, err: err}) {
			r.reply(sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", "")
		}
	}()
}

// onRelayed answers a relayed request with what the other party answered;
// for an offer, it moves the relay to the addresses both parties gave and
// emits CALL_HOLD or CALL_UNHOLD when the call changes.
func (c *call) onRelayed(m msgRelayed) state {
	r := m.r
	if r.req.Method == sip.INFO {
		if m.err != nil {
			r.reply(sip.StatusRequestTimeout, "Request Timeout", fmt.Sprintf("the other party did not answer the INFO: %v", m.err))
			return c.state
		}
		r.respond(sip.NewResponseFromRequest(r.req, m.res.StatusCode, m.res.Reason, nil))
		return c.state
	}
	c.br.updating = false
	side, ok := c.br.sideOf(r.leg)
	if !ok || c.br.other(side) != Leg(m.to) {
		r.reply(sip.StatusRequestTimeout, "Request Timeout", "the call changed while the offer was relayed")
		return c.state
	}
	if m.err != nil {
		c.p.log.Info("relay offer", "call_uuid", c.id, "method", r.req.Method, "err", m.err)
		r.reply(sip.StatusRequestTimeout, "Request Timeout", "the other party did not answer the offer")
		return c.state
	}
	if !m.res.IsSuccess() {
		// The other party refused: the party that offered hears why, and
		// nothing changes.
		fwd := sip.NewResponseFromRequest(r.req, m.res.StatusCode, m.res.Reason, nil)
		if h := m.res.GetHeader("Retry-After"); h != nil {
			fwd.AppendHeader(sip.HeaderClone(h))
		}
		r.respond(fwd)
		return c.state
	}
	answer, err := media.ParseSDP(m.res.Body())
	var as media.Stream
	if err == nil {
		as, err = answer.Audio()
	}
	if err != nil {
		c.p.log.Info("unusable answer to relayed offer", "call_uuid", c.id, "err", err)
		r.reply(sip.StatusNotAcceptableHere, "Not Acceptable Here", "the other party answered with "+err.Error())
		return c.state
	}
	c.br.setMedia(1-side, as)
	c.br.setMedia(side, m.offer)
	out, err := c.sdpFor(r.leg, answer)
	if err != nil {
		r.reply(sip.StatusInternalServerError, "Server Internal Error", err.Error())
		return c.state
	}
	c.setHold(r.leg, m.offer.Held(), r.at)
	c.respondSDP(r, out)
	if m.to.st != nil {
		// The other party's 2xx refreshed its session too.
		c.armSession(m.to)
	}
	return c.state
}

// respondSDP answers r 200 with body.
func (c *call) respondSDP(r *request, body []byte) {
	res := sip.NewSDPResponseFromRequest(r.req, body)
	res.AppendHeader(r.leg.contact())
	c.refreshedBy(r, res)
	r.respond(res)
}

// refreshedBy renews the session timer of r's party, whose re-INVITE or
// UPDATE res answers 2xx (RFC 4028 §10: any such 2xx refreshes), taking
// on what the request asked and saying so in res.
func (c *call) refreshedBy(r *request, res *sip.Response) {
	l := r.leg
	if r.se != nil {
		l.st = uasSession(r.req, *r.se)
		for _, h := range l.st.uasHeaders() {
			res.AppendHeader(h)
		}
	}
	if l.st != nil {
		c.armSession(l)
	}
}

// info reports a DTMF digit a SIP INFO carries (diago would answer it 406)
// and relays the INFO, DTMF or not, to the other party; an app leg takes
// the digit itself.
func (c *call) info(r *request, side media.Side) state {
	if err := r.leg.dialog().ReadRequest(r.req, r.tx); err != nil {
		r.reply(sip.StatusInternalServerError, "Server Internal Error", err.Error())
		return c.state
	}
	contentType := ""
	if ct := r.req.ContentType(); ct != nil {
		contentType = ct.Value()
	}
	other, relayed := c.br.other(side).(*dialogLeg)
	next := c.state
	if isDTMFInfo(contentType) {
		d, err := media.ParseINFO(contentType, r.req.Body())
		if err != nil {
			r.reply(sip.StatusBadRequest, "Bad Request", err.Error())
			return c.state
		}
		if !relayed {
			// Answer before the app leg acts on the digit: what it does
			// next (an IVR routing) may take a while.
			r.respond(sip.NewResponseFromRequest(r.req, sip.StatusOK, "OK", nil))
		}
		next = c.input(side, d, r.at)
	}
	if !relayed {
		r.respond(sip.NewResponseFromRequest(r.req, sip.StatusOK, "OK", nil))
		return next
	}
	var body []byte
	if len(r.req.Body()) > 0 {
		body = r.req.Body()
	}
	c.relayRequest(r, other, media.Stream{}, contentType, body)
	return next
}

func isDTMFInfo(contentType string) bool {
	ct, _, _ := strings.Cut(strings.ToLower(contentType), ";")
	ct = strings.TrimSpace(ct)
	return ct == "application/dtmf-relay" || ct == "application/dtmf"
}

// input reports a digit from the party on side as CALL_INPUT; an IVR
// listening to the caller takes it as its choice.
func (c *call) input(side media.Side, d media.Digit, at time.Time) state {
	l := c.br.ends[side]
	if l == nil {
		return c.state
	}
	e := c.event(events.CallInput, at, c.currentCallee(), l)
	e.Digit, e.DigitDuration, e.Party = d.Digit, d.Duration, l.Party()
	c.emit(e)
	if c.ivr != nil && side == media.SideA {
		return c.ivrChose(d.Digit)
	}
	return c.state
}

// setHold records whether the party on l holds the call and emits
// CALL_HOLD or CALL_UNHOLD when the call as a whole changes: held while
// either party holds.
func (c *call) setHold(l Leg, held bool, at time.Time) {
	if _, ok := c.br.sideOf(l); !ok {
		return
	}
	c.p.setHolding(l.Number(), c, at, held)
	kind := c.br.holds.Set(l.Party(), held)
	if kind == "" {
		return
	}
	e := c.event(kind, at, c.currentCallee(), l)
	e.Party = l.Party()
	c.emit(e)
	c.dirty = true
}
