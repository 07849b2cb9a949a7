package freeswitch

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/switchhook/switchhook/internal/calltrack"
	"github.com/switchhook/switchhook/internal/connector"
	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/metrics"
)

// Config says which FreeSWITCH to watch.
type Config struct {
	// Name tells this FreeSWITCH apart from other sources; events carry
	// Source "freeswitch/<Name>".
	Name string
	// Address is mod_event_socket's host:port, e.g. 10.0.0.5:8021.
	Address string
	// Password is event_socket.conf.xml's password.
	Password string
	// HeardPath, when set, is the file that keeps when FreeSWITCH was last
	// heard, so that after a restart of switchhook a call that ended
	// meanwhile is stamped with the last time it was known up.
	HeardPath string
}

func (c Config) validate() error {
	if c.Name == "" {
		return errors.New("freeswitch: name is empty")
	}
	if _, _, err := net.SplitHostPort(c.Address); err != nil {
		return fmt.Errorf("freeswitch/%s: address %q is not host:port: %w", c.Name, c.Address, err)
	}
	if c.Password == "" {
		return fmt.Errorf("freeswitch/%s: password is empty (FreeSWITCH's default is ClueCon)", c.Name)
	}
	if strings.ContainsAny(c.Password, "\r\n") {
		return fmt.Errorf("freeswitch/%s: password contains a line break", c.Name)
	}
	return nil
}

// Connector is the call source of one FreeSWITCH. It implements
// events.Source.
type Connector struct {
	cfg  Config
	log  *slog.Logger
	link *connector.Link

	// Timings, set by New; tests in this package shorten them.
	dialTimeout      time.Duration
	handshakeTimeout time.Duration
	readTimeout      time.Duration // FreeSWITCH sends HEARTBEAT every 20 s
	format           string        // event format asked for: plain or json
}

// New returns a connector for cfg; m may be nil. Run checks cfg.
func New(cfg Config, logger *slog.Logger, m *metrics.Metrics) *Connector {
	if logger == nil {
		logger = slog.Default()
	}
	c := &Connector{
		cfg:              cfg,
		dialTimeout:      5 * time.Second,
		handshakeTimeout: 10 * time.Second,
		readTimeout:      65 * time.Second,
		format:           "plain",
	}
	c.log = logger.With("source", c.Name(), "address", cfg.Address)
	c.link = &connector.Link{Kind: "freeswitch", Name: cfg.Name, Address: cfg.Address, Log: c.log, Metrics: m, HeardPath: cfg.HeardPath}
	return c
}

// Name is "freeswitch/<name>".
func (c *Connector) Name() string { return "freeswitch/" + c.cfg.Name }

// Status returns the connection state now.
func (c *Connector) Status() connector.Status { return c.link.Status() }

// Run watches FreeSWITCH and emits its calls' events to sink until ctx is
// done, reconnecting with backoff whenever the connection fails. It returns
// an error only for a bad Config.
func (c *Connector) Run(ctx context.Context, sink events.Sink) error {
	if err := c.cfg.validate(); err != nil {
		return err
	}
	t := newTracker(c.Name(), c.log)
	t.Refused = c.link.Refused
	t.Heard(c.link.LastHeard())
	t.resume(sink)
	return c.link.Run(ctx, func(ctx context.Context) (bool, error) { return c.session(ctx, t, sink) })
}

// session runs one connection: handshake, subscription, reconciliation and
// the event stream. established reports whether it got as far as the
// event stream.
func (c *Connector) session(ctx context.Context, t *tracker, sink events.Sink) (established bool, err error) {
	d := net.Dialer{Timeout: c.dialTimeout, KeepAlive: 15 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", c.cfg.Address)
	if err != nil {
		return false, fmt.Errorf("dial: %w", err)
	}
	defer conn.Close()
	// Closing the connection is what unblocks a read when ctx ends.
	defer context.AfterFunc(ctx, func() { conn.Close() })()

	r := bufio.NewReaderSize(conn, 64<<10)
	if err := c.handshake(conn, r); err != nil {
		return false, err
	}
	c.link.Up()
	c.log.Info("freeswitch connected")
	gap := calltrack.Gap{LastHeard: t.Unsee()}
	defer func() { c.link.KeepHeard(t.LastHeard(), true) }()

	// The reader only reads: it never waits on the tracker, the recorder
	// or the store, so FreeSWITCH never finds this client slow.
	frames := connector.NewBacklog[read]()
	go func() {
		for {
			if err := conn.SetReadDeadline(time.Now().Add(c.readTimeout)); err != nil {
				frames.Push(read{err: fmt.Errorf("set read deadline: %w", err)})
				return
			}
			f, err := readFrame(r)
			frames.Push(read{f, err})
			if err != nil {
				return
			}
		}
	}()
	for {
		select {
		case <-frames.Ready():
		case <-ctx.Done():
			return true, ctx.Err()
		}
		c.link.Backlog(frames.Len())
		for _, rd := range frames.Take() {
			if err := c.frame(ctx, rd, t, sink, &gap); err != nil {
				return true, err
			}
		}
		c.link.KeepHeard(t.LastHeard(), false)
	}
}

// read is one frame read, or the error that ended the reading.
type read struct {
	f   frame
	err error
}

// frame handles one frame read: its events go to sink.
func (c *Connector) frame(ctx context.Context, rd read, t *tracker, sink events.Sink, gap *calltrack.Gap) error {
	f, err := rd.f, rd.err
	if err != nil {
		if errors.Is(err, errMalformed) || errors.Is(err, errOversized) {
			c.log.Error("freeswitch sent a bad frame; resetting the connection", "err", err)
		}
		return fmt.Errorf("read frame: %w", err)
	}
	var out []events.Event
	switch ct := f.contentType(); ct {
	case typeEventPlain, typeEventJSON:
		parse := parsePlainEvent
		if ct == typeEventJSON {
			parse = parseJSONEvent
		}
		ev, err := parse(f.body)
		if err != nil {
			c.log.Error("freeswitch sent an undecodable event; resetting the connection", "err", err, "content_type", ct)
			return fmt.Errorf("decode %s: %w", ct, err)
		}
		out = t.handle(ev)
	case typeAPIResponse:
		// The answers to the handshake's "status" and "show channels
		// as json" are told apart by their bodies: an older or
		// stand-in engine may not answer the first.
		if !bytes.HasPrefix(bytes.TrimSpace(f.body), []byte("{")) {
			// Without the start time a call that ended unseen is
			// NORMAL_UNSPECIFIED, never SYSTEM_SHUTDOWN.
			if up, err := parseUptime(f.body); err != nil {
				c.log.Warn("freeswitch status unreadable; engine restarts not told apart", "err", err)
			} else {
				gap.EngineStart = time.Now().Add(-up).UTC()
			}
			break
		}
		live, err := parseChannels(f.body)
		if err != nil {
			// Without the list no call can be judged gone; they stay
			// open until their own events end them.
			c.log.Error("freeswitch channel list unreadable; open calls not reconciled", "err", err)
			break
		}
		out = t.reconcile(live, *gap, time.Now().UTC())
	case typeDisconnect:
		return errors.New("freeswitch sent disconnect-notice")
	default:
		c.log.Debug("freeswitch frame ignored", "content_type", ct)
	}
	return c.link.Emit(ctx, sink, out)
}

// handshake authenticates, subscribes, and asks for the engine's status
// (its uptime) and channel list, whose answers (api/response) arrive among
// the first events.
func (c *Connector) handshake(conn net.Conn, r *bufio.Reader) error {
	if err := conn.SetDeadline(time.Now().Add(c.handshakeTimeout)); err != nil {
		return fmt.Errorf("set deadline: %w", err)
	}
	f, err := readFrame(r)
	if err != nil {
		return fmt.Errorf("read auth request: %w", err)
	}
	if f.contentType() != typeAuthRequest {
		return fmt.Errorf("expected %s, got %q: is %s an event socket?", typeAuthRequest, f.contentType(), c.cfg.Address)
	}
	if err := c.command(conn, r, "auth "+c.cfg.Password); err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	if err := c.command(conn, r, "event "+c.format+" "+strings.Join(subscribed, " ")); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	if _, err := fmt.Fprint(conn, "api status\n\napi show channels as json\n\n"); err != nil {
		return fmt.Errorf("ask status and channel list: %w", err)
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return fmt.Errorf("clear deadline: %w", err)
	}
	return nil
}

// command sends one command and reads its command/reply, which comes before
// any event since none is subscribed yet.
func (c *Connector) command(conn net.Conn, r *bufio.Reader, cmd string) error {
	if _, err := fmt.Fprintf(conn, "%s\n\n", cmd); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	f, err := readFrame(r)
	if err != nil {
		return fmt.Errorf("read reply: %w", err)
	}
	if f.contentType() != typeReply {
		return fmt.Errorf("expected %s, got %q", typeReply, f.contentType())
	}
	if reply := f.header.Get("Reply-Text"); !strings.HasPrefix(reply, "+OK") {
		return fmt.Errorf("freeswitch replied %q", reply)
	}
	return nil
}

// parseChannels reads the answer to "show channels as json": every channel
// FreeSWITCH has, with what its row tells of its state.
func parseChannels(body []byte) (map[string]liveChannel, error) {
	var list struct {
		RowCount *int         `json:"row_count"`
		Rows     []channelRow `json:"rows"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("show channels: %w (answer %q)", err, clip(string(body)))
	}
	if list.RowCount == nil {
		return nil, fmt.Errorf("show channels: no row_count in %q", clip(string(body)))
	}
	live := make(map[string]liveChannel, len(list.Rows))
	for _, r := range list.Rows {
		ch := liveChannel{channelRow: r, Channel: calltrack.Channel{ID: r.UUID}}
		switch r.CallState {
		case "ACTIVE", "HELD", "UNHELD":
			ch.Up = true
		case "RINGING", "EARLY":
			ch.Ringing = true
		}
		if sec, err := strconv.ParseInt(r.CreatedEpoch, 10, 64); err == nil && sec > 0 {
			ch.Created = time.Unix(sec, 0).UTC()
		}
		live[r.UUID] = ch
	}
	return live, nil
}

// channelRow is one row of "show channels as json", in part.
type channelRow struct {
	UUID            string `json:"uuid"`
	Direction       string `json:"direction"`
	CreatedEpoch    string `json:"created_epoch"`
	Name            string `json:"name"`
	CIDNum          string `json:"cid_num"`
	CIDName         string `json:"cid_name"`
	Dest            string `json:"dest"`
	Application     string `json:"application"`
	ApplicationData string `json:"application_data"`
	CallState       string `json:"callstate"`
	CallUUID        string `json:"call_uuid"`
}

// liveChannel is a listed channel: its row and what the tracker needs.
type liveChannel struct {
	calltrack.Channel
	channelRow
}

// parseUptime reads the answer to "status", whose first line is
// "UP 0 years, 0 days, 1 hour, 2 minutes, 3 seconds, 4 milliseconds, 5
// microseconds".
func parseUptime(body []byte) (time.Duration, error) {
	line, _, _ := strings.Cut(string(body), "\n")
	rest, ok := strings.CutPrefix(strings.TrimSpace(line), "UP ")
	if !ok {
		return 0, fmt.Errorf("status: %q is not an UP line", clip(line))
	}
	units := map[string]time.Duration{
		"year": 365 * 24 * time.Hour, "day": 24 * time.Hour, "hour": time.Hour, "minute": time.Minute,
		"second": time.Second, "millisecond": time.Millisecond, "microsecond": time.Microsecond,
	}
	var up time.Duration
	for _, part := range strings.Split(rest, ",") {
		f := strings.Fields(part)
		if len(f) != 2 {
			return 0, fmt.Errorf("status: %q", clip(line))
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		unit, ok := units[strings.TrimSuffix(f[1], "s")]
		if err != nil || !ok {
			return 0, fmt.Errorf("status: %q", clip(line))
		}
		up += time.Duration(n) * unit
	}
	return up, nil
}
