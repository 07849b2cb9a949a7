package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// The hot writes, events in (InsertEvents) and outcomes (CompleteAttempts),
// share transactions: one goroutine takes every write waiting and runs them
// in one transaction; a failing write fails alone (see runGroup). SQLite
// has one writer, and a commit's cost is mostly writing its pages to the
// WAL, which writes that come together share. It also makes the writer
// fair: a burst of events in is one write among the others, so the outcomes
// of deliveries already made, which the next events of their calls wait
// for, are never queued behind the burst.

// write is one caller's part of a shared transaction.
type write struct {
	ctx  context.Context
	do   func(ctx context.Context, tx *sql.Tx, g *group) error
	done chan error
	at   time.Time // submitted
}

// group is what the writes of one transaction share.
type group struct {
	st        *statements
	subs      *subscriptions // the writer's
	endpoints *endpointCache
	// after holds what to change in memory once the transaction has
	// committed; the writer runs it under Store.mu, in commit order.
	after []func()
}

// subscriptions are the endpoints' subscriptions as the writer last read
// them; only the writer's goroutine uses them.
type subscriptions struct {
	list []subscription
	gen  uint64 // the endpoints' generation they were read at
	ok   bool
}

// forget makes the next transaction read the subscriptions again: an
// endpoint changes in this one.
func (c *subscriptions) forget() { c.ok = false }

// maxGroup bounds the writes of one transaction.
const maxGroup = 64

// linger is how long the writer waits, after a write arrives at an idle
// writer, for others to join its transaction, when writes have been coming
// faster than one per linger. At a thousand events a second (two thousand
// writes: events in, outcomes) that makes about five writes share each
// commit, which writes the same pages (the tails of the tables and their
// indexes, about fourteen for an event and its outcome) whether it carries
// one row or fifty; 2 ms is short beside a webhook's latency.
const linger = 2 * time.Millisecond

// errClosed is returned by writes after Close.
var errClosed = errors.New("the store is closed")

// submit runs do in the next shared transaction and returns once it is
// committed (or failed).
func (s *Store) submit(ctx context.Context, do func(ctx context.Context, tx *sql.Tx, g *group) error) error {
	s.startWriter.Do(func() {
		go s.writer()
		s.background.Add(1)
		go func() {
			defer s.background.Done()
			s.checkpointer()
		}()
	})
	w := &write{ctx: ctx, do: do, done: make(chan error, 1), at: time.Now()}
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
	var last time.Time // when the last write taken was submitted
	for {
		batch = batch[:0]
		select {
		case w := <-s.writes:
			batch = append(batch, w)
		case <-s.closing:
			return
		}
		// Writes that queued while the last transaction ran join at once;
		// a lone write waits a moment for company if writes have been
		// coming closer together than that moment: at a few writes a
		// second none would come, and the wait would only add to every
		// write's latency.
		company := batch[0].at.Sub(last) < linger
		if len(s.writes) == 0 && company {
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
		last = batch[len(batch)-1].at
		s.runGroup(batch)
	}
}

// runGroup runs batch in one transaction and answers each write. If a
// write fails, the transaction is rolled back and each write runs again in
// a transaction of its own, so that it fails alone. (Savepoints would do the
// same without running writes twice, but cost an undo copy of every page
// each write touches, on every transaction; a write fails rarely.)
func (s *Store) runGroup(batch []*write) {
	if len(batch) > 1 {
		if err := s.runTx(batch); err == nil {
			return
		}
	}
	for _, w := range batch {
		if err := s.runTx([]*write{w}); err != nil {
			w.done <- err
		}
	}
}

// runTx runs writes in one transaction. If all succeed and it commits, it
// answers each write and returns nil; otherwise it answers none and returns
// the first error.
func (s *Store) runTx(writes []*write) error {
	ctx := context.Background()
	st, err := s.prepared(ctx)
	if err != nil {
		return err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	g := &group{st: st, subs: &s.subs, endpoints: &s.endpoints}
	for _, w := range writes {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		if err := w.do(w.ctx, tx, g); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	s.commits.Add(1)
	if len(g.after) > 0 {
		s.mu.Lock()
		for _, f := range g.after {
			f()
		}
		s.mu.Unlock()
	}
	for _, w := range writes {
		w.done <- nil
	}
	return nil
}

// checkpointEvery is how often the checkpointer copies what was committed
// into the database file.
const checkpointEvery = 100 * time.Millisecond

// checkpointer copies the WAL into the database file, and syncs it, on a
// connection of its own, so that the writer does not: a checkpoint the
// writer ran after its commit held every write behind it for as long as it
// took to copy and sync (tens of milliseconds). A passive checkpoint never
// waits for the writer; once one has copied everything, the writer starts
// the WAL over at its next transaction. It stops with the writer.
func (s *Store) checkpointer() {
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	var done uint64
	for {
		select {
		case <-s.writerDone:
			return
		case <-t.C:
		}
		n := s.commits.Load()
		if n == done {
			continue
		}
		var busy, log, copied int
		if err := s.k.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &copied); err != nil {
			continue // the next tick tries again; the writer's own checkpoints bound the WAL meanwhile
		}
		if copied == log {
			done = n
		}
	}
}
