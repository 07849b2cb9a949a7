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
	gws := p.conf().gateways
	out := make([]GatewayStatus, 0, len(gws))
	for _, g := range gws {
		out = append(out, g.Status())
	}
	return out
}

// startGateways starts each gateway until ctx is done.
func (p *PBX) startGateways(ctx context.Context) {
	for _, g := range p.conf().gateways {
		p.startGateway(ctx, g)
	}
}

// startGateway resolves g's host, so that calls from it are recognised,
// and keeps the registration it asks for until ctx is done or stopGateway
// withdraws it.
func (p *PBX) startGateway(ctx context.Context, g *gateway.Gateway) {
	remote := hostOf(g.Address())
	t := p.transportTo(g.Transport(), remote)
	user, _ := g.Credentials()
	contact := sip.Uri{Scheme: "sip", User: user, Host: p.local.forRemote(remote).String(), Port: t.port, UriParams: sip.NewParams(), Headers: sip.NewParams()}
	if t.network == "tcp" {
		contact.UriParams.Add("transport", "tcp")
	}
	gctx, stop := context.WithCancel(ctx)
	p.mu.Lock()
	p.gwStop[g] = stop
	p.mu.Unlock()
	p.gwWG.Add(1)
	go func() {
		defer p.gwWG.Done()
		defer stop()
		rctx, cancel := context.WithTimeout(gctx, resolveTimeout)
		err := g.Resolve(rctx)
		cancel()
		if err != nil {
			p.log.Warn("calls from this gateway will not be recognised until restart", "gateway", g.Name(), "err", err)
		}
		g.KeepRegistered(gctx, t.ua.Client, contact, p.log.With("component", "gateway"))
	}()
}

// stopGateway ends g's registration goroutine, which withdraws its
// registration.
func (p *PBX) stopGateway(g *gateway.Gateway) {
	p.mu.Lock()
	stop := p.gwStop[g]
	delete(p.gwStop, g)
	p.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// gatewayFrom returns the gateway a request comes from, by its source
// address, or nil.
func (p *PBX) gatewayFrom(req *sip.Request) *gateway.Gateway {
	ip := sourceIP(req)
	if !ip.IsValid() {
		return nil
	}
	for _, g := range p.conf().gateways {
		if g.Matches(ip) {
			return g
		}
	}
	return nil
}
