package pbx

import (
	"net"
	"net/netip"
	"strings"
	"sync"

	"github.com/emiago/sipgo/sip"
)

// maxLocalCache bounds the remembered local address per remote address.
const maxLocalCache = 10000

// localAddrs chooses the PBX's own address toward a remote party: the one
// put in Contact, Via, From and SDP. It is the address of the interface the
// party's packets come in on, which is the one the system routes replies
// from; or the external address when the party is outside the local
// networks (Asterisk's external_media_address and local_net): with an
// external address, a party is local only if a local network holds it.
type localAddrs struct {
	bind      netip.Addr // the first listener's address; unspecified: all interfaces
	external  netip.Addr // invalid: none
	localNets []netip.Prefix
	fallback  netip.Addr // when the route to a party cannot be found

	mu    sync.Mutex
	cache map[netip.Addr]netip.Addr
}

// forRemote returns the PBX's address toward remote.
func (a *localAddrs) forRemote(remote netip.Addr) netip.Addr {
	remote = remote.Unmap()
	if a.external.IsValid() && remote.IsValid() && !a.isLocal(remote) {
		return a.external
	}
	if !a.bind.IsUnspecified() {
		return a.bind
	}
	if !remote.IsValid() {
		return a.fallback
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if ip, ok := a.cache[remote]; ok {
		return ip
	}
	ip := routeFrom(remote)
	if !ip.IsValid() {
		return a.fallback
	}
	if len(a.cache) >= maxLocalCache {
		clear(a.cache)
	}
	a.cache[remote] = ip
	return ip
}

func (a *localAddrs) isLocal(ip netip.Addr) bool {
	for _, n := range a.localNets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// routeFrom asks the system which of its addresses it sends to remote
// from: connecting a UDP socket sends nothing but picks the route.
func routeFrom(remote netip.Addr) netip.Addr {
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(remote, 9)))
	if err != nil {
		return netip.Addr{}
	}
	defer conn.Close()
	ap := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	return ap.Addr().Unmap()
}

// hostOf returns the IP address of a "host:port", or an invalid one.
func hostOf(hostport string) netip.Addr {
	if ap, err := netip.ParseAddrPort(hostport); err == nil {
		return ap.Addr().Unmap()
	}
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	ip, _ := netip.ParseAddr(strings.Trim(host, "[]"))
	return ip.Unmap()
}

// domainFor is the SIP domain toward remote: sip.domain, else the PBX's
// address toward it.
func (p *PBX) domainFor(remote netip.Addr) string {
	if p.conf().Domain != "" {
		return p.conf().Domain
	}
	return p.local.forRemote(remote).String()
}

// realmOf is the digest realm of a request: sip.domain, else the host the
// phone sent its request to, so that it asks for the password of the
// address it was configured with.
func (p *PBX) realmOf(req *sip.Request) string {
	if p.conf().Domain != "" {
		return p.conf().Domain
	}
	if h := strings.ToLower(req.Recipient.Host); h != "" {
		return h
	}
	return p.local.forRemote(sourceIP(req)).String()
}

// transportTo returns the transport of network ("udp", "UDP"…) whose
// Contact and Via carry the PBX's address toward remote, making it on first
// use.
func (p *PBX) transportTo(network string, remote netip.Addr) *transport {
	base := p.transportFor(network)
	if base == nil {
		return nil
	}
	host := p.local.forRemote(remote)
	key := hostKey{base.network, host}
	p.tmu.Lock()
	defer p.tmu.Unlock()
	if t, ok := p.byHost[key]; ok {
		return t
	}
	t, err := p.newTransport(base.network, host, base.bound, p.sipLog)
	if err != nil {
		p.log.Warn("make transport toward a party; using the default one", "network", base.network, "host", host, "err", err)
		return base
	}
	p.byHost[key] = t
	return t
}

// hostKey names a transport in PBX.byHost: its network and the PBX's
// address in its Contact and Via.
type hostKey struct {
	network string
	host    netip.Addr
}

// remoteIP is the address of the party on l: where its INVITE came from, or
// where the PBX sends its INVITE.
func (l *dialogLeg) remoteIP() netip.Addr {
	if l.server != nil {
		return sourceIP(l.server.InviteRequest)
	}
	return hostOf(l.target.dest)
}
