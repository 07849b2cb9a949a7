package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// listenerName is the application_name of the listening connection, by
// which an operator (or a test) tells it from the pool's.
const listenerName = "switchhook-listener"

// Notifications returns a channel that receives a value whenever a node
// (this one included) commits work that may be claimable: new events, a
// retried delivery, a replay, released leases. Values are coalesced: one
// pending value stands for any number of notifications. The first call
// starts a goroutine holding one connection, outside the pool, that LISTENs
// and reconnects when the connection drops; after each (re)connection it
// sends a value, since notifications sent meanwhile were missed. It stops
// with Close.
func (s *Store) Notifications() <-chan struct{} {
	s.listenOnce.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		s.stop, s.stopped = cancel, make(chan struct{})
		go func() {
			defer close(s.stopped)
			s.listen(ctx)
		}()
	})
	return s.notify
}

// listen keeps a LISTEN connection until ctx is done.
func (s *Store) listen(ctx context.Context) {
	const (
		firstPause = 100 * time.Millisecond
		maxPause   = 5 * time.Second
	)
	pause := firstPause
	for ctx.Err() == nil {
		up, err := s.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if up {
			pause = firstPause
		}
		s.log.Warn("postgres listener lost its connection; reconnecting", "err", err, "in", pause)
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return
		}
		pause = min(2*pause, maxPause)
	}
}

// session connects, LISTENs and forwards notifications until the
// connection fails or ctx is done. up reports whether it got as far as
// listening.
func (s *Store) session(ctx context.Context) (up bool, err error) {
	cfg := s.pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = listenerName
	connectCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, err := pgx.ConnectConfig(connectCtx, cfg)
	cancel()
	if err != nil {
		return false, err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn.Close(closeCtx)
		cancel()
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		return false, err
	}
	s.wake()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return true, err
		}
		s.wake()
	}
}

// wake sends a value on the notifications channel unless one is pending.
func (s *Store) wake() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}
