package connector

import (
	"cmp"
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/metrics"
)

// Status is a connector's connection state, for the API and dashboard.
type Status struct {
	Name      string    `json:"name"`
	Kind      string    `json:"kind"`    // "freeswitch" or "asterisk"
	Address   string    `json:"address"` // as configured: host:port or URL
	Connected bool      `json:"connected"`
	Since     time.Time `json:"since"` // when Connected last changed; zero before the first attempt ends
	LastError string    `json:"last_error"`
	// Reconnects counts the connections made after a lost one.
	Reconnects int `json:"reconnects"`
}

// Default waits between connection attempts.
const (
	DefaultMinBackoff = 500 * time.Millisecond
	DefaultMaxBackoff = 30 * time.Second
)

// Link keeps one connector's engine connected and tells how that goes. Set
// its fields before Run; Status may be called at any time.
type Link struct {
	Kind    string // the engine: "freeswitch" or "asterisk"
	Name    string // the engine's configured name
	Address string // where the engine is reached, as configured
	Log     *slog.Logger
	Metrics *metrics.Metrics // nil for none
	// MinBackoff is the wait after a failed attempt (DefaultMinBackoff when
	// zero); each further failure in a row doubles it, up to MaxBackoff
	// (DefaultMaxBackoff when zero).
	MinBackoff, MaxBackoff time.Duration
	// HeardPath, when set, is the file that keeps when the engine was last
	// heard across restarts of the process (LastHeard, KeepHeard).
	HeardPath string

	heardSaved time.Time // used by the session's goroutine only
	mu         sync.Mutex
	status     Status
	connected  bool // once connected, a later connection is a reconnect
}

// Source is the name events and metrics carry: "<kind>/<name>".
func (l *Link) Source() string { return l.Kind + "/" + l.Name }

// Status returns the connection state now.
func (l *Link) Status() Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.status
	st.Name, st.Kind, st.Address = l.Name, l.Kind, l.Address
	return st
}

// Run calls session until ctx is done, one connection at a time. After each
// session it marks the link down and, unless ctx is done, waits before the
// next: MinBackoff after a session that got established (it reported
// established), twice the previous wait after one that did not. It returns
// nil when ctx is done: a connector never stops by itself.
func (l *Link) Run(ctx context.Context, session func(ctx context.Context) (established bool, err error)) error {
	minWait, maxWait := cmp.Or(l.MinBackoff, DefaultMinBackoff), cmp.Or(l.MaxBackoff, DefaultMaxBackoff)
	backoff := minWait
	for {
		established, err := session(ctx)
		l.down(err)
		if ctx.Err() != nil {
			return nil
		}
		if established {
			backoff = minWait
		}
		wait := jitter(backoff)
		l.Log.Warn(l.Kind+" connection failed; reconnecting", "err", err, "in", wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		backoff = min(backoff*2, maxWait)
	}
}

// jitter picks a wait between half of backoff and backoff, so that many
// switchhook processes do not reconnect in step after an engine restarts.
func jitter(backoff time.Duration) time.Duration {
	return backoff/2 + rand.N(backoff/2+1)
}

// Up marks the link connected; a session calls it once the engine's event
// stream is set up.
func (l *Link) Up() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.connected {
		l.status.Reconnects++
	}
	l.connected = true
	l.status.Connected, l.status.Since, l.status.LastError = true, time.Now().UTC(), ""
	if l.Metrics != nil {
		l.Metrics.SourceConnected.WithLabelValues(l.Source()).Set(1)
	}
}

// down marks the link not connected, with err as the last error when
// there is one.
func (l *Link) down(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.status.Connected || l.status.Since.IsZero() {
		l.status.Since = time.Now().UTC()
	}
	l.status.Connected = false
	if err != nil {
		l.status.LastError = err.Error()
	}
	if l.Metrics != nil {
		l.Metrics.SourceConnected.WithLabelValues(l.Source()).Set(0)
	}
}

// Emit hands evs to sink in order. An event the sink refuses (it breaks the
// rules of its call's life, or the recorder is stopping) is logged and
// counted, and the rest go on: one bad event must not stop the connector,
// or every later call of the engine would be lost. Emit returns only ctx's
// error, once ctx is done.
func (l *Link) Emit(ctx context.Context, sink events.Sink, evs []events.Event) error {
	for _, e := range evs {
		if err := sink.Emit(ctx, e); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			l.Refused(e, err)
		}
	}
	return nil
}

// Backlog reports how many items read from the engine wait to be tracked
// and emitted (the switchhook_source_backlog gauge).
func (l *Link) Backlog(n int) {
	if l.Metrics != nil {
		l.Metrics.SourceBacklog.WithLabelValues(l.Source()).Set(float64(n))
	}
}

// Refused logs and counts an event of this link's engine that was refused
// (by the tracker's rules or by the sink) and dropped.
func (l *Link) Refused(e events.Event, err error) {
	l.Log.Warn(l.Kind+" event refused; the connection goes on", "event", e.Kind, "call_uuid", e.CallUUID, "leg", e.LegUUID, "err", err)
	if l.Metrics != nil {
		l.Metrics.EventsRefused.WithLabelValues(string(e.Kind), l.Source()).Inc()
	}
}
