package pbx

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/switchhook/switchhook/internal/dialplan"
	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/media"
	"github.com/switchhook/switchhook/internal/registrar"
)

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
		st                   *sessionTimer
	)
	// A session interval too small is refused first (422, RFC 4028 §6),
	// like a challenge: the caller asks again, and nothing was routed.
	se, timer, ok := p.checkSessionExpires(req, func(res *sip.Response) { tx.Respond(res) })
	if !ok {
		return
	}
	if timer {
		st = uasSession(req, se)
	}
	if gw := p.gatewayFrom(req); gw != nil {
		offer, ok := readOffer(req, tx)
		if !ok {
			return
		}
		// The DID is the Request-URI's user; a carrier that sends calls to
		// the PBX's registered contact keeps it in To.
		dialed = req.Recipient.User
		route, ok = p.conf().plan.Inbound(dialed)
		if to := req.To().Address.User; !ok && to != dialed {
			if route, ok = p.conf().plan.Inbound(to); ok {
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
		p.startCall(req, tx, st, offer, caller, name, dialed, route, events.Inbound)
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
	if h := req.GetHeader("Replaces"); h != nil {
		p.inviteReplaces(req, tx, user, h.Value(), offer)
		return
	}
	dialed = req.Recipient.User
	if want, ok := p.conf().plan.Pickup(dialed); ok {
		p.pickup(req, tx, user, want, offer)
		return
	}
	route, ok = p.conf().plan.Route(dialed)
	if !ok {
		respond(tx, req, sip.StatusNotFound, "Not Found", fmt.Sprintf("number %q is not routed", dialed))
		return
	}
	if route.Target.Type == events.Gateway {
		dir = events.Outbound
	}
	p.startCall(req, tx, st, offer, user, p.conf().exts[user].Name, dialed, route, dir)
}

// startCall makes the call of a routed INVITE and runs its owner on this
// goroutine until the call is over.
func (p *PBX) startCall(req *sip.Request, tx sip.ServerTransaction, st *sessionTimer, offer *media.Description, caller, name, dialed string, route dialplan.Route, dir events.Direction) {
	t := p.transportTo(req.Transport(), sourceIP(req))
	sess, err := t.ua.ReadInvite(req, tx)
	if err != nil {
		respond(tx, req, sip.StatusBadRequest, "Bad Request", err.Error())
		return
	}
	c := newCall(p, caller, name, dialed, route, dir)
	c.a.server, c.inviteTx = sess, tx
	c.a.st = st
	if !p.addCall(c) {
		respond(tx, req, sip.StatusServiceUnavailable, "Service Unavailable", "the PBX is shutting down")
		return
	}
	defer p.wg.Done()
	p.addDialog(sess.ID, c.a)
	c.run(msgStart{offer: offer})
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
