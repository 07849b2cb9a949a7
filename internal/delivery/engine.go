package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/switchhook/switchhook/internal/metrics"
	"github.com/switchhook/switchhook/internal/store"
)

// Options configure an Engine. Zero fields take the defaults shown.
type Options struct {
	// Node names this process as the owner of its leases; it must differ
	// between processes that share a store. Default: the host name.
	Node string
	// Logger receives the engine's logs. Default: slog.Default().
	Logger *slog.Logger
	// Metrics, if set, count attempts and time deliveries.
	Metrics *metrics.Metrics
	// Location is the zone of the payloads' `timestamp` field. Default: UTC.
	Location *time.Location
	// Version goes into the User-Agent, "switchhook/<version>". Default: dev.
	Version string

	// Concurrency bounds the requests in flight across all endpoints
	// (each endpoint's MaxInFlight bounds its own). Default: 512.
	Concurrency int
	// ClaimBatch is the most deliveries claimed from the store at once.
	// Default: 100.
	ClaimBatch int
	// LeaseDuration is how long a claimed delivery stays reserved to this
	// process; it is raised to twice the longest endpoint timeout. If the
	// process dies, its deliveries are claimable again after it. Default: 2m.
	LeaseDuration time.Duration
	// PollInterval is how often the store is asked for work nobody told the
	// engine about (made by another process, or freed by an expired lease).
	// Work committed in this process is claimed at once through Wake.
	// Default: 1s.
	PollInterval time.Duration
	// ReloadInterval is how often endpoints are re-read, for changes made
	// by other processes. Default: 10s.
	ReloadInterval time.Duration
	// ShutdownTimeout bounds how long Run waits for requests in flight once
	// its context is done; the ones still running are then abandoned, their
	// leases released, and they are sent again later. Default: 10s.
	ShutdownTimeout time.Duration

	// CircuitFailures in a row (across an endpoint's deliveries) open its
	// circuit. Default: 5.
	CircuitFailures int
	// CircuitPause is the first pause of an open circuit; it doubles with
	// each failed probe up to MaxCircuitPause. Defaults: 5s and 10m.
	CircuitPause    time.Duration
	MaxCircuitPause time.Duration
	// DisableAfter is how long an endpoint may keep failing, without one
	// success, before it is disabled. Default: 72h.
	DisableAfter time.Duration

	// Health, if set, is told every attempt's outcome, for the dashboard.
	Health *Health

	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

func (o *Options) setDefaults() {
	if o.Node == "" {
		o.Node, _ = os.Hostname()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	setDefault(&o.Concurrency, 512)
	setDefault(&o.ClaimBatch, 100)
	setDefault(&o.LeaseDuration, 2*time.Minute)
	setDefault(&o.PollInterval, time.Second)
	setDefault(&o.ReloadInterval, 10*time.Second)
	setDefault(&o.ShutdownTimeout, 10*time.Second)
	setDefault(&o.CircuitFailures, 5)
	setDefault(&o.CircuitPause, 5*time.Second)
	setDefault(&o.MaxCircuitPause, 10*time.Minute)
	setDefault(&o.DisableAfter, 72*time.Hour)
	if o.Now == nil {
		o.Now = time.Now
	}
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Engine delivers webhooks. Make one with New, start it with Run, and tell it
// about new work with Wake and about endpoint changes with EndpointsChanged.
type Engine struct {
	st        store.Store
	o         Options
	log       *slog.Logger
	client    *http.Client
	transport *http.Transport
	userAgent string

	wake    chan struct{}
	reload  chan struct{}
	running atomic.Bool
	started chan struct{}
}

// New returns an engine that delivers the work of st.
func New(st store.Store, opts Options) *Engine {
	opts.setDefaults()
	// One transport for every endpoint: it keeps connections alive and
	// lets each host hold as many idle ones as the engine can have
	// requests in flight, so a busy endpoint never pays for a new
	// connection (or TLS handshake) per webhook.
	tr := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   opts.Concurrency,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &Engine{
		st:        st,
		o:         opts,
		log:       opts.Logger,
		transport: tr,
		client: &http.Client{
			Transport: tr,
			// A webhook is not followed to another address: the endpoint's
			// URL is what its owner registered, and a 3xx is a
			// misconfiguration to be seen in the attempt log.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		userAgent: "switchhook/" + opts.Version,
		wake:      make(chan struct{}, 1),
		reload:    make(chan struct{}, 1),
		started:   make(chan struct{}),
	}
}

// Started is closed once Run has taken back this node's leases and loaded
// the endpoints, and delivers.
func (e *Engine) Started() <-chan struct{} { return e.started }

// Wake tells the engine that new work was committed: it claims at once
// rather than at its next poll. It never blocks.
func (e *Engine) Wake() { signal(e.wake) }

// EndpointsChanged tells the engine that an endpoint was created, changed or
// deleted, so it re-reads them before its next claim. It never blocks.
func (e *Engine) EndpointsChanged() { signal(e.reload) }

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default: // a signal is already pending; one is enough
	}
}

// Run delivers until ctx is done, then stops claiming, waits for the requests
// in flight (up to ShutdownTimeout), records them, releases its remaining
// leases and returns nil. It returns an error only if the store cannot be
// used at start. Run is called once per Engine.
func (e *Engine) Run(ctx context.Context) error {
	if !e.running.CompareAndSwap(false, true) {
		return errors.New("delivery: Run called twice")
	}
	defer e.transport.CloseIdleConnections()
	// Store calls must complete during shutdown too, so they do not use
	// ctx; requests get their own context, cancelled only when the
	// shutdown timeout is over.
	dbCtx := context.WithoutCancel(ctx)
	reqCtx, abandon := context.WithCancel(dbCtx)
	defer abandon()

	r := &runner{
		e:         e,
		results:   make(chan result, e.o.Concurrency),
		completed: make(chan error, 1),
		eps:       map[string]*endpoint{},
		dirty:     map[string]bool{},
		disable:   map[string]string{},
	}
	// Leases held under this node's name were taken by a previous life of
	// this process that did not shut down cleanly: take them back now
	// rather than wait for them to expire.
	if err := e.st.ReleaseLeases(dbCtx, e.o.Node); err != nil {
		return fmt.Errorf("delivery: release leases of %s: %w", e.o.Node, err)
	}
	if err := r.loadEndpoints(dbCtx); err != nil {
		return fmt.Errorf("delivery: %w", err)
	}
	e.log.Info("delivery engine started", "node", e.o.Node, "endpoints", len(r.eps))
	close(e.started)

	timer := time.NewTimer(0)
	defer timer.Stop()
	reloadTick := time.NewTicker(e.o.ReloadInterval)
	defer reloadTick.Stop()
	notifications := e.st.Notifications()
	done := ctx.Done()
	var deadline <-chan time.Time
	claimNow := true
	for {
		if done == nil && r.inflight == 0 {
			break
		}
		r.record(dbCtx)
		if claimNow && done != nil {
			// An endpoint change (a rotated secret, a new URL) made before
			// the work it concerns must be in force before that work is
			// claimed; select alone would pick wake or reload at random.
			select {
			case <-e.reload:
				r.reloadEndpoints(dbCtx)
			default:
			}
			claimNow = r.claim(dbCtx, reqCtx)
		}
		wait := r.sleep(done == nil)
		if claimNow && done != nil {
			wait = 0 // the last claim was full: more is waiting
		}
		timer.Reset(wait)
		select {
		case res := <-r.results:
			r.take(res)
		case err := <-r.completed:
			if r.committed(err) {
				claimNow = true
			}
		case <-e.wake:
			claimNow = true
		case <-notifications:
			claimNow = true
		case <-timer.C:
			claimNow = true
		case <-e.reload:
			r.reloadEndpoints(dbCtx)
			claimNow = true
		case <-reloadTick.C:
			r.reloadEndpoints(dbCtx)
		case <-done:
			done = nil
			deadline = time.After(e.o.ShutdownTimeout)
			e.log.Info("delivery engine stopping", "in_flight", r.inflight)
		case <-deadline:
			e.log.Warn("shutdown timeout: abandoning requests in flight; they will be sent again", "in_flight", r.inflight)
			abandon()
			deadline = nil
		}
	}
	r.flush(dbCtx)
	if err := e.st.ReleaseLeases(dbCtx, e.o.Node); err != nil {
		e.log.Error("release leases", "err", err)
	}
	e.log.Info("delivery engine stopped")
	return nil
}
