package pbx

import (
	"time"

	"github.com/switchhook/switchhook/internal/siphdr"

	"github.com/emiago/sipgo/sip"

	"github.com/switchhook/switchhook/internal/dialplan"
	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/media"
)

// msgMoved starts the call a caller's transfer leaves behind: its caller is
// the party who stayed, answered already; joined, for an attended transfer,
// is the consultation call's callee, answered already too.
type msgMoved struct{ joined *dialogLeg }

func (msgMoved) isMsg() {}

// callerTransfer carries out a blind transfer by the caller (RFC 5589 §6,
// the transferor being the caller): the caller leaves, so this call ends
// BLIND_TRANSFER by the caller, and the party who stayed calls the target
// in a new call of the same session, its caller_id_number the stayed
// party's. The transferor hears 100 and 200 in NOTIFYs and is released.
func (c *call) callerTransfer(x *transfer, target string, route dialplan.Route) state {
	n, stayed, f := c.stayedCall(target, route)
	if n == nil {
		x.report(f)
		return c.state
	}
	return c.callerLeaves(x, n, stayed, nil, events.CauseBlindTransfer)
}

// stayedCall makes, without starting it, the new call of the party who
// stays when the caller transfers: to number, by route, in this call's
// session. A nil call comes with the status to report to the transferor.
func (c *call) stayedCall(number string, route dialplan.Route) (*call, *dialogLeg, sipfrag) {
	stayed, ok := c.br.ends[media.SideB].(*dialogLeg)
	if !ok || stayed.client == nil {
		return nil, nil, sipfrag{code: sip.StatusNotImplemented, reason: "Not Implemented"}
	}
	offer, err := media.ParseSDP(stayed.client.InviteResponse.Body())
	if err == nil {
		err = offer.KeepRelayable()
	}
	if err != nil {
		c.p.log.Info("caller's transfer: the party who stays has no usable description", "call_uuid", c.id, "err", err)
		return nil, nil, sipfrag{code: sip.StatusNotAcceptableHere, reason: "Not Acceptable Here"}
	}
	dir := events.Internal
	if route.Target.Type == events.Gateway {
		dir = events.Outbound
	}
	n := newCall(c.p, stayed.number, "", number, route, dir)
	n.session = c.session
	n.offer = offer
	// The party who stays keeps its dialog, now as the new call's caller.
	a := n.a
	a.client, a.target, a.origin, a.sdp, a.st = stayed.client, stayed.target, stayed.origin, stayed.sdp, stayed.st
	a.state = LegAnswered
	return n, stayed, sipfrag{}
}

// callerLeaves ends this call as its caller transferred it (cause), the
// transferor hearing 100 and 200 in NOTIFYs and released after them, and
// starts n, the call of the party who stayed, joined to joined for an
// attended transfer.
func (c *call) callerLeaves(x *transfer, n *call, stayed, joined *dialogLeg, cause string) state {
	if !c.p.addCall(n) {
		n.stop()
		x.report(sipfrag{code: sip.StatusServiceUnavailable, reason: "Service Unavailable"})
		return c.state
	}
	c.p.rehome(stayed, n.a)
	c.xfer = x
	x.report(sipfrag{code: sip.StatusTrying, reason: "Trying"})
	x.report(sipfrag{code: sip.StatusOK, reason: "OK", release: true})
	c.br.join(media.SideB, nil)
	c.dest = stayed.number
	c.p.log.Debug("transfer by the caller", "call_uuid", c.id, "cause", cause, "stays", stayed.number, "to", n.dialed, "new_call_uuid", n.id)
	go func() {
		defer c.p.wg.Done()
		n.run(msgMoved{joined: joined})
	}()
	// The notifier releases the transferor after its last NOTIFY.
	return c.terminate(ended{Hangup: events.Hangup{Cause: cause, SIPCode: sip.StatusOK, By: events.Caller}, left: c.a})
}

// callerAttended carries out an attended transfer by the caller: its REFER
// names, in a Replaces, its dialog of a consultation call. That call's
// callee and the party who stayed here become a new call of the session,
// answered already (CALL_ROUTED, CALL_ANSWER); this call and the
// consultation call end ATTENDED_TRANSFER.
func (c *call) callerAttended(x *transfer, rp siphdr.Replaces) state {
	joined, _ := c.takeConsultation(x, rp)
	if joined == nil {
		return c.state
	}
	route, ok := c.p.conf().plan.Route(joined.number)
	if !ok {
		route = dialplan.Route{Target: events.Target{Type: events.Extension, Target: joined.number}}
	}
	n, stayed, f := c.stayedCall(joined.number, route)
	if n == nil {
		// The consultation call is over already: its callee, joined to
		// nobody, is released.
		c.hangupLeg(joined)
		x.report(f)
		return c.state
	}
	c.p.moveLeg(joined, c, n)
	return c.callerLeaves(x, n, stayed, joined, events.CauseAttendedTransfer)
}

// rehome gives the dialog of leg from, of another call, to leg to.
func (p *PBX) rehome(from, to *dialogLeg) {
	p.mu.Lock()
	defer p.mu.Unlock()
	id := from.dialog().ID
	old := from.c
	for i, d := range old.dialogs {
		if d == id {
			old.dialogs = append(old.dialogs[:i], old.dialogs[i+1:]...)
			break
		}
	}
	p.dialogs[id] = to
	to.c.dialogs = append(to.c.dialogs, id)
}

// routeMoved starts the call a caller's transfer left behind: CALL_ROUTED,
// the stayed party's media moved to a relay of this call (re-INVITE), and
// the target's route; the stayed party hears ringback meanwhile.
func (c *call) routeMoved(joined *dialogLeg) state {
	c.callerAnswered, c.acked = true, true
	e := c.event(events.CallRouted, c.created, c.dialed, c.a)
	e.RoutedTo = &c.route.Target
	c.emit(e)
	relay, err := c.p.ports.NewRelay(c.onDTMF)
	if err != nil {
		c.p.log.Error("allocate media relay", "call_uuid", c.id, "err", err)
		return c.fail(failure{sip.StatusServiceUnavailable, "Service Unavailable", events.CauseNormalTemporaryFailure, events.System})
	}
	if err := relay.Start(); err != nil {
		relay.Close()
		c.p.log.Error("start media relay", "call_uuid", c.id, "err", err)
		return c.fail(failure{sip.StatusServiceUnavailable, "Service Unavailable", events.CauseNormalTemporaryFailure, events.System})
	}
	c.br = newBridge(relay, c.a)
	c.answeredAt = time.Now()
	c.reoffer(c.a)
	c.watchMedia()
	if joined != nil {
		// An attended transfer: the target answered already.
		c.legs = append(c.legs, joined)
		c.br.join(media.SideB, joined)
		c.reoffer(joined)
		c.emit(c.event(events.CallAnswer, c.answeredAt, joined.number, joined))
		c.dirty = true
		return stateConnected
	}
	c.startRoute(c.route)
	return c.walk()
}
