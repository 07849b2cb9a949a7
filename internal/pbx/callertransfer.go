package pbx

import (
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/switchhook/switchhook/internal/dialplan"
	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/media"
)

// msgMoved starts the call a caller's blind transfer leaves behind: its
// caller is the party who stayed, answered already.
type msgMoved struct{}

func (msgMoved) isMsg() {}

// callerTransfer carries out a blind transfer by the caller (RFC 5589 §6,
// the transferor being the caller): the caller leaves, so this call ends
// BLIND_TRANSFER by the caller, and the party who stayed calls the target
// in a new call of the same session, its caller_id_number the stayed
// party's. The transferor hears 100 and 200 in NOTIFYs and is released.
func (c *call) callerTransfer(x *transfer, target string, route dialplan.Route) state {
	stayed, ok := c.br.ends[media.SideB].(*dialogLeg)
	if !ok || stayed.client == nil {
		x.report(sipfrag{code: sip.StatusNotImplemented, reason: "Not Implemented"})
		return c.state
	}
	offer, err := media.ParseSDP(stayed.client.InviteResponse.Body())
	if err == nil {
		err = offer.KeepRelayable()
	}
	if err != nil {
		c.p.log.Info("caller's transfer: the party who stays has no usable description", "call_uuid", c.id, "err", err)
		x.report(sipfrag{code: sip.StatusNotAcceptableHere, reason: "Not Acceptable Here"})
		return c.state
	}
	dir := events.Internal
	if route.Target.Type == events.Gateway {
		dir = events.Outbound
	}
	n := newCall(c.p, stayed.number, "", target, route, dir)
	n.session = c.session
	n.offer = offer
	// The party who stayed keeps its dialog, now as the new call's caller.
	a := n.a
	a.client, a.target, a.origin, a.sdp, a.st = stayed.client, stayed.target, stayed.origin, stayed.sdp, stayed.st
	a.state = LegAnswered
	if !c.p.addCall(n) {
		x.report(sipfrag{code: sip.StatusServiceUnavailable, reason: "Service Unavailable"})
		return c.state
	}
	c.p.rehome(stayed, a)
	c.xfer = x
	x.report(sipfrag{code: sip.StatusTrying, reason: "Trying"})
	x.report(sipfrag{code: sip.StatusOK, reason: "OK", release: true})
	c.br.join(media.SideB, nil)
	c.dest = stayed.number
	c.p.log.Debug("blind transfer by the caller", "call_uuid", c.id, "stays", stayed.number, "to", target, "new_call_uuid", n.id)
	go func() {
		defer c.p.wg.Done()
		n.run(msgMoved{})
	}()
	// The notifier releases the transferor after its last NOTIFY.
	return c.terminate(ended{Hangup: events.Hangup{Cause: events.CauseBlindTransfer, SIPCode: sip.StatusOK, By: events.Caller}, left: c.a})
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
func (c *call) routeMoved() state {
	c.callerAnswered, c.acked = true, true
	e := c.event(events.CallRouted, c.created, c.dialed, c.a)
	e.RoutedTo = &c.route.Target
	c.emit(e)
	relay, err := c.p.ports.NewRelay(c.onDTMF)
	if err != nil {
		c.p.log.Error("allocate media relay", "call_uuid", c.id, "err", err)
		return c.fail(failure{sip.StatusServiceUnavailable, "Service Unavailable", events.CauseNormalTemporaryFailure, events.System})
	}
	relay.Start()
	c.br = newBridge(relay, c.a)
	c.answeredAt = time.Now()
	c.reoffer(c.a)
	c.watchMedia()
	c.startRoute(c.route)
	return c.walk()
}
