package pbx

import (
	"context"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/switchhook/switchhook/internal/dialplan"
	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/media"
	"github.com/switchhook/switchhook/internal/siphdr"
)

// transfer is a blind transfer under way (RFC 3515, RFC 5589 §6): the
// transferor, out of the bridge, hears of the target's progress in
// NOTIFYs with message/sipfrag bodies and is released with BYE once the
// target answered or failed.
type transfer struct {
	from  *dialogLeg
	notes chan sipfrag // to the notifier, in order; closed after the final one
	final bool         // the final status is on its way
	gone  bool         // the transferor sent BYE itself
}

// sipfrag is one status line reported to the transferor; release sends it
// BYE after it (a final status of a transfer that went ahead).
type sipfrag struct {
	code    int
	reason  string
	release bool
}

// refer handles a REFER from the party on side, in an answered call. A
// REFER without Replaces from the callee is a blind transfer: the target is
// routed as the callee would dial it, the caller hears ringback, and the
// same call goes on with the target (diversion_reason transfer).
func (c *call) refer(r *request, side media.Side) state {
	l := r.leg
	rt, err := siphdr.ReferToOf(r.req)
	if err != nil {
		r.reply(sip.StatusBadRequest, "Bad Request", err.Error())
		return c.state
	}
	switch {
	case c.xfer != nil:
		r.reply(sip.StatusRequestPending, "Request Pending", "a transfer of this call is under way")
		return c.state
	}
	if err := l.dialog().ReadRequest(r.req, r.tx); err != nil {
		r.reply(sip.StatusInternalServerError, "Server Internal Error", err.Error())
		return c.state
	}
	res := sip.NewResponseFromRequest(r.req, sip.StatusAccepted, "Accepted", nil)
	res.AppendHeader(l.contact())
	r.respond(res)
	x := c.notifier(l, r.req.CSeq().SeqNo)
	if rt.Replaces != nil && side == media.SideA {
		return c.callerAttended(x, *rt.Replaces)
	}
	if rt.Replaces != nil {
		return c.attended(r, x, *rt.Replaces)
	}
	route, ok := c.p.conf().plan.Route(rt.Target)
	if ok && side == media.SideA {
		return c.callerTransfer(x, rt.Target, route)
	}
	if !ok {
		// Nothing to transfer to: the transferor hears why, and the call
		// goes on as it was.
		x.report(sipfrag{code: sip.StatusNotFound, reason: "Not Found"})
		return c.state
	}
	c.xfer = x
	x.report(sipfrag{code: sip.StatusTrying, reason: "Trying"})
	c.p.log.Debug("blind transfer", "call_uuid", c.id, "from", l.number, "to", rt.Target)
	if c.unholdFor(l, r.at) {
		// The caller's phone still thinks it is held: offer it the media
		// again, so that it hears the ringback and then the target.
		c.reoffer(c.a)
	}
	c.br.join(media.SideB, nil)
	l.state = LegDone
	// A queue's agent who transfers the call is done with it: its wrapup
	// starts.
	c.leaveQueue()
	c.diversion = &events.Diversion{From: l.number, Reason: events.DivertTransfer}
	c.path = dialplan.Path{rt.Target}
	c.dest = rt.Target
	if route.Gateway != "" {
		c.dest = route.Number
	}
	c.dirty = true
	c.startRoute(route)
	return c.walk()
}

// unholdFor ends the hold of a call its party on l transfers, emitting
// CALL_UNHOLD by that party: a transferor holds the caller to transfer it,
// and the call is no longer held once it moves on. It reports whether the
// call was held.
func (c *call) unholdFor(l *dialogLeg, at time.Time) bool {
	if !c.br.holds.Held() {
		return false
	}
	c.br.holds.Clear()
	c.p.setHolding(l.number, c, at, false)
	e := c.event(events.CallUnhold, at, c.currentCallee(), l)
	e.Party = l.Party()
	c.emit(e)
	return true
}

// notifier starts the goroutine that sends the transferor's NOTIFYs in
// order, for the REFER of CSeq cseq.
func (c *call) notifier(l *dialogLeg, cseq uint32) *transfer {
	x := &transfer{from: l, notes: make(chan sipfrag, 4)}
	event := siphdr.ReferEvent(cseq)
	c.p.wg.Add(1)
	go func() {
		defer c.p.wg.Done()
		for n := range x.notes {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(c.p.ctx), byeTimeout)
			_, err := l.request(ctx, sip.NOTIFY, siphdr.SipfragType, siphdr.Sipfrag(n.code, n.reason),
				sip.NewHeader("Event", event), sip.NewHeader("Subscription-State", siphdr.NotifyState(n.code)))
			if err != nil {
				c.p.log.Debug("notify transferor", "call_uuid", c.id, "status", n.code, "err", err)
			}
			if n.release {
				if err := l.hangup(ctx); err != nil {
					c.p.log.Debug("release transferor", "call_uuid", c.id, "err", err)
				}
			}
			cancel()
		}
	}()
	return x
}

// report queues a status for the transferor; a final one is the last.
func (x *transfer) report(n sipfrag) {
	if x.final {
		return
	}
	if n.code >= 200 {
		x.final = true
		n.release = n.release && !x.gone
		x.notes <- n
		close(x.notes)
		return
	}
	x.notes <- n
}

// transferOver tells the transferor of a transfer under way how it ended:
// 200 once the target answered, else the call's failure; it is released.
func (c *call) transferOver(code int, reason string) {
	if c.xfer == nil {
		return
	}
	c.xfer.report(sipfrag{code: code, reason: reason, release: true})
}

// fromTransferor handles a request of a transferor released from the
// bridge; handled is false for a request of any other leg.
func (c *call) fromTransferor(r *request) (handled bool) {
	if c.xfer == nil || r.leg != c.xfer.from {
		return false
	}
	if r.req.Method == sip.BYE {
		c.xfer.gone = true
		if err := r.readBye(); err != nil {
			c.p.log.Debug("read transferor's bye", "call_uuid", c.id, "err", err)
		}
		return true
	}
	r.reply(sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", "the call was transferred")
	return true
}
