package connector

import "sync"

// Backlog is an unbounded FIFO between a connection's reader and the
// goroutine that tracks and emits its events. Push never blocks, so the
// reader keeps draining the engine's socket however slow the recorder or
// the store is: an engine drops a client that falls behind (Asterisk closes
// the WebSocket after websocket_write_timeout, FreeSWITCH queues and then
// discards a slow event socket's events), losing far more than the memory
// a backlog takes. Len tells how far behind the emitter is.
type Backlog[T any] struct {
	mu    sync.Mutex
	items []T
	ready chan struct{}
}

// NewBacklog returns an empty Backlog.
func NewBacklog[T any]() *Backlog[T] {
	return &Backlog[T]{ready: make(chan struct{}, 1)}
}

// Push appends v and signals Ready.
func (b *Backlog[T]) Push(v T) {
	b.mu.Lock()
	b.items = append(b.items, v)
	b.mu.Unlock()
	select {
	case b.ready <- struct{}{}:
	default:
	}
}

// Ready receives a value after a Push once the items are there to Take.
func (b *Backlog[T]) Ready() <-chan struct{} { return b.ready }

// Take removes and returns every item queued, oldest first.
func (b *Backlog[T]) Take() []T {
	b.mu.Lock()
	defer b.mu.Unlock()
	items := b.items
	b.items = nil
	return items
}

// Len is how many items wait.
func (b *Backlog[T]) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.items)
}
