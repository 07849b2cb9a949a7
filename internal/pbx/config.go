package pbx

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/switchhook/switchhook/internal/dialplan"
	"github.com/switchhook/switchhook/internal/gateway"
	"github.com/switchhook/switchhook/internal/media"
	"github.com/switchhook/switchhook/internal/queue"
	"github.com/switchhook/switchhook/internal/registrar"
	"github.com/switchhook/switchhook/internal/sipauth"
)

// Config is what the PBX serves and who may use it.
type Config struct {
	// Listen lists the SIP listeners as "udp://host:port" or
	// "tcp://host:port"; host is an IP address, port 0 picks a free port.
	Listen []string
	// Domain is the SIP domain and digest realm; empty uses the advertised
	// address.
	Domain string
	// ExternalIP is the address put in Contact, Via and SDP for parties
	// outside LocalNetworks, when the PBX is reached through NAT; empty
	// uses the address of the interface each party is reached on.
	ExternalIP string
	// LocalNetworks (CIDR) are reached without NAT: their parties are
	// given the PBX's own address even when ExternalIP is set.
	LocalNetworks []string
	// AuthAlgorithms are the digest algorithms offered to phones; empty
	// offers MD5 alone (sipauth.DefaultAlgorithms).
	AuthAlgorithms []string
	// RTPPortMin and RTPPortMax bound the media relay ports; both 0 lets
	// the system pick them.
	RTPPortMin, RTPPortMax int
	// Extensions are the users that register and call.
	Extensions []Extension
	// RingTimeout is how long a call to an extension or a gateway rings
	// before it ends with NO_ANSWER; 0 means 30 seconds.
	RingTimeout time.Duration
	// MediaTimeout ends an answered call whose party sent no RTP for this
	// long, unless the call is held; 0 turns it off.
	MediaTimeout time.Duration
	// SessionExpires is the RFC 4028 session interval asked of callees; 0
	// asks none. A caller's Session-Expires is honoured either way.
	SessionExpires time.Duration
	// MinSE is the shortest session interval accepted (422 below it); 0
	// means DefaultMinSE.
	MinSE time.Duration
	// RingGroups and IVRs are numbers beside the extensions'.
	RingGroups []dialplan.RingGroup
	IVRs       []dialplan.IVR
	// Gateways are the SIP trunks to carriers; Routes send the numbers
	// dialled by extensions that are not the PBX's out through them, and
	// Inbound routes the calls that come in from them.
	Gateways []gateway.Config
	Routes   []dialplan.OutboundRoute
	Inbound  []dialplan.Inbound
	// Bindings keeps the registrations; nil keeps them in memory, lost
	// at a restart.
	Bindings registrar.Bindings
	// Forwards tells where an extension's calls go on busy, no answer,
	// unavailable or unconditionally; nil forwards nothing.
	Forwards Forwards
	// PickupGroups maps an extension to its pickup group; Pickup are the
	// codes that answer a call ringing elsewhere.
	PickupGroups map[string]string
	Pickup       dialplan.PickupCodes
	// Queues are the call queues, numbers beside the extensions'; Pauses
	// keeps which of their agents are paused (nil: in memory).
	Queues []queue.Config
	Pauses queue.Pauses
}

// Forwards is where the PBX reads an extension's call forwarding at each
// call to it; a *forwarding.Table is one.
type Forwards interface {
	Forward(ctx context.Context, ext string) dialplan.Forward
}

// Extension is one user of the PBX.
type Extension struct {
	Number   string // dialled number and SIP user name
	Password string // digest password
	Name     string // display name shown to the called party
}

// DefaultRingTimeout is the ring timeout when Config.RingTimeout is 0.
const DefaultRingTimeout = 30 * time.Second

// DefaultMinSE is the least session interval when Config.MinSE is 0: RFC
// 4028's lower bound.
const DefaultMinSE = 90 * time.Second

// listener is one parsed Listen entry.
type listener struct {
	network string // "udp" or "tcp"
	addr    netip.AddrPort
}

// checked is a validated Config.
type checked struct {
	Config
	listeners []listener
	external  netip.Addr // ExternalIP; invalid when none
	localNets []netip.Prefix
	authAlgs  []string
	bind      netip.Addr // where RTP sockets are bound
	exts      map[string]Extension
	plan      *dialplan.Plan
	gateways  []*gateway.Gateway       // in the order of Config.Gateways
	prompts   map[string]*media.Prompt // by IVR number
	music     map[string]*media.Prompt // by queue number; none for a ringback queue
	ringback  *media.Prompt
}

func (c Config) check() (*checked, error) {
	out := &checked{Config: c, exts: make(map[string]Extension)}
	if len(c.Listen) == 0 {
		return nil, fmt.Errorf("pbx: listen: no address given (want e.g. udp://0.0.0.0:5060)")
	}
	for i, l := range c.Listen {
		ln, err := parseListen(l)
		if err != nil {
			return nil, fmt.Errorf("pbx: listen[%d]: %w", i, err)
		}
		out.listeners = append(out.listeners, ln)
	}
	out.bind = out.listeners[0].addr.Addr()
	if c.ExternalIP != "" {
		ip, err := netip.ParseAddr(c.ExternalIP)
		if err != nil || ip.IsUnspecified() {
			return nil, fmt.Errorf("pbx: external_ip %q is not a usable IP address", c.ExternalIP)
		}
		out.external = ip.Unmap()
	}
	for i, n := range c.LocalNetworks {
		pfx, err := netip.ParsePrefix(n)
		if err != nil {
			return nil, fmt.Errorf("pbx: local_networks[%d]: %q is not a network like 192.168.0.0/16", i, n)
		}
		out.localNets = append(out.localNets, pfx.Masked())
	}
	algs, err := sipauth.ParseAlgorithms(c.AuthAlgorithms)
	if err != nil {
		return nil, fmt.Errorf("pbx: auth algorithms: %w", err)
	}
	out.authAlgs = algs
	if c.RTPPortMin < 0 || c.RTPPortMax < 0 || (c.RTPPortMin == 0) != (c.RTPPortMax == 0) {
		return nil, fmt.Errorf("pbx: rtp ports %d-%d: give both bounds, or neither to let the system pick", c.RTPPortMin, c.RTPPortMax)
	}
	if c.RingTimeout < 0 {
		return nil, fmt.Errorf("pbx: ring_timeout %s is negative", c.RingTimeout)
	}
	if out.RingTimeout == 0 {
		out.RingTimeout = DefaultRingTimeout
	}
	if c.MediaTimeout < 0 || c.SessionExpires < 0 || c.MinSE < 0 {
		return nil, fmt.Errorf("pbx: media_timeout %s, session_expires %s, min_se %s: none may be negative", c.MediaTimeout, c.SessionExpires, c.MinSE)
	}
	if out.MinSE == 0 {
		out.MinSE = DefaultMinSE
	}
	if out.SessionExpires != 0 && out.SessionExpires < out.MinSE {
		return nil, fmt.Errorf("pbx: session_expires %s is shorter than min_se %s", out.SessionExpires, out.MinSE)
	}
	for i, e := range c.Extensions {
		if e.Number == "" || strings.ContainsAny(e.Number, " \t\r\n@:;<>\"") {
			return nil, fmt.Errorf("pbx: extensions[%d]: number %q is empty or has a character a SIP user name cannot hold", i, e.Number)
		}
		if e.Password == "" {
			return nil, fmt.Errorf("pbx: extensions[%d] (%s): password is empty", i, e.Number)
		}
		if _, dup := out.exts[e.Number]; dup {
			return nil, fmt.Errorf("pbx: extensions[%d]: number %s is defined twice", i, e.Number)
		}
		out.exts[e.Number] = e
	}
	if err := out.checkRouting(); err != nil {
		return nil, err
	}
	return out, nil
}

// checkRouting makes the dialplan, the gateways and the IVRs' prompts, so
// that a prompt file that cannot be played stops the PBX from starting
// rather than a caller from hearing it.
func (c *checked) checkRouting() error {
	names := make([]string, 0, len(c.Gateways))
	for i, gc := range c.Gateways {
		g, err := gateway.New(gc)
		if err != nil {
			return fmt.Errorf("pbx: gateways[%d]: %w", i, err)
		}
		for _, other := range c.gateways {
			if other.Name() == g.Name() {
				return fmt.Errorf("pbx: gateways[%d]: name %q is used already", i, g.Name())
			}
		}
		if !c.serves(g.Transport()) {
			return fmt.Errorf("pbx: gateways[%d] (%s): transport %s, but the PBX has no %s listener", i, g.Name(), g.Transport(), g.Transport())
		}
		c.gateways = append(c.gateways, g)
		names = append(names, g.Name())
	}
	numbers := make([]string, 0, len(c.Extensions))
	for _, e := range c.Extensions {
		numbers = append(numbers, e.Number)
	}
	var err error
	queues := make([]string, 0, len(c.Queues))
	for _, q := range c.Queues {
		queues = append(queues, q.Number)
	}
	c.plan, err = dialplan.New(dialplan.Config{
		Extensions: numbers, RingGroups: c.RingGroups, Queues: queues, IVRs: c.IVRs,
		Gateways: names, Routes: c.Routes, Inbound: c.Inbound,
		PickupGroups: c.PickupGroups, Pickup: c.Pickup,
	})
	if err != nil {
		return fmt.Errorf("pbx: %w", err)
	}
	if err := c.checkQueues(); err != nil {
		return err
	}
	c.ringback = media.Ringback()
	c.prompts = make(map[string]*media.Prompt, len(c.IVRs))
	for i, v := range c.IVRs {
		if v.Prompt == "" {
			c.prompts[v.Number] = media.PromptTone()
			continue
		}
		p, err := media.LoadPrompt(v.Prompt)
		if err != nil {
			return fmt.Errorf("pbx: ivrs[%d] (%s): %w", i, v.Number, err)
		}
		c.prompts[v.Number] = p
	}
	return nil
}

// serves reports whether a listener of network ("udp" or "tcp") is
// configured.
func (c *checked) serves(network string) bool {
	for _, l := range c.listeners {
		if l.network == network {
			return true
		}
	}
	return false
}

// gateway returns the gateway called name.
func (c *checked) gateway(name string) *gateway.Gateway {
	for _, g := range c.gateways {
		if g.Name() == name {
			return g
		}
	}
	return nil
}

func parseListen(s string) (listener, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return listener{}, fmt.Errorf("%q is not a URL like udp://0.0.0.0:5060", s)
	}
	network := strings.ToLower(u.Scheme)
	if network != "udp" && network != "tcp" {
		return listener{}, fmt.Errorf("%q: transport %q is not supported (want udp or tcp)", s, u.Scheme)
	}
	ap, err := netip.ParseAddrPort(u.Host)
	if err != nil {
		return listener{}, fmt.Errorf("%q: want an IP address and a port: %v", s, err)
	}
	return listener{network: network, addr: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())}, nil
}
