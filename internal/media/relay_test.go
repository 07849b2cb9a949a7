package media

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// party is a media endpoint on loopback: a socket the relay sends to.
type party struct {
	conn *net.UDPConn
}

func newParty(t *testing.T) *party {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &party{conn: c}
}

func (p *party) addr() netip.AddrPort { return p.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func (p *party) send(t *testing.T, pkt rtp.Packet, to int) {
	t.Helper()
	b, err := pkt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.conn.WriteToUDPAddrPort(b, netip.AddrPortFrom(loopback, uint16(to))); err != nil {
		t.Fatal(err)
	}
}

// recv reads one packet, or returns false when none arrives in a while.
func (p *party) recv(t *testing.T, wait time.Duration) (rtp.Packet, bool) {
	t.Helper()
	buf := make([]byte, 1500)
	p.conn.SetReadDeadline(time.Now().Add(wait))
	n, err := p.conn.Read(buf)
	if err != nil {
		return rtp.Packet{}, false
	}
	var pkt rtp.Packet
	if err := pkt.Unmarshal(buf[:n]); err != nil {
		t.Fatal(err)
	}
	return pkt, true
}

type digits struct {
	mu  sync.Mutex
	got []string
}

func (d *digits) add(s Side, dg Digit) {
	d.mu.Lock()
	defer d.mu.Unlock()
	name := "A"
	if s == SideB {
		name = "B"
	}
	d.got = append(d.got, name+dg.Digit+dg.Duration.String())
}

func (d *digits) list() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.got...)
}

// newTestRelay makes a relay on a loopback pool of its own, the digits it
// spots collected in the returned digits; it is closed when t ends.
func newTestRelay(t *testing.T) (*PortPool, *Relay, *digits) {
	t.Helper()
	pool, err := NewPortPool(loopback, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	dg := &digits{}
	r, err := pool.NewRelay(dg.add)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return pool, r, dg
}

func TestRelay(t *testing.T) {
	pool, r, dg := newTestRelay(t)
	if pool.InUse() != 2 {
		t.Errorf("InUse = %d, want 2", pool.InUse())
	}
	caller, callee := newParty(t), newParty(t)
	r.SetRemote(SideA, caller.addr(), map[uint8]uint32{101: 8000})
	r.SetRemote(SideB, callee.addr(), map[uint8]uint32{101: 8000})
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}

	audio := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: 1, Timestamp: 160, SSRC: 1}, Payload: make([]byte, 160)}
	caller.send(t, audio, r.Port(SideA))
	if got, ok := callee.recv(t, 2*time.Second); !ok || got.SequenceNumber != 1 || len(got.Payload) != 160 {
		t.Fatalf("callee got %+v, %v", got.Header, ok)
	}
	callee.send(t, audio, r.Port(SideB))
	if _, ok := caller.recv(t, 2*time.Second); !ok {
		t.Fatal("caller got nothing")
	}

	for _, p := range pcapDigit(1, 13280, 10) {
		caller.send(t, p, r.Port(SideA))
	}
	for range 10 {
		if _, ok := callee.recv(t, 2*time.Second); !ok {
			t.Fatal("callee missed a telephone-event packet")
		}
	}
	for _, p := range pcapDigit(11, 92640, 40) {
		callee.send(t, p, r.Port(SideB))
	}
	for range 10 {
		if _, ok := caller.recv(t, 2*time.Second); !ok {
			t.Fatal("caller missed a telephone-event packet")
		}
	}
	want := []string{"A1280ms", "B#280ms"}
	got := dg.list()
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("digits = %v, want %v", got, want)
	}

	// On hold with c=0.0.0.0 nothing goes to the callee.
	r.SetRemote(SideB, netip.AddrPortFrom(netip.IPv4Unspecified(), 4000), nil)
	caller.send(t, audio, r.Port(SideA))
	if _, ok := callee.recv(t, 200*time.Millisecond); ok {
		t.Error("callee received media while its address is 0.0.0.0")
	}
	if r.Packets(SideA) != 12 || r.Packets(SideB) != 11 {
		t.Errorf("packets A=%d B=%d, want 12 and 11", r.Packets(SideA), r.Packets(SideB))
	}

	r.Close()
	r.Close()
	if pool.InUse() != 0 {
		t.Errorf("InUse after Close = %d", pool.InUse())
	}
}

func TestPortPoolRange(t *testing.T) {
	// Find a free even port pair block by binding one, then use a range of
	// exactly two pairs around it.
	probe, err := NewPortPool(loopback, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	pr, err := probe.allocate()
	if err != nil {
		t.Fatal(err)
	}
	base := pr.port
	pr.close()
	probe.release(pr)

	pool, err := NewPortPool(loopback, base, base+1)
	if err != nil {
		t.Fatal(err)
	}
	r, err := pool.NewRelay(nil)
	if err == nil {
		r.Close()
		t.Fatal("a relay needs two pairs; a one-pair range gave one")
	}
	if !errors.Is(err, ErrNoPorts) {
		t.Errorf("err = %v, want ErrNoPorts", err)
	}
	if pool.InUse() != 0 {
		t.Errorf("InUse after failed relay = %d", pool.InUse())
	}
	a, err := pool.allocate()
	if err != nil {
		t.Fatal(err)
	}
	if a.port != base {
		t.Errorf("port = %d, want %d", a.port, base)
	}
	a.close()
	pool.release(a)
}

func TestNewPortPoolErrors(t *testing.T) {
	for _, r := range [][2]int{{80, 100}, {20000, 10000}, {10000, 70000}, {10001, 10002}} {
		if _, err := NewPortPool(loopback, r[0], r[1]); err == nil {
			t.Errorf("range %v accepted", r)
		}
	}
}

// Packets queued before the relay reads, more than one read takes, all
// arrive, in order, with the telephone-event among them spotted.
func TestRelayBacklog(t *testing.T) {
	t.Parallel()
	_, r, dg := newTestRelay(t)
	caller, callee := newParty(t), newParty(t)
	r.SetRemote(SideA, caller.addr(), map[uint8]uint32{101: 8000})
	r.SetRemote(SideB, callee.addr(), nil)

	// More than one recvmmsg takes on Linux (batchLen), and not a multiple.
	const n = 27
	digit := pcapDigit(1, 13280, 10)
	for i := range n {
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 8, SequenceNumber: uint16(100 + i), Timestamp: uint32(160 * i), SSRC: 7}, Payload: make([]byte, 160)}
		if i >= n-len(digit) {
			p = digit[i-(n-len(digit))]
		}
		caller.send(t, p, r.Port(SideA))
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		got, ok := callee.recv(t, 2*time.Second)
		if !ok {
			t.Fatalf("callee got %d packets of %d", i, n)
		}
		want := uint16(100 + i)
		if i >= n-len(digit) {
			want = digit[i-(n-len(digit))].SequenceNumber
		}
		if got.SequenceNumber != want {
			t.Fatalf("packet %d has sequence number %d, want %d", i, got.SequenceNumber, want)
		}
	}
	if got := r.Packets(SideA); got != n {
		t.Errorf("packets from A = %d, want %d", got, n)
	}
	if got := dg.list(); len(got) != 1 || got[0] != "A1280ms" {
		t.Errorf("digits = %v, want [A1280ms]", got)
	}
}

// A forwarder stops with the last relay it carries, and a relay started
// after that gets a new one and relays.
func TestForwarderRestartsAfterItsLastRelay(t *testing.T) {
	t.Parallel()
	pool, err := NewPortPool(loopback, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var first []*forwarder
	for range 2 * len(pool.fwd) {
		r, err := pool.NewRelay(nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Start(); err != nil {
			t.Fatal(err)
		}
		first = append(first, r.fwd)
		r.Close()
	}
	for _, f := range first {
		if !f.stopping {
			t.Fatal("a forwarder with no sockets left is not stopping")
		}
		waitStopped(t, f)
	}

	r, err := pool.NewRelay(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	caller, callee := newParty(t), newParty(t)
	r.SetRemote(SideA, caller.addr(), nil)
	r.SetRemote(SideB, callee.addr(), nil)
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	caller.send(t, rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: 9}, Payload: make([]byte, 160)}, r.Port(SideA))
	if got, ok := callee.recv(t, 2*time.Second); !ok || got.SequenceNumber != 9 {
		t.Fatalf("callee got %+v, %v", got.Header, ok)
	}
}

// Relays closed while their parties keep sending, on forwarders that go on
// carrying another relay, give their ports back and leave that relay
// relaying.
func TestRelayCloseWhilePacketsFlow(t *testing.T) {
	t.Parallel()
	pool, err := NewPortPool(loopback, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	keep, _ := pool.NewRelay(nil)
	defer keep.Close()
	kc, kd := newParty(t), newParty(t)
	keep.SetRemote(SideA, kc.addr(), nil)
	keep.SetRemote(SideB, kd.addr(), nil)
	if err := keep.Start(); err != nil {
		t.Fatal(err)
	}

	const relays = 20
	var wg sync.WaitGroup
	for range relays {
		r, err := pool.NewRelay(nil)
		if err != nil {
			t.Fatal(err)
		}
		caller, callee := newParty(t), newParty(t)
		r.SetRemote(SideA, caller.addr(), nil)
		r.SetRemote(SideB, callee.addr(), nil)
		if err := r.Start(); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, _ := (&rtp.Packet{Header: rtp.Header{Version: 2}, Payload: make([]byte, 160)}).Marshal()
			for i := range 200 {
				if i == 100 {
					r.Close()
				}
				_, _ = caller.conn.WriteToUDPAddrPort(b, netip.AddrPortFrom(loopback, uint16(r.Port(SideA))))
			}
		}()
	}
	wg.Wait()
	if n := pool.InUse(); n != 2 {
		t.Errorf("InUse = %d, want the 2 pairs of the relay left", n)
	}
	kc.send(t, rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: 5}, Payload: make([]byte, 160)}, keep.Port(SideA))
	if got, ok := kd.recv(t, 2*time.Second); !ok || got.SequenceNumber != 5 {
		t.Fatalf("the relay left got %+v, %v", got.Header, ok)
	}
}

// The relay's sockets speak IPv6 as well: its own address encoding for
// sendto is checked against real sockets on ::1.
func TestRelayIPv6(t *testing.T) {
	t.Parallel()
	lo6 := netip.MustParseAddr("::1")
	listen := func() *net.UDPConn {
		c, err := net.ListenUDP("udp6", net.UDPAddrFromAddrPort(netip.AddrPortFrom(lo6, 0)))
		if err != nil {
			t.Skipf("no IPv6 loopback: %v", err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	caller, callee := &party{conn: listen()}, &party{conn: listen()}
	pool, err := NewPortPool(lo6, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	r, err := pool.NewRelay(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.SetRemote(SideA, caller.addr(), nil)
	r.SetRemote(SideB, callee.addr(), nil)
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	b, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: 3}, Payload: make([]byte, 160)}).Marshal()
	if _, err := caller.conn.WriteToUDPAddrPort(b, netip.AddrPortFrom(lo6, uint16(r.Port(SideA)))); err != nil {
		t.Fatal(err)
	}
	if got, ok := callee.recv(t, 2*time.Second); !ok || got.SequenceNumber != 3 {
		t.Fatalf("callee got %+v, %v", got.Header, ok)
	}
}
