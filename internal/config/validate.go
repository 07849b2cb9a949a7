package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/queue"
)

// Validate refuses the first value that cannot work, naming its key.
func (c *Config) Validate() error {
	if _, err := time.LoadLocation(c.Timezone); err != nil {
		return fmt.Errorf("timezone: %q is not a known zone (want an IANA name like UTC or Europe/Berlin)", c.Timezone)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log.level: %q is not one of debug, info, warn, error", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		return fmt.Errorf("log.format: %q is not text or json", c.Log.Format)
	}
	if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
		return fmt.Errorf("http.listen: %q is not host:port", c.HTTP.Listen)
	}
	if !strings.HasPrefix(c.Store.DSN, "sqlite://") && !strings.HasPrefix(c.Store.DSN, "postgres://") && !strings.HasPrefix(c.Store.DSN, "postgresql://") {
		return fmt.Errorf("store.dsn: %q is neither sqlite://PATH nor postgres://…", c.Store.DSN)
	}
	if c.Store.Retention < 0 {
		return fmt.Errorf("store.retention: must not be negative")
	}
	if err := c.Delivery.validate(); err != nil {
		return err
	}
	seen := map[string]int{}
	for i, w := range c.Webhooks {
		if err := w.validate(fmt.Sprintf("webhooks[%d]", i)); err != nil {
			return err
		}
		if j, dup := seen[w.URL]; dup {
			return fmt.Errorf("webhooks[%d].url: %s is declared already at webhooks[%d]", i, w.URL, j)
		}
		seen[w.URL] = i
	}
	if err := c.validatePBX(); err != nil {
		return err
	}
	if c.Simulator.Calls < 0 || c.Simulator.Rate < 0 {
		return fmt.Errorf("simulator: calls and rate must not be negative")
	}
	names := map[string]string{}
	for i, f := range c.FreeSWITCH {
		p := fmt.Sprintf("freeswitch[%d]", i)
		if err := uniqueName(names, p, f.Name); err != nil {
			return err
		}
		if _, _, err := net.SplitHostPort(f.Address); err != nil {
			return fmt.Errorf("%s.address: %q is not host:port", p, f.Address)
		}
		if f.Password == "" {
			return fmt.Errorf("%s.password: is empty (FreeSWITCH's default is ClueCon)", p)
		}
	}
	for i, a := range c.Asterisk {
		p := fmt.Sprintf("asterisk[%d]", i)
		if err := uniqueName(names, p, a.Name); err != nil {
			return err
		}
		if u, err := url.Parse(a.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%s.url: %q is not an http(s) URL like http://127.0.0.1:8088", p, a.URL)
		}
		if a.Username == "" || a.App == "" {
			return fmt.Errorf("%s: username and app are required", p)
		}
	}
	return nil
}

func uniqueName(names map[string]string, path, name string) error {
	if name == "" {
		return fmt.Errorf("%s.name: is empty", path)
	}
	if other, dup := names[name]; dup {
		return fmt.Errorf("%s.name: %q is used already by %s", path, name, other)
	}
	names[name] = path
	return nil
}

func (d *Delivery) validate() error {
	if d.Timeout < Duration(time.Second) || d.Timeout > Duration(time.Minute) {
		return fmt.Errorf("delivery.timeout: %v is not between 1s and 1m", d.Timeout.D())
	}
	if err := validSchedule("delivery.retry_schedule", d.RetrySchedule); err != nil {
		return err
	}
	if d.MaxInFlight < 1 || d.MaxInFlight > 1024 {
		return fmt.Errorf("delivery.max_in_flight: %d is not between 1 and 1024", d.MaxInFlight)
	}
	if d.CircuitFailures < 1 {
		return fmt.Errorf("delivery.circuit_failures: must be at least 1")
	}
	if d.DisableAfter < Duration(time.Minute) {
		return fmt.Errorf("delivery.disable_after: %v is shorter than a minute", d.DisableAfter.D())
	}
	if d.SecretGrace < 0 || d.ShutdownTimeout <= 0 {
		return fmt.Errorf("delivery.secret_grace and delivery.shutdown_timeout: must be positive")
	}
	return nil
}

func validSchedule(path string, s []Duration) error {
	if len(s) > 50 {
		return fmt.Errorf("%s: %d attempts is more than 50", path, len(s))
	}
	for i, d := range s {
		if d < 0 {
			return fmt.Errorf("%s[%d]: must not be negative", path, i)
		}
	}
	return nil
}

func (w *Webhook) validate(p string) error {
	u, err := url.Parse(w.URL)
	if w.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s.url: %q is not an absolute http(s) URL", p, w.URL)
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%s.url: %q: port %s is not from 1 to 65535", p, w.URL, port)
		}
	}
	for i, e := range w.Events {
		if _, err := events.ParseKind(e); err != nil {
			return fmt.Errorf("%s.events[%d]: %w", p, i, err)
		}
	}
	if _, err := events.ParseProfile(w.Payload); err != nil {
		return fmt.Errorf("%s.payload: %w", p, err)
	}
	if w.Secret != "" && !strings.HasPrefix(w.Secret, "whsec_") {
		return fmt.Errorf("%s.secret: must start with whsec_ followed by base64", p)
	}
	for k := range w.Headers {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, "webhook-") || lk == "content-type" || lk == "content-length" || lk == "host" {
			return fmt.Errorf("%s.headers.%s: is set by switchhook and cannot be overridden", p, k)
		}
	}
	if w.Timeout != 0 && (w.Timeout < Duration(time.Second) || w.Timeout > Duration(time.Minute)) {
		return fmt.Errorf("%s.timeout: %v is not between 1s and 1m", p, w.Timeout.D())
	}
	if w.MaxInFlight < 0 || w.MaxInFlight > 1024 {
		return fmt.Errorf("%s.max_in_flight: %d is not between 1 and 1024", p, w.MaxInFlight)
	}
	return validSchedule(p+".retry_schedule", w.RetrySchedule)
}

// routed reports whether an outbound route matches the whole number, as the
// dialplan matches them.
func routed(routes []Route, number string) bool {
	for _, r := range routes {
		if re, err := regexp.Compile("^(?:" + r.Match + ")$"); err == nil && re.MatchString(number) {
			return true
		}
	}
	return false
}

func (c *Config) validatePBX() error {
	for i, l := range c.SIP.Listen {
		u, err := url.Parse(l)
		if err != nil || (u.Scheme != "udp" && u.Scheme != "tcp") || u.Port() == "" {
			return fmt.Errorf("sip.listen[%d]: %q is not udp://HOST:PORT or tcp://HOST:PORT", i, l)
		}
	}
	if c.SIP.ExternalIP != "" && net.ParseIP(c.SIP.ExternalIP) == nil {
		return fmt.Errorf("sip.external_ip: %q is not an IP address", c.SIP.ExternalIP)
	}
	for i, n := range c.SIP.LocalNetworks {
		if _, err := netip.ParsePrefix(n); err != nil {
			return fmt.Errorf("sip.local_networks[%d]: %q is not a network like 192.168.0.0/16", i, n)
		}
	}
	for i, alg := range c.SIP.Auth.Algorithms {
		if u := strings.ToUpper(alg); u != "MD5" && u != "SHA-256" {
			return fmt.Errorf("sip.auth.algorithms[%d]: %q is not MD5 or SHA-256", i, alg)
		}
	}
	a, b, ok := strings.Cut(c.SIP.RTPPorts, "-")
	lo, err1 := strconv.Atoi(a)
	hi, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || lo < 1024 || hi > 65535 || hi-lo < 1 {
		return fmt.Errorf("sip.rtp_ports: %q is not a range like 10000-20000 within 1024-65535", c.SIP.RTPPorts)
	}
	if t := c.SIP.MediaTimeout; t != 0 && t < Duration(time.Second) {
		return fmt.Errorf("sip.media_timeout: %v is shorter than a second (0 turns it off)", t.D())
	}
	if c.SIP.MinSE < Duration(time.Second) {
		return fmt.Errorf("sip.min_se: %v is shorter than a second", c.SIP.MinSE.D())
	}
	if se := c.SIP.SessionExpires; se != 0 && se < c.SIP.MinSE {
		return fmt.Errorf("sip.session_expires: %v is shorter than sip.min_se %v (0 asks callees for no session timer)", se.D(), c.SIP.MinSE.D())
	}
	if c.RingTimeout < Duration(time.Second) {
		return fmt.Errorf("ring_timeout: %v is shorter than a second", c.RingTimeout.D())
	}
	// numbers maps every dialable number to the key that declares it.
	numbers := map[string]string{}
	claim := func(path, number string) error {
		if number == "" || strings.Trim(number, "0123456789") != "" {
			return fmt.Errorf("%s: %q is not a number of digits", path, number)
		}
		if other, dup := numbers[number]; dup {
			return fmt.Errorf("%s: %s is used already by %s", path, number, strings.TrimSuffix(other, ".number"))
		}
		numbers[number] = path
		return nil
	}
	extension := map[string]bool{}
	for i, e := range c.Extensions {
		p := fmt.Sprintf("extensions[%d]", i)
		if err := claim(p+".number", e.Number); err != nil {
			return err
		}
		extension[e.Number] = true
		if len(e.Password) < 8 {
			return fmt.Errorf("%s.password: must be at least 8 characters", p)
		}
	}
	for i, g := range c.RingGroups {
		p := fmt.Sprintf("ring_groups[%d]", i)
		if err := claim(p+".number", g.Number); err != nil {
			return err
		}
		if g.Strategy != "simultaneous" && g.Strategy != "sequential" {
			return fmt.Errorf("%s.strategy: %q is not simultaneous or sequential", p, g.Strategy)
		}
		if len(g.Members) == 0 {
			return fmt.Errorf("%s.members: a ring group needs at least one member", p)
		}
		for j, m := range g.Members {
			if !extension[m] && !c.DemoExtensions {
				return fmt.Errorf("%s.members[%d]: %q is not an extension", p, j, m)
			}
		}
		if g.Timeout < 0 || g.MemberTimeout < 0 {
			return fmt.Errorf("%s: timeouts must not be negative", p)
		}
	}
	for i, q := range c.Queues {
		p := fmt.Sprintf("queues[%d]", i)
		if err := claim(p+".number", q.Number); err != nil {
			return err
		}
		if _, err := queue.ParseStrategy(q.Strategy); err != nil {
			return fmt.Errorf("%s.strategy: %w", p, err)
		}
		if len(q.Agents) == 0 {
			return fmt.Errorf("%s.agents: a queue needs at least one agent", p)
		}
		for j, a := range q.Agents {
			if !extension[a] && !c.DemoExtensions {
				return fmt.Errorf("%s.agents[%d]: %q is not an extension", p, j, a)
			}
			if slices.Index(q.Agents, a) != j {
				return fmt.Errorf("%s.agents[%d]: %s is listed twice", p, j, a)
			}
		}
		if q.AgentTimeout < 0 || q.MaxWait < 0 || q.Wrapup < 0 || q.MaxCallers < 0 {
			return fmt.Errorf("%s: agent_timeout, max_wait, wrapup and max_callers must not be negative", p)
		}
	}
	for i, v := range c.IVRs {
		p := fmt.Sprintf("ivrs[%d]", i)
		if err := claim(p+".number", v.Number); err != nil {
			return err
		}
		if v.DigitTimeout < 0 {
			return fmt.Errorf("%s.digit_timeout: must not be negative", p)
		}
		for d := range v.Options {
			if len(d) != 1 || !strings.Contains("0123456789*#", d) {
				return fmt.Errorf("%s.options.%s: an option is one digit 0-9, * or #", p, d)
			}
		}
	}
	if c.DemoExtensions {
		for _, n := range []string{"1001", "1002", "1003"} {
			if _, taken := numbers[n]; !taken {
				numbers[n] = "demo extension"
			}
		}
	}
	for i, v := range c.IVRs {
		p := fmt.Sprintf("ivrs[%d]", i)
		for d, to := range v.Options {
			if _, ok := numbers[to]; !ok {
				return fmt.Errorf("%s.options.%s: %q is no extension, ring group, queue or IVR", p, d, to)
			}
		}
		if _, ok := numbers[v.Default]; v.Default != "" && !ok {
			return fmt.Errorf("%s.default: %q is no extension, ring group, queue or IVR", p, v.Default)
		}
	}
	gateways := map[string]bool{}
	for i, g := range c.Gateways {
		p := fmt.Sprintf("gateways[%d]", i)
		if g.Name == "" {
			return fmt.Errorf("%s.name: is empty", p)
		}
		if gateways[g.Name] {
			return fmt.Errorf("%s.name: %q is used already", p, g.Name)
		}
		gateways[g.Name] = true
		if _, _, err := net.SplitHostPort(g.Address); err != nil {
			return fmt.Errorf("%s.address: %q is not host:port", p, g.Address)
		}
		if g.Transport != "" && g.Transport != "udp" && g.Transport != "tcp" {
			return fmt.Errorf("%s.transport: %q is not udp or tcp", p, g.Transport)
		}
		if g.Register && (g.Username == "" || g.Password == "") {
			return fmt.Errorf("%s: register needs a username and a password", p)
		}
	}
	for i, r := range c.Routes {
		p := fmt.Sprintf("routes[%d]", i)
		if _, err := regexp.Compile(r.Match); err != nil || r.Match == "" {
			return fmt.Errorf("%s.match: %q is not a regular expression", p, r.Match)
		}
		if !gateways[r.Gateway] {
			return fmt.Errorf("%s.gateway: %q is not a gateway's name", p, r.Gateway)
		}
	}
	for i, in := range c.Inbound {
		p := fmt.Sprintf("inbound[%d]", i)
		if in.DID == "" {
			return fmt.Errorf("%s.did: is empty", p)
		}
		if _, ok := numbers[in.To]; !ok {
			return fmt.Errorf("%s.to: %q is no extension, ring group, queue or IVR", p, in.To)
		}
	}
	for i, q := range c.Queues {
		p := fmt.Sprintf("queues[%d].overflow", i)
		switch {
		case q.Overflow == "":
		case q.Overflow == q.Number:
			return fmt.Errorf("%s: %s is the queue itself", p, q.Overflow)
		case numbers[q.Overflow] == "" && !routed(c.Routes, q.Overflow):
			return fmt.Errorf("%s: %q is no extension, ring group, queue or IVR, and no route matches it", p, q.Overflow)
		}
	}
	routable := func(n string) bool {
		if _, ok := numbers[n]; ok {
			return true
		}
		for _, r := range c.Routes {
			if regexp.MustCompile("^(?:" + r.Match + ")$").MatchString(n) {
				return true
			}
		}
		return false
	}
	for i, e := range c.Extensions {
		if err := e.Forward.validate(fmt.Sprintf("extensions[%d].forward", i), e.Number, c.RingTimeout, routable); err != nil {
			return err
		}
		if g := e.PickupGroup; g != "" && !pickupGroupRE.MatchString(g) {
			return fmt.Errorf("extensions[%d].pickup_group: %q is not a name of letters, digits, '.', '_' or '-' (at most 64)", i, g)
		}
	}
	return c.Pickup.validate(numbers)
}

var pickupGroupRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// validate checks each target is something the extension could dial, and
// that a no-answer forward happens before the call gives up ringing.
func (f *Forward) validate(p, self string, ringTimeout Duration, routable func(string) bool) error {
	for _, t := range []struct{ key, to string }{
		{"unconditional", f.Unconditional}, {"user_busy", f.UserBusy},
		{"no_answer", f.NoAnswer}, {"unavailable", f.Unavailable},
	} {
		switch {
		case t.to == "":
		case t.to == self:
			return fmt.Errorf("%s.%s: forwards extension %s to itself", p, t.key, self)
		case !routable(t.to):
			return fmt.Errorf("%s.%s: %q is no extension, ring group or IVR and matches no route", p, t.key, t.to)
		}
	}
	if f.NoAnswerAfter < 0 {
		return fmt.Errorf("%s.no_answer_after: must not be negative", p)
	}
	after := f.NoAnswerAfter
	if after == 0 {
		after = Duration(DefaultNoAnswerAfter)
	}
	if f.NoAnswer != "" && after >= ringTimeout {
		return fmt.Errorf("%s.no_answer_after: %v is not shorter than ring_timeout %v: the call would end unanswered before it is forwarded", p, after.D(), ringTimeout.D())
	}
	return nil
}

// validate checks the pickup codes can be told apart from each other and
// from the numbers of the dialplan.
func (pk *Pickup) validate(numbers map[string]string) error {
	for _, c := range []struct{ key, code string }{{"group", pk.Group}, {"directed", pk.Directed}} {
		if c.code == "" || len(c.code) > 8 || strings.Trim(c.code, "0123456789*#") != "" {
			return fmt.Errorf("pickup.%s: %q is not a code of 1 to 8 characters 0-9, * or #", c.key, c.code)
		}
	}
	if other, ok := numbers[pk.Group]; ok {
		return fmt.Errorf("pickup.group: %q is the number of %s", pk.Group, strings.TrimSuffix(other, ".number"))
	}
	for n, other := range numbers {
		if strings.HasPrefix(n, pk.Directed) {
			return fmt.Errorf("pickup.directed: %q starts the number %s of %s, which could not be dialled", pk.Directed, n, strings.TrimSuffix(other, ".number"))
		}
		if pk.Group == pk.Directed+n {
			return fmt.Errorf("pickup.group: %q is also the directed pickup of %s", pk.Group, n)
		}
	}
	if pk.Group == pk.Directed {
		return fmt.Errorf("pickup.group: %q is also the directed pickup code", pk.Group)
	}
	return nil
}
