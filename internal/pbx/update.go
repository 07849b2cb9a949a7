package pbx

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/switchhook/switchhook/internal/media"
)

// relayTimeout bounds the wait for the other party's answer to a relayed
// in-dialog request (a re-INVITE may ring a user for a while).
const relayTimeout = 32 * time.Second

func (l *leg) clientSession() *sipgo.DialogClientSession {
	l.c.mu.Lock()
	defer l.c.mu.Unlock()
	return l.client
}

// dialog is the sipgo dialog of the leg.
func (l *leg) dialog() *sipgo.Dialog {
	if l.server != nil {
		return &l.server.Dialog
	}
	return &l.clientSession().Dialog
}

// contact is the PBX's Contact toward the party on the leg.
func (l *leg) contact() *sip.ContactHeader {
	network := l.target.transport
	if l.server != nil {
		network = l.server.InviteRequest.Transport()
	}
	return &l.c.p.transportFor(network).ua.ContactHDR
}

// request sends an in-dialog request to the party on the leg and waits for
// the final response.
func (l *leg) request(ctx context.Context, method sip.RequestMethod, contentType string, body []byte) (*sip.Response, error) {
	build := func(target sip.Uri) *sip.Request {
		req := sip.NewRequest(method, *target.Clone())
		if body != nil {
			req.AppendHeader(sip.NewHeader("Content-Type", contentType))
			req.SetBody(body)
		}
		return req
	}
	if l.server != nil {
		return l.server.Do(ctx, build(l.server.InviteRequest.Contact().Address))
	}
	cs := l.clientSession()
	target := cs.InviteRequest.Recipient
	if ct := cs.InviteResponse.Contact(); ct != nil {
		target = ct.Address
	}
	return cs.Do(ctx, build(target))
}

// ack acknowledges the 2xx of a re-INVITE the PBX sent on the leg.
func (l *leg) ack(res *sip.Response) error {
	if l.server != nil {
		return l.server.WriteRequest(sip.NewRequest(sip.ACK, *l.server.InviteRequest.Contact().Address.Clone()))
	}
	cs := l.clientSession()
	target := cs.InviteRequest.Recipient
	if ct := res.Contact(); ct != nil {
		target = ct.Address
	} else if ct := cs.InviteResponse.Contact(); ct != nil {
		target = ct.Address
	}
	return cs.WriteRequest(sip.NewRequest(sip.ACK, *target.Clone()))
}

// connected checks that the request on l belongs to the answered call and
// marks an offer in progress when offer is set; it answers the request
// itself and returns nil otherwise. c.mu must not be held.
func (c *call) connected(l *leg, req *sip.Request, tx sip.ServerTransaction, offer bool) *leg {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.state == stateEnded:
		respond(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", "")
		return nil
	case c.state != stateAnswered || (l != c.a && l != c.answered):
		respond(tx, req, sip.StatusRequestPending, "Request Pending", "the call is not answered yet")
		return nil
	case offer && c.updating:
		// Two offers crossing (RFC 3261 §14.2): the client retries.
		res := sip.NewResponseFromRequest(req, sip.StatusRequestPending, "Request Pending", nil)
		res.AppendHeader(sip.NewHeader("Retry-After", strconv.Itoa(1+rand.IntN(2))))
		tx.Respond(res)
		return nil
	}
	if offer {
		c.updating = true
	}
	return l.otherLocked()
}

func (c *call) doneUpdating() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.updating = false
}

// update relays an offer, in a re-INVITE or UPDATE from the party on l, to
// the other party and its answer back, moving the relay to the addresses
// they give and emitting CALL_HOLD or CALL_UNHOLD when the call changes.
func (c *call) update(l *leg, req *sip.Request, tx sip.ServerTransaction) {
	at := time.Now()
	other := c.connected(l, req, tx, true)
	if other == nil {
		return
	}
	defer c.doneUpdating()
	if err := l.dialog().ReadRequest(req, tx); err != nil {
		res := sip.NewResponseFromRequest(req, sip.StatusInternalServerError, "Server Internal Error", nil)
		res.AppendHeader(sip.NewHeader("Retry-After", strconv.Itoa(rand.IntN(10))))
		res.AppendHeader(warning(err.Error()))
		tx.Respond(res)
		return
	}
	if len(req.Body()) == 0 {
		// A session refresh without an offer: the description is
		// unchanged, so the PBX answers with its own, as it stands.
		c.mu.Lock()
		body := l.sdp
		c.mu.Unlock()
		c.respondSDP(l, req, tx, body)
		return
	}
	offer, err := media.ParseSDP(req.Body())
	var s media.Stream
	if err == nil {
		s, err = offer.Audio()
	}
	if err == nil {
		err = offer.KeepRelayable()
	}
	if err != nil {
		respond(tx, req, sip.StatusNotAcceptableHere, "Not Acceptable Here", err.Error())
		return
	}
	if other.internal {
		// The caller's offer to an IVR: the PBX plays on as it answered,
		// to wherever the caller now receives, and hold is seen as ever.
		c.mu.Lock()
		c.relay.SetRemote(l.side, s.Addr, s.EventRates())
		c.setHoldLocked(l, s.Held(), at)
		body := l.sdp
		c.mu.Unlock()
		c.respondSDP(l, req, tx, body)
		return
	}
	c.mu.Lock()
	body, err := c.sdpForLocked(other, offer)
	c.mu.Unlock()
	if err != nil {
		respond(tx, req, sip.StatusInternalServerError, "Server Internal Error", err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.p.ctx), relayTimeout)
	defer cancel()
	res, err := other.request(ctx, req.Method, "application/sdp", body)
	if err != nil {
		c.p.log.Info("relay offer", "call_uuid", c.id, "method", req.Method, "err", err)
		respond(tx, req, sip.StatusRequestTimeout, "Request Timeout", "the other party did not answer the offer")
		return
	}
	if !res.IsSuccess() {
		// The other party refused: the caller of the offer hears why,
		// and nothing changes.
		fwd := sip.NewResponseFromRequest(req, res.StatusCode, res.Reason, nil)
		if h := res.GetHeader("Retry-After"); h != nil {
			fwd.AppendHeader(sip.HeaderClone(h))
		}
		tx.Respond(fwd)
		return
	}
	if req.Method == sip.INVITE {
		if err := other.ack(res); err != nil {
			c.p.log.Info("ack relayed re-INVITE", "call_uuid", c.id, "err", err)
		}
	}
	answer, err := media.ParseSDP(res.Body())
	var as media.Stream
	if err == nil {
		as, err = answer.Audio()
	}
	if err != nil {
		c.p.log.Info("unusable answer to relayed offer", "call_uuid", c.id, "err", err)
		respond(tx, req, sip.StatusNotAcceptableHere, "Not Acceptable Here", "the other party answered with "+err.Error())
		return
	}
	c.mu.Lock()
	c.relay.SetRemote(other.side, as.Addr, as.EventRates())
	c.relay.SetRemote(l.side, s.Addr, s.EventRates())
	out, err := c.sdpForLocked(l, answer)
	if err == nil {
		c.setHoldLocked(l, s.Held(), at)
	}
	c.mu.Unlock()
	if err != nil {
		respond(tx, req, sip.StatusInternalServerError, "Server Internal Error", err.Error())
		return
	}
	c.respondSDP(l, req, tx, out)
}

func (c *call) respondSDP(l *leg, req *sip.Request, tx sip.ServerTransaction, body []byte) {
	res := sip.NewSDPResponseFromRequest(req, body)
	res.AppendHeader(l.contact())
	tx.Respond(res)
}

// info reports a DTMF digit a SIP INFO carries (diago would answer it 406)
// and relays the INFO, DTMF or not, to the other party.
func (c *call) info(l *leg, req *sip.Request, tx sip.ServerTransaction) {
	at := time.Now()
	other := c.connected(l, req, tx, false)
	if other == nil {
		return
	}
	if err := l.dialog().ReadRequest(req, tx); err != nil {
		respond(tx, req, sip.StatusInternalServerError, "Server Internal Error", err.Error())
		return
	}
	contentType := ""
	if ct := req.ContentType(); ct != nil {
		contentType = ct.Value()
	}
	if isDTMFInfo(contentType) {
		d, err := media.ParseINFO(contentType, req.Body())
		if err != nil {
			respond(tx, req, sip.StatusBadRequest, "Bad Request", err.Error())
			return
		}
		c.mu.Lock()
		c.inputLocked(l.side, d, at)
		c.mu.Unlock()
	}
	if other.internal {
		// An IVR takes the digit itself; there is no one to relay to.
		tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.p.ctx), relayTimeout)
	defer cancel()
	var body []byte
	if len(req.Body()) > 0 {
		body = req.Body()
	}
	res, err := other.request(ctx, sip.INFO, contentType, body)
	if err != nil {
		respond(tx, req, sip.StatusRequestTimeout, "Request Timeout", fmt.Sprintf("the other party did not answer the INFO: %v", err))
		return
	}
	tx.Respond(sip.NewResponseFromRequest(req, res.StatusCode, res.Reason, nil))
}

func isDTMFInfo(contentType string) bool {
	ct, _, _ := strings.Cut(strings.ToLower(contentType), ";")
	ct = strings.TrimSpace(ct)
	return ct == "application/dtmf-relay" || ct == "application/dtmf"
}
