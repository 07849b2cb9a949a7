package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/switchhook/switchhook/internal/store"
)

// PutRegistration stores r, replacing the registration of the same
// extension and contact, and deletes the registrations that expired.
func (s *Store) PutRegistration(ctx context.Context, r *store.Registration) error {
	if _, err := s.pool.Exec(ctx, "DELETE FROM registrations WHERE expires_at <= now()"); err != nil {
		return fmt.Errorf("delete expired registrations: %w", err)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO registrations
		(extension, contact, source, transport, user_agent, call_id, cseq, node, expires_at, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (extension, contact) DO UPDATE SET source = excluded.source, transport = excluded.transport,
			user_agent = excluded.user_agent, call_id = excluded.call_id, cseq = excluded.cseq, node = excluded.node,
			expires_at = excluded.expires_at, created_at = excluded.created_at`,
		text(r.Extension), text(r.Contact), text(r.Source), text(r.Transport), text(r.UserAgent), text(r.CallID),
		int64(r.CSeq), text(r.Node), ts(r.ExpiresAt), ts(r.CreatedAt))
	if err != nil {
		return fmt.Errorf("store registration of %s: %w", r.Extension, err)
	}
	return nil
}

// DeleteRegistration removes extension's registration at contact.
func (s *Store) DeleteRegistration(ctx context.Context, extension, contact string) error {
	if _, err := s.pool.Exec(ctx, "DELETE FROM registrations WHERE extension = $1 AND contact = $2", text(extension), text(contact)); err != nil {
		return fmt.Errorf("delete registration of %s: %w", extension, err)
	}
	return nil
}

// ListRegistrations returns the unexpired registrations of extension, or
// of all when it is empty.
func (s *Store) ListRegistrations(ctx context.Context, extension string, now time.Time) ([]*store.Registration, error) {
	// One extension's rows are read by the primary key, at each call.
	where, args := "expires_at > $1", []any{ts(now)}
	if extension != "" {
		where, args = "extension = $2 AND "+where, append(args, text(extension))
	}
	rows, err := s.pool.Query(ctx, `SELECT extension, contact, source, transport, user_agent, call_id, cseq, node, expires_at, created_at
		FROM registrations WHERE `+where+`
		ORDER BY extension COLLATE "C", created_at, contact COLLATE "C"`, args...)
	if err != nil {
		return nil, fmt.Errorf("list registrations: %w", err)
	}
	defer rows.Close()
	var out []*store.Registration
	for rows.Next() {
		var r store.Registration
		var cseq int64
		var exp, created pgtype.Timestamptz
		if err := rows.Scan(&r.Extension, &r.Contact, &r.Source, &r.Transport, &r.UserAgent, &r.CallID, &cseq, &r.Node, &exp, &created); err != nil {
			return nil, fmt.Errorf("list registrations: %w", err)
		}
		r.CSeq, r.ExpiresAt, r.CreatedAt = uint32(cseq), fromTS(exp), fromTS(created)
		out = append(out, &r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list registrations: %w", err)
	}
	return out, nil
}
