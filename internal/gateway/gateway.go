package gateway

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Config is one carrier trunk.
type Config struct {
	Name     string
	Address  string // host:port of the carrier's SIP server
	Username string // digest user name; also the user of a registration
	Password string
	// Register keeps a registration at the carrier, for trunks that reach
	// the PBX at the address it registers.
	Register bool
	// Transport is "udp" (the default) or "tcp".
	Transport string
}

// Status is what GET /v1/sources shows of a gateway.
type Status struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"` // "gateway"
	Address   string `json:"address"`
	Transport string `json:"transport"`
	// Register says whether the PBX registers at the carrier; Registered
	// whether it is registered now.
	Register   bool       `json:"register"`
	Registered bool       `json:"registered"`
	Since      time.Time  `json:"since"` // when Registered last changed; zero before the first attempt ends
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	LastError  string     `json:"last_error"`
}

// Gateway is one trunk. It is safe for concurrent use.
type Gateway struct {
	cfg  Config
	host string
	port int

	mu     sync.Mutex
	ips    []netip.Addr // of host, once resolved
	status Status
}

// New checks cfg and makes its gateway. Errors name what is wrong.
func New(cfg Config) (*Gateway, error) {
	if cfg.Name == "" || strings.ContainsAny(cfg.Name, " \t\r\n") {
		return nil, fmt.Errorf("gateway %q: the name is empty or has a space", cfg.Name)
	}
	host, p, err := net.SplitHostPort(cfg.Address)
	port, perr := strconv.Atoi(p)
	if err != nil || host == "" || perr != nil || port < 1 || port > 65535 {
		return nil, fmt.Errorf("gateway %s: address %q is not host:port", cfg.Name, cfg.Address)
	}
	switch cfg.Transport = strings.ToLower(cfg.Transport); cfg.Transport {
	case "":
		cfg.Transport = "udp"
	case "udp", "tcp":
	default:
		return nil, fmt.Errorf("gateway %s: transport %q is not udp or tcp", cfg.Name, cfg.Transport)
	}
	if strings.ContainsAny(cfg.Username, " \t\r\n@:;<>\"") {
		return nil, fmt.Errorf("gateway %s: username %q has a character a SIP user name cannot hold", cfg.Name, cfg.Username)
	}
	if cfg.Register && (cfg.Username == "" || cfg.Password == "") {
		return nil, fmt.Errorf("gateway %s: register needs a username and a password", cfg.Name)
	}
	g := &Gateway{cfg: cfg, host: host, port: port}
	if ip, err := netip.ParseAddr(host); err == nil {
		g.ips = []netip.Addr{ip.Unmap()}
	}
	g.status = Status{Name: cfg.Name, Kind: "gateway", Address: cfg.Address, Transport: cfg.Transport, Register: cfg.Register}
	return g, nil
}

// Name returns the gateway's name.
func (g *Gateway) Name() string { return g.cfg.Name }

// Transport returns "udp" or "tcp".
func (g *Gateway) Transport() string { return g.cfg.Transport }

// Address returns the carrier's host:port, where requests to it are sent.
func (g *Gateway) Address() string { return g.cfg.Address }

// Credentials returns the digest user name and password; both are empty
// when the carrier does not challenge.
func (g *Gateway) Credentials() (user, password string) { return g.cfg.Username, g.cfg.Password }

// Resolve looks up the addresses of the carrier's host name, which Matches
// compares requests against. A gateway given by IP address needs none.
func (g *Gateway) Resolve(ctx context.Context) error {
	if _, err := netip.ParseAddr(g.host); err == nil {
		return nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", g.host)
	if err != nil {
		return fmt.Errorf("gateway %s: resolve %s: %w", g.cfg.Name, g.host, err)
	}
	for i := range ips {
		ips[i] = ips[i].Unmap()
	}
	g.mu.Lock()
	g.ips = ips
	g.mu.Unlock()
	return nil
}

// Matches reports whether a request from ip comes from the carrier.
func (g *Gateway) Matches(ip netip.Addr) bool {
	ip = ip.Unmap()
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, a := range g.ips {
		if a == ip {
			return true
		}
	}
	return false
}

// URI returns the SIP URI of number at the carrier: the Request-URI and To
// of a call out through the gateway.
func (g *Gateway) URI(number string) sip.Uri {
	return sip.Uri{Scheme: "sip", User: number, Host: g.host, Port: g.port, UriParams: sip.NewParams(), Headers: sip.NewParams()}
}

// Status returns the gateway's current state.
func (g *Gateway) Status() Status {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.status
	if s.ExpiresAt != nil {
		at := *s.ExpiresAt
		s.ExpiresAt = &at
	}
	return s
}
