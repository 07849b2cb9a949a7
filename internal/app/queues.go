package app

import (
	"github.com/switchhook/switchhook/internal/config"
	"github.com/switchhook/switchhook/internal/queue"
)

// queueConfigs maps the queues of the config file.
func queueConfigs(cfg *config.Config) []queue.Config {
	out := make([]queue.Config, 0, len(cfg.Queues))
	for _, q := range cfg.Queues {
		out = append(out, queue.Config{
			Number: q.Number, Name: q.Name, Agents: q.Agents, Strategy: queue.Strategy(q.Strategy),
			AgentTimeout: q.AgentTimeout.D(), MaxWait: q.MaxWait.D(), Wrapup: q.Wrapup.D(),
			Overflow: q.Overflow, Music: q.Music, MaxCallers: q.MaxCallers,
		})
	}
	return out
}
