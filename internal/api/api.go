package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/switchhook/switchhook/internal/delivery"
	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/metrics"
	"github.com/switchhook/switchhook/internal/store"
)

// Engine is what the API tells the delivery engine.
type Engine interface {
	// Wake says new deliveries may be due now.
	Wake()
	// EndpointsChanged says an endpoint was created, changed or removed.
	EndpointsChanged()
}

// Recorder records the events the API makes (test events). Record returns
// once the event is committed, so that the API answers 2xx only for what a
// crash cannot take back.
type Recorder interface {
	Record(ctx context.Context, e events.Event) error
}

// EndpointDefaults are the settings of an endpoint created without them;
// those left zero are store's defaults (store.DefaultTimeout, …).
type EndpointDefaults struct {
	Timeout       time.Duration
	RetrySchedule []time.Duration
	MaxInFlight   int
}

// Options configure an API.
type Options struct {
	Store store.Store
	// Sink records the test events, so they take the path of real ones:
	// recorded, ordered, retried.
	Sink   Recorder
	Engine Engine // nil: nobody is told
	// Metrics are served at /metrics; nil answers 404 there.
	Metrics *metrics.Metrics
	// AdminToken is the bearer token of every /v1 route; empty refuses them all.
	AdminToken string
	// Location is the zone of the events' `timestamp`; nil is UTC.
	Location *time.Location
	Logger   *slog.Logger // nil: no logs
	Version  string       // reported by /healthz
	// Registrations, Channels and Sources return JSON-able lists of the PBX's
	// registrations, its live channels and the call sources; nil serves [].
	Registrations, Channels, Sources func() any
	// SourcesDown names the call sources not connected to their engine
	// now; /healthz reports them (status "degraded"). nil: none.
	SourcesDown func() []string
	// Now is the clock of the health views' minutes; nil is time.Now.
	Now func() time.Time
	// SecretGrace is how long a rotated-out secret keeps signing; 0 is 24h.
	SecretGrace time.Duration
	Defaults    EndpointDefaults
	// Sessions, if set, let a browser signed in to the dashboard use the
	// /v1 routes with its session cookie.
	Sessions Sessions
	// Watch, if set, feeds GET /v1/stream with the events as they are
	// committed (ingest.Recorder's Watch); nil answers 404 there.
	Watch func(buffer int) (<-chan events.Event, func())
	// Forwarding reads and changes the extensions' call forwarding; nil
	// (no built-in PBX) answers 404 on its routes.
	Forwarding Forwarding
	// Reload re-reads the config file; nil answers POST /v1/config/reload
	// with 404.
	Reload Reloader
	// Extensions lists the PBX's extensions; nil serves [].
	Extensions Extensions
	// Health is what the delivery engine saw lately, for GET /v1/overview
	// and GET /v1/endpoints/{id}/health; nil reports no attempts.
	Health *delivery.Health
	// Queues serves /v1/queues; nil: no queues are configured.
	Queues Queues
}

// Limits of the API's inputs.
const (
	maxBodyBytes   = 1 << 20
	defaultLimit   = 100
	maxLimit       = 1000
	healthzTimeout = 3 * time.Second
	defaultGrace   = 24 * time.Hour
)

// API serves the management routes. Make one with New.
type API struct {
	store      store.Store
	sink       Recorder
	engine     Engine
	metrics    *metrics.Metrics
	log        *slog.Logger
	loc        *time.Location
	version    string
	lists      map[string]func() any
	grace      time.Duration
	defaults   EndpointDefaults
	sessions   Sessions
	watch      func(buffer int) (<-chan events.Event, func())
	health     *delivery.Health
	forwards   Forwarding
	reloader   Reloader
	extensions Extensions
	down       func() []string
	queues     Queues
	now        func() time.Time

	closing   chan struct{} // closed by CloseStreams
	closeOnce sync.Once

	tokenSum [sha256.Size]byte
	hasToken bool
	routes   []route
	mux      *http.ServeMux
}

// route is one method and pattern of the API; the OpenAPI document must
// list exactly these.
type route struct {
	method  string
	pattern string
	public  bool // no admin token needed
	handle  func(w http.ResponseWriter, r *http.Request) error
}

// New makes an API from o, filling the defaults of zero options.
func New(o Options) *API {
	a := &API{
		store:      o.Store,
		sink:       o.Sink,
		engine:     o.Engine,
		metrics:    o.Metrics,
		log:        o.Logger,
		loc:        o.Location,
		version:    o.Version,
		grace:      o.SecretGrace,
		defaults:   o.Defaults,
		sessions:   o.Sessions,
		watch:      o.Watch,
		health:     o.Health,
		forwards:   o.Forwarding,
		reloader:   o.Reload,
		extensions: o.Extensions,
		down:       o.SourcesDown,
		queues:     o.Queues,
		now:        o.Now,
		closing:    make(chan struct{}),
		lists: map[string]func() any{
			"registrations": o.Registrations,
			"channels":      o.Channels,
			"sources":       o.Sources,
		},
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.loc == nil {
		a.loc = time.UTC
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.grace == 0 {
		a.grace = defaultGrace
	}
	d := store.Endpoint{Timeout: a.defaults.Timeout, RetrySchedule: a.defaults.RetrySchedule, MaxInFlight: a.defaults.MaxInFlight}
	d.WithDefaults()
	a.defaults = EndpointDefaults{Timeout: d.Timeout, RetrySchedule: d.RetrySchedule, MaxInFlight: d.MaxInFlight}
	if o.AdminToken != "" {
		a.tokenSum, a.hasToken = sha256.Sum256([]byte(o.AdminToken)), true
	}
	a.routes = a.routeTable()
	a.mux = http.NewServeMux()
	for _, rt := range a.routes {
		h := a.serve(rt.handle)
		if !rt.public {
			h = a.authorize(h)
		}
		a.mux.Handle(rt.method+" "+rt.pattern, h)
	}
	a.mux.Handle("/v1/", a.authorize(a.serve(a.noRoute)))
	a.mux.Handle("/", a.serve(a.noRoute))
	return a
}

func (a *API) routeTable() []route {
	return []route{
		{method: "GET", pattern: "/healthz", public: true, handle: a.healthz},
		{method: "GET", pattern: "/metrics", public: true, handle: a.serveMetrics},
		{method: "GET", pattern: "/v1/openapi.json", handle: a.openAPI},
		{method: "POST", pattern: "/v1/endpoints", handle: a.createEndpoint},
		{method: "GET", pattern: "/v1/endpoints", handle: a.listEndpoints},
		{method: "GET", pattern: "/v1/endpoints/{id}", handle: a.getEndpoint},
		{method: "PATCH", pattern: "/v1/endpoints/{id}", handle: a.patchEndpoint},
		{method: "DELETE", pattern: "/v1/endpoints/{id}", handle: a.deleteEndpoint},
		{method: "POST", pattern: "/v1/endpoints/{id}/rotate-secret", handle: a.rotateSecret},
		{method: "POST", pattern: "/v1/endpoints/{id}/test", handle: a.testEndpoint},
		{method: "POST", pattern: "/v1/endpoints/{id}/replay", handle: a.replay},
		{method: "GET", pattern: "/v1/endpoints/{id}/health", handle: a.endpointHealth},
		{method: "GET", pattern: "/v1/events", handle: a.listEvents},
		{method: "GET", pattern: "/v1/calls", handle: a.listCalls},
		{method: "GET", pattern: "/v1/calls/{call_uuid}", handle: a.getCall},
		{method: "GET", pattern: "/v1/deliveries", handle: a.listDeliveries},
		{method: "GET", pattern: "/v1/deliveries/{id}", handle: a.getDelivery},
		{method: "POST", pattern: "/v1/deliveries/{id}/retry", handle: a.retryDelivery},
		{method: "GET", pattern: "/v1/forwards", handle: a.listForwards},
		{method: "GET", pattern: "/v1/extensions/{number}/forward", handle: a.getForward},
		{method: "PUT", pattern: "/v1/extensions/{number}/forward", handle: a.putForward},
		{method: "DELETE", pattern: "/v1/extensions/{number}/forward", handle: a.resetForward},
		{method: "GET", pattern: "/v1/extensions", handle: a.listExtensions},
		{method: "GET", pattern: "/v1/registrations", handle: a.list("registrations")},
		{method: "GET", pattern: "/v1/channels", handle: a.list("channels")},
		{method: "GET", pattern: "/v1/sources", handle: a.list("sources")},
		{method: "GET", pattern: "/v1/queues", handle: a.listQueues},
		{method: "GET", pattern: "/v1/queues/{number}", handle: a.getQueue},
		{method: "POST", pattern: "/v1/queues/{number}/agents/{ext}/pause", handle: a.pauseAgent(true)},
		{method: "POST", pattern: "/v1/queues/{number}/agents/{ext}/unpause", handle: a.pauseAgent(false)},
		{method: "GET", pattern: "/v1/overview", handle: a.overview},
		{method: "POST", pattern: "/v1/config/reload", handle: a.reload},
		{method: "GET", pattern: "/v1/stream", handle: a.stream},
	}
}

// Handler serves the API's routes and answers 404 to any other path, so it
// can sit alone on a server. To share a server with other pages, use Mount.
func (a *API) Handler() http.Handler { return a.mux }

// Mount routes /v1/, /healthz and /metrics of mux to the API. The patterns
// carry no method, so the rest of mux must not use method patterns that
// overlap them (a plain "/" for a dashboard is fine; "GET /" would conflict).
func (a *API) Mount(mux *http.ServeMux) {
	for _, p := range []string{"/v1/", "/healthz", "/metrics"} {
		mux.Handle(p, a.mux)
	}
}

// authorize lets a request through only with the admin token (or a
// dashboard session, see Sessions). Both sides are hashed first so that the
// comparison takes the same time whatever the lengths of the token tried.
func (a *API) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.bySession(w, r, next) {
			return
		}
		scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="switchhook"`)
			a.writeError(w, r, errorf(http.StatusUnauthorized, "Authorization", "missing Authorization: Bearer <admin token>"))
			return
		}
		sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
		if !a.hasToken || subtle.ConstantTimeCompare(sum[:], a.tokenSum[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="switchhook", error="invalid_token"`)
			a.writeError(w, r, errorf(http.StatusUnauthorized, "Authorization", "invalid admin token"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// noRoute answers paths and methods no route serves: 405 with Allow when
// the path exists under another method, 404 otherwise.
func (a *API) noRoute(w http.ResponseWriter, r *http.Request) error {
	var allow []string
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := a.mux.Handler(probe); strings.HasPrefix(pattern, m+" ") {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		return errorf(http.StatusMethodNotAllowed, "", "%s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, strings.Join(allow, ", "))
	}
	return errorf(http.StatusNotFound, "", "no route %s %s", r.Method, r.URL.Path)
}
