package ingest

import (
	"sync"

	"github.com/switchhook/switchhook/internal/events"
)

// watchers fans committed events out to live viewers (the dashboard's event
// stream). A viewer that falls behind misses events rather than slowing the
// recorder: the store, not this stream, is the record.
type watchers struct {
	mu   sync.Mutex
	next int
	subs map[int]chan events.Event
}

// Watch returns a channel of events as they are committed and a function
// that stops the watch and closes the channel. buffer is how many events may
// wait for the viewer before it misses some.
func (r *Recorder) Watch(buffer int) (<-chan events.Event, func()) {
	w := &r.watchers
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.subs == nil {
		w.subs = map[int]chan events.Event{}
	}
	id := w.next
	w.next++
	ch := make(chan events.Event, buffer)
	w.subs[id] = ch
	return ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if c, ok := w.subs[id]; ok {
			delete(w.subs, id)
			close(c)
		}
	}
}

func (w *watchers) publish(batch []events.Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ch := range w.subs {
		for i := range batch {
			select {
			case ch <- batch[i]:
			default:
			}
		}
	}
}
