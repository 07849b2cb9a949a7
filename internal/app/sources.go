package app

import (
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"github.com/switchhook/switchhook/internal/asterisk"
	"github.com/switchhook/switchhook/internal/config"
	"github.com/switchhook/switchhook/internal/connector"
	"github.com/switchhook/switchhook/internal/dialplan"
	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/forwarding"
	"github.com/switchhook/switchhook/internal/freeswitch"
	"github.com/switchhook/switchhook/internal/gateway"
	"github.com/switchhook/switchhook/internal/metrics"
	"github.com/switchhook/switchhook/internal/pbx"
	"github.com/switchhook/switchhook/internal/queue"
	"github.com/switchhook/switchhook/internal/simulator"
	"github.com/switchhook/switchhook/internal/store"
)

// sources are the call sources of a process and what the API shows of them.
type sources struct {
	list          []events.Source
	registrations func() any
	channels      func() any
	statuses      func() any
	// down names the connectors not connected to their engine now.
	down func() []string
	// forwards is the extensions' call forwarding; nil without the PBX.
	forwards *forwarding.Table
	// queues are the PBX's call queues; nil without the PBX.
	queues *queue.Manager
	// pbx is the built-in PBX; nil when sip.enabled is false.
	pbx *pbx.PBX
}

// connectorSource reports whether a source is one of the configured
// connectors, whose calls outlive a restart of switchhook: the engine
// carries them, and the connector reconciles them when it connects.
func connectorSource(cfg *config.Config) func(source string) bool {
	names := map[string]bool{}
	for _, f := range cfg.FreeSWITCH {
		names["freeswitch/"+f.Name] = true
	}
	for _, a := range cfg.Asterisk {
		names["asterisk/"+a.Name] = true
	}
	return func(source string) bool { return names[source] }
}

// heardPath is the file in the data directory that keeps when an engine
// was last heard, across restarts.
func heardPath(dataDir, kind, name string) string {
	return filepath.Join(dataDir, "engines", kind+"-"+name+".json")
}

// buildSources makes the call sources the config asks for: the built-in PBX
// (unless sip.enabled is false), one connector per FreeSWITCH and Asterisk,
// and the simulator.
func buildSources(cfg *config.Config, st store.Store, dataDir string, stdout io.Writer, log *slog.Logger, m *metrics.Metrics) (*sources, error) {
	s := &sources{}
	var statuses []func() []any
	if cfg.SIP.On() {
		exts := cfg.Extensions
		if cfg.DemoExtensions {
			demo, err := demoExtensions(dataDir)
			if err != nil {
				return nil, err
			}
			exts = demo
			fmt.Fprintln(stdout, "Demo PBX extensions (set extensions: in the config to choose your own):")
			for _, e := range demo {
				fmt.Fprintf(stdout, "  %s  password %s  (%s)\n", e.Number, e.Password, e.Name)
			}
		}
		pc := pbxConfig(cfg, exts, st)
		var err error
		if s.forwards, err = forwards(cfg, exts, pc, st, log); err != nil {
			return nil, err
		}
		pc.Forwards = s.forwards
		p, err := pbx.New(pc, log.With("part", "pbx"), m)
		if err != nil {
			return nil, fmt.Errorf("sip: %w", err)
		}
		s.list = append(s.list, p)
		s.registrations = func() any { return p.Registrations() }
		s.channels = func() any { return p.Channels() }
		s.pbx = p
		s.queues = p.Queues()
		statuses = append(statuses, func() []any {
			out := []any{p.Status()}
			for _, g := range p.Gateways() {
				out = append(out, g)
			}
			return out
		})
	}
	var links []interface {
		Name() string
		Status() connector.Status
	}
	for _, f := range cfg.FreeSWITCH {
		c := freeswitch.New(freeswitch.Config{Name: f.Name, Address: f.Address, Password: f.Password, HeardPath: heardPath(dataDir, "freeswitch", f.Name)}, log.With("part", "freeswitch/"+f.Name), m)
		s.list = append(s.list, c)
		links = append(links, c)
		statuses = append(statuses, func() []any { return []any{c.Status()} })
	}
	for _, a := range cfg.Asterisk {
		c := asterisk.New(asterisk.Config{Name: a.Name, URL: a.URL, Username: a.Username, Password: a.Password, App: a.App, HeardPath: heardPath(dataDir, "asterisk", a.Name)}, log.With("part", "asterisk/"+a.Name), m)
		s.list = append(s.list, c)
		links = append(links, c)
		statuses = append(statuses, func() []any { return []any{c.Status()} })
	}
	s.down = func() []string {
		var down []string
		for _, l := range links {
			if !l.Status().Connected {
				down = append(down, l.Name())
			}
		}
		return down
	}
	s.statuses = func() any {
		out := make([]any, 0, len(statuses))
		for _, f := range statuses {
			out = append(out, f()...)
		}
		return out
	}
	if sim := cfg.Simulator; sim.Calls > 0 {
		s.list = append(s.list, simulator.New(simulator.Config{Calls: sim.Calls, Rate: sim.Rate, Caller: sim.Caller, Callee: sim.Callee, Step: sim.Step.D()}))
	}
	return s, nil
}

// pbxConfig maps the PBX's keys of cfg, with the extensions exts (the
// file's or the demo's), onto the PBX's config.
func pbxConfig(cfg *config.Config, exts []config.Extension, st store.Store) pbx.Config {
	pc := pbx.Config{
		Listen:      cfg.SIP.Listen,
		Domain:      cfg.SIP.Domain,
		ExternalIP:  cfg.SIP.ExternalIP,
		RingTimeout: cfg.RingTimeout.D(),

		LocalNetworks:  cfg.SIP.LocalNetworks,
		AuthAlgorithms: cfg.SIP.Auth.Algorithms,
		Bindings:       storeBindings{st: st, node: cfg.Node},

		MediaTimeout:   cfg.SIP.MediaTimeout.D(),
		SessionExpires: cfg.SIP.SessionExpires.D(),
		MinSE:          cfg.SIP.MinSE.D(),
	}
	pc.RTPPortMin, pc.RTPPortMax = cfg.SIP.RTPRange()
	for _, e := range exts {
		pc.Extensions = append(pc.Extensions, pbx.Extension{Number: e.Number, Password: e.Password, Name: e.Name})
	}
	routing(cfg, &pc)
	pc.Pickup = dialplan.PickupCodes{Group: cfg.Pickup.Group, Directed: cfg.Pickup.Directed}
	for _, e := range exts {
		if e.PickupGroup != "" {
			if pc.PickupGroups == nil {
				pc.PickupGroups = map[string]string{}
			}
			pc.PickupGroups[e.Number] = e.PickupGroup
		}
	}
	pc.Queues, pc.Pauses = queueConfigs(cfg), st
	return pc
}

// forwards makes the extensions' call forwarding table: the config's, and
// what the API sets, checked against the PBX's dialplan.
func forwards(cfg *config.Config, exts []config.Extension, pc pbx.Config, st store.Store, log *slog.Logger) (*forwarding.Table, error) {
	fc, err := forwardingConfig(cfg, exts, pc)
	if err != nil {
		return nil, err
	}
	return forwarding.New(st, fc, log.With("part", "forwarding")), nil
}

// forwardingConfig is what the forwarding table serves for cfg.
func forwardingConfig(cfg *config.Config, exts []config.Extension, pc pbx.Config) (forwarding.Config, error) {
	fc := forwarding.Config{Configured: map[string]dialplan.Forward{}, RingTimeout: cfg.RingTimeout.D()}
	for _, e := range exts {
		fc.Extensions = append(fc.Extensions, e.Number)
		f := e.Forward
		fc.Configured[e.Number] = dialplan.Forward{
			Unconditional: f.Unconditional, UserBusy: f.UserBusy, NoAnswer: f.NoAnswer,
			NoAnswerAfter: f.NoAnswerAfter.D(), Unavailable: f.Unavailable,
		}
	}
	gateways := make([]string, len(pc.Gateways))
	for i, g := range pc.Gateways {
		gateways[i] = g.Name
	}
	queues := make([]string, len(pc.Queues))
	for i, q := range pc.Queues {
		queues[i] = q.Number
	}
	plan, err := dialplan.New(dialplan.Config{
		Extensions: fc.Extensions, RingGroups: pc.RingGroups, Queues: queues, IVRs: pc.IVRs,
		Gateways: gateways, Routes: pc.Routes, Inbound: pc.Inbound,
	})
	if err != nil {
		return forwarding.Config{}, fmt.Errorf("sip: %w", err)
	}
	fc.Plan = plan
	return fc, nil
}

// routing maps the ring groups, IVRs, gateways, outbound routes and inbound
// DIDs of cfg onto pc.
func routing(cfg *config.Config, pc *pbx.Config) {
	for _, g := range cfg.RingGroups {
		pc.RingGroups = append(pc.RingGroups, dialplan.RingGroup{
			Number: g.Number, Strategy: dialplan.Strategy(g.Strategy), Members: g.Members,
			Timeout: g.Timeout.D(), MemberTimeout: g.MemberTimeout.D(),
		})
	}
	for _, v := range cfg.IVRs {
		pc.IVRs = append(pc.IVRs, dialplan.IVR{
			Number: v.Number, Prompt: v.Prompt, DigitTimeout: v.DigitTimeout.D(), Options: v.Options, Default: v.Default,
		})
	}
	for _, g := range cfg.Gateways {
		pc.Gateways = append(pc.Gateways, gateway.Config{
			Name: g.Name, Address: g.Address, Username: g.Username, Password: g.Password, Register: g.Register, Transport: g.Transport,
		})
	}
	for _, r := range cfg.Routes {
		pc.Routes = append(pc.Routes, dialplan.OutboundRoute{Match: r.Match, Gateway: r.Gateway, Number: r.Number})
	}
	for _, in := range cfg.Inbound {
		pc.Inbound = append(pc.Inbound, dialplan.Inbound{DID: in.DID, To: in.To})
	}
}
