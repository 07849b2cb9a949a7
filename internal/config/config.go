package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/switchhook/switchhook/internal/store"
)

// Config is the whole configuration file.
type Config struct {
	// Timezone is the zone of the payload `timestamp` field (IANA name).
	Timezone string `yaml:"timezone"`
	// Node names this process among several sharing one store; it owns the
	// calls it records. Default: the host name.
	Node string `yaml:"node"`
	// DataDir holds the generated admin token and demo passwords.
	DataDir     string       `yaml:"data_dir"`
	Log         Log          `yaml:"log"`
	HTTP        HTTP         `yaml:"http"`
	Store       Store        `yaml:"store"`
	Delivery    Delivery     `yaml:"delivery"`
	Webhooks    []Webhook    `yaml:"webhooks"`
	SIP         SIP          `yaml:"sip"`
	Extensions  []Extension  `yaml:"extensions"`
	Pickup      Pickup       `yaml:"pickup"`
	RingTimeout Duration     `yaml:"ring_timeout"`
	RingGroups  []RingGroup  `yaml:"ring_groups"`
	Queues      []Queue      `yaml:"queues"`
	IVRs        []IVR        `yaml:"ivrs"`
	Gateways    []Gateway    `yaml:"gateways"`
	Routes      []Route      `yaml:"routes"`
	Inbound     []Inbound    `yaml:"inbound"`
	FreeSWITCH  []FreeSWITCH `yaml:"freeswitch"`
	Asterisk    []Asterisk   `yaml:"asterisk"`
	// Simulator makes up calls, for demos and load runs.
	Simulator Simulator `yaml:"simulator"`

	// DemoExtensions is true when the file names no extensions, so the demo
	// extensions 1001-1003 with generated passwords are served.
	DemoExtensions bool `yaml:"-"`
}

// Log sets the log output.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// HTTP is the API and dashboard server.
type HTTP struct {
	Listen string `yaml:"listen"`
	// AdminToken guards the API. Also from SWITCHHOOK_ADMIN_TOKEN; if
	// neither, one is generated on first start and kept in the data dir.
	AdminToken string `yaml:"admin_token"`
}

// Store says where events and deliveries are kept.
type Store struct {
	DSN string `yaml:"dsn"` // sqlite://PATH or postgres://…
	// Retention is how long events and attempts are kept; 0 keeps them forever.
	Retention Duration `yaml:"retention"`
}

// Delivery holds the defaults of every endpoint and the engine's settings.
type Delivery struct {
	Timeout       Duration   `yaml:"timeout"`
	RetrySchedule []Duration `yaml:"retry_schedule"`
	MaxInFlight   int        `yaml:"max_in_flight"`
	// CircuitFailures in a row open an endpoint's circuit.
	CircuitFailures int `yaml:"circuit_failures"`
	// DisableAfter of failing without a success disables an endpoint.
	DisableAfter Duration `yaml:"disable_after"`
	// SecretGrace is how long a rotated-out secret still signs.
	SecretGrace     Duration `yaml:"secret_grace"`
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
}

// Webhook is an endpoint declared in the file.
type Webhook struct {
	URL           string            `yaml:"url"`
	Description   string            `yaml:"description"`
	Events        []string          `yaml:"events"`
	Payload       string            `yaml:"payload"`
	Secret        string            `yaml:"secret"`
	Headers       map[string]string `yaml:"headers"`
	Timeout       Duration          `yaml:"timeout"`
	RetrySchedule []Duration        `yaml:"retry_schedule"`
	MaxInFlight   int               `yaml:"max_in_flight"`
	Disabled      bool              `yaml:"disabled"`
}

// SIP is the built-in PBX's SIP side.
type SIP struct {
	Enabled    *bool    `yaml:"enabled"`
	Listen     []string `yaml:"listen"`
	Domain     string   `yaml:"domain"`
	ExternalIP string   `yaml:"external_ip"`
	// LocalNetworks are the networks (CIDR) reached without NAT: phones in
	// them are given the PBX's own address, not ExternalIP (Asterisk's
	// local_net). With external_ip set, every other address, loopback too,
	// is given external_ip.
	LocalNetworks []string `yaml:"local_networks"`
	RTPPorts      string   `yaml:"rtp_ports"` // "10000-20000"
	Auth          SIPAuth  `yaml:"auth"`
	// MediaTimeout ends an answered call whose party has sent no RTP for
	// this long (CALL_HANGUP MEDIA_TIMEOUT); 0 turns it off. A held call
	// is exempt while held.
	MediaTimeout Duration `yaml:"media_timeout"`
	// SessionExpires is the RFC 4028 session interval the PBX asks of
	// callees; 0 asks for none (a caller's is still honoured).
	SessionExpires Duration `yaml:"session_expires"`
	// MinSE is the shortest session interval the PBX accepts (Min-SE; a
	// shorter Session-Expires is answered 422). RFC 4028 sets 90s as the
	// least a deployment should use; shorter values are for tests.
	MinSE Duration `yaml:"min_se"`
}

// SIPAuth sets the digest authentication of the phones.
type SIPAuth struct {
	// Algorithms offered, of MD5 and SHA-256; default MD5 alone, which
	// every phone knows. SHA-256, when listed, is offered first.
	Algorithms []string `yaml:"algorithms"`
}

// On reports whether the built-in PBX runs (the default).
func (s SIP) On() bool { return s.Enabled == nil || *s.Enabled }

// RTPRange returns the bounds of RTPPorts.
func (s SIP) RTPRange() (lo, hi int) {
	a, b, _ := strings.Cut(s.RTPPorts, "-")
	lo, _ = strconv.Atoi(a)
	hi, _ = strconv.Atoi(b)
	return lo, hi
}

// Extension is a phone of the built-in PBX.
type Extension struct {
	Number   string `yaml:"number"`
	Password string `yaml:"password"`
	Name     string `yaml:"name"`
	// Forward is where calls to the extension go instead; the API can
	// change it at run time (what it sets is kept in the store and wins).
	Forward Forward `yaml:"forward"`
	// PickupGroup names the group whose ringing calls the extension may
	// answer by dialling the group pickup code; empty: none.
	PickupGroup string `yaml:"pickup_group"`
}

// Forward is an extension's call forwarding; each target is a number
// dialled as the extension would dial it, empty for none.
type Forward struct {
	Unconditional string `yaml:"unconditional"`
	UserBusy      string `yaml:"user_busy"`
	NoAnswer      string `yaml:"no_answer"`
	// NoAnswerAfter is how long the extension rings before a no-answer
	// forward; 0 means DefaultNoAnswerAfter.
	NoAnswerAfter Duration `yaml:"no_answer_after"`
	// Unavailable applies when no phone of the extension is registered.
	Unavailable string `yaml:"unavailable"`
}

// DefaultNoAnswerAfter is how long an extension with a no-answer forward
// rings before the call moves on.
const DefaultNoAnswerAfter = 20 * time.Second

// Pickup holds the codes an extension dials to answer a call ringing
// elsewhere.
type Pickup struct {
	// Group answers a call ringing any member of the caller's pickup group;
	// default "*8".
	Group string `yaml:"group"`
	// Directed followed by an extension number answers that extension's
	// ringing call; default "**".
	Directed string `yaml:"directed"`
}

// RingGroup rings several extensions for one number.
type RingGroup struct {
	Number   string   `yaml:"number"`
	Strategy string   `yaml:"strategy"` // simultaneous or sequential
	Members  []string `yaml:"members"`  // extension numbers
	Timeout  Duration `yaml:"timeout"`  // the whole group; default 20s
	// MemberTimeout is how long each member rings, sequential only; default 8s.
	MemberTimeout Duration `yaml:"member_timeout"`
}

// Queue holds callers until one of its agents answers.
type Queue struct {
	Number string   `yaml:"number"`
	Name   string   `yaml:"name"`
	Agents []string `yaml:"agents"` // extension numbers
	// Strategy is ring_all (the default), round_robin, longest_idle or
	// linear.
	Strategy     string   `yaml:"strategy"`
	AgentTimeout Duration `yaml:"agent_timeout"` // how long one agent rings; default 15s
	MaxWait      Duration `yaml:"max_wait"`      // default 300s
	Wrapup       Duration `yaml:"wrapup"`        // an agent's rest after a queue call; default 0s
	// Overflow is where a caller goes after max_wait, or at once when
	// max_callers wait already: any number of the dialplan; empty hangs up.
	Overflow string `yaml:"overflow"`
	// Music is empty for the built-in tone, a WAV file (as IVR prompts), or
	// ringback to answer nothing until an agent answers.
	Music      string `yaml:"music"`
	MaxCallers int    `yaml:"max_callers"` // 0: no limit
}

// IVR answers, plays a prompt and routes by one digit.
type IVR struct {
	Number string `yaml:"number"`
	// Prompt is a WAV file (8 kHz mono PCM or G.711); empty plays a tone.
	Prompt       string            `yaml:"prompt"`
	DigitTimeout Duration          `yaml:"digit_timeout"` // default 5s
	Options      map[string]string `yaml:"options"`       // digit → extension, group, queue or IVR number
	// Default is where a timeout or an invalid digit goes; empty hangs up.
	Default string `yaml:"default"`
}

// Gateway is a SIP trunk to a carrier.
type Gateway struct {
	Name     string `yaml:"name"`
	Address  string `yaml:"address"` // host:port
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	Register bool   `yaml:"register"`
	// Transport is udp (default) or tcp.
	Transport string `yaml:"transport"`
}

// Route sends dialled numbers that are no extension, group or IVR to a
// gateway; the first route whose Match matches wins.
type Route struct {
	Match   string `yaml:"match"`   // regular expression on the dialled number
	Gateway string `yaml:"gateway"` // a gateway's name
	Number  string `yaml:"number"`  // the number sent, with $1… from Match; empty: as dialled
}

// Inbound routes calls arriving from a gateway by the dialled number (DID).
type Inbound struct {
	DID string `yaml:"did"`
	To  string `yaml:"to"` // an extension, group, queue or IVR number
}

// FreeSWITCH is one FreeSWITCH to attach to over its event socket.
type FreeSWITCH struct {
	Name     string `yaml:"name"`
	Address  string `yaml:"address"`
	Password string `yaml:"password"`
}

// Asterisk is one Asterisk to attach to over ARI.
type Asterisk struct {
	Name     string `yaml:"name"`
	URL      string `yaml:"url"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	App      string `yaml:"app"`
}

// Simulator is the made-up call source; Calls 0 leaves it off.
type Simulator struct {
	Calls  int     `yaml:"calls"`
	Rate   float64 `yaml:"rate"` // calls per second
	Caller string  `yaml:"caller"`
	Callee string  `yaml:"callee"`
	// Step is the pause between a call's events; calls overlap with it.
	Step Duration `yaml:"step"`
}

// Duration is a time.Duration written as "10s", "5m", "24h".
type Duration time.Duration

// UnmarshalYAML reads a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil {
		return fmt.Errorf("line %d: %q is not a duration like 10s, 5m or 24h", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Default returns the configuration of an absent file.
func Default() *Config {
	return &Config{
		Timezone: "UTC",
		DataDir:  "./switchhook-data",
		Log:      Log{Level: "info", Format: "text"},
		HTTP:     HTTP{Listen: "127.0.0.1:8080"},
		Store:    Store{Retention: Duration(30 * 24 * time.Hour)},
		Delivery: Delivery{
			Timeout:         Duration(store.DefaultTimeout),
			RetrySchedule:   durations(store.DefaultRetrySchedule()),
			MaxInFlight:     store.DefaultMaxInFlight,
			CircuitFailures: 5,
			DisableAfter:    Duration(72 * time.Hour),
			SecretGrace:     Duration(24 * time.Hour),
			ShutdownTimeout: Duration(10 * time.Second),
		},
		SIP: SIP{
			Listen:         []string{"udp://0.0.0.0:5060", "tcp://0.0.0.0:5060"},
			RTPPorts:       "10000-20000",
			MediaTimeout:   Duration(60 * time.Second),
			SessionExpires: Duration(30 * time.Minute),
			MinSE:          Duration(90 * time.Second),
		},
		RingTimeout:    Duration(30 * time.Second),
		Pickup:         Pickup{Group: "*8", Directed: "**"},
		DemoExtensions: true,
	}
}

func durations(ds []time.Duration) []Duration {
	out := make([]Duration, len(ds))
	for i, d := range ds {
		out[i] = Duration(d)
	}
	return out
}

// Load reads the file at path; an empty path gives Default, validated.
func Load(path string) (*Config, error) {
	if path == "" {
		c := Default()
		return c, c.finish()
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse reads a configuration from YAML bytes over the defaults.
func Parse(b []byte) (*Config, error) {
	c := Default()
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&root); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	lines := map[string]int{}
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		paths := map[int]string{}
		if err := checkKeys(root.Content[0], reflect.TypeOf(*c), "", paths, lines); err != nil {
			return nil, err
		}
		if err := root.Content[0].Decode(c); err != nil {
			return nil, withPath(err, paths)
		}
		if hasKey(root.Content[0], "extensions") {
			c.DemoExtensions = false
		}
	}
	if err := c.finish(); err != nil {
		return nil, withLine(err, lines)
	}
	return c, nil
}

// withLine adds the line of the key a validation error names ("key: …"),
// or of the nearest enclosing key written in the file.
func withLine(err error, lines map[string]int) error {
	key, _, ok := strings.Cut(err.Error(), ": ")
	if !ok || strings.ContainsAny(key, " ") {
		return err
	}
	for k := key; k != ""; {
		if line, ok := lines[k]; ok {
			return fmt.Errorf("%w (line %d)", err, line)
		}
		i := strings.LastIndexAny(k, ".[")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return err
}

// finish fills defaults that depend on other keys and validates.
func (c *Config) finish() error {
	if c.Node == "" {
		c.Node, _ = os.Hostname()
	}
	if c.Store.DSN == "" {
		c.Store.DSN = "sqlite://" + strings.TrimSuffix(c.DataDir, "/") + "/switchhook.db"
	}
	if env := os.Getenv("SWITCHHOOK_ADMIN_TOKEN"); env != "" && c.HTTP.AdminToken == "" {
		c.HTTP.AdminToken = env
	}
	return c.Validate()
}

func hasKey(n *yaml.Node, key string) bool {
	if n.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return true
		}
	}
	return false
}

// checkKeys walks the document against the Go type, refusing keys that name
// no field, and remembers the path of every line so that decoding errors,
// which only know lines, can name the key, and the line of every key so
// that validation errors, which only know keys, can name the line.
func checkKeys(n *yaml.Node, t reflect.Type, path string, paths map[int]string, lines map[string]int) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if path != "" {
		paths[n.Line] = path
	}
	switch {
	case t.Kind() == reflect.Struct && t != reflect.TypeOf(time.Time{}):
		if n.Kind != yaml.MappingNode {
			if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
				return nil
			}
			return fmt.Errorf("%s: want a mapping of keys, got %q", orRoot(path), n.Value)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			f, ok := fieldByTag(t, k.Value)
			if !ok {
				return fmt.Errorf("%s: unknown key (line %d)", join(path, k.Value), k.Line)
			}
			lines[join(path, k.Value)] = k.Line
			if err := checkKeys(v, f.Type, join(path, k.Value), paths, lines); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, item := range n.Content {
			lines[fmt.Sprintf("%s[%d]", path, i)] = item.Line
			if err := checkKeys(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i), paths, lines); err != nil {
				return err
			}
		}
	}
	return nil
}

func fieldByTag(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); name == key && name != "-" {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func orRoot(path string) string {
	if path == "" {
		return "(top level)"
	}
	return path
}

var lineRE = regexp.MustCompile(`line (\d+): `)

// withPath rewrites yaml's "line N: …" messages to name the key at line N.
func withPath(err error, paths map[int]string) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n")
	var out []string
	for _, line := range strings.Split(msg, "\n") {
		line = strings.TrimSpace(line)
		if m := lineRE.FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[1])
			if p, ok := paths[n]; ok {
				line = p + ": " + lineRE.ReplaceAllString(line, "") + " (line " + m[1] + ")"
			}
		}
		out = append(out, line)
	}
	return errors.New(strings.Join(out, "; "))
}
