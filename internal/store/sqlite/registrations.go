package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/switchhook/switchhook/internal/store"
)

// PutRegistration stores r, replacing the registration of the same
// extension and contact, and deletes the registrations that expired.
func (s *Store) PutRegistration(ctx context.Context, r *store.Registration) error {
	defer s.look.changedRegistrations(r.Extension)
	if _, err := s.w.ExecContext(ctx, "DELETE FROM registrations WHERE expires_at <= ?", time.Now().UnixNano()); err != nil {
		return fmt.Errorf("delete expired registrations: %w", err)
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO registrations
		(extension, contact, source, transport, user_agent, call_id, cseq, node, expires_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (extension, contact) DO UPDATE SET source = excluded.source, transport = excluded.transport,
			user_agent = excluded.user_agent, call_id = excluded.call_id, cseq = excluded.cseq, node = excluded.node,
			expires_at = excluded.expires_at, created_at = excluded.created_at`,
		r.Extension, r.Contact, r.Source, r.Transport, r.UserAgent, r.CallID, int64(r.CSeq), r.Node, nanos(r.ExpiresAt), nanos(r.CreatedAt))
	if err != nil {
		return fmt.Errorf("store registration of %s: %w", r.Extension, err)
	}
	return nil
}

// DeleteRegistration removes extension's registration at contact.
func (s *Store) DeleteRegistration(ctx context.Context, extension, contact string) error {
	defer s.look.changedRegistrations(extension)
	if _, err := s.w.ExecContext(ctx, "DELETE FROM registrations WHERE extension = ? AND contact = ?", extension, contact); err != nil {
		return fmt.Errorf("delete registration of %s: %w", extension, err)
	}
	return nil
}

// ListRegistrations returns the unexpired registrations of extension, or
// of all when it is empty. One extension's are read at every call, and
// kept (lookups.go).
func (s *Store) ListRegistrations(ctx context.Context, extension string, now time.Time) ([]*store.Registration, error) {
	if extension == "" {
		return s.readRegistrations(ctx, "expires_at > ?", nanos(now))
	}
	rs, ok := s.look.registrations(extension)
	if !ok {
		gen := s.look.generation()
		read, err := s.readRegistrations(ctx, "extension = ?", extension)
		if err != nil {
			return nil, err
		}
		rs = make([]store.Registration, len(read))
		for i, r := range read {
			rs[i] = *r
		}
		s.look.keepRegistrations(extension, rs, gen)
	}
	var out []*store.Registration
	for _, r := range rs {
		if r.ExpiresAt.After(now) {
			c := r
			out = append(out, &c)
		}
	}
	return out, nil
}

// readRegistrations reads the registrations where holds, in the order
// ListRegistrations gives them.
func (s *Store) readRegistrations(ctx context.Context, where string, arg any) ([]*store.Registration, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT extension, contact, source, transport, user_agent, call_id, cseq, node, expires_at, created_at
		FROM registrations WHERE `+where+` ORDER BY extension, created_at, contact`, arg)
	if err != nil {
		return nil, fmt.Errorf("list registrations: %w", err)
	}
	defer rows.Close()
	var out []*store.Registration
	for rows.Next() {
		var r store.Registration
		var cseq, exp, created int64
		if err := rows.Scan(&r.Extension, &r.Contact, &r.Source, &r.Transport, &r.UserAgent, &r.CallID, &cseq, &r.Node, &exp, &created); err != nil {
			return nil, fmt.Errorf("list registrations: %w", err)
		}
		r.CSeq, r.ExpiresAt, r.CreatedAt = uint32(cseq), fromNanos(exp), fromNanos(created)
		out = append(out, &r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list registrations: %w", err)
	}
	return out, nil
}
