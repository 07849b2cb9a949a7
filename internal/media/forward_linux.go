package media

import (
	"encoding/binary"
	"fmt"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// tick is how often a busy forwarder polls its sockets.
const tick = time.Millisecond

// batchLen is how many datagrams one recvmmsg(2) takes at most.
const batchLen = 8

// forwarder moves the datagrams of many relay sockets on one goroutine.
//
// A goroutine per socket, waiting in the Go runtime's poller, costs a
// wake-up and a round of scheduling for every packet, and RTP comes alone,
// one packet every 20 ms a stream: at 200 calls/s that is 20,000 wake-ups a
// second. Here one goroutine polls its sockets with a level-triggered epoll
// of its own. While packets keep coming it polls once a tick and takes what
// every socket has queued, as rtpproxy's fixed-rate loop does, so a wake-up
// serves tens of packets and a packet waits at most a tick. Once a tick
// finds nothing it blocks in epoll_wait until the next packet.
//
// Sockets are read and written only while mu is held for reading, and
// closed only while it is held for writing, so a socket is never closed
// under a read and its descriptor never reused under a stale event.
type forwarder struct {
	epfd, wake int

	mu       sync.RWMutex
	handlers []func(pkt []byte) // by descriptor
	sockets  int
	stopping bool
	done     chan struct{}
}

func newForwarder() (*forwarder, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("relay: epoll: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("relay: eventfd: %w", err)
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wake)}); err != nil {
		unix.Close(wake)
		unix.Close(epfd)
		return nil, fmt.Errorf("relay: epoll: %w", err)
	}
	f := &forwarder{epfd: epfd, wake: wake, done: make(chan struct{})}
	go f.run()
	return f, nil
}

// add starts calling each socket's handler with the datagrams it
// receives: all of them, or none and an error. It reports false when the
// forwarder is stopping and takes no more sockets.
func (f *forwarder) add(socks []watched) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopping {
		return false, nil
	}
	for i, w := range socks {
		if err := unix.EpollCtl(f.epfd, unix.EPOLL_CTL_ADD, w.sock.fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(w.sock.fd)}); err != nil {
			for _, done := range socks[:i] {
				_ = unix.EpollCtl(f.epfd, unix.EPOLL_CTL_DEL, done.sock.fd, nil)
				f.handlers[done.sock.fd] = nil
			}
			return true, fmt.Errorf("relay: watch socket: %w", err)
		}
		if w.sock.fd >= len(f.handlers) {
			f.handlers = append(f.handlers, make([]func([]byte), w.sock.fd+1-len(f.handlers))...)
		}
		f.handlers[w.sock.fd] = w.handle
	}
	f.sockets += len(socks)
	return true, nil
}

// remove stops watching socks and closes them. The forwarder stops once
// it has none left.
func (f *forwarder) remove(socks []*udpSocket) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range socks {
		// Closing takes the socket out of the epoll set.
		f.handlers[s.fd] = nil
		s.close()
	}
	f.sockets -= len(socks)
	if f.sockets == 0 {
		f.stopping = true
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		_, _ = unix.Write(f.wake, one[:])
	}
}

func (f *forwarder) run() {
	defer close(f.done)
	defer unix.Close(f.epfd)
	defer unix.Close(f.wake)
	events := make([]unix.EpollEvent, 256)
	b := newBatch()
	timeout := -1
	for {
		n, err := unix.EpollWait(f.epfd, events, timeout)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			// Only a bad epoll descriptor fails here, which is a bug: the
			// relays' media stops rather than the process.
			return
		}
		f.mu.RLock()
		stop := f.stopping
		for _, ev := range events[:n] {
			// The wake-up descriptor has no handler.
			if fd := int(ev.Fd); fd < len(f.handlers) && f.handlers[fd] != nil {
				b.read(fd, f.handlers[fd])
			}
		}
		f.mu.RUnlock()
		switch {
		case stop:
			return
		case n == 0:
			timeout = -1
		default:
			time.Sleep(tick)
			timeout = 0
		}
	}
}

// batch is the memory one recvmmsg fills.
type batch struct {
	bufs [batchLen][maxDatagram]byte
	iovs [batchLen]unix.Iovec
	hdrs [batchLen]unix.Mmsghdr
}

func newBatch() *batch {
	b := new(batch)
	for i := range b.hdrs {
		b.iovs[i].Base = &b.bufs[i][0]
		b.iovs[i].SetLen(maxDatagram)
		b.hdrs[i].Hdr.Iov = &b.iovs[i]
		b.hdrs[i].Hdr.SetIovlen(1)
	}
	return b
}

// read hands what fd has queued to handle, at most batchLen datagrams: the
// level-triggered epoll reports a socket with more at the next poll, so
// that one busy socket does not hold back the others.
func (b *batch) read(fd int, handle func(pkt []byte)) {
	for {
		n, _, errno := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&b.hdrs[0])), batchLen, unix.MSG_DONTWAIT, 0, 0)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return
		}
		for i := range int(n) {
			handle(b.bufs[i][:b.hdrs[i].Len])
		}
		return
	}
}
