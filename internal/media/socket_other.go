//go:build !linux

package media

import (
	"errors"
	"net"
	"net/netip"
	"sync"
)

// udpSocket is a relay socket.
type udpSocket struct {
	conn *net.UDPConn
	port int
	done chan struct{} // closed when its reader has returned
}

// listenUDP binds a UDP socket on ip and port (0: the system picks).
func listenUDP(ip netip.Addr, port int) (*udpSocket, error) {
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port))))
	if err != nil {
		return nil, err
	}
	return &udpSocket{conn: c, port: c.LocalAddr().(*net.UDPAddr).Port}, nil
}

func (s *udpSocket) close() { s.conn.Close() }

// dest is a destination; ok is false when there is none.
type dest struct {
	addr netip.AddrPort
	ok   bool
}

func (s *udpSocket) dest(addr netip.AddrPort) dest { return dest{addr, true} }

// sendTo sends b to d. A lost packet is as good as a late one for
// real-time media, so errors are not reported.
func (s *udpSocket) sendTo(b []byte, d *dest) {
	if d.ok {
		_, _ = s.conn.WriteToUDPAddrPort(b, d.addr)
	}
}

// forwarder reads each of its sockets on a goroutine of its own.
type forwarder struct {
	mu       sync.Mutex
	sockets  int
	stopping bool
}

func newForwarder() (*forwarder, error) { return &forwarder{}, nil }

// add starts calling each socket's handler with the datagrams it
// receives. It reports false when the forwarder is stopping.
func (f *forwarder) add(socks []watched) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopping {
		return false, nil
	}
	for _, w := range socks {
		w.sock.done = make(chan struct{})
		go read(w.sock, w.handle)
	}
	f.sockets += len(socks)
	return true, nil
}

// remove closes socks and waits for their readers.
func (f *forwarder) remove(socks []*udpSocket) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range socks {
		s.close()
		<-s.done
	}
	f.sockets -= len(socks)
	f.stopping = f.sockets == 0
}

func read(s *udpSocket, handle func(pkt []byte)) {
	defer close(s.done)
	buf := make([]byte, maxDatagram)
	for {
		n, _, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		handle(buf[:n])
	}
}
