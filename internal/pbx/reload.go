package pbx

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/switchhook/switchhook/internal/gateway"
)

// Reload serves cfg to new calls and requests from now on: extensions and
// their passwords, ring groups, IVRs and their prompts, queues, routes,
// gateways and inbound DIDs, the ring timeout. Calls that are up keep their legs
// and media. What cannot change without a restart (the listeners, the RTP
// ports, the domain and the addresses given to phones, the digest
// algorithms) keeps its running value; its config keys are returned when
// cfg changes them. A cfg that does not check changes nothing.
//
// A gateway whose settings did not change keeps its registration; one
// removed or changed withdraws it, and one added or changed starts.
//
// The queues change as queue.Manager.Reload says: the manager serves the
// new ones before the dialplan routes to them, and a queue removed keeps
// serving the callers waiting in it.
func (p *PBX) Reload(cfg Config) (restart []string, err error) {
	cfg.Pauses = p.conf().Pauses // the store stays the one the PBX started with
	next, err := cfg.check()
	if err != nil {
		return nil, err
	}
	p.reloadMu.Lock()
	defer p.reloadMu.Unlock()
	cur := p.conf()
	ctx, cancel := context.WithTimeout(context.Background(), reloadTimeout)
	defer cancel()
	if err := p.queues.Reload(ctx, next.Queues); err != nil {
		return nil, fmt.Errorf("pbx: %w", err)
	}
	for _, k := range []struct {
		key     string
		changed bool
	}{
		{"sip.listen", !slices.Equal(cfg.Listen, cur.Listen)},
		{"sip.rtp_ports", cfg.RTPPortMin != cur.RTPPortMin || cfg.RTPPortMax != cur.RTPPortMax},
		{"sip.domain", cfg.Domain != cur.Domain},
		{"sip.external_ip", cfg.ExternalIP != cur.ExternalIP},
		{"sip.local_networks", !slices.Equal(cfg.LocalNetworks, cur.LocalNetworks)},
		{"sip.auth.algorithms", !slices.Equal(next.authAlgs, cur.authAlgs)},
	} {
		if k.changed {
			restart = append(restart, k.key)
		}
	}
	next.Listen, next.listeners, next.bind = cur.Listen, cur.listeners, cur.bind
	next.RTPPortMin, next.RTPPortMax = cur.RTPPortMin, cur.RTPPortMax
	next.Domain, next.ExternalIP, next.external = cur.Domain, cur.ExternalIP, cur.external
	next.LocalNetworks, next.localNets, next.authAlgs = cur.LocalNetworks, cur.localNets, cur.authAlgs
	next.Bindings = cur.Bindings

	// Keep the running gateways that did not change.
	var started, stopped []*gateway.Gateway
	for i, gc := range next.Gateways {
		if j := slices.IndexFunc(cur.Gateways, func(o gateway.Config) bool { return o.Name == gc.Name }); j >= 0 && cur.Gateways[j] == gc {
			next.gateways[i] = cur.gateways[j]
			continue
		}
		started = append(started, next.gateways[i])
	}
	for _, g := range cur.gateways {
		if !slices.Contains(next.gateways, g) {
			stopped = append(stopped, g)
		}
	}
	p.cfg.Store(next)

	p.mu.Lock()
	closing := p.closing
	p.mu.Unlock()
	if p.gatewaysUp && !closing {
		for _, g := range stopped {
			p.stopGateway(g)
		}
		for _, g := range started {
			p.startGateway(p.ctx, g)
		}
	}
	p.log.Info("pbx config reloaded", "extensions", len(next.exts), "ring_groups", len(next.RingGroups), "ivrs", len(next.IVRs), "queues", len(next.Queues),
		"gateways", len(next.gateways), "restart_required", restart)
	return restart, nil
}

// reloadTimeout bounds the wait for the queue manager to take a reload.
const reloadTimeout = 5 * time.Second
