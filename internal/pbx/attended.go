package pbx

import (
	"context"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/media"
	"github.com/switchhook/switchhook/internal/siphdr"
)

// msgReplace asks the owner of a consultation call to hand its callee over
// to the call whose callee transfers (RFC 5589 §7: an attended transfer)
// and to end.
type msgReplace struct {
	consult *dialogLeg // the transferor's dialog of the consultation call
	to      *call
	done    chan *dialogLeg // the callee handed over; nil when refused
	// gaveUp is closed when the transferring call stopped waiting.
	gaveUp chan struct{}
}

// msgReoffered is the answer to an offer the PBX made itself to a party
// (re-INVITE), to move its media to this call's relay.
type msgReoffered struct {
	leg *dialogLeg
	res *sip.Response
	err error
}

func (msgReplace) isMsg()   {}
func (msgReoffered) isMsg() {}

// handOverTimeout bounds the wait for a consultation call's owner.
const handOverTimeout = 5 * time.Second

// dialogNamed finds the leg whose dialog a Replaces names, with its call.
func (p *PBX) dialogNamed(r siphdr.Replaces) (*dialogLeg, *call) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range []string{sip.DialogIDMake(r.CallID, r.ToTag, r.FromTag), sip.DialogIDMake(r.CallID, r.FromTag, r.ToTag)} {
		if l, ok := p.dialogs[id]; ok {
			return l, l.c
		}
	}
	return nil, nil
}

// moveLeg moves l, and its dialog's place in the index, from call from to
// call to.
func (p *PBX) moveLeg(l *dialogLeg, from, to *call) {
	p.mu.Lock()
	defer p.mu.Unlock()
	id := l.dialog().ID
	for i, d := range from.dialogs {
		if d == id {
			from.dialogs = append(from.dialogs[:i], from.dialogs[i+1:]...)
			break
		}
	}
	to.dialogs = append(to.dialogs, id)
	l.c = to
}

// attended carries out an attended transfer by the callee: its REFER names,
// in a Replaces, its dialog of a consultation call. That call's callee
// becomes this call's: the caller is joined to it, the transferor is
// released on both dialogs, the consultation call ends ATTENDED_TRANSFER
// and this one goes on (CALL_UNHOLD if held, then CALL_ANSWER of the
// target, diversion_reason attended_transfer: it answered already).
func (c *call) attended(r *request, x *transfer, rp siphdr.Replaces) state {
	l := r.leg
	target, oc := c.takeConsultation(x, rp)
	if target == nil {
		return c.state
	}
	c.xfer = x
	c.p.log.Debug("attended transfer", "call_uuid", c.id, "from", l.number, "to", target.number, "consultation", oc.id)
	now := time.Now()
	c.unholdFor(l, now)
	l.state = LegDone
	// A queue's agent who transfers the call is done with it, as after a
	// blind transfer: its wrapup starts.
	c.leaveQueue()
	c.legs = append(c.legs, target)
	c.br.join(media.SideB, target)
	c.diversion = &events.Diversion{From: l.number, Reason: events.DivertAttendedTransfer}
	c.dest = target.number
	c.emit(c.event(events.CallAnswer, now, target.number, target))
	c.transferOver(sip.StatusOK, "OK")
	// Both parties' media move to this call's relay: the target's from the
	// consultation call's, the caller's off hold.
	c.reoffer(target)
	c.reoffer(c.a)
	c.dirty = true
	return stateConnected
}

// takeConsultation takes to this call the callee of the consultation call
// whose dialog rp names; when there is none to take, the transferor is
// told 481 (RFC 3891 §3) and the leg is nil.
func (c *call) takeConsultation(x *transfer, rp siphdr.Replaces) (*dialogLeg, *call) {
	var target *dialogLeg
	other, oc := c.p.dialogNamed(rp)
	if other != nil && oc != c {
		target = c.handOver(other, oc, c)
	}
	if target == nil {
		x.report(sipfrag{code: sip.StatusCallTransactionDoesNotExists, reason: "Call/Transaction Does Not Exist"})
	}
	return target, oc
}

// handOver asks the owner of oc, whose caller's dialog is consult, for its
// callee, to join call to; nil when it did not give it in time.
func (c *call) handOver(consult *dialogLeg, oc, to *call) *dialogLeg {
	done, gaveUp := make(chan *dialogLeg, 1), make(chan struct{})
	if !oc.post(msgReplace{consult: consult, to: to, done: done, gaveUp: gaveUp}) {
		return nil
	}
	select {
	case t := <-done:
		return t
	case <-oc.done:
		return nil
	case <-time.After(handOverTimeout):
		close(gaveUp)
		// It may have handed its callee over as the wait ended.
		select {
		case t := <-done:
			return t
		default:
			return nil
		}
	}
}

// replaced hands this consultation call's callee over to the call of m and
// ends this call: ATTENDED_TRANSFER, by the transferor (its caller), who
// gets BYE; the callee, now the other call's, gets none.
func (c *call) replaced(m msgReplace) state {
	t, ok := c.br.ends[media.SideB].(*dialogLeg)
	if m.consult != c.a || !ok || t.client == nil {
		m.done <- nil
		return c.state
	}
	if !c.acked {
		c.pendingReplace = &m
		return c.state
	}
	select {
	case <-m.gaveUp:
		m.done <- nil
		return c.state
	default:
	}
	c.br.join(media.SideB, nil)
	c.p.moveLeg(t, c, m.to)
	m.done <- t
	return c.terminate(ended{Hangup: events.Hangup{Cause: events.CauseAttendedTransfer, SIPCode: sip.StatusOK, By: events.Caller}})
}

// reoffer sends the party on l a re-INVITE whose offer is the caller's
// description as the PBX relays it, pointing at this call's relay, on a
// goroutine of its own; msgReoffered brings the answer back.
func (c *call) reoffer(l *dialogLeg) {
	if l == c.a && c.callerAnswered && !c.acked {
		// Not before the caller's ACK (RFC 3261 §14.1); anyState makes
		// the offer once it came.
		c.reofferCaller = true
		return
	}
	body, err := c.sdpFor(l, c.offer)
	if err != nil {
		c.p.log.Info("reoffer", "call_uuid", c.id, "leg_uuid", l.id, "err", err)
		return
	}
	c.p.wg.Add(1)
	go func() {
		defer c.p.wg.Done()
		ctx, cancel := context.WithTimeout(c.ctx, relayTimeout)
		defer cancel()
		res, err := l.request(ctx, sip.INVITE, "application/sdp", body)
		if err == nil && res.IsSuccess() {
			if err := l.ack(res); err != nil {
				c.p.log.Info("ack reoffer", "call_uuid", c.id, "err", err)
			}
		}
		c.post(msgReoffered{leg: l, res: res, err: err})
	}()
}

// reoffered points the relay at what the party answered the PBX's offer.
func (c *call) reoffered(m msgReoffered) state {
	side, ok := c.br.sideOf(m.leg)
	switch {
	case !ok:
		return c.state
	case m.err != nil || !m.res.IsSuccess():
		c.p.log.Info("party refused to move its media", "call_uuid", c.id, "leg_uuid", m.leg.id, "err", m.err)
		return c.state
	}
	d, err := media.ParseSDP(m.res.Body())
	var s media.Stream
	if err == nil {
		s, err = d.Audio()
	}
	if err != nil {
		c.p.log.Info("unusable answer to the PBX's offer", "call_uuid", c.id, "err", err)
		return c.state
	}
	c.br.setMedia(side, s)
	return c.state
}

// msgInviteReplaces asks a call's owner to put the phone of an INVITE with
// Replaces (RFC 3891) in the place of the callee leg it names.
type msgInviteReplaces struct {
	leg      *dialogLeg // the new party: its INVITE's dialog, on side B
	offer    *media.Description
	replaced *dialogLeg
	done     chan []byte // the SDP answering the INVITE; nil when refused
}

func (msgInviteReplaces) isMsg() {}

// inviteReplaces serves an INVITE of extension user that asks to take over
// a dialog (RFC 3891): one naming no dialog of the PBX is refused 481, as
// §3 says; one naming the callee's dialog of an answered call puts the new
// phone in the callee's place (an attended transfer completed by the
// target, or a takeover): the callee named gets BYE, and the call goes on
// (CALL_UNHOLD if held, CALL_ANSWER of the new party with diversion_reason
// attended_transfer). Like a caller's, the INVITE's goroutine stays until
// the call is over.
func (p *PBX) inviteReplaces(req *sip.Request, tx sip.ServerTransaction, user, value string, offer *media.Description) {
	rp, err := siphdr.ParseReplaces(value)
	if err != nil {
		respond(tx, req, sip.StatusBadRequest, "Bad Request", err.Error())
		return
	}
	l, c := p.dialogNamed(rp)
	if l == nil {
		respond(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", "the Replaces names no dialog of the PBX")
		return
	}
	sess, err := p.transportFor(req.Transport()).ua.ReadInvite(req, tx)
	if err != nil {
		respond(tx, req, sip.StatusBadRequest, "Bad Request", err.Error())
		return
	}
	nl := newDialogLeg(c, user, events.Callee, LegRinging)
	nl.server = sess
	done := make(chan []byte, 1)
	var body []byte
	if c.post(msgInviteReplaces{leg: nl, offer: offer, replaced: l, done: done}) {
		select {
		case body = <-done:
		case <-c.done:
		}
	}
	if body == nil {
		if err := sess.Respond(sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil, warning("the dialog named is no answered callee's")); err != nil {
			p.log.Debug("refuse replaces", "err", err)
		}
		return
	}
	if err := sess.RespondSDP(body); err != nil {
		p.log.Info("answer replacing party", "call_uuid", c.id, "err", err)
	}
	<-c.done
}

// replacedBy puts the party of m in the place of the callee it replaces.
func (c *call) replacedBy(m msgInviteReplaces) state {
	old, l := m.replaced, m.leg
	side, ok := c.br.sideOf(old)
	if !ok || side != media.SideB {
		m.done <- nil
		return c.state
	}
	stream, err := m.offer.Audio()
	var answer []byte
	if err == nil {
		answer, err = c.sdpFor(l, c.offer)
	}
	if err != nil {
		c.p.log.Info("replacing party's offer", "call_uuid", c.id, "err", err)
		m.done <- nil
		return c.state
	}
	now := time.Now()
	held := c.unholdFor(old, now)
	old.state = LegDone
	// A queue's agent whose place the new party takes is done with the
	// call: its wrapup starts.
	c.leaveQueue()
	c.legs = append(c.legs, l)
	c.br.setMedia(media.SideB, stream)
	c.br.join(media.SideB, l)
	l.state = LegAnswered
	c.diversion = &events.Diversion{From: old.number, Reason: events.DivertAttendedTransfer}
	c.dest = l.number
	c.emit(c.event(events.CallAnswer, now, l.number, l))
	c.p.addDialog(l.server.ID, l)
	c.hangupLeg(old)
	m.done <- answer
	if held {
		c.reoffer(c.a)
	}
	c.dirty = true
	return c.state
}
