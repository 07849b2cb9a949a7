package media

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
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

	// The relays' sockets are spread over a forwarder a core, each
	// started with its first socket and stopped with its last.
	fwdMu   sync.Mutex
	fwd     []*forwarder
	nextFwd int
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
	return &PortPool{ip: ip, min: min, max: max, used: make(map[int]bool), next: min,
		fwd: make([]*forwarder, runtime.GOMAXPROCS(0))}, nil
}

// pair is an RTP socket and its RTCP socket.
type pair struct {
	rtp, rtcp *udpSocket
	port      int
}

func (pr *pair) close() {
	pr.rtp.close()
	pr.rtcp.close()
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
		rtp, err := listenUDP(p.ip, 0)
		if err != nil {
			return nil, fmt.Errorf("bind rtp socket: %w", err)
		}
		port := rtp.port
		if port%2 == 1 || port == 65535 {
			rtp.close()
			continue
		}
		rtcp, err := listenUDP(p.ip, port+1)
		if err != nil {
			rtp.close()
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
	rtp, err := listenUDP(p.ip, port)
	if err != nil {
		return nil, err
	}
	rtcp, err := listenUDP(p.ip, port+1)
	if err != nil {
		rtp.close()
		return nil, err
	}
	return &pair{rtp: rtp, rtcp: rtcp, port: port}, nil
}

// release gives the port pair back; its sockets are closed already.
func (p *PortPool) release(pr *pair) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.used, pr.port)
	p.inUse--
}

// watched is a socket and what handles the datagrams it receives.
type watched struct {
	sock   *udpSocket
	handle func(pkt []byte)
}

// watch hands socks to one forwarder, the next in turn, starting it when
// it is not running, and returns it.
func (p *PortPool) watch(socks []watched) (*forwarder, error) {
	p.fwdMu.Lock()
	defer p.fwdMu.Unlock()
	i := p.nextFwd
	p.nextFwd = (p.nextFwd + 1) % len(p.fwd)
	for {
		f := p.fwd[i]
		if f == nil {
			var err error
			if f, err = newForwarder(); err != nil {
				return nil, err
			}
			p.fwd[i] = f
		}
		added, err := f.add(socks)
		if err != nil {
			return nil, err
		}
		if added {
			return f, nil
		}
		// Stopping since its last socket left: start another.
		p.fwd[i] = nil
	}
}

// unwatch takes the pairs' sockets from f and closes them.
func (p *PortPool) unwatch(f *forwarder, pairs ...*pair) {
	socks := make([]*udpSocket, 0, 2*len(pairs))
	for _, pr := range pairs {
		socks = append(socks, pr.rtp, pr.rtcp)
	}
	f.remove(socks)
}
