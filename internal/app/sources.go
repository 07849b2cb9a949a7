package app

import (
	"io"
	"log/slog"

	"github.com/switchhook/switchhook/internal/config"
	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/metrics"
	"github.com/switchhook/switchhook/internal/simulator"
)

// sources are the call sources of a process and what the API shows of them.
type sources struct {
	list          []events.Source
	registrations func() any
	channels      func() any
	statuses      func() any
}

// buildSources makes the call sources the config asks for.
func buildSources(cfg *config.Config, stdout io.Writer, log *slog.Logger, m *metrics.Metrics) (*sources, error) {
	s := &sources{}
	if sim := cfg.Simulator; sim.Calls > 0 {
		s.list = append(s.list, simulator.New(simulator.Config{Calls: sim.Calls, Rate: sim.Rate, Caller: sim.Caller, Callee: sim.Callee, Step: sim.Step.D()}))
	}
	return s, nil
}
