package pbx

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime/debug"
	"strings"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/switchhook/switchhook/internal/sipauth"
)

// allowed is the Allow header of the PBX: the methods it handles.
const allowed = "INVITE, ACK, CANCEL, BYE, REGISTER, OPTIONS, INFO, UPDATE, REFER"

// knownMethods are SIP methods the PBX recognises but does not handle
// (405); any other method is not implemented (501).
var knownMethods = map[sip.RequestMethod]bool{
	sip.SUBSCRIBE: true, sip.NOTIFY: true, sip.MESSAGE: true, sip.PRACK: true, sip.PUBLISH: true,
}

// routes installs the PBX's request handlers on srv.
func (p *PBX) routes(srv *sipgo.Server) {
	srv.OnRegister(p.guard(p.handleRegister))
	srv.OnInvite(p.guard(p.handleInvite))
	srv.OnAck(p.guard(p.handleAck))
	srv.OnBye(p.guard(p.handleInDialog))
	srv.OnCancel(p.guard(p.handleCancel))
	srv.OnInfo(p.guard(p.handleInDialog))
	srv.OnUpdate(p.guard(p.handleInDialog))
	srv.OnRefer(p.guard(p.handleInDialog))
	srv.OnOptions(p.guard(p.handleOptions))
	srv.OnNoRoute(p.guard(p.handleUnknown))
}

// guard refuses requests that lack what every handler relies on, and turns
// a panic in a handler into a 500 and a log line instead of a dead process.
func (p *PBX) guard(h sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		defer func() {
			if r := recover(); r != nil {
				p.log.Error("sip handler panicked", "method", req.Method, "panic", r, "stack", string(debug.Stack()))
				if tx != nil && !req.IsAck() {
					tx.Respond(sip.NewResponseFromRequest(req, sip.StatusInternalServerError, "Server Internal Error", nil))
				}
			}
		}()
		if tx == nil || req.IsAck() {
			if req.From() != nil && req.To() != nil && req.CallID() != nil && req.CSeq() != nil {
				h(req, tx)
			}
			return
		}
		var missing []string
		for name, ok := range map[string]bool{"From": req.From() != nil, "To": req.To() != nil, "Call-ID": req.CallID() != nil, "CSeq": req.CSeq() != nil} {
			if !ok {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			respond(tx, req, sip.StatusBadRequest, "Bad Request", "missing header "+strings.Join(missing, ", "))
			return
		}
		h(req, tx)
	}
}

// respond answers req with code and, when why is not empty, a Warning
// header saying in words what was wrong.
func respond(tx sip.ServerTransaction, req *sip.Request, code int, reason, why string) {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	if why != "" {
		res.AppendHeader(warning(why))
	}
	tx.Respond(res)
}

// warning makes a Warning header (RFC 3261 §20.43, code 399: miscellaneous).
func warning(text string) sip.Header {
	text = strings.Map(func(r rune) rune {
		if r < 0x20 || r == '"' || r == '\\' || r == 0x7f {
			return ' '
		}
		return r
	}, text)
	return sip.NewHeader("Warning", `399 switchhook "`+text+`"`)
}

// authenticate checks the digest credentials of req and answers it when
// they are missing, stale or wrong; proxy selects 407 and
// Proxy-Authorization (INVITE) over 401 and Authorization (REGISTER).
func (p *PBX) authenticate(req *sip.Request, tx sip.ServerTransaction, proxy bool) (string, bool) {
	ip := sourceIP(req)
	if left, blocked := p.limiter.Blocked(ip); blocked {
		res := sip.NewResponseFromRequest(req, sip.StatusServiceUnavailable, "Service Unavailable", nil)
		res.AppendHeader(retryAfter(left))
		res.AppendHeader(warning("too many failed authentications from this address"))
		tx.Respond(res)
		return "", false
	}
	code := sip.StatusUnauthorized
	if proxy {
		code = sip.StatusProxyAuthRequired
	}
	user, err := p.auth.Verify(req, proxy)
	switch {
	case err == nil:
		p.limiter.Succeed(ip)
		return user, true
	case errors.Is(err, sipauth.ErrNoCredentials):
		tx.Respond(p.auth.Challenge(req, code, false))
	case errors.Is(err, sipauth.ErrStale):
		tx.Respond(p.auth.Challenge(req, code, true))
	default:
		p.limiter.Fail(ip)
		p.log.Warn("authentication failed", "method", req.Method, "remote", req.Source(), "user", user, "err", err)
		// The client hears that it failed, not why: whether a user
		// exists is no business of a password guesser.
		respond(tx, req, sip.StatusForbidden, "Forbidden", fmt.Sprintf("authentication failed for user %q", user))
	}
	return "", false
}

func sourceIP(req *sip.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

func (p *PBX) handleRegister(req *sip.Request, tx sip.ServerTransaction) {
	user, ok := p.authenticate(req, tx, false)
	if !ok {
		return
	}
	if aor := req.To().Address.User; aor != user {
		respond(tx, req, sip.StatusForbidden, "Forbidden", fmt.Sprintf("user %q may not register %q", user, aor))
		return
	}
	tx.Respond(p.reg.Register(req, user))
}

func (p *PBX) handleInvite(req *sip.Request, tx sip.ServerTransaction) {
	if _, ok := req.To().Params.Get("tag"); ok {
		p.handleInDialog(req, tx)
		return
	}
	p.handleNewInvite(req, tx)
}

// handleInDialog hands a request of a call's dialog (BYE, re-INVITE,
// UPDATE, INFO) to the call's owner.
func (p *PBX) handleInDialog(req *sip.Request, tx sip.ServerTransaction) {
	l, c := p.lookup(req)
	if l == nil {
		respond(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", "")
		return
	}
	c.deliver(l, req, tx)
}

func (p *PBX) handleAck(req *sip.Request, tx sip.ServerTransaction) {
	// An ACK to the caller's 2xx confirms the caller's dialog; ACKs of
	// re-INVITEs and stray ones need nothing. sipgo's dialog takes it from
	// any goroutine, and the owner hears of it from the answer it waits on.
	if l, _ := p.lookup(req); l != nil && l.server != nil {
		l.server.ReadAck(req, tx)
	}
}

func (p *PBX) handleCancel(req *sip.Request, tx sip.ServerTransaction) {
	// A CANCEL that matches a pending INVITE is answered by sipgo's
	// transaction layer; one that reaches here matches nothing.
	respond(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", "")
}

func (p *PBX) handleOptions(req *sip.Request, tx sip.ServerTransaction) {
	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
	res.AppendHeader(sip.NewHeader("Allow", allowed))
	res.AppendHeader(sip.NewHeader("Accept", "application/sdp, application/dtmf-relay, application/dtmf"))
	tx.Respond(res)
}

func (p *PBX) handleUnknown(req *sip.Request, tx sip.ServerTransaction) {
	if knownMethods[req.Method] {
		res := sip.NewResponseFromRequest(req, sip.StatusMethodNotAllowed, "Method Not Allowed", nil)
		res.AppendHeader(sip.NewHeader("Allow", allowed))
		tx.Respond(res)
		return
	}
	res := sip.NewResponseFromRequest(req, sip.StatusNotImplemented, "Not Implemented", nil)
	res.AppendHeader(sip.NewHeader("Allow", allowed))
	tx.Respond(res)
}
