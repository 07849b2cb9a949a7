package pbx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/switchhook/switchhook/internal/dialplan"
	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/gateway"
	"github.com/switchhook/switchhook/internal/media"
	"github.com/switchhook/switchhook/internal/metrics"
	"github.com/switchhook/switchhook/internal/queue"
	"github.com/switchhook/switchhook/internal/registrar"
	"github.com/switchhook/switchhook/internal/sipauth"
	"github.com/switchhook/switchhook/internal/siphdr"
)

// sourceName is the PBX's events.Source name and Event.Source.
const sourceName = "pbx"

// sipReadBuffer is the receive buffer asked for the SIP UDP sockets: about
// two seconds of 200 calls/s of signalling.
const sipReadBuffer = 4 << 20

// shutdownGrace bounds how long Run waits, once its context is done, for
// calls to be hung up before the SIP stack is closed under them.
const shutdownGrace = 5 * time.Second

// PBX is the built-in PBX. Make one with New and serve it with Run.
type PBX struct {
	// cfg is what the PBX serves; Reload swaps it whole, so that a call
	// reads one config or the next, never half of each.
	cfg     atomic.Pointer[checked]
	log     *slog.Logger
	metrics *metrics.Metrics
	auth    *sipauth.Authenticator
	limiter *sipauth.Limiter
	reg     *registrar.Registrar
	domain  string // sip.domain, or the default address when none
	local   *localAddrs

	started atomic.Bool
	ready   chan struct{}

	// Set by Run before any request is served, read-only after.
	ctx        context.Context
	sink       events.Sink
	ua         *sipgo.UserAgent
	ports      *media.PortPool
	transports map[string]*transport
	sipLog     *slog.Logger

	// reloadMu serialises Reload with itself and with the gateways' start;
	// gatewaysUp says they started.
	reloadMu   sync.Mutex
	gatewaysUp bool

	// byHost holds the transports by network and the PBX's address in
	// their Contact and Via, made as parties on new addresses appear.
	tmu    sync.Mutex
	byHost map[hostKey]*transport

	// wg counts the calls' owners and the goroutines they start (callee
	// INVITEs, BYEs, prompts, relayed requests).
	wg sync.WaitGroup
	// gwWG counts the gateways' registration goroutines, which withdraw
	// their registrations as the PBX stops, before its SIP stack closes.
	gwWG sync.WaitGroup

	// queues allocates the queues' agents to their callers.
	queues *queue.Manager

	mu      sync.Mutex
	addrs   []string
	since   time.Time // when it started serving
	gwStop  map[*gateway.Gateway]context.CancelFunc
	closing bool
	calls   map[string]*call
	dialogs map[string]*dialogLeg

	// ringing maps the Call-ID of each callee INVITE out to its leg, for
	// onWire.
	ringing sync.Map
	// holding is, per extension, the answered calls it holds now, by
	// call_uuid: a call it places meanwhile is a consultation call.
	holding map[string]map[string]dialplan.HeldCall
}

// transport is how the PBX sends on one SIP transport.
type transport struct {
	network string // "udp" or "tcp"
	port    int
	bound   netip.AddrPort
	ua      *sipgo.DialogUA
}

// New checks cfg and makes a PBX. It binds nothing yet: Run does.
func New(cfg Config, logger *slog.Logger, m *metrics.Metrics) (*PBX, error) {
	c, err := cfg.check()
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.Default()
	}
	local := &localAddrs{bind: c.bind, external: c.external, localNets: c.localNets, fallback: c.bind, cache: make(map[netip.Addr]netip.Addr)}
	if c.bind.IsUnspecified() {
		ip, _, err := sip.ResolveInterfacesIP("ip4", nil)
		if err != nil {
			return nil, fmt.Errorf("pbx: listening on %s: find this host's address: %w", c.bind, err)
		}
		local.fallback, _ = netip.AddrFromSlice(ip.To4())
	}
	if c.external.IsValid() {
		local.fallback = c.external
	}
	p := &PBX{
		log:     logger.With("source", sourceName),
		metrics: m,
		limiter: sipauth.NewLimiter(sipauth.LimiterConfig{}),
		reg: registrar.New(registrar.Config{Bindings: c.Bindings, OnError: func(err error) {
			logger.Error("registrations unavailable", "source", sourceName, "err", err)
		}}),
		domain:  c.Domain,
		local:   local,
		byHost:  make(map[hostKey]*transport),
		gwStop:  make(map[*gateway.Gateway]context.CancelFunc),
		ready:   make(chan struct{}),
		calls:   make(map[string]*call),
		dialogs: make(map[string]*dialogLeg),
		holding: make(map[string]map[string]dialplan.HeldCall),
	}
	p.cfg.Store(c)
	if p.domain == "" {
		p.domain = local.fallback.String()
	}
	p.auth, err = sipauth.New(p.domain, func(user string) (string, bool) {
		e, ok := p.conf().exts[user]
		return e.Password, ok
	}, sipauth.WithRealmFunc(p.realmOf), sipauth.WithAlgorithms(c.authAlgs))
	if err != nil {
		return nil, fmt.Errorf("pbx: %w", err)
	}
	if p.ports, err = media.NewPortPool(c.bind, c.RTPPortMin, c.RTPPortMax); err != nil {
		return nil, fmt.Errorf("pbx: %w", err)
	}
	p.queues, err = queue.New(c.Queues, queue.Options{Presence: p, Pauses: c.Pauses, Metrics: m, Logger: logger.With("part", "queues")})
	if err != nil {
		return nil, fmt.Errorf("pbx: %w", err)
	}
	return p, nil
}

// conf returns the config in effect.
func (p *PBX) conf() *checked { return p.cfg.Load() }

// Name returns "pbx".
func (p *PBX) Name() string { return sourceName }

// Ready is closed once Run has bound its listeners.
func (p *PBX) Ready() <-chan struct{} { return p.ready }

// ListenAddrs returns the bound listeners as "udp://ip:port" and
// "tcp://ip:port", in the order of Config.Listen; empty before Ready.
func (p *PBX) ListenAddrs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.addrs)
}

// Run serves SIP and emits call events to sink until ctx is done; then it
// hangs up live calls (CALL_HANGUP with SYSTEM_SHUTDOWN), releases their
// ports and returns nil. A listener that cannot be bound, or that stops
// while the PBX runs, ends Run the same way with its error. It can be
// called once.
func (p *PBX) Run(ctx context.Context, sink events.Sink) error {
	if !p.started.CompareAndSwap(false, true) {
		return errors.New("pbx: Run called twice")
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	p.ctx, p.sink = ctx, sink
	sipLog := p.log.With("component", "sip")
	p.sipLog = sipLog
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent("switchhook"),
		sipgo.WithUserAgentHostname(p.domain),
		// A REFER whose Refer-To is malformed reaches its call, which
		// answers it 400, rather than being dropped by the parser.
		sipgo.WithUserAgentParser(siphdr.Parser()),
		sipgo.WithUserAgentTransactionLayerOptions(
			sip.WithTransactionLayerLogger(sipLog),
			sip.WithTransactionLayerUnhandledResponseHandler(func(r *sip.Response) {
				sipLog.Debug("response matches no transaction", "response", r.StartLine())
			}),
		),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(sipLog)),
	)
	if err != nil {
		return fmt.Errorf("pbx: make user agent: %w", err)
	}
	ua.TransportLayer().OnMessage(p.onWire)
	p.ua = ua
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(sipLog))
	if err != nil {
		ua.Close()
		return fmt.Errorf("pbx: make server: %w", err)
	}
	p.routes(srv)
	if err := p.queues.Restore(ctx); err != nil {
		ua.Close()
		return fmt.Errorf("pbx: %w", err)
	}
	queuesCtx, stopQueues := context.WithCancel(context.WithoutCancel(ctx))
	queuesDone := make(chan struct{})
	go func() {
		defer close(queuesDone)
		p.queues.Run(queuesCtx)
	}()
	// The queues outlive the calls, which report to them as they end.
	defer func() {
		stopQueues()
		<-queuesDone
	}()

	closers, serve, err := p.listen(sipLog)
	if err != nil {
		ua.Close()
		return err
	}
	var serving sync.WaitGroup
	// A listener that stops while the PBX runs stops the PBX: a process
	// that cannot take calls must not look as if it could.
	failed := make(chan error, len(serve))
	for _, s := range serve {
		serving.Add(1)
		go func() {
			defer serving.Done()
			if err := s(); err != nil && ctx.Err() == nil {
				failed <- fmt.Errorf("serve: %w", err)
			}
		}()
	}
	p.awaitServing()
	p.reloadMu.Lock()
	p.startGateways(ctx)
	p.gatewaysUp = true
	p.reloadMu.Unlock()
	if p.metrics != nil {
		p.metrics.SourceConnected.WithLabelValues(sourceName).Set(1)
	}
	p.mu.Lock()
	p.since = time.Now().UTC()
	p.mu.Unlock()
	close(p.ready)
	p.log.Info("pbx serving", "listen", p.ListenAddrs(), "domain", p.domain)

	select {
	case <-ctx.Done():
	case err = <-failed:
		p.log.Error("sip listener stopped", "err", err)
		stop() // the calls end as at any shutdown
	}
	p.shutdown()
	for _, c := range closers {
		c.Close()
	}
	ua.Close()
	p.wg.Wait()
	serving.Wait()
	if p.metrics != nil {
		p.metrics.SourceConnected.WithLabelValues(sourceName).Set(0)
	}
	return err
}

// listen binds every configured listener and makes the transport the PBX
// sends with on each network.
func (p *PBX) listen(log *slog.Logger) ([]interface{ Close() error }, []func() error, error) {
	var closers []interface{ Close() error }
	var serve []func() error
	p.transports = make(map[string]*transport)
	fail := func(err error) ([]interface{ Close() error }, []func() error, error) {
		for _, c := range closers {
			c.Close()
		}
		return nil, nil, err
	}
	for _, l := range p.conf().listeners {
		var port int
		network := l.network
		if l.addr.Addr().Is4() {
			network += "4"
		}
		switch l.network {
		case "udp":
			conn, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(l.addr))
			if err != nil {
				return fail(listenError(l.network, l.addr, err))
			}
			closers = append(closers, conn)
			// Every call's signalling shares this socket: a burst, or the
			// process kept off the CPU for a few hundred milliseconds,
			// overflows the default buffer and the kernel drops requests
			// and responses (a lost 180 is a lost CALL_RINGING). The
			// kernel caps the size at net.core.rmem_max, silently.
			if err := conn.SetReadBuffer(sipReadBuffer); err != nil {
				p.log.Warn("enlarge the SIP socket's receive buffer", "listen", l.addr, "err", err)
			}
			port = conn.LocalAddr().(*net.UDPAddr).Port
			serve = append(serve, func() error { return p.ua.TransportLayer().ServeUDP(conn) })
		case "tcp":
			ln, err := net.ListenTCP(network, net.TCPAddrFromAddrPort(l.addr))
			if err != nil {
				return fail(listenError(l.network, l.addr, err))
			}
			closers = append(closers, ln)
			port = ln.Addr().(*net.TCPAddr).Port
			serve = append(serve, func() error { return p.ua.TransportLayer().ServeTCP(ln) })
		}
		bound := netip.AddrPortFrom(l.addr.Addr(), uint16(port))
		p.mu.Lock()
		p.addrs = append(p.addrs, l.network+"://"+bound.String())
		p.mu.Unlock()
		if _, ok := p.transports[l.network]; ok {
			continue
		}
		t, err := p.newTransport(l.network, p.local.fallback, bound, log)
		if err != nil {
			return fail(err)
		}
		p.transports[l.network] = t
	}
	return closers, serve, nil
}

// listenError says which listener could not be bound, as the config names
// it ("listen udp 127.0.0.1:5060: bind: address already in use"), where net
// would say udp4.
func listenError(network string, addr netip.AddrPort, err error) error {
	if op := (*net.OpError)(nil); errors.As(err, &op) {
		err = op.Err
	}
	return fmt.Errorf("listen %s %s: %w", network, addr, err)
}

// newTransport makes the transport of network sending from bound, with
// local in its Contact and Via.
func (p *PBX) newTransport(network string, local netip.Addr, bound netip.AddrPort, log *slog.Logger) (*transport, error) {
	host := local.String()
	opts := []sipgo.ClientOption{
		sipgo.WithClientLogger(log),
		sipgo.WithClientNAT(),
		sipgo.WithClientHostname(host),
		sipgo.WithClientPort(int(bound.Port())),
	}
	if network == "udp" {
		// Send from the listening socket, so that phones see requests
		// come from the address they registered with.
		opts = append(opts, sipgo.WithClientConnectionAddr(bound.String()))
	}
	cli, err := sipgo.NewClient(p.ua, opts...)
	if err != nil {
		return nil, fmt.Errorf("pbx: make %s client: %w", network, err)
	}
	contact := sip.ContactHeader{
		Address: sip.Uri{Scheme: "sip", User: "switchhook", Host: host, Port: int(bound.Port()), UriParams: sip.NewParams(), Headers: sip.NewParams()},
	}
	if network == "tcp" {
		contact.Address.UriParams.Add("transport", "tcp")
	}
	// RewriteContact sends in-dialog requests to where the party's
	// requests came from, which is what reaches a phone behind NAT.
	return &transport{network: network, port: int(bound.Port()), bound: bound, ua: &sipgo.DialogUA{Client: cli, ContactHDR: contact, RewriteContact: true}}, nil
}

// servingTimeout bounds the wait for sipgo to serve the UDP listeners.
const servingTimeout = 2 * time.Second

// awaitServing waits until sipgo serves every UDP listener: what the PBX
// sends over UDP goes out of its listening socket, and sipgo, not yet
// knowing the socket, would try to bind its address a second time.
func (p *PBX) awaitServing() {
	deadline := time.Now().Add(servingTimeout)
	for _, a := range p.ListenAddrs() {
		addr, ok := strings.CutPrefix(a, "udp://")
		if !ok {
			continue
		}
		for time.Now().Before(deadline) {
			if conn, err := p.ua.TransportLayer().GetConnection("udp", addr); err == nil && conn != nil {
				conn.TryClose()
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// transportFor returns the transport to use for network ("UDP", "tcp"…),
// falling back to any configured one.
func (p *PBX) transportFor(network string) *transport {
	if t, ok := p.transports[sip.NetworkToLower(network)]; ok {
		return t
	}
	for _, n := range []string{"udp", "tcp"} {
		if t, ok := p.transports[n]; ok {
			return t
		}
	}
	return nil
}

// shutdown waits, within shutdownGrace, for the live calls to end: each
// call's owner sees the PBX's context end and hangs up (SYSTEM_SHUTDOWN).
func (p *PBX) shutdown() {
	p.mu.Lock()
	p.closing = true
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	done := make(chan struct{})
	go func() {
		p.wg.Wait()
		p.gwWG.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		p.log.Warn("calls still finishing at shutdown; closing the SIP stack under them")
	}
}

// debugging says whether debug lines are logged. The lines of every call
// ask it first: their arguments are allocated even when the line is not
// logged.
func (p *PBX) debugging() bool {
	return p.log.Enabled(context.Background(), slog.LevelDebug)
}

// addCall records a new call and counts its owner in p.wg, under
// the same lock as shutdown sets closing, so no call starts unseen by it.
func (p *PBX) addCall(c *call) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing {
		return false
	}
	p.calls[c.id] = c
	p.wg.Add(1)
	return true
}

func (p *PBX) addDialog(id string, l *dialogLeg) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dialogs[id] = l
	l.c.dialogs = append(l.c.dialogs, id)
}

// forget removes an ended call and its dialogs, by their ids: a scan of all
// dialogs, under the lock every in-dialog request takes, grew with the calls
// up (17 µs a hangup with 1,000 up; BenchmarkCallEnd).
func (p *PBX) forget(c *call) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.calls, c.id)
	for _, id := range c.dialogs {
		delete(p.dialogs, id)
	}
	for ext, held := range p.holding {
		delete(held, c.id)
		if len(held) == 0 {
			delete(p.holding, ext)
		}
	}
}

// lookup finds the leg an in-dialog request belongs to: a request from the
// caller carries our tag in To (UAS view), one from a callee in To as well
// but its dialog was made from our INVITE (UAC view).
//
// It returns the leg's call too, read under the lock: an attended transfer
// moves a leg from one call to another (moveLeg).
func (p *PBX) lookup(req *sip.Request) (*dialogLeg, *call) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if id, err := sip.DialogIDFromRequestUAS(req); err == nil {
		if l, ok := p.dialogs[id]; ok {
			return l, l.c
		}
	}
	if id, err := sip.DialogIDFromRequestUAC(req); err == nil {
		if l, ok := p.dialogs[id]; ok {
			return l, l.c
		}
	}
	return nil, nil
}

// Registration is one registered contact, as GET /v1/registrations shows it.
type Registration struct {
	Extension string    `json:"extension"`
	Contact   string    `json:"contact"`
	Source    string    `json:"source"`
	Transport string    `json:"transport"`
	UserAgent string    `json:"user_agent,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
	CreatedAt time.Time `json:"registered_at"`
}

// Registrations lists the live registrations, by extension.
func (p *PBX) Registrations() []Registration {
	all := p.reg.All()
	out := make([]Registration, 0, len(all))
	for _, b := range all {
		out = append(out, Registration{
			Extension: b.Extension, Contact: b.Contact.String(), Source: b.Source, Transport: b.Transport,
			UserAgent: b.UserAgent, ExpiresAt: b.Expires.UTC(), CreatedAt: b.Created.UTC(),
		})
	}
	return out
}

// Channel is one leg of a live call, as GET /v1/channels shows it.
type Channel struct {
	CallUUID   string           `json:"call_uuid"`
	LegUUID    string           `json:"leg_uuid"`
	Party      events.Party     `json:"party"`
	Number     string           `json:"number"`
	Direction  events.Direction `json:"direction"`
	State      string           `json:"state"`
	Remote     string           `json:"remote"`
	RTPPort    int              `json:"rtp_port,omitempty"`
	CreatedAt  time.Time        `json:"created_at"`
	AnsweredAt *time.Time       `json:"answered_at,omitempty"`
}

// Channels lists the legs of the live calls, oldest call first.
func (p *PBX) Channels() []Channel {
	p.mu.Lock()
	calls := make([]*call, 0, len(p.calls))
	for _, c := range p.calls {
		calls = append(calls, c)
	}
	p.mu.Unlock()
	slices.SortFunc(calls, func(a, b *call) int { return a.created.Compare(b.created) })
	var out []Channel
	for _, c := range calls {
		out = append(out, c.channels()...)
	}
	return out
}

// activeCalls returns how many calls are live (for tests of leaks).
func (p *PBX) activeCalls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.calls)
}

// retryAfter formats a Retry-After header of whole seconds, at least 1.
func retryAfter(d time.Duration) sip.Header {
	return sip.NewHeader("Retry-After", strconv.Itoa(max(1, int((d+time.Second-1)/time.Second))))
}

// onWire sees every SIP message as it comes off the wire, in order, before
// sipgo hands it to its transaction on a goroutine of its own. It notes a
// callee's 180 or 183, which can otherwise reach the INVITE's transaction
// after the 200 OK when the process is short of CPU and be dropped there,
// losing the call's CALL_RINGING. It runs on the transport's read loop and
// must not wait.
func (p *PBX) onWire(m sip.Message) {
	res, ok := m.(*sip.Response)
	if !ok || (res.StatusCode != sip.StatusRinging && res.StatusCode != sip.StatusSessionInProgress) {
		return
	}
	if id := res.CallID(); id != nil {
		if l, ok := p.ringing.Load(id.Value()); ok {
			l.(*dialogLeg).wireRang.Store(true)
		}
	}
}
