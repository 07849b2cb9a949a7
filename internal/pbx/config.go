package pbx

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// Config is what the PBX serves and who may use it.
type Config struct {
	// Listen lists the SIP listeners as "udp://host:port" or
	// "tcp://host:port"; host is an IP address, port 0 picks a free port.
	Listen []string
	// Domain is the SIP domain and digest realm; empty uses the advertised
	// address.
	Domain string
	// ExternalIP is the address put in Contact, Via and SDP when the PBX is
	// reached through NAT; empty uses the listening address.
	ExternalIP string
	// RTPPortMin and RTPPortMax bound the media relay ports; both 0 lets
	// the system pick them.
	RTPPortMin, RTPPortMax int
	// Extensions are the users that register and call.
	Extensions []Extension
	// RingTimeout is how long a call rings before it ends with NO_ANSWER;
	// 0 means 30 seconds.
	RingTimeout time.Duration
}

// Extension is one user of the PBX.
type Extension struct {
	Number   string // dialled number and SIP user name
	Password string // digest password
	Name     string // display name shown to the called party
}

// DefaultRingTimeout is the ring timeout when Config.RingTimeout is 0.
const DefaultRingTimeout = 30 * time.Second

// listener is one parsed Listen entry.
type listener struct {
	network string // "udp" or "tcp"
	addr    netip.AddrPort
}

// checked is a validated Config.
type checked struct {
	Config
	listeners []listener
	advertise netip.Addr // in Contact, Via and SDP
	bind      netip.Addr // where RTP sockets are bound
	exts      map[string]Extension
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
	out.advertise = out.bind
	if c.ExternalIP != "" {
		ip, err := netip.ParseAddr(c.ExternalIP)
		if err != nil || ip.IsUnspecified() {
			return nil, fmt.Errorf("pbx: external_ip %q is not a usable IP address", c.ExternalIP)
		}
		out.advertise = ip
	}
	if c.RTPPortMin < 0 || c.RTPPortMax < 0 || (c.RTPPortMin == 0) != (c.RTPPortMax == 0) {
		return nil, fmt.Errorf("pbx: rtp ports %d-%d: give both bounds, or neither to let the system pick", c.RTPPortMin, c.RTPPortMax)
	}
	if c.RingTimeout < 0 {
		return nil, fmt.Errorf("pbx: ring_timeout %s is negative", c.RingTimeout)
	}
	if out.RingTimeout == 0 {
		out.RingTimeout = DefaultRingTimeout
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
	return out, nil
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
