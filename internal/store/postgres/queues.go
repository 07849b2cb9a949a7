package postgres

import (
	"context"
	"fmt"

	"github.com/switchhook/switchhook/internal/store"
)

// SetAgentPaused pauses or unpauses an agent in a queue.
func (s *Store) SetAgentPaused(ctx context.Context, p store.AgentPause, paused bool) error {
	var err error
	if paused {
		_, err = s.pool.Exec(ctx, "INSERT INTO queue_pauses (queue, agent, since) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
			text(p.Queue), text(p.Agent), p.Since)
	} else {
		_, err = s.pool.Exec(ctx, "DELETE FROM queue_pauses WHERE queue = $1 AND agent = $2", text(p.Queue), text(p.Agent))
	}
	if err != nil {
		return fmt.Errorf("set agent %s paused=%t in queue %s: %w", p.Agent, paused, p.Queue, err)
	}
	return nil
}

// AgentPauses lists the paused agents.
func (s *Store) AgentPauses(ctx context.Context) ([]store.AgentPause, error) {
	rows, err := s.pool.Query(ctx, "SELECT queue, agent, since FROM queue_pauses ORDER BY queue, agent")
	if err != nil {
		return nil, fmt.Errorf("list paused agents: %w", err)
	}
	defer rows.Close()
	var out []store.AgentPause
	for rows.Next() {
		var p store.AgentPause
		if err := rows.Scan(&p.Queue, &p.Agent, &p.Since); err != nil {
			return nil, fmt.Errorf("list paused agents: %w", err)
		}
		p.Since = p.Since.UTC()
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list paused agents: %w", err)
	}
	return out, nil
}
