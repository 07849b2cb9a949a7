package events

import "context"

// A Sink records call events. Emit hands one event over and returns once the
// event is queued for the store (not yet committed), so that a call source is
// never held up by a disk flush; it blocks only when the queue is full. A
// source emits the events of one call in the order it saw them.
type Sink interface {
	Emit(ctx context.Context, e Event) error
}

// SinkFunc adapts a function to a Sink.
type SinkFunc func(ctx context.Context, e Event) error

// Emit calls f(ctx, e).
func (f SinkFunc) Emit(ctx context.Context, e Event) error { return f(ctx, e) }

// A Source watches calls somewhere (the built-in PBX, a FreeSWITCH or an
// Asterisk) and emits their events to a Sink until ctx is done.
type Source interface {
	// Name identifies the source in logs, the API and Event.Source.
	Name() string
	// Run emits events until ctx is done. It returns nil on a clean stop.
	Run(ctx context.Context, sink Sink) error
}
