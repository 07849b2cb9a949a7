package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/switchhook/switchhook/internal/api"
	"github.com/switchhook/switchhook/internal/config"
	"github.com/switchhook/switchhook/internal/dashboard"
	"github.com/switchhook/switchhook/internal/delivery"
	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/ingest"
	"github.com/switchhook/switchhook/internal/metrics"
	"github.com/switchhook/switchhook/internal/pbx"
	"github.com/switchhook/switchhook/internal/signature"
	"github.com/switchhook/switchhook/internal/store"
	"github.com/switchhook/switchhook/internal/store/postgres"
	"github.com/switchhook/switchhook/internal/store/sqlite"
)

// Options say how to run a process.
type Options struct {
	ConfigPath string       // empty: built-in defaults
	Version    string       // reported by /healthz and the User-Agent
	Stdout     io.Writer    // where first-start facts (generated token, demo passwords) are printed
	Logger     *slog.Logger // nil: logs on stderr as the config says
}

// Serve runs switchhook until ctx is done or one of its parts fails.
//
// It starts the parts in order, each only once the one before is up: the
// store (opened, migrated, the config's endpoints written), the delivery
// engine, the recorder (the calls of the last run recovered), the call
// sources (the PBX's listeners bound; connectors connect, and reconnect,
// on their own), and the HTTP server, whose port is bound first of all so
// that a port in use is found before anything else is done. "switchhook is
// up" is logged, and /healthz answered, only once every part is up.
//
// A part that cannot start, or that stops with an error later, stops the
// others in the reverse order (the HTTP server, the call sources, the
// recorder, which commits what it holds, the delivery engine, which
// finishes or hands back its in-flight attempts, the store) and Serve
// returns its error, naming the part.
func Serve(ctx context.Context, o Options) (err error) {
	defer func() {
		// Asked to stop (SIGTERM) before it was up: not a failure.
		if errors.Is(err, errStopped) || ctx.Err() != nil && errors.Is(err, context.Canceled) {
			err = nil
		}
	}()
	cfg, err := config.Load(o.ConfigPath)
	if err != nil {
		return err
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	log := o.Logger
	if log == nil {
		log = newLogger(cfg.Log)
	}
	loc, _ := time.LoadLocation(cfg.Timezone) // validated by config
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	defer ln.Close()
	token, generated, err := adminToken(cfg.HTTP.AdminToken, cfg.DataDir)
	if err != nil {
		return err
	}
	if generated {
		fmt.Fprintf(o.Stdout, "Admin token (shown once; kept in %s/admin-token): %s\n", cfg.DataDir, token)
	}

	st, err := openStore(ctx, cfg.Store.DSN, log)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	if err := syncEndpoints(ctx, st, cfg, log); err != nil {
		return err
	}

	m := metrics.New(st.PendingCount)
	health := delivery.NewHealth(time.Now())
	engine := delivery.New(st, delivery.Options{
		Node:            cfg.Node,
		Logger:          log.With("part", "delivery"),
		Metrics:         m,
		Location:        loc,
		Version:         o.Version,
		ShutdownTimeout: cfg.Delivery.ShutdownTimeout.D(),
		CircuitFailures: cfg.Delivery.CircuitFailures,
		DisableAfter:    cfg.Delivery.DisableAfter.D(),
		Health:          health,
	})
	rec := ingest.New(st, ingest.Options{Node: cfg.Node, Wake: engine.Wake, Logger: log.With("part", "recorder"), Metrics: m})
	srcs, err := buildSources(cfg, st, cfg.DataDir, o.Stdout, log, m)
	if err != nil {
		return err
	}

	var queues api.Queues
	if srcs.queues != nil {
		queues = srcs.queues
	}

	var reload api.Reloader
	if o.ConfigPath != "" {
		r := &reloader{path: o.ConfigPath, st: st, pbx: srcs.pbx, fwd: srcs.forwards, log: log.With("part", "reload"), dataDir: cfg.DataDir, cur: cfg}
		reload = r.Reload
	}
	sessions := dashboard.NewSessions(0, 0)
	mgmt := api.New(api.Options{
		Reload:        reload,
		Extensions:    extensionsOf(srcs.pbx, srcs.forwards),
		Store:         st,
		Sink:          rec,
		Engine:        engine,
		Metrics:       m,
		AdminToken:    token,
		Location:      loc,
		Logger:        log.With("part", "api"),
		Version:       o.Version,
		Registrations: srcs.registrations,
		Channels:      srcs.channels,
		Sources:       srcs.statuses,
		SourcesDown:   srcs.down,
		SecretGrace:   cfg.Delivery.SecretGrace.D(),
		Defaults: api.EndpointDefaults{
			Timeout:       cfg.Delivery.Timeout.D(),
			RetrySchedule: schedule(cfg.Delivery.RetrySchedule, nil),
			MaxInFlight:   cfg.Delivery.MaxInFlight,
		},
		Sessions:   sessions,
		Watch:      rec.Watch,
		Health:     health,
		Forwarding: forwardingOf(srcs),
		Queues:     queues,
	})
	mux := http.NewServeMux()
	mgmt.Mount(mux)
	mux.Handle("/", dashboard.New(dashboard.Options{
		Sessions: sessions, AdminToken: token, Location: loc, Version: o.Version, Logger: log.With("part", "dashboard"),
	}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	srv.RegisterOnShutdown(mgmt.CloseStreams)

	ps := &parts{log: log}
	start := func(p *part) error {
		if err := ps.start(ctx, p); err != nil {
			if ctx.Err() != nil {
				log.Info("stopped while starting", "part", p.name)
				return errStopped
			}
			log.Error("cannot start", "part", p.name, "err", err)
			return err
		}
		return nil
	}
	if err := start(newPart("delivery", engine.Run, engine.Started())); err != nil {
		return err
	}
	if _, err := rec.Recover(ctx, connectorSource(cfg)); err != nil {
		ps.stop()
		return fmt.Errorf("recorder: %w", err)
	}
	if err := start(newPart("recorder", rec.Run, nil)); err != nil {
		return err
	}
	// Watched before the sources start, so that no event goes uncounted.
	activity, stopWatch := rec.Watch(4096)
	if err := start(newPart("activity", func(c context.Context) error {
		defer stopWatch()
		return countEvents(c, activity, health)
	}, nil)); err != nil {
		return err
	}
	for _, s := range srcs.list {
		name, ready := s.Name(), (<-chan struct{})(nil)
		if p, ok := s.(*pbx.PBX); ok {
			// The PBX is up once its SIP listeners are bound; the config
			// calls it sip.
			name, ready = "sip", p.Ready()
		}
		if err := start(newPart(name, func(c context.Context) error { return s.Run(c, rec) }, ready)); err != nil {
			return err
		}
	}
	if err := start(newPart("retention", func(c context.Context) error { return purgeLoop(c, st, cfg.Store.Retention.D(), log) }, nil)); err != nil {
		return err
	}
	if reload != nil {
		// Caught before the process answers, so that a SIGHUP sent as soon
		// as it is up reloads rather than ends it.
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		if err := start(newPart("reload", func(c context.Context) error { return reloadOnHangup(c, hup, reload, log) }, nil)); err != nil {
			return err
		}
	}
	if err := start(newPart("http", func(c context.Context) error { return serveHTTP(c, srv, ln) }, nil)); err != nil {
		return err
	}
	log.Info("switchhook is up", "http", "http://"+ln.Addr().String(), "store", redactDSN(cfg.Store.DSN), "node", cfg.Node, "sources", len(srcs.list))
	err = ps.wait(ctx)
	log.Info("stopped")
	return err
}

// errStopped ends a start that was asked to stop before it was up.
var errStopped = errors.New("stopped while starting")

// serveHTTP serves srv on ln until ctx is done, then shuts it down, giving
// the requests in flight up to 5s.
func serveHTTP(ctx context.Context, srv *http.Server, ln net.Listener) error {
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdownCtx)
		<-served
		return nil
	}
}

// reloadOnHangup reloads the config file at each SIGHUP until ctx is done.
func reloadOnHangup(ctx context.Context, hup <-chan os.Signal, reload api.Reloader, log *slog.Logger) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			if _, err := reload(ctx); err != nil {
				log.Error("config not reloaded; nothing was changed", "part", "reload", "err", err)
			}
		}
	}
}

// Migrate applies the store's migrations and returns.
func Migrate(ctx context.Context, o Options) error {
	cfg, err := config.Load(o.ConfigPath)
	if err != nil {
		return err
	}
	log := o.Logger
	if log == nil {
		log = newLogger(cfg.Log)
	}
	st, err := openStore(ctx, cfg.Store.DSN, log)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	return nil
}

// openStore opens the store a DSN names: sqlite://PATH, or postgres://… (or
// postgresql://…) for several nodes sharing one database.
func openStore(ctx context.Context, dsn string, log *slog.Logger) (store.Store, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite://"):
		path := strings.TrimPrefix(dsn, "sqlite://")
		st, err := sqlite.Open(ctx, path)
		if err != nil {
			return nil, err // it names the file
		}
		return st, nil
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		st, err := postgres.Open(ctx, dsn, postgres.WithLogger(log.With("part", "store")))
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", redactDSN(dsn), err)
		}
		return st, nil
	}
	return nil, fmt.Errorf("store.dsn %s: no store for this scheme", redactDSN(dsn))
}

// redactDSN hides a password in a DSN for logs.
func redactDSN(dsn string) string {
	if i := strings.Index(dsn, "://"); i >= 0 {
		if at := strings.LastIndex(dsn, "@"); at > i {
			if colon := strings.Index(dsn[i+3:at], ":"); colon >= 0 {
				return dsn[:i+3+colon+1] + "***" + dsn[at:]
			}
		}
	}
	return dsn
}

// syncEndpoints writes the endpoints of the config file into the store. An
// endpoint keeps its id (derived from its URL) and, when the file gives none,
// the secret generated on its first start. One no longer in the file is
// disabled rather than deleted, so its undelivered events are not lost.
func syncEndpoints(ctx context.Context, st store.Store, cfg *config.Config, log *slog.Logger) error {
	now := time.Now()
	declared := map[string]bool{}
	for i, w := range cfg.Webhooks {
		ep := &store.Endpoint{
			ID:            configEndpointID(w.URL),
			URL:           w.URL,
			Description:   w.Description,
			Headers:       w.Headers,
			Timeout:       w.Timeout.D(),
			RetrySchedule: schedule(w.RetrySchedule, cfg.Delivery.RetrySchedule),
			MaxInFlight:   w.MaxInFlight,
			Disabled:      w.Disabled,
			FromConfig:    true,
			CreatedAt:     now.Add(time.Duration(i)), // the file's order is their creation order
			UpdatedAt:     now,
		}
		ep.Profile, _ = events.ParseProfile(w.Payload)
		for _, k := range w.Events {
			ep.Events = append(ep.Events, events.Kind(k))
		}
		if ep.Timeout == 0 {
			ep.Timeout = cfg.Delivery.Timeout.D()
		}
		if ep.MaxInFlight == 0 {
			ep.MaxInFlight = cfg.Delivery.MaxInFlight
		}
		ep.WithDefaults()
		secret := w.Secret
		if secret == "" {
			secret = signature.NewSecret()
		}
		ep.Secrets = []store.Secret{{Value: secret}}
		if err := st.UpsertEndpoint(ctx, ep); err != nil {
			return fmt.Errorf("webhooks[%d]: store endpoint: %w", i, err)
		}
		// A secret written in the file replaces the stored one; Upsert keeps
		// stored secrets so that a generated one survives restarts.
		if w.Secret != "" {
			stored, err := st.GetEndpoint(ctx, ep.ID)
			if err != nil {
				return fmt.Errorf("webhooks[%d]: read endpoint: %w", i, err)
			}
			if len(stored.Secrets) == 0 || stored.Secrets[0].Value != w.Secret {
				stored.Secrets, stored.UpdatedAt = ep.Secrets, now
				if err := st.UpdateEndpoint(ctx, stored); err != nil {
					return fmt.Errorf("webhooks[%d]: store endpoint secret: %w", i, err)
				}
			}
		}
		declared[ep.ID] = true
	}
	all, err := st.ListEndpoints(ctx)
	if err != nil {
		return fmt.Errorf("list endpoints: %w", err)
	}
	for _, ep := range all {
		if ep.FromConfig && !declared[ep.ID] && !ep.Disabled {
			if err := st.DisableEndpoint(ctx, ep.ID, "removed from the config file"); err != nil {
				return fmt.Errorf("disable endpoint %s: %w", ep.ID, err)
			}
			log.Warn("endpoint removed from the config file is disabled", "endpoint", ep.ID, "url", ep.URL)
		}
	}
	return nil
}

// configEndpointID names an endpoint of the config file by its URL, so it
// keeps its id, secret and deliveries across restarts.
func configEndpointID(url string) string {
	sum := sha256.Sum256([]byte(url))
	return "ep_cfg_" + hex.EncodeToString(sum[:8])
}

// schedule picks the first non-empty schedule; nil means the engine default.
func schedule(own, fallback []config.Duration) []time.Duration {
	s := own
	if len(s) == 0 {
		s = fallback
	}
	if len(s) == 0 {
		return nil
	}
	out := make([]time.Duration, len(s))
	for i, d := range s {
		out[i] = d.D()
	}
	return out
}

// countEvents counts the recorded events per minute, but test events, for
// the dashboard's overview.
func countEvents(ctx context.Context, evs <-chan events.Event, h *delivery.Health) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case e := <-evs:
			if e.Endpoint == "" {
				h.CountEvent(e.OccurredAt)
			}
		}
	}
}

// purgeLoop deletes what is older than retention, hourly.
func purgeLoop(ctx context.Context, st store.Store, retention time.Duration, log *slog.Logger) error {
	if retention <= 0 {
		return nil
	}
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		n, err := st.Purge(ctx, time.Now().Add(-retention))
		if err != nil && ctx.Err() == nil {
			log.Error("purge old events", "err", err)
		} else if n > 0 {
			log.Info("purged old events", "events", n, "older_than", retention)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func newLogger(c config.Log) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// forwardingOf is the call forwarding the API serves: none without the PBX
// (a nil *forwarding.Table put in the interface would not be nil).
func forwardingOf(s *sources) api.Forwarding {
	if s.forwards == nil {
		return nil
	}
	return s.forwards
}
