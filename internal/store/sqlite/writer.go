package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// The hot writes, events in (InsertEvents) and outcomes (CompleteAttempts),
// share transactions: one goroutine takes every write waiting and runs them
// in one transaction, each in a savepoint of its own so that a failing write
// fails alone. SQLite has one writer, and a commit's cost is mostly writing
// its pages to the WAL, which writes that come together share. It also makes
// the writer fair: a burst of events in is one write among the others, so
// the outcomes of deliveries already made, which the next events of their
// calls wait for, are never queued behind the burst.

// write is one caller's part of a shared transaction.
type write struct {
	ctx  context.Context
	do   func(ctx context.Context, tx *sql.Tx, g *group) error
	done chan error
}

// group is what the writes of one transaction share.
type group struct {
	st   *statements
	subs []subscription
	read bool // subs were read in this transaction
}

// maxGroup bounds the writes of one transaction.
const maxGroup = 64

// linger is how long the writer waits, after a write arrives at an idle
// writer, for others to join its transaction. At a few thousand writes a
// second that is long enough for an event and an outcome to share a commit
// and short beside a webhook's latency.
const linger = time.Millisecond

// errClosed is returned by writes after Close.
var errClosed = errors.New("the store is closed")

// submit runs do in the next shared transaction and returns once it is
// committed (or failed).
func (s *Store) submit(ctx context.Context, do func(ctx context.Context, tx *sql.Tx, g *group) error) error {
	s.startWriter.Do(func() { go s.writer() })
	w := &write{ctx: ctx, do: do, done: make(chan error, 1)}
	select {
	case s.writes <- w:
	case <-s.closing:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-w.done:
		return err
	case <-s.writerDone:
		// The writer answered every write it took before it stopped.
		select {
		case err := <-w.done:
			return err
		default:
			return errClosed
		}
	}
}

// writer runs the shared transactions until the store closes.
func (s *Store) writer() {
	defer close(s.writerDone)
	batch := make([]*write, 0, maxGroup)
	t := time.NewTimer(0)
	<-t.C
	for {
		batch = batch[:0]
		select {
		case w := <-s.writes:
			batch = append(batch, w)
		case <-s.closing:
			return
		}
		// Writes that queued while the last transaction ran join at once;
		// a lone write waits a moment for company.
		if len(s.writes) == 0 {
			t.Reset(linger)
		lingering:
			for len(batch) < maxGroup {
				select {
				case w := <-s.writes:
					batch = append(batch, w)
				case <-t.C:
					break lingering
				}
			}
			if !t.Stop() {
				select {
				case <-t.C:
				default:
				}
			}
		}
	more:
		for len(batch) < maxGroup {
			select {
			case w := <-s.writes:
				batch = append(batch, w)
			default:
				break more
			}
		}
		s.runGroup(batch)
	}
}

// runGroup runs batch in one transaction and answers each write.
func (s *Store) runGroup(batch []*write) {
	ctx := context.Background()
	errs := make([]error, len(batch))
	fail := func(err error) {
		for _, w := range batch {
			w.done <- err
		}
	}
	st, err := s.prepared(ctx)
	if err != nil {
		fail(err)
		return
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		fail(err)
		return
	}
	defer tx.Rollback()
	g := &group{st: st}
	alone := len(batch) == 1
	for i, w := range batch {
		if err := w.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if alone {
			if errs[i] = w.do(w.ctx, tx, g); errs[i] != nil {
				w.done <- errs[i] // rolled back by the deferred Rollback
				return
			}
			continue
		}
		if _, err := tx.ExecContext(ctx, "SAVEPOINT w"); err != nil {
			fail(fmt.Errorf("savepoint: %w", err))
			return
		}
		errs[i] = w.do(w.ctx, tx, g)
		if errs[i] != nil {
			if _, err := tx.ExecContext(ctx, "ROLLBACK TO w"); err != nil {
				fail(fmt.Errorf("roll back to savepoint after %v: %w", errs[i], err))
				return
			}
			g.read = false // the subscriptions read may be what failed
		}
		if _, err := tx.ExecContext(ctx, "RELEASE w"); err != nil {
			fail(fmt.Errorf("release savepoint: %w", err))
			return
		}
	}
	if err := tx.Commit(); err != nil {
		fail(err)
		return
	}
	for i, w := range batch {
		w.done <- errs[i]
	}
}
