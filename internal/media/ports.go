package media

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
)

// ErrNoPorts means every RTP port of the configured range is in use.
var ErrNoPorts = errors.New("rtp: no free port pair in range")

// PortPool hands out RTP/RTCP socket pairs (an even RTP port and the odd port
// above it, RFC 3550 §11) bound on one IP address, from a port range or,
// when the range is empty, from ports the system picks.
type PortPool struct {
	ip       netip.Addr
	min, max int

	mu    sync.Mutex
	used  map[int]bool
	next  int
	inUse int
}

// NewPortPool makes a pool on ip for RTP ports min to max. min = max = 0
// lets the system pick the ports.
func NewPortPool(ip netip.Addr, min, max int) (*PortPool, error) {
	switch {
	case min == 0 && max == 0:
	case min < 1024 || max > 65535 || min > max:
		return nil, fmt.Errorf("rtp port range %d-%d: want 1024 <= min <= max <= 65535", min, max)
	case max-min < 1 || (min%2 == 1 && max-min < 2):
		return nil, fmt.Errorf("rtp port range %d-%d holds no even/odd port pair", min, max)
	}
	if min%2 == 1 {
		min++
	}
	return &PortPool{ip: ip, min: min, max: max, used: make(map[int]bool), next: min}, nil
}

// pair is an RTP socket and its RTCP socket.
type pair struct {
	rtp, rtcp *net.UDPConn
	port      int
}

// InUse returns how many port pairs are allocated.
func (p *PortPool) InUse() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inUse
}

func (p *PortPool) allocate() (*pair, error) {
	if p.min == 0 {
		return p.allocateAny()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	n := (p.max - p.min + 1) / 2
	for range n {
		port := p.next
		p.next += 2
		if p.next+1 > p.max {
			p.next = p.min
		}
		if p.used[port] {
			continue
		}
		pr, err := p.bind(port)
		if err != nil {
			// Taken by another process: try the next pair.
			continue
		}
		p.used[port] = true
		p.inUse++
		return pr, nil
	}
	return nil, ErrNoPorts
}

// allocateAny binds an RTP port the system picks and the odd port above it,
// retrying a bounded number of times when that one is taken.
func (p *PortPool) allocateAny() (*pair, error) {
	for range 64 {
		rtp, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.ip, 0)))
		if err != nil {
			return nil, fmt.Errorf("bind rtp socket: %w", err)
		}
		port := rtp.LocalAddr().(*net.UDPAddr).Port
		if port%2 == 1 || port == 65535 {
			rtp.Close()
			continue
		}
		rtcp, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.ip, uint16(port+1))))
		if err != nil {
			rtp.Close()
			continue
		}
		p.mu.Lock()
		p.inUse++
		p.mu.Unlock()
		return &pair{rtp: rtp, rtcp: rtcp, port: port}, nil
	}
	return nil, ErrNoPorts
}

func (p *PortPool) bind(port int) (*pair, error) {
	rtp, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.ip, uint16(port))))
	if err != nil {
		return nil, err
	}
	rtcp, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.ip, uint16(port+1))))
	if err != nil {
		rtp.Close()
		return nil, err
	}
	return &pair{rtp: rtp, rtcp: rtcp, port: port}, nil
}

func (p *PortPool) release(pr *pair) {
	pr.rtp.Close()
	pr.rtcp.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.used, pr.port)
	p.inUse--
}
