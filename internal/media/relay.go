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
// It runs on the relay's reader goroutine and must not block for long.
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
	wg     sync.WaitGroup
	once   sync.Once
}

type relaySide struct {
	pair *pair

	mu     sync.Mutex
	remote netip.AddrPort // where this side's party receives RTP
	// events holds the clock rate of each telephone-event payload type,
	// 0 for the others: every packet is looked up here, and indexing an
	// array costs a fraction of a map lookup.
	events   [128]uint32
	detector DTMFDetector

	packets atomic.Uint64 // RTP packets received from this side's party
}

// NewRelay allocates a socket pair for each side. onDTMF may be nil.
func (p *PortPool) NewRelay(onDTMF DTMFFunc) (*Relay, error) {
	r := &Relay{pool: p, onDTMF: onDTMF}
	for i := range r.sides {
		pr, err := p.allocate()
		if err != nil {
			for _, s := range r.sides[:i] {
				p.release(s.pair)
			}
			return nil, err
		}
		r.sides[i] = &relaySide{pair: pr}
	}
	return r, nil
}

// Port returns the PBX's RTP port on side s: the port that side's party is
// told to send to.
func (r *Relay) Port(s Side) int { return r.sides[s].pair.port }

// SetRemote records where side s's party receives media (from its SDP) and
// which payload types are telephone-events (type to clock rate). An invalid
// or unspecified address stops media toward the party, as on an RFC 2543
// hold.
func (r *Relay) SetRemote(s Side, addr netip.AddrPort, events map[uint8]uint32) {
	rs := r.sides[s]
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.remote = addr
	for pt, rate := range events {
		// RTP payload types have 7 bits (RFC 3550 §5.1).
		if int(pt) < len(rs.events) {
			rs.events[pt] = rate
		}
	}
}

// Packets returns how many RTP packets arrived from side s's party.
func (r *Relay) Packets(s Side) uint64 { return r.sides[s].packets.Load() }

// Start begins relaying. It returns at once; Close stops it.
func (r *Relay) Start() {
	for _, s := range []Side{SideA, SideB} {
		r.wg.Add(2)
		go r.forward(s, false)
		go r.forward(s, true)
	}
}

// Close stops relaying, waits for the relay's goroutines and gives the
// ports back. It is safe to call more than once.
func (r *Relay) Close() {
	r.once.Do(func() {
		for _, s := range r.sides {
			s.pair.rtp.Close()
			s.pair.rtcp.Close()
		}
		r.wg.Wait()
		for _, s := range r.sides {
			r.pool.release(s.pair)
		}
	})
}

// forward reads what side s's party sends and writes it out of the other
// side's socket to the other party.
func (r *Relay) forward(s Side, rtcp bool) {
	defer r.wg.Done()
	in, out := r.sides[s], r.sides[s.other()]
	conn, outConn := in.pair.rtp, out.pair.rtp
	if rtcp {
		conn, outConn = in.pair.rtcp, out.pair.rtcp
	}
	var h rtp.Header
	receive(conn, func(pkt []byte) {
		if !rtcp {
			in.packets.Add(1)
			r.inspect(s, in, &h, pkt)
		}
		out.mu.Lock()
		dst := out.remote
		out.mu.Unlock()
		if !usable(dst) {
			return
		}
		if rtcp {
			dst = netip.AddrPortFrom(dst.Addr(), dst.Port()+1)
		}
		// A lost packet is as good as a late one for real-time media, so a
		// write error is not retried.
		_, _ = outConn.WriteToUDPAddrPort(pkt, dst)
	})
}

// inspect reports the digit a telephone-event packet ends.
func (r *Relay) inspect(s Side, in *relaySide, h *rtp.Header, pkt []byte) {
	if r.onDTMF == nil || len(pkt) < 2 {
		return
	}
	// The payload type is in the second byte: audio, nearly every packet,
	// needs no more than that.
	in.mu.Lock()
	event := in.events[pkt[1]&0x7f] != 0
	in.mu.Unlock()
	if !event {
		return
	}
	off, err := h.Unmarshal(pkt)
	if err != nil {
		return
	}
	in.mu.Lock()
	var d Digit
	ok := false
	if rate := in.events[h.PayloadType]; rate != 0 {
		d, ok = in.detector.Packet(h, pkt[off:], rate)
	}
	in.mu.Unlock()
	if ok {
		r.onDTMF(s, d)
	}
}
