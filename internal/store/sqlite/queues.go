package sqlite

import (
	"context"
	"fmt"

	"github.com/switchhook/switchhook/internal/store"
)

// SetAgentPaused pauses or unpauses an agent in a queue.
func (s *Store) SetAgentPaused(ctx context.Context, p store.AgentPause, paused bool) error {
	var err error
	if paused {
		_, err = s.w.ExecContext(ctx, "INSERT INTO queue_pauses (queue, agent, since) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
			p.Queue, p.Agent, nanos(p.Since))
	} else {
		_, err = s.w.ExecContext(ctx, "DELETE FROM queue_pauses WHERE queue = ? AND agent = ?", p.Queue, p.Agent)
	}
	if err != nil {
		return fmt.Errorf("set agent %s paused=%t in queue %s: %w", p.Agent, paused, p.Queue, err)
	}
	return nil
}

// AgentPauses lists the paused agents.
func (s *Store) AgentPauses(ctx context.Context) ([]store.AgentPause, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT queue, agent, since FROM queue_pauses ORDER BY queue, agent")
	if err != nil {
		return nil, fmt.Errorf("list paused agents: %w", err)
	}
	defer rows.Close()
	var out []store.AgentPause
	for rows.Next() {
		var p store.AgentPause
		var since int64
		if err := rows.Scan(&p.Queue, &p.Agent, &since); err != nil {
			return nil, fmt.Errorf("list paused agents: %w", err)
		}
		p.Since = fromNanos(since)
		out = append(out, p)
	}
	return out, wrap("list paused agents", rows.Err())
}
