package media

import (
	"net"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// batchLen is how many datagrams one recvmmsg(2) takes at most.
const batchLen = 8

// batch is the memory one recvmmsg fills. Batches are pooled rather than
// kept per socket: a socket holds one only while it reads, so thousands of
// relays waiting between packets hold none.
type batch struct {
	bufs [batchLen][maxDatagram]byte
	iovs [batchLen]unix.Iovec
	hdrs [batchLen]unix.Mmsghdr
}

var batches = sync.Pool{New: func() any {
	b := new(batch)
	for i := range b.hdrs {
		b.iovs[i].Base = &b.bufs[i][0]
		b.iovs[i].SetLen(maxDatagram)
		b.hdrs[i].Hdr.Iov = &b.iovs[i]
		b.hdrs[i].Hdr.SetIovlen(1)
	}
	return b
}}

// receive calls handle with each datagram conn receives, in order, until
// conn is closed. handle must not keep the slice.
//
// Reading with net.UDPConn costs a second system call for every packet
// that arrives alone, as RTP does (one every 20 ms a socket): the read that
// finds the queue empty (EAGAIN) before the goroutine waits. Here one
// recvmmsg takes what is queued, and fewer datagrams than it asked for
// means the queue was empty, so the goroutine waits at once: the poller
// wakes it for any datagram queued after that read.
func receive(conn *net.UDPConn, handle func(pkt []byte)) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return
	}
	// Read returns once the socket is closed.
	_ = rc.Read(func(fd uintptr) bool {
		b := batches.Get().(*batch)
		defer batches.Put(b)
		for {
			n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.hdrs[0])), batchLen, 0, 0, 0)
			if errno == unix.EINTR {
				continue
			}
			if errno != 0 {
				// EAGAIN, or an error of this read alone: wait for the
				// next datagram either way, as nothing here can be retried
				// to better effect.
				return false
			}
			for i := range int(n) {
				handle(b.bufs[i][:b.hdrs[i].Len])
			}
			if n < batchLen {
				return false
			}
		}
	})
}
