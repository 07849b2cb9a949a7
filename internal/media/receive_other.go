//go:build !linux

package media

import (
	"errors"
	"net"
)

// receive calls handle with each datagram conn receives, in order, until
// conn is closed. handle must not keep the slice.
func receive(conn *net.UDPConn, handle func(pkt []byte)) {
	buf := make([]byte, maxDatagram)
	for {
		n, _, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		handle(buf[:n])
	}
}
