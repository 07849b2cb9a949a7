package pbx

import (
	"fmt"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/switchhook/switchhook/internal/dialplan"
	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/media"
)

// msgPickup asks a ringing call's owner to connect its caller to another
// extension's phone, whose INVITE dialled a pickup code.
type msgPickup struct {
	leg   *dialogLeg // the picker: its INVITE's dialog, on side B
	offer *media.Description
	from  string // the extension whose ringing is picked up
	done  chan pickupResult
}

// pickupResult is the owner's answer to a pickup: the SDP to answer the
// picker with, or ok false when the call no longer rings.
type pickupResult struct {
	body []byte
	ok   bool
}

func (msgPickup) isMsg() {}

// pickup serves an INVITE of extension picker that dialled a pickup code:
// the oldest call ringing the extension it names (directed) or a member of
// its pickup group is answered by the picker's phone. The picker's own
// dialling is not a call: it emits nothing, and with nothing to pick up it
// is answered 404. Like a caller's, the INVITE's goroutine stays until the
// call is over, since sipgo ends a transaction its handler returns from.
func (p *PBX) pickup(req *sip.Request, tx sip.ServerTransaction, picker string, want dialplan.Pickup, offer *media.Description) {
	nothing := func(why string) { respond(tx, req, sip.StatusNotFound, "Not Found", why) }
	id, ext, ok := p.conf().plan.PickupTarget(picker, want, p.ringingCalls())
	if !ok {
		nothing("no call is ringing that this extension may pick up")
		return
	}
	p.mu.Lock()
	c := p.calls[id]
	p.mu.Unlock()
	if c == nil {
		nothing("the ringing call ended")
		return
	}
	sess, err := p.transportFor(req.Transport()).ua.ReadInvite(req, tx)
	if err != nil {
		respond(tx, req, sip.StatusBadRequest, "Bad Request", err.Error())
		return
	}
	l := newDialogLeg(c, picker, events.Callee, LegRinging)
	l.server = sess
	done := make(chan pickupResult, 1)
	var res pickupResult
	if c.post(msgPickup{leg: l, offer: offer, from: ext, done: done}) {
		select {
		case res = <-done:
		case <-c.done:
		}
	}
	if !res.ok {
		if err := sess.Respond(sip.StatusNotFound, "Not Found", nil, warning("the ringing call was answered or ended")); err != nil {
			p.log.Debug("refuse pickup", "err", err)
		}
		return
	}
	if err := sess.RespondSDP(res.body); err != nil {
		// The caller is connected to a picker that did not take the
		// answer: its BYE, or the media watch, ends the call.
		p.log.Info("answer picker", "call_uuid", c.id, "picker", picker, "err", err)
	}
	<-c.done
}

// ringingCalls lists the calls ringing extensions now, from the views the
// calls' owners publish.
func (p *PBX) ringingCalls() []dialplan.RingingCall {
	p.mu.Lock()
	calls := make([]*call, 0, len(p.calls))
	for _, c := range p.calls {
		calls = append(calls, c)
	}
	p.mu.Unlock()
	var out []dialplan.RingingCall
	for _, c := range calls {
		rc := dialplan.RingingCall{ID: c.id, Caller: c.caller, Since: c.created}
		for _, ch := range c.channels() {
			if ch.Party == events.Callee && (ch.State == LegRinging.String() || ch.State == LegEarly.String()) {
				if _, ext := p.conf().exts[ch.Number]; ext {
					rc.Ringing = append(rc.Ringing, ch.Number)
				}
			}
		}
		if len(rc.Ringing) > 0 {
			out = append(out, rc)
		}
	}
	return out
}

// pickedUp connects the caller of a ringing call to the picker of m: the
// legs ringing are cancelled and the call goes on answered by the picker,
// CALL_ANSWER saying so (diversion_reason pickup).
func (c *call) pickedUp(m msgPickup) state {
	l := m.leg
	refuse := func(err error) state {
		c.p.log.Info("pickup refused", "call_uuid", c.id, "picker", l.number, "err", err)
		m.done <- pickupResult{}
		return c.state
	}
	if c.round == nil {
		return refuse(fmt.Errorf("the call rings nobody now"))
	}
	stream, err := m.offer.Audio()
	if err != nil {
		return refuse(err)
	}
	answer, err := c.sdpFor(l, c.offer)
	if err != nil {
		return refuse(err)
	}
	var body []byte
	if !c.callerAnswered {
		if body, err = c.sdpFor(c.a, m.offer); err != nil {
			return refuse(err)
		}
	}
	c.cancelLegs(nil)
	c.stopTimer(timerRing)
	c.stopPlay()
	c.round = nil
	c.legs = append(c.legs, l)
	c.br.setMedia(media.SideB, stream)
	c.br.join(media.SideB, l)
	c.answeredAt = time.Now()
	l.state, c.a.state = LegAnswered, LegAnswered
	c.diversion = &events.Diversion{From: m.from, Reason: events.DivertPickup}
	c.emit(c.event(events.CallAnswer, c.answeredAt, l.number, l))
	c.p.addDialog(l.server.ID, l)
	if !c.callerAnswered {
		c.answerCaller(body)
	}
	m.done <- pickupResult{body: answer, ok: true}
	c.dirty = true
	return stateConnected
}
