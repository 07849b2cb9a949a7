package asterisk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/switchhook/switchhook/internal/calltrack"
	"github.com/switchhook/switchhook/internal/connector"
	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/metrics"
)

// Config says which Asterisk to watch.
type Config struct {
	// Name tells this Asterisk apart from other sources; events carry
	// Source "asterisk/<Name>".
	Name string
	// URL is Asterisk's HTTP server, e.g. http://10.0.0.6:8088 (a trailing
	// /ari is accepted).
	URL string
	// Username and Password are an ari.conf user's.
	Username string
	Password string
	// App is the Stasis application name the connector registers; empty
	// means "switchhook". Each process watching one Asterisk needs its own.
	App string
	// HeardPath, when set, is the file that keeps when Asterisk was last
	// heard, so that after a restart of switchhook a call that ended
	// meanwhile is stamped with the last time it was known up.
	HeardPath string
}

// base checks c and returns the ARI base URL (ending in /ari).
func (c Config) base() (*url.URL, error) {
	if c.Name == "" {
		return nil, errors.New("asterisk: name is empty")
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return nil, fmt.Errorf("asterisk/%s: url %q: %w", c.Name, c.URL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("asterisk/%s: url %q is not an http:// or https:// address", c.Name, c.URL)
	}
	if c.Username == "" {
		return nil, fmt.Errorf("asterisk/%s: username is empty (an ari.conf user)", c.Name)
	}
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/ari") + "/ari"
	u.RawQuery, u.Fragment = "", ""
	return u, nil
}

func (c Config) app() string {
	if c.App == "" {
		return "switchhook"
	}
	return c.App
}

// Connector is the call source of one Asterisk. It implements
// events.Source.
type Connector struct {
	cfg  Config
	log  *slog.Logger
	link *connector.Link
	http *http.Client

	// Timings, set by New; tests in this package shorten them.
	dialTimeout  time.Duration
	pingInterval time.Duration // Asterisk sends nothing on an idle socket
}

// New returns a connector for cfg; m may be nil. Run checks cfg.
func New(cfg Config, logger *slog.Logger, m *metrics.Metrics) *Connector {
	if logger == nil {
		logger = slog.Default()
	}
	c := &Connector{
		cfg:          cfg,
		http:         &http.Client{Timeout: 10 * time.Second},
		dialTimeout:  10 * time.Second,
		pingInterval: 20 * time.Second,
	}
	c.log = logger.With("source", c.Name(), "url", cfg.URL)
	c.link = &connector.Link{Kind: "asterisk", Name: cfg.Name, Address: cfg.URL, Log: c.log, Metrics: m, HeardPath: cfg.HeardPath}
	return c
}

// Name is "asterisk/<name>".
func (c *Connector) Name() string { return "asterisk/" + c.cfg.Name }

// Status returns the connection state now.
func (c *Connector) Status() connector.Status { return c.link.Status() }

// Run watches Asterisk and emits its calls' events to sink until ctx is
// done, reconnecting with backoff whenever the connection fails. It returns
// an error only for a bad Config.
func (c *Connector) Run(ctx context.Context, sink events.Sink) error {
	base, err := c.cfg.base()
	if err != nil {
		return err
	}
	t := newTracker(c.Name(), c.log)
	t.Refused = c.link.Refused
	t.Heard(c.link.LastHeard())
	t.ResumeFrom(sink, func(c *call) { c.Engine.callerCause = -1 })
	return c.link.Run(ctx, func(ctx context.Context) (bool, error) { return c.session(ctx, base, t, sink) })
}

// message is one WebSocket message, or the read error that ended them.
type message struct {
	data []byte
	err  error
}

// session runs one connection: the event WebSocket, the channel list that
// reconciles, and the event stream.
func (c *Connector) session(ctx context.Context, base *url.URL, t *tracker, sink events.Sink) (established bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ws, err := c.dial(ctx, base)
	if err != nil {
		return false, err
	}
	defer ws.CloseNow()
	ws.SetReadLimit(maxMessageBytes)

	// One reader goroutine, so pings (which need a concurrent reader) and
	// the channel list can run while events arrive. It only reads: it never
	// waits on the tracker, the recorder or the store, so Asterisk never
	// finds this client slower than its websocket_write_timeout.
	msgs := connector.NewBacklog[message]()
	go func() {
		for {
			_, data, err := ws.Read(ctx)
			msgs.Push(message{data, err})
			if err != nil {
				return
			}
		}
	}()

	live, err := c.channels(ctx, base)
	if err != nil {
		return false, err
	}
	gap := calltrack.Gap{LastHeard: t.Unsee()}
	defer func() { c.link.KeepHeard(t.LastHeard(), true) }()
	// Without the start time a call that ended unseen is
	// NORMAL_UNSPECIFIED, never SYSTEM_SHUTDOWN.
	if gap.EngineStart, err = c.startupTime(ctx, base); err != nil {
		c.log.Warn("asterisk start time unknown; engine restarts not told apart", "err", err)
	}
	c.link.Up()
	c.log.Info("asterisk connected", "app", c.cfg.app())

	handle := func(m message) error {
		if m.err != nil {
			if errors.Is(m.err, websocket.ErrMessageTooBig) || websocket.CloseStatus(m.err) == websocket.StatusMessageTooBig {
				c.log.Error("asterisk sent an oversized message; resetting the connection", "limit", maxMessageBytes)
			}
			return fmt.Errorf("read event: %w", m.err)
		}
		ev, err := decodeEvent(m.data)
		if err != nil {
			c.log.Error("asterisk sent an undecodable event; resetting the connection", "err", err, "message", clip(string(m.data)))
			return err
		}
		if ev.Type == "ApplicationReplaced" {
			c.log.Error("another client registered the same ARI application; give each watcher its own app name", "app", c.cfg.app())
			return fmt.Errorf("application %q replaced by another client", c.cfg.app())
		}
		return c.link.Emit(ctx, sink, t.handle(ev))
	}

	// Events that came in while the list was fetched may end calls the list
	// no longer shows: they go first, with their real causes.
	for _, m := range msgs.Take() {
		if err := handle(m); err != nil {
			return true, err
		}
	}
	if err := c.link.Emit(ctx, sink, t.reconcile(live, gap, time.Now().UTC())); err != nil {
		return true, err
	}

	ping := time.NewTicker(c.pingInterval)
	defer ping.Stop()
	for {
		select {
		case <-msgs.Ready():
			c.link.Backlog(msgs.Len())
			for _, m := range msgs.Take() {
				if err := handle(m); err != nil {
					return true, err
				}
			}
			c.link.KeepHeard(t.LastHeard(), false)
		case <-ping.C:
			pctx, pcancel := context.WithTimeout(ctx, c.pingInterval)
			err := ws.Ping(pctx)
			pcancel()
			if err != nil {
				return true, fmt.Errorf("ping: %w", err)
			}
			// Asterisk answered: every call it carried was as its events
			// say until now (an idle call sends nothing else).
			t.Heard(time.Now().UTC())
			c.link.KeepHeard(t.LastHeard(), false)
		case <-ctx.Done():
			return true, ctx.Err()
		}
	}
}

func (c *Connector) dial(ctx context.Context, base *url.URL) (*websocket.Conn, error) {
	u := *base
	u.Path += "/events"
	u.RawQuery = url.Values{"app": {c.cfg.app()}, "subscribeAll": {"true"}}.Encode()
	dctx, cancel := context.WithTimeout(ctx, c.dialTimeout)
	defer cancel()
	ws, resp, err := websocket.Dial(dctx, u.String(), &websocket.DialOptions{
		HTTPClient: c.http,
		HTTPHeader: http.Header{"Authorization": {basicAuth(c.cfg.Username, c.cfg.Password)}},
	})
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusUnauthorized {
			return nil, fmt.Errorf("subscribe to events: user %q rejected (401): check ari.conf", c.cfg.Username)
		}
		return nil, fmt.Errorf("subscribe to events: %w", err)
	}
	return ws, nil
}

// get fetches an ARI resource (path under the base, e.g. "/channels") into
// v.
func (c *Connector) get(ctx context.Context, base *url.URL, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base.String()+path, nil)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	req.Header.Set("Authorization", basicAuth(c.cfg.Username, c.cfg.Password))
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, clip(string(body)))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}

// channels lists every channel Asterisk has, each with the bridge it is
// in (GET /bridges), if any.
func (c *Connector) channels(ctx context.Context, base *url.URL) (map[string]liveChannel, error) {
	var list []channel
	if err := c.get(ctx, base, "/channels", &list); err != nil {
		return nil, fmt.Errorf("list channels: %w", err)
	}
	var bridges []struct {
		ID       string   `json:"id"`
		Channels []string `json:"channels"`
	}
	if err := c.get(ctx, base, "/bridges", &bridges); err != nil {
		// Only the grouping of channels first met in a bridge needs it.
		c.log.Warn("asterisk bridges not listed; channels met mid-call are taken one by one", "err", err)
	}
	in := map[string]string{}
	for _, b := range bridges {
		for _, id := range b.Channels {
			in[id] = b.ID
		}
	}
	live := make(map[string]liveChannel, len(list))
	for _, ch := range list {
		lc := liveChannel{channel: ch, bridge: in[ch.ID], Channel: calltrack.Channel{ID: ch.ID, Up: ch.State == "Up", Ringing: ch.State == "Ringing"}}
		if t, err := parseTime(ch.Creationtime); err == nil {
			lc.Created = t
		}
		live[ch.ID] = lc
	}
	return live, nil
}

// liveChannel is a listed channel: ARI's model, its bridge, and what the
// tracker needs.
type liveChannel struct {
	calltrack.Channel
	channel
	bridge string
}

// startupTime asks Asterisk when it last started (GET /asterisk/info).
func (c *Connector) startupTime(ctx context.Context, base *url.URL) (time.Time, error) {
	var info struct {
		Status struct {
			StartupTime string `json:"startup_time"`
		} `json:"status"`
	}
	if err := c.get(ctx, base, "/asterisk/info", &info); err != nil {
		return time.Time{}, err
	}
	return parseTime(info.Status.StartupTime)
}

func basicAuth(user, pass string) string {
	r := http.Request{Header: http.Header{}}
	r.SetBasicAuth(user, pass)
	return r.Header.Get("Authorization")
}

func clip(s string) string {
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}
