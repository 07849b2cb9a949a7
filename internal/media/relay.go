package media

import (
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/pion/rtp"
)

// Side names one end of a relay: A faces the caller, B the callee.
type Side int

// The two sides of a relay.
const (
	SideA Side = iota
	SideB
)

func (s Side) other() Side { return 1 - s }

// maxDatagram is the most of a datagram the relay forwards: an Ethernet
// frame's payload, which RTP over UDP stays within.
const maxDatagram = 1500

// DTMFFunc receives each digit that ends in the packets arriving on a side.
// It runs on the relay's forwarder, which serves many calls, and must not
// block.
type DTMFFunc func(from Side, d Digit)

// Relay moves RTP and RTCP between two sides of a call, each with its own
// socket pair on the PBX, so that both parties send their media to the PBX.
// Packets are forwarded unchanged: the PBX does not transcode, and passing
// RFC 4733 events through as they are keeps DTMF intact for the far end.
//
// This is hand-written rather than diago's Bridge because a Bridge
// terminates media on each leg and re-encodes DTMF without its duration,
// while a B2BUA that reports DTMF durations and relays hold needs the
// packets themselves.
type Relay struct {
	pool   *PortPool
	sides  [2]*relaySide
	onDTMF DTMFFunc

	// mu is held for reading while the PBX sends media of its own, so
	// that Close does not close a socket under it.
	mu      sync.RWMutex
	fwd     *forwarder // nil until Start
	started bool
	closed  bool
}

type relaySide struct {
	pair *pair

	// remote is where this side's party receives media; the forwarder
	// reads it for every packet, SetRemote replaces it.
	remote atomic.Pointer[remote]
	// detector is used only by the forwarder, for this side's packets.
	detector DTMFDetector

	packets atomic.Uint64 // RTP packets received from this side's party
}

// remote is what a side's party said about its media: where it receives
// RTP (RTCP at the port above) and which payload types are
// telephone-events (with their clock rate, 0 for the others; indexing an
// array costs a fraction of a map lookup, and every packet is looked up).
type remote struct {
	addr      netip.AddrPort
	rtp, rtcp dest
	events    [128]uint32
}

// NewRelay allocates a socket pair for each side. onDTMF may be nil.
func (p *PortPool) NewRelay(onDTMF DTMFFunc) (*Relay, error) {
	r := &Relay{pool: p, onDTMF: onDTMF}
	for i := range r.sides {
		pr, err := p.allocate()
		if err != nil {
			for _, s := range r.sides[:i] {
				s.pair.close()
				p.release(s.pair)
			}
			return nil, err
		}
		r.sides[i] = &relaySide{pair: pr}
		r.sides[i].remote.Store(&remote{})
	}
	return r, nil
}

// Port returns the PBX's RTP port on side s: the port that side's party is
// told to send to.
func (r *Relay) Port(s Side) int { return r.sides[s].pair.port }

// SetRemote records where side s's party receives media (from its SDP) and
// which payload types are telephone-events (type to clock rate); types
// given before stay. An invalid or unspecified address stops media toward
// the party, as on an RFC 2543 hold.
func (r *Relay) SetRemote(s Side, addr netip.AddrPort, events map[uint8]uint32) {
	rs := r.sides[s]
	next := *rs.remote.Load()
	next.addr = addr
	next.rtp, next.rtcp = dest{}, dest{}
	if usable(addr) {
		next.rtp = rs.pair.rtp.dest(addr)
		next.rtcp = rs.pair.rtcp.dest(netip.AddrPortFrom(addr.Addr(), addr.Port()+1))
	}
	for pt, rate := range events {
		// RTP payload types have 7 bits (RFC 3550 §5.1).
		if int(pt) < len(next.events) {
			next.events[pt] = rate
		}
	}
	rs.remote.Store(&next)
}

// Packets returns how many RTP packets arrived from side s's party.
func (r *Relay) Packets(s Side) uint64 { return r.sides[s].packets.Load() }

// Start begins relaying. It fails only when the system refuses the
// forwarder its poller; the relay must still be closed.
func (r *Relay) Start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started || r.closed {
		return nil
	}
	a, b := r.sides[SideA], r.sides[SideB]
	fwd, err := r.pool.watch([]watched{
		{a.pair.rtp, func(pkt []byte) { r.forwardRTP(SideA, pkt) }},
		{a.pair.rtcp, func(pkt []byte) { b.pair.rtcp.sendTo(pkt, &b.remoteOf().rtcp) }},
		{b.pair.rtp, func(pkt []byte) { r.forwardRTP(SideB, pkt) }},
		{b.pair.rtcp, func(pkt []byte) { a.pair.rtcp.sendTo(pkt, &a.remoteOf().rtcp) }},
	})
	if err != nil {
		return err
	}
	r.fwd, r.started = fwd, true
	return nil
}

// Close stops relaying and gives the ports back. It is safe to call more
// than once.
func (r *Relay) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.closed = true
	if r.fwd != nil {
		r.pool.unwatch(r.fwd, r.sides[SideA].pair, r.sides[SideB].pair)
	} else {
		for _, s := range r.sides {
			s.pair.close()
		}
	}
	for _, s := range r.sides {
		r.pool.release(s.pair)
	}
}

func (rs *relaySide) remoteOf() *remote { return rs.remote.Load() }

// forwardRTP sends what side s's party sent to the other party, noting the
// digits it ends. The other side's remote is the destination: packets
// from A go out of B's socket to B's party.
func (r *Relay) forwardRTP(s Side, pkt []byte) {
	in, out := r.sides[s], r.sides[s.other()]
	in.packets.Add(1)
	r.inspect(s, in, pkt)
	out.pair.rtp.sendTo(pkt, &out.remoteOf().rtp)
}

// inspect reports the digit a telephone-event packet ends.
func (r *Relay) inspect(s Side, in *relaySide, pkt []byte) {
	if r.onDTMF == nil || len(pkt) < 2 {
		return
	}
	// The payload type is in the second byte: audio, nearly every packet,
	// needs no more than that.
	rate := in.remoteOf().events[pkt[1]&0x7f]
	if rate == 0 {
		return
	}
	var h rtp.Header
	off, err := h.Unmarshal(pkt)
	if err != nil {
		return
	}
	if d, ok := in.detector.Packet(&h, pkt[off:], rate); ok {
		r.onDTMF(s, d)
	}
}
