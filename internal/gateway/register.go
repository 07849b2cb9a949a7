package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"
)

// RegisterExpiry is the registration lifetime the PBX asks of a carrier;
// the carrier may grant less, and the PBX refreshes before what it granted
// runs out.
const RegisterExpiry = time.Hour

const (
	// registerTimeout bounds one REGISTER, challenge included.
	registerTimeout = 10 * time.Second
	// unregisterTimeout bounds the REGISTER that withdraws the
	// registration at shutdown, which must not hold the PBX's exit.
	unregisterTimeout = 2 * time.Second
	// A failed registration is retried after minRetry, doubling up to
	// maxRetry: soon enough to come back quickly, slowly enough not to
	// hammer a carrier that refuses.
	minRetry = 2 * time.Second
	maxRetry = time.Minute
	// refreshMargin is how long before expiry a registration is renewed,
	// at most half of what was granted.
	refreshMargin = 30 * time.Second
)

// registration is the dialog-like state of REGISTERs to one carrier: the
// same Call-ID and a growing CSeq (RFC 3261 §10.2.4).
type registration struct {
	g       *Gateway
	client  *sipgo.Client
	contact sip.Uri
	callID  string
	cseq    uint32
}

// KeepRegistered registers the gateway with client, with contact as the
// address the carrier sends calls to, and keeps it registered until ctx is
// done; then it withdraws the registration and returns. It does nothing for
// a gateway that does not register.
func (g *Gateway) KeepRegistered(ctx context.Context, client *sipgo.Client, contact sip.Uri, log *slog.Logger) {
	if !g.cfg.Register {
		return
	}
	r := &registration{g: g, client: client, contact: contact, callID: uuid.NewString()}
	backoff := minRetry
	for {
		granted, err := r.register(ctx, RegisterExpiry)
		wait := backoff
		switch {
		case err == nil:
			g.setRegistered(granted)
			log.Debug("gateway registered", "gateway", g.cfg.Name, "expires", granted)
			wait, backoff = refreshAfter(granted), minRetry
		case ctx.Err() == nil:
			g.setFailed(err)
			log.Warn("gateway registration failed", "gateway", g.cfg.Name, "retry_in", backoff, "err", err)
			backoff = min(2*backoff, maxRetry)
		}
		if !sleep(ctx, wait) {
			break
		}
	}
	if !g.Status().Registered {
		return
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unregisterTimeout)
	defer cancel()
	if _, err := r.register(wctx, 0); err != nil {
		log.Info("withdraw gateway registration", "gateway", g.cfg.Name, "err", err)
	}
	g.setFailed(errors.New("unregistered at shutdown"))
}

// sleep waits for d and reports false if ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// refreshAfter is when to renew a registration granted for d.
func refreshAfter(d time.Duration) time.Duration {
	return d - min(d/2, refreshMargin)
}

// register sends one REGISTER asking for expires (0 withdraws it),
// answering a digest challenge and a 423 once each, and returns what the
// carrier granted.
func (r *registration) register(ctx context.Context, expires time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, registerTimeout)
	defer cancel()
	g := r.g
	user, password := g.Credentials()
	for range 2 {
		req := r.request(expires)
		res, err := r.client.Do(ctx, req)
		if err != nil {
			return 0, fmt.Errorf("register at %s: %w", g.cfg.Address, err)
		}
		if res.StatusCode == sip.StatusUnauthorized || res.StatusCode == sip.StatusProxyAuthRequired {
			res, err = r.client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: user, Password: password})
			if err != nil {
				return 0, fmt.Errorf("register at %s with credentials: %w", g.cfg.Address, err)
			}
			r.cseq = req.CSeq().SeqNo
		}
		switch {
		case res.StatusCode == sip.StatusIntervalToBrief && expires != 0:
			// The carrier wants a longer registration: ask for its
			// minimum, once.
			least, err := strconv.Atoi(headerValue(res, "Min-Expires"))
			if err != nil || least <= 0 {
				return 0, fmt.Errorf("register at %s: 423 without a usable Min-Expires", g.cfg.Address)
			}
			expires = time.Duration(least) * time.Second
			continue
		case res.StatusCode == sip.StatusUnauthorized || res.StatusCode == sip.StatusProxyAuthRequired:
			return 0, fmt.Errorf("register at %s: credentials of %q refused (%d %s)", g.cfg.Address, user, res.StatusCode, res.Reason)
		case !res.IsSuccess():
			return 0, fmt.Errorf("register at %s: %d %s", g.cfg.Address, res.StatusCode, res.Reason)
		}
		return granted(res, r.contact, expires), nil
	}
	return 0, fmt.Errorf("register at %s: 423 again after asking for Min-Expires", g.cfg.Address)
}

func (r *registration) request(expires time.Duration) *sip.Request {
	g := r.g
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: g.host, Port: g.port})
	req.SetTransport(strings.ToUpper(g.cfg.Transport))
	req.SetDestination(g.cfg.Address)
	aor := sip.Uri{Scheme: "sip", User: g.cfg.Username, Host: g.host}
	from := &sip.FromHeader{Address: aor, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	to := &sip.ToHeader{Address: aor, Params: sip.NewParams()}
	callID := sip.CallIDHeader(r.callID)
	r.cseq++
	contact := &sip.ContactHeader{Address: *r.contact.Clone(), Params: sip.NewParams()}
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: r.cseq, MethodName: sip.REGISTER})
	req.AppendHeader(contact)
	req.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(int(expires/time.Second))))
	return req
}

// granted reads the lifetime the carrier gave the contact: its expires
// parameter in the 200's Contact, else the Expires header, else what was
// asked.
func granted(res *sip.Response, contact sip.Uri, asked time.Duration) time.Duration {
	for _, h := range res.GetHeaders("Contact") {
		c, ok := h.(*sip.ContactHeader)
		if !ok || c.Address.Host != contact.Host || c.Address.Port != contact.Port || c.Address.User != contact.User {
			continue
		}
		if v, ok := c.Params.Get("expires"); ok {
			if s, err := strconv.Atoi(v); err == nil && s > 0 {
				return time.Duration(s) * time.Second
			}
		}
	}
	if s, err := strconv.Atoi(headerValue(res, "Expires")); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	return asked
}

func headerValue(res *sip.Response, name string) string {
	if h := res.GetHeader(name); h != nil {
		return strings.TrimSpace(h.Value())
	}
	return ""
}

func (g *Gateway) setRegistered(d time.Duration) {
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.status.Registered || g.status.Since.IsZero() {
		g.status.Since = now.UTC()
	}
	at := now.Add(d).UTC()
	g.status.Registered, g.status.ExpiresAt, g.status.LastError = true, &at, ""
}

func (g *Gateway) setFailed(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.status.Registered || g.status.Since.IsZero() {
		g.status.Since = time.Now().UTC()
	}
	g.status.Registered, g.status.ExpiresAt, g.status.LastError = false, nil, err.Error()
}
