package media

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// udpSocket is a relay socket, kept out of the Go runtime's poller: the
// pool's forwarders poll it themselves (forward_linux.go).
type udpSocket struct {
	fd   int
	port int
	v6   bool
}

// listenUDP binds a UDP socket on ip and port (0: the system picks).
func listenUDP(ip netip.Addr, port int) (*udpSocket, error) {
	ip = ip.Unmap()
	family := unix.AF_INET
	if ip.Is6() {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return nil, fmt.Errorf("udp socket: %w", err)
	}
	var sa unix.Sockaddr
	if ip.Is6() {
		// As net.ListenUDP does: the unspecified address also takes IPv4.
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, boolInt(!ip.IsUnspecified())); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("udp socket: %w", err)
		}
		sa6 := &unix.SockaddrInet6{Port: port, Addr: ip.As16()}
		if zone := ip.Zone(); zone != "" {
			ifi, err := net.InterfaceByName(zone)
			if err != nil {
				unix.Close(fd)
				return nil, fmt.Errorf("udp socket on %s: %w", ip, err)
			}
			sa6.ZoneId = uint32(ifi.Index)
		}
		sa = sa6
	} else {
		sa = &unix.SockaddrInet4{Port: port, Addr: ip.As4()}
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind %s: %w", netip.AddrPortFrom(ip, uint16(port)), err)
	}
	if port == 0 {
		got, err := unix.Getsockname(fd)
		if err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("udp socket: %w", err)
		}
		switch a := got.(type) {
		case *unix.SockaddrInet4:
			port = a.Port
		case *unix.SockaddrInet6:
			port = a.Port
		}
	}
	return &udpSocket{fd: fd, port: port, v6: ip.Is6()}, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (s *udpSocket) close() { unix.Close(s.fd) }

// dest is a destination in the form sendto(2) takes, made once for each
// address a party gives rather than once a packet.
type dest struct {
	raw [unix.SizeofSockaddrInet6]byte
	len uint32 // 0: not reachable from this socket
}

// dest encodes addr for this socket's family; an IPv6 address is not
// reachable from an IPv4 socket.
func (s *udpSocket) dest(addr netip.AddrPort) dest {
	var d dest
	ip := addr.Addr()
	if s.v6 {
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&d.raw[0]))
		sa.Family = unix.AF_INET6
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], addr.Port())
		sa.Addr = ip.As16()
		d.len = unix.SizeofSockaddrInet6
		return d
	}
	if !ip.Unmap().Is4() {
		return d
	}
	sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&d.raw[0]))
	sa.Family = unix.AF_INET
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], addr.Port())
	sa.Addr = ip.Unmap().As4()
	d.len = unix.SizeofSockaddrInet4
	return d
}

// sendTo sends b to d. A lost packet is as good as a late one for
// real-time media, so errors are not reported.
func (s *udpSocket) sendTo(b []byte, d *dest) {
	if d.len == 0 || len(b) == 0 {
		return
	}
	// sendto on a non-blocking UDP socket does not block: the raw form
	// spares the scheduler's bookkeeping of a blocking system call.
	_, _, _ = unix.RawSyscall6(unix.SYS_SENDTO, uintptr(s.fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0,
		uintptr(unsafe.Pointer(&d.raw[0])), uintptr(d.len))
}
