package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/switchhook/switchhook/internal/store"
)

const forwardColumns = "number, unconditional, user_busy, no_answer, no_answer_after, unavailable, updated_at"

// SetForward stores f, replacing what was set for f.Number.
func (s *Store) SetForward(ctx context.Context, f *store.Forward) error {
	if err := f.Validate(); err != nil {
		return fmt.Errorf("set forward: %w", err)
	}
	at := f.UpdatedAt
	if at.IsZero() {
		at = time.Now()
	}
	_, err := s.pool.Exec(ctx, "INSERT INTO forwards ("+forwardColumns+") VALUES ($1, $2, $3, $4, $5, $6, $7)"+
		" ON CONFLICT (number) DO UPDATE SET unconditional = $2, user_busy = $3, no_answer = $4, no_answer_after = $5, unavailable = $6, updated_at = $7",
		text(f.Number), text(f.Unconditional), text(f.UserBusy), text(f.NoAnswer), int64(f.NoAnswerAfter), text(f.Unavailable), ts(at))
	if err != nil {
		return fmt.Errorf("set forward of %s: %w", f.Number, err)
	}
	return nil
}

// GetForward returns the forwarding set for number, or store.ErrNotFound.
func (s *Store) GetForward(ctx context.Context, number string) (*store.Forward, error) {
	f, err := scanForward(s.pool.QueryRow(ctx, "SELECT "+forwardColumns+" FROM forwards WHERE number = $1", text(number)))
	if errNoRows(err) {
		return nil, fmt.Errorf("get forward of %s: %w", number, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get forward of %s: %w", number, err)
	}
	return f, nil
}

// ListForwards returns every forwarding set, by number.
func (s *Store) ListForwards(ctx context.Context) ([]*store.Forward, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+forwardColumns+" FROM forwards ORDER BY number COLLATE \"C\"")
	if err != nil {
		return nil, fmt.Errorf("list forwards: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.Forward, error) { return scanForward(row) })
	if err != nil {
		return nil, fmt.Errorf("list forwards: %w", err)
	}
	return out, nil
}

// DeleteForward removes the forwarding set for number.
func (s *Store) DeleteForward(ctx context.Context, number string) error {
	tag, err := s.pool.Exec(ctx, "DELETE FROM forwards WHERE number = $1", text(number))
	return oneRow("delete forward of "+number, tag, err)
}

func scanForward(row pgx.Row) (*store.Forward, error) {
	var f store.Forward
	var after int64
	var updated pgtype.Timestamptz
	if err := row.Scan(&f.Number, &f.Unconditional, &f.UserBusy, &f.NoAnswer, &after, &f.Unavailable, &updated); err != nil {
		return nil, err
	}
	f.NoAnswerAfter, f.UpdatedAt = time.Duration(after), fromTS(updated)
	return &f, nil
}
