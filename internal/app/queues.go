package app

import (
	"github.com/switchhook/switchhook/internal/config"
	"github.com/switchhook/switchhook/internal/pbx"
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

// pbxPresence tells the queues which agents' phones are registered and
// which are on a call, from what the PBX shows the API.
type pbxPresence struct{ p *pbx.PBX }

func (pp pbxPresence) Registered(ext string) bool {
	for _, r := range pp.p.Registrations() {
		if r.Extension == ext {
			return true
		}
	}
	return false
}

func (pp pbxPresence) Busy(ext string) bool {
	for _, ch := range pp.p.Channels() {
		if ch.Number == ext {
			return true
		}
	}
	return false
}
