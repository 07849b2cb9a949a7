package dialplan

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/switchhook/switchhook/internal/events"
)

// Defaults of the timeouts a Config leaves at zero.
const (
	DefaultGroupTimeout  = 20 * time.Second // how long a ring group rings in all
	DefaultMemberTimeout = 8 * time.Second  // how long a sequential group rings each member
	DefaultDigitTimeout  = 5 * time.Second  // how long an IVR waits for a digit after its prompt
)

// Strategy is how a ring group rings its members.
type Strategy string

// Ring group strategies.
const (
	// Simultaneous rings every member at once; the first to answer wins.
	Simultaneous Strategy = "simultaneous"
	// Sequential rings one member at a time, in order, each for the
	// group's member timeout.
	Sequential Strategy = "sequential"
)

// RingGroup rings several extensions for one number.
type RingGroup struct {
	Number   string
	Strategy Strategy
	Members  []string      // extension numbers, in ringing order
	Timeout  time.Duration // the whole group; 0 means DefaultGroupTimeout
	// MemberTimeout is how long each member rings, sequential only; 0 means
	// DefaultMemberTimeout.
	MemberTimeout time.Duration
}

// IVR answers a number, plays a prompt and routes the call by one digit.
type IVR struct {
	Number string
	// Prompt is the path of a WAV file; empty plays a built-in tone.
	Prompt string
	// DigitTimeout is how long the IVR waits for a digit once its prompt
	// has played; 0 means DefaultDigitTimeout.
	DigitTimeout time.Duration
	// Options maps a digit (0-9, * or #) to the extension, ring group or
	// IVR number it routes to.
	Options map[string]string
	// Default is where a timeout or a digit with no option goes; empty
	// hangs up.
	Default string
}

// OutboundRoute sends a dialled number that is no extension, group or IVR
// out through a gateway.
type OutboundRoute struct {
	Match   string // regular expression the whole dialled number must match
	Gateway string // the gateway's name
	// Number is the number sent to the gateway, with $1, ${name}… expanded
	// from Match's groups; empty sends the number as dialled.
	Number string
}

// Inbound routes calls from a gateway that dialled DID to a number of the
// PBX.
type Inbound struct {
	DID string
	To  string // an extension, ring group or IVR number
}

// Config is what a Plan routes.
type Config struct {
	Extensions []string
	RingGroups []RingGroup
	// Queues are the numbers of the call queues, which the PBX's queue
	// manager serves.
	Queues []string
	IVRs   []IVR
	// Gateways are the names outbound routes may use.
	Gateways []string
	Routes   []OutboundRoute
	Inbound  []Inbound
	// PickupGroups maps an extension to its pickup group; Pickup are the
	// codes that pick up a ringing call (none when empty).
	PickupGroups map[string]string
	Pickup       PickupCodes
}

// Route is where a number goes.
type Route struct {
	// Target is what CALL_ROUTED reports: the kind and number of the
	// target, or the gateway's name.
	Target events.Target
	// Ring lists the extensions to ring for an extension or a ring group,
	// in order.
	Ring []string
	// Sequential rings Ring one at a time (a sequential ring group).
	Sequential bool
	// Timeout is how long a ring group rings in all; 0 for an extension,
	// which rings for the PBX's ring timeout.
	Timeout time.Duration
	// MemberTimeout is how long a sequential group rings each member.
	MemberTimeout time.Duration
	// IVR is the IVR that answers, for a route of type ivr.
	IVR *IVR
	// Gateway is the gateway's name and Number the number sent to it, for
	// a route of type gateway.
	Gateway, Number string
}

// Plan maps dialled numbers to routes. It is read-only after New, so safe
// for concurrent use.
type Plan struct {
	local       map[string]Route
	routes      []outbound
	inbound     map[string]string
	pickup      PickupCodes
	pickupGroup map[string]string
}

type outbound struct {
	re *regexp.Regexp
	OutboundRoute
}

// New checks cfg and makes its plan. Errors name the entry that is wrong.
func New(cfg Config) (*Plan, error) {
	p := &Plan{local: make(map[string]Route), inbound: make(map[string]string)}
	owner := map[string]string{}
	claim := func(what, number string) error {
		if number == "" || strings.ContainsAny(number, " \t\r\n@:;<>\"") {
			return fmt.Errorf("dialplan: %s: number %q is empty or has a character a SIP user name cannot hold", what, number)
		}
		if other, dup := owner[number]; dup {
			return fmt.Errorf("dialplan: %s: number %s is used already by %s", what, number, other)
		}
		owner[number] = what
		return nil
	}
	for i, e := range cfg.Extensions {
		if err := claim(fmt.Sprintf("extensions[%d]", i), e); err != nil {
			return nil, err
		}
		p.local[e] = Route{Target: events.Target{Type: events.Extension, Target: e}, Ring: []string{e}}
	}
	for i, g := range cfg.RingGroups {
		what := fmt.Sprintf("ring_groups[%d]", i)
		if err := claim(what, g.Number); err != nil {
			return nil, err
		}
		what += " (" + g.Number + ")"
		if g.Strategy != Simultaneous && g.Strategy != Sequential {
			return nil, fmt.Errorf("dialplan: %s: strategy %q is not simultaneous or sequential", what, g.Strategy)
		}
		if len(g.Members) == 0 {
			return nil, fmt.Errorf("dialplan: %s: a ring group needs at least one member", what)
		}
		for j, m := range g.Members {
			if r, ok := p.local[m]; !ok || r.Target.Type != events.Extension {
				return nil, fmt.Errorf("dialplan: %s: members[%d] %q is not an extension", what, j, m)
			}
			if slices.Index(g.Members, m) != j {
				return nil, fmt.Errorf("dialplan: %s: member %s is listed twice", what, m)
			}
		}
		if g.Timeout < 0 || g.MemberTimeout < 0 {
			return nil, fmt.Errorf("dialplan: %s: timeouts must not be negative", what)
		}
		r := Route{
			Target:     events.Target{Type: events.RingGroup, Target: g.Number},
			Ring:       slices.Clone(g.Members),
			Sequential: g.Strategy == Sequential,
			Timeout:    orDefault(g.Timeout, DefaultGroupTimeout),
		}
		if r.Sequential {
			r.MemberTimeout = orDefault(g.MemberTimeout, DefaultMemberTimeout)
		}
		p.local[g.Number] = r
	}
	for i, q := range cfg.Queues {
		if err := claim(fmt.Sprintf("queues[%d]", i), q); err != nil {
			return nil, err
		}
		p.local[q] = Route{Target: events.Target{Type: events.Queue, Target: q}}
	}
	for i, v := range cfg.IVRs {
		what := fmt.Sprintf("ivrs[%d]", i)
		if err := claim(what, v.Number); err != nil {
			return nil, err
		}
		if v.DigitTimeout < 0 {
			return nil, fmt.Errorf("dialplan: %s (%s): digit_timeout must not be negative", what, v.Number)
		}
		ivr := v
		ivr.DigitTimeout = orDefault(v.DigitTimeout, DefaultDigitTimeout)
		ivr.Options = maps.Clone(v.Options)
		p.local[v.Number] = Route{Target: events.Target{Type: events.IVR, Target: v.Number}, IVR: &ivr}
	}
	// IVR options may name IVRs declared after them, so they are checked
	// once every number is known.
	for i, v := range cfg.IVRs {
		what := fmt.Sprintf("ivrs[%d] (%s)", i, v.Number)
		for _, d := range slices.Sorted(maps.Keys(v.Options)) {
			if len(d) != 1 || !strings.Contains("0123456789*#", d) {
				return nil, fmt.Errorf("dialplan: %s: option %q is not one digit 0-9, * or #", what, d)
			}
			if _, ok := p.local[v.Options[d]]; !ok {
				return nil, fmt.Errorf("dialplan: %s: option %s: %q is no extension, ring group or IVR", what, d, v.Options[d])
			}
		}
		if _, ok := p.local[v.Default]; v.Default != "" && !ok {
			return nil, fmt.Errorf("dialplan: %s: default %q is no extension, ring group or IVR", what, v.Default)
		}
	}
	for i, r := range cfg.Routes {
		what := fmt.Sprintf("routes[%d]", i)
		if r.Match == "" {
			return nil, fmt.Errorf("dialplan: %s: match is empty", what)
		}
		// The pattern must match the whole number: "^9\d+" must not send
		// a number that merely starts like one out to a carrier.
		re, err := regexp.Compile("^(?:" + r.Match + ")$")
		if err != nil {
			return nil, fmt.Errorf("dialplan: %s: match %q is not a regular expression: %w", what, r.Match, err)
		}
		if !slices.Contains(cfg.Gateways, r.Gateway) {
			return nil, fmt.Errorf("dialplan: %s: gateway %q is not a gateway's name", what, r.Gateway)
		}
		p.routes = append(p.routes, outbound{re: re, OutboundRoute: r})
	}
	for i, in := range cfg.Inbound {
		what := fmt.Sprintf("inbound[%d]", i)
		if in.DID == "" {
			return nil, fmt.Errorf("dialplan: %s: did is empty", what)
		}
		if _, dup := p.inbound[in.DID]; dup {
			return nil, fmt.Errorf("dialplan: %s: did %s is routed twice", what, in.DID)
		}
		if _, ok := p.local[in.To]; !ok {
			return nil, fmt.Errorf("dialplan: %s (%s): to %q is no extension, ring group or IVR", what, in.DID, in.To)
		}
		p.inbound[in.DID] = in.To
	}
	for _, ext := range slices.Sorted(maps.Keys(cfg.PickupGroups)) {
		if r, ok := p.local[ext]; !ok || r.Target.Type != events.Extension {
			return nil, fmt.Errorf("dialplan: pickup group %q: %q is not an extension", cfg.PickupGroups[ext], ext)
		}
	}
	if c := cfg.Pickup; c.Group != "" && c.Group == c.Directed {
		return nil, fmt.Errorf("dialplan: pickup: group and directed codes are both %q", c.Group)
	}
	for _, code := range []string{cfg.Pickup.Group, cfg.Pickup.Directed} {
		if _, taken := p.local[code]; code != "" && taken {
			return nil, fmt.Errorf("dialplan: pickup code %q is also a number of the dialplan (%s)", code, p.local[code].Target.Type)
		}
	}
	p.pickup = cfg.Pickup
	p.pickupGroup = maps.Clone(cfg.PickupGroups)
	return p, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Route returns where a number dialled by an extension goes: the
// extension, ring group or IVR of that number, else the first outbound
// route that matches. ok is false when nothing matches.
func (p *Plan) Route(number string) (Route, bool) {
	if r, ok := p.Local(number); ok {
		return r, true
	}
	for _, o := range p.routes {
		m := o.re.FindStringSubmatchIndex(number)
		if m == nil {
			continue
		}
		out := number
		if o.Number != "" {
			out = string(o.re.ExpandString(nil, o.Number, number, m))
		}
		if out == "" || strings.ContainsAny(out, " \t\r\n@:;<>\"") {
			// A rewrite that leaves nothing to dial, or something a
			// Request-URI cannot hold, is no route for this number.
			continue
		}
		return Route{Target: events.Target{Type: events.Gateway, Target: o.Gateway}, Gateway: o.Gateway, Number: out}, true
	}
	return Route{}, false
}

// Local returns the route of an extension, ring group or IVR number: where
// an IVR's options and inbound calls go. Outbound routes are not searched.
func (p *Plan) Local(number string) (Route, bool) {
	r, ok := p.local[number]
	return r, ok
}

// Inbound returns where a call from a gateway that dialled did goes.
func (p *Plan) Inbound(did string) (Route, bool) {
	to, ok := p.inbound[did]
	if !ok {
		return Route{}, false
	}
	return p.Local(to)
}
