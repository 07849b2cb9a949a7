package pbx

import (
	"context"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/switchhook/switchhook/internal/gateway"
)

// resolveTimeout bounds the look-up of a gateway's host name at start.
const resolveTimeout = 10 * time.Second

// GatewayStatus is a gateway's state, as GET /v1/sources shows it.
type GatewayStatus = gateway.Status

// Gateways returns the state of each gateway, in the order of
// Config.Gateways.
func (p *PBX) Gateways() []GatewayStatus {
	out := make([]GatewayStatus, 0, len(p.cfg.gateways))
	for _, g := range p.cfg.gateways {
		out = append(out, g.Status())
	}
	return out
}

// startGateways resolves each gateway's host, so that calls from it are
// recognised, and keeps the registrations the gateways ask for until ctx
// is done.
func (p *PBX) startGateways(ctx context.Context) {
	for _, g := range p.cfg.gateways {
		remote := hostOf(g.Address())
		t := p.transportTo(g.Transport(), remote)
		user, _ := g.Credentials()
		contact := sip.Uri{Scheme: "sip", User: user, Host: p.local.forRemote(remote).String(), Port: t.port, UriParams: sip.NewParams(), Headers: sip.NewParams()}
		if t.network == "tcp" {
			contact.UriParams.Add("transport", "tcp")
		}
		p.gwWG.Add(1)
		go func() {
			defer p.gwWG.Done()
			rctx, cancel := context.WithTimeout(ctx, resolveTimeout)
			err := g.Resolve(rctx)
			cancel()
			if err != nil {
				p.log.Warn("calls from this gateway will not be recognised until restart", "gateway", g.Name(), "err", err)
			}
			g.KeepRegistered(ctx, t.ua.Client, contact, p.log.With("component", "gateway"))
		}()
	}
}

// gatewayFrom returns the gateway a request comes from, by its source
// address, or nil.
func (p *PBX) gatewayFrom(req *sip.Request) *gateway.Gateway {
	ip := sourceIP(req)
	if !ip.IsValid() {
		return nil
	}
	for _, g := range p.cfg.gateways {
		if g.Matches(ip) {
			return g
		}
	}
	return nil
}
