package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/switchhook/switchhook/internal/store"
)

const forwardColumns = "number, unconditional, user_busy, no_answer, no_answer_after, unavailable, updated_at"

// SetForward stores f, replacing what was set for f.Number.
func (s *Store) SetForward(ctx context.Context, f *store.Forward) error {
	if err := f.Validate(); err != nil {
		return fmt.Errorf("set forward: %w", err)
	}
	defer s.look.changedForward(f.Number)
	at := f.UpdatedAt
	if at.IsZero() {
		at = time.Now()
	}
	_, err := s.w.ExecContext(ctx, "INSERT OR REPLACE INTO forwards ("+forwardColumns+") VALUES (?, ?, ?, ?, ?, ?, ?)",
		f.Number, f.Unconditional, f.UserBusy, f.NoAnswer, int64(f.NoAnswerAfter), f.Unavailable, nanos(at))
	return wrap("set forward of "+f.Number, err)
}

// GetForward returns the forwarding set for number, or store.ErrNotFound.
// It is read at every call to an extension, and kept (lookups.go).
func (s *Store) GetForward(ctx context.Context, number string) (*store.Forward, error) {
	f, ok := s.look.forward(number)
	if !ok {
		gen := s.look.generation()
		var err error
		f, err = scanForward(s.r.QueryRowContext(ctx, "SELECT "+forwardColumns+" FROM forwards WHERE number = ?", number))
		if errNoRows(err) {
			f, err = nil, nil
		}
		if err != nil {
			return nil, wrap("get forward of "+number, err)
		}
		s.look.keepForward(number, f, gen)
	}
	if f == nil {
		return nil, fmt.Errorf("get forward of %s: %w", number, store.ErrNotFound)
	}
	c := *f
	return &c, nil
}

// ListForwards returns every forwarding set, by number.
func (s *Store) ListForwards(ctx context.Context) ([]*store.Forward, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+forwardColumns+" FROM forwards ORDER BY number")
	if err != nil {
		return nil, fmt.Errorf("list forwards: %w", err)
	}
	defer rows.Close()
	var out []*store.Forward
	for rows.Next() {
		f, err := scanForward(rows)
		if err != nil {
			return nil, fmt.Errorf("list forwards: %w", err)
		}
		out = append(out, f)
	}
	return out, wrap("list forwards", rows.Err())
}

// DeleteForward removes the forwarding set for number.
func (s *Store) DeleteForward(ctx context.Context, number string) error {
	defer s.look.changedForward(number)
	res, err := s.w.ExecContext(ctx, "DELETE FROM forwards WHERE number = ?", number)
	return oneRow("delete forward of "+number, res, err)
}

func scanForward(row interface{ Scan(...any) error }) (*store.Forward, error) {
	var f store.Forward
	var after, updated int64
	if err := row.Scan(&f.Number, &f.Unconditional, &f.UserBusy, &f.NoAnswer, &after, &f.Unavailable, &updated); err != nil {
		return nil, err
	}
	f.NoAnswerAfter, f.UpdatedAt = time.Duration(after), fromNanos(updated)
	return &f, nil
}
