package freeswitch

import (
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/switchhook/switchhook/internal/events"
)

// The channel events the connector subscribes to; HEARTBEAT keeps an idle
// connection's read deadline from firing.
var subscribed = []string{
	"CHANNEL_CREATE", "CHANNEL_EXECUTE", "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA",
	"CHANNEL_ANSWER", "CHANNEL_HOLD", "CHANNEL_UNHOLD", "DTMF", "CHANNEL_HANGUP_COMPLETE", "HEARTBEAT",
}

// routingApps are the dialplan applications whose execution on a caller's
// leg means the dialplan has picked a target: bridge and transfer send the
// call on, the others make FreeSWITCH itself the destination (an IVR).
var routingApps = map[string]events.TargetType{
	"bridge": "", "transfer": events.Extension,
	"answer": events.IVR, "ivr": events.IVR, "playback": events.IVR, "play_and_get_digits": events.IVR,
	"voicemail": events.IVR, "conference": events.IVR, "fifo": events.IVR, "callcenter": events.IVR,
}

// rememberEnded bounds how many ended legs are remembered for session
// correlation.
const rememberEnded = 4096

// leg is one FreeSWITCH channel of a call.
type leg struct {
	id       string
	call     *call
	caller   bool   // the A-leg
	number   string // B-leg: the number it rings
	rang     bool
	answered bool
	seen     bool // reported on the current connection (for reconciliation)
}

// call is one caller's attempt: its A-leg and every leg FreeSWITCH
// originated for it.
type call struct {
	uuid, session string
	aleg          string
	caller        string
	dest          string // as dialled
	callee        string // the destination answered last
	direction     events.Direction
	routed        bool
	answered      bool
	held          bool
	legs          map[string]*leg // live legs
	end           *legEnd         // the A-leg's end, else the last leg's
	aEnded        bool
	by            events.Party // who ended it, from the first decisive hangup
}

// legEnd is what CHANNEL_HANGUP_COMPLETE tells of a leg's end.
type legEnd struct {
	cause       string
	sipStatus   int
	disposition string // sip_hangup_disposition: recv_bye, send_cancel, …
}

// tracker turns one FreeSWITCH's channel events into call events. It is
// used by one goroutine at a time.
type tracker struct {
	source string
	log    *slog.Logger
	legs   map[string]*leg
	// ended maps legs of finished calls to their session, so that a new call
	// a leg of an ended call created carries that call's session.
	ended      map[string]string
	endedOrder []string
	// pending are calls first seen through a B-leg, by their A-leg's UUID.
	pending map[string]*call
}

func newTracker(source string, log *slog.Logger) *tracker {
	return &tracker{source: source, log: log, legs: map[string]*leg{}, ended: map[string]string{}, pending: map[string]*call{}}
}

// handle maps one channel event to the call events it causes.
func (t *tracker) handle(ev eventHeaders) []events.Event {
	name, id := ev.get("Event-Name"), ev.get("Unique-ID")
	if id == "" || name == "HEARTBEAT" {
		return nil
	}
	at := eventTime(ev)
	var out []events.Event
	l := t.legs[id]
	if l == nil {
		if name == "CHANNEL_HANGUP_COMPLETE" {
			return nil // a leg never seen: nothing was emitted for it
		}
		l, out = t.create(ev, at)
	}
	l.seen = true
	c := l.call
	switch name {
	case "CHANNEL_EXECUTE":
		if l.caller && !c.routed {
			if tt, ok := routingApps[ev.get("Application")]; ok {
				c.dest = nonEmpty(ev.get("Caller-Destination-Number"), c.dest)
				out = append(out, t.route(c, at, routeTarget(tt, ev.get("Application-Data"), c.dest)))
			}
		}
	case "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA":
		if !l.caller && !l.rang {
			out = append(out, t.ensureRouted(c, at)...)
			l.rang = true
			out = append(out, t.event(c, events.CallRinging, at, l, l.number))
		}
	case "CHANNEL_ANSWER":
		out = append(out, t.answer(c, l, ev, at)...)
	case "DTMF":
		digit := ev.get("DTMF-Digit")
		samples, _ := strconv.Atoi(ev.get("DTMF-Duration"))
		e := t.event(c, events.CallInput, at, l, c.current())
		e.Digit = digit
		// DTMF-Duration is in samples of the 8 kHz telephone-event clock.
		e.DigitDuration = time.Duration(samples/8) * time.Millisecond
		e.Party = party(l)
		if err := e.Validate(); err != nil {
			t.log.Warn("freeswitch: DTMF event skipped", "err", err, "leg", l.id)
			break
		}
		out = append(out, t.ensureRouted(c, at)...)
		out = append(out, e)
	case "CHANNEL_HOLD", "CHANNEL_UNHOLD":
		hold := name == "CHANNEL_HOLD"
		if c.answered && c.held != hold {
			c.held = hold
			kind := events.CallUnhold
			if hold {
				kind = events.CallHold
			}
			e := t.event(c, kind, at, l, c.current())
			e.Party = party(l)
			out = append(out, e)
		}
	case "CHANNEL_HANGUP_COMPLETE":
		out = append(out, t.legEnded(c, l, ev, at)...)
	}
	return out
}

// create starts tracking a leg first seen in ev: a B-leg of a known call
// when it names one of its legs, else the A-leg of a new call.
func (t *tracker) create(ev eventHeaders, at time.Time) (*leg, []events.Event) {
	id := ev.get("Unique-ID")
	l := &leg{id: id}
	for _, ref := range parentRefs(ev) {
		if p := t.legs[ref]; p != nil {
			c := p.call
			l.call = c
			l.number = nonEmpty(ev.get("Caller-Destination-Number"), ev.get("Caller-Callee-ID-Number"))
			c.legs[id] = l
			t.legs[id] = l
			// The first leg FreeSWITCH originates for a caller shows the
			// dialplan has picked a target, if no application said so.
			return l, t.ensureRouted(c, at)
		}
	}
	if c := t.pending[id]; c != nil {
		// The A-leg of a call first seen through its B-leg.
		delete(t.pending, id)
		l.call, l.caller = c, true
		c.legs[id] = l
		t.legs[id] = l
		return l, nil
	}
	if refs := parentRefs(ev); len(refs) > 0 && ev.get("Call-Direction") == "outbound" {
		// A B-leg whose A-leg was never seen (the connector came in
		// mid-call): the call is the A-leg's, known from the B-leg's
		// Other-Leg headers until the A-leg's own events arrive.
		c := &call{
			aleg:   refs[0],
			caller: nonEmpty(ev.get("Other-Leg-Caller-ID-Number"), ev.get("Caller-Caller-ID-Number")),
			dest:   nonEmpty(ev.get("Other-Leg-Destination-Number"), ev.get("Caller-Destination-Number")),
			legs:   map[string]*leg{id: l},
		}
		c.uuid, c.direction = callUUID(c.aleg), events.Internal
		c.session = c.uuid
		if strings.HasPrefix(ev.get("Channel-Name"), "sofia/gateway/") {
			c.direction = events.Outbound
		}
		l.call = c
		l.number = nonEmpty(ev.get("Caller-Destination-Number"), ev.get("Caller-Callee-ID-Number"))
		t.legs[id] = l
		t.pending[c.aleg] = c
		return l, t.ensureRouted(c, at)
	}
	c := &call{
		aleg:   id,
		caller: ev.get("Caller-Caller-ID-Number"),
		dest:   ev.get("Caller-Destination-Number"),
		legs:   map[string]*leg{id: l},
	}
	c.uuid = callUUID(id)
	c.session = c.uuid
	for _, ref := range parentRefs(ev) {
		if s, ok := t.ended[ref]; ok {
			c.session = s
			break
		}
	}
	if fromGateway(ev) {
		c.direction = events.Inbound
	} else {
		c.direction = events.Internal
	}
	l.call, l.caller = c, true
	t.legs[id] = l
	return l, nil
}

// parentRefs lists the legs a channel names as its originator.
func parentRefs(ev eventHeaders) []string {
	id := ev.get("Unique-ID")
	var refs []string
	for _, h := range []string{"Other-Leg-Unique-ID", "variable_originating_leg_uuid", "Channel-Call-UUID"} {
		if v := ev.get(h); v != "" && v != id {
			refs = append(refs, v)
		}
	}
	return refs
}

// fromGateway reports whether an A-leg came in through a gateway: sofia
// names the gateway it matched, and by convention gateways land on the
// "external" profile.
func fromGateway(ev eventHeaders) bool {
	return ev.get("variable_sip_gateway_name") != "" || ev.get("variable_sofia_profile_name") == "external"
}

// callUUID keeps FreeSWITCH's A-leg UUID as the call's UUID when it already
// is a version 4 UUID (FreeSWITCH's usual kind), so receivers can match a
// webhook with FreeSWITCH's CDRs and uuid_* commands; otherwise the call
// gets a fresh one.
func callUUID(aleg string) string {
	if u, err := uuid.Parse(aleg); err == nil && u.Version() == 4 && u.Variant() == uuid.RFC4122 && len(aleg) == 36 {
		return u.String()
	}
	return uuid.NewString()
}

// routeTarget says where a routing application sent the call.
func routeTarget(tt events.TargetType, data, dest string) *events.Target {
	switch tt {
	case events.IVR:
		return &events.Target{Type: events.IVR, Target: dest}
	case events.Extension: // transfer: "[-bleg|-both] <extension> [<dialplan> <context>]"
		ext := ""
		for _, f := range strings.Fields(data) {
			if !strings.HasPrefix(f, "-") {
				ext = f
				break
			}
		}
		return &events.Target{Type: events.Extension, Target: nonEmpty(ext, dest)}
	}
	// bridge: endpoints separated by "," (all at once), "|" (one after
	// another) or ":_:" (enterprise), each maybe prefixed by {…} or […].
	data = stripVars(data)
	eps := strings.FieldsFunc(strings.ReplaceAll(data, ":_:", ","), func(r rune) bool { return r == ',' || r == '|' })
	if len(eps) > 1 {
		return &events.Target{Type: events.RingGroup, Target: dest}
	}
	ep := ""
	if len(eps) == 1 {
		ep = stripVars(eps[0])
	}
	if rest, ok := strings.CutPrefix(ep, "sofia/gateway/"); ok {
		gw, _, _ := strings.Cut(rest, "/")
		return &events.Target{Type: events.Gateway, Target: gw}
	}
	if rest, ok := strings.CutPrefix(ep, "user/"); ok {
		u, _, _ := strings.Cut(rest, "@")
		return &events.Target{Type: events.Extension, Target: u}
	}
	return &events.Target{Type: events.Extension, Target: dest}
}

func stripVars(s string) string {
	s = strings.TrimSpace(s)
	for len(s) > 0 && (s[0] == '{' || s[0] == '[' || s[0] == '<') {
		close := map[byte]byte{'{': '}', '[': ']', '<': '>'}[s[0]]
		i := strings.IndexByte(s, close)
		if i < 0 {
			break
		}
		s = strings.TrimSpace(s[i+1:])
	}
	return s
}

// route emits the call's CALL_ROUTED.
func (t *tracker) route(c *call, at time.Time, to *events.Target) events.Event {
	c.routed = true
	if to != nil && to.Type == events.Gateway && c.direction == events.Internal {
		c.direction = events.Outbound
	}
	e := t.event(c, events.CallRouted, at, t.legs[c.aleg], c.dest)
	if e.LegUUID == "" {
		e.LegUUID = c.aleg
	}
	e.RoutedTo = to
	return e
}

// ensureRouted emits CALL_ROUTED first if the call shows it was routed
// before any application said so (a leg originated, the connector joined
// mid-call).
func (t *tracker) ensureRouted(c *call, at time.Time) []events.Event {
	if c.routed {
		return nil
	}
	return []events.Event{t.route(c, at, nil)}
}

func (t *tracker) answer(c *call, l *leg, ev eventHeaders, at time.Time) []events.Event {
	if l.answered {
		return nil
	}
	l.answered = true
	if l.caller {
		// FreeSWITCH answers the caller's leg itself when a B-leg answers a
		// bridge; only an answer with no callee up is the PBX answering
		// (an IVR).
		for _, o := range c.legs {
			if !o.caller && o.answered {
				return nil
			}
		}
		var out []events.Event
		if !c.routed {
			c.dest = nonEmpty(ev.get("Caller-Destination-Number"), c.dest)
			out = append(out, t.route(c, at, &events.Target{Type: events.IVR, Target: c.dest}))
		}
		num := nonEmpty(ev.get("Caller-Destination-Number"), c.dest)
		c.answered, c.callee = true, num
		return append(out, t.event(c, events.CallAnswer, at, l, num))
	}
	out := t.ensureRouted(c, at)
	c.answered, c.callee = true, l.number
	return append(out, t.event(c, events.CallAnswer, at, l, l.number))
}

func (t *tracker) legEnded(c *call, l *leg, ev eventHeaders, at time.Time) []events.Event {
	status, _ := strconv.Atoi(ev.get("variable_sip_term_status"))
	end := &legEnd{
		cause:       ev.get("Hangup-Cause"),
		sipStatus:   status,
		disposition: ev.get("variable_sip_hangup_disposition"),
	}
	if l.caller {
		c.end, c.aEnded = end, true
	} else if !c.aEnded {
		c.end = end
	}
	// The first leg that FreeSWITCH saw hang up from the far end (a BYE or
	// CANCEL received), among the caller and the callees that answered,
	// ended the call.
	if c.by == "" && strings.HasPrefix(end.disposition, "recv_") && (l.caller || l.answered) {
		c.by = party(l)
	}
	return t.drop(c, l, at)
}

// drop forgets a leg; the call's CALL_HANGUP follows its last leg.
func (t *tracker) drop(c *call, l *leg, at time.Time) []events.Event {
	delete(c.legs, l.id)
	delete(t.legs, l.id)
	t.remember(l.id, c.session)
	if len(c.legs) > 0 {
		return nil
	}
	delete(t.pending, c.aleg)
	if !c.routed {
		return nil
	}
	end := c.end
	if end == nil || end.cause == "" {
		end = &legEnd{cause: events.CauseNormalUnspecified}
	}
	h := &events.Hangup{Cause: end.cause, SIPCode: end.sipStatus, By: hangupBy(c, end)}
	if h.SIPCode == 0 {
		h.SIPCode = sipCode(end.cause, c.answered)
	}
	e := t.event(c, events.CallHangup, at, t.legs[c.aleg], c.current())
	e.LegUUID = l.id
	e.Hangup = h
	return []events.Event{e}
}

func (t *tracker) remember(id, session string) {
	if _, ok := t.ended[id]; ok {
		return
	}
	t.ended[id] = session
	t.endedOrder = append(t.endedOrder, id)
	if len(t.endedOrder) > rememberEnded {
		delete(t.ended, t.endedOrder[0])
		t.endedOrder = t.endedOrder[1:]
	}
}

// hangupBy says who ended the call, per EVENTS.md's table.
func hangupBy(c *call, end *legEnd) events.Party {
	switch end.cause {
	case events.CauseOriginatorCancel:
		return events.Caller
	case events.CauseNoAnswer, events.CauseUserNotRegistered, events.CauseRecoveryOnTimerExpire,
		events.CauseSystemShutdown, events.CauseNormalUnspecified, "ALLOTTED_TIMEOUT", "MEDIA_TIMEOUT":
		return events.System
	}
	if c.by != "" {
		return c.by
	}
	if !c.answered {
		if end.disposition == "recv_cancel" {
			return events.Caller
		}
		switch end.cause {
		case events.CauseUserBusy, events.CauseCallRejected, events.CauseUnallocatedNumber,
			events.CauseInvalidNumberFormat, events.CauseNormalTemporaryFailure:
			return events.Callee
		}
	}
	return events.System
}

// sipCode is the final SIP status a cause stands for, when FreeSWITCH did
// not report sip_term_status.
func sipCode(cause string, answered bool) int {
	switch cause {
	case events.CauseNormalClearing:
		if answered {
			return 200
		}
		return 480
	case events.CauseOriginatorCancel:
		return 487
	case events.CauseUserBusy:
		return 486
	case events.CauseCallRejected:
		return 603
	case events.CauseNoAnswer:
		return 480
	case events.CauseUserNotRegistered, events.CauseUnallocatedNumber:
		return 404
	case events.CauseRecoveryOnTimerExpire:
		return 408
	case events.CauseInvalidNumberFormat:
		return 484
	case events.CauseNormalTemporaryFailure:
		return 503
	}
	return 0
}

// reconcile ends the calls none of whose legs FreeSWITCH still has: they
// ended while the connector was away. live is FreeSWITCH's channel list
// taken on this connection; legs reported by an event on this connection
// count as live too.
func (t *tracker) reconcile(live map[string]bool, at time.Time) []events.Event {
	var out []events.Event
	for _, l := range sortedLegs(t.legs) {
		if live[l.id] || l.seen || t.legs[l.id] == nil {
			continue
		}
		c := l.call
		if !c.aEnded && l.caller {
			c.end, c.aEnded = &legEnd{cause: events.CauseNormalUnspecified}, true
		}
		out = append(out, t.drop(c, l, at)...)
	}
	return out
}

// unsee marks every leg as not yet reported on a new connection.
func (t *tracker) unsee() {
	for _, l := range t.legs {
		l.seen = false
	}
}

// sortedLegs orders legs by call and A-leg first, so reconciliation emits
// in a stable order.
func sortedLegs(m map[string]*leg) []*leg {
	ls := make([]*leg, 0, len(m))
	for _, l := range m {
		ls = append(ls, l)
	}
	slices.SortFunc(ls, func(a, b *leg) int {
		if c := strings.Compare(a.call.uuid, b.call.uuid); c != 0 {
			return c
		}
		if a.caller != b.caller {
			if a.caller {
				return -1
			}
			return 1
		}
		return strings.Compare(a.id, b.id)
	})
	return ls
}

func (t *tracker) event(c *call, k events.Kind, at time.Time, l *leg, dest string) events.Event {
	e := events.Event{
		Kind:              k,
		CallUUID:          c.uuid,
		SessionUUID:       c.session,
		CallerIDNumber:    c.caller,
		DestinationNumber: dest,
		OccurredAt:        at,
		Direction:         c.direction,
		Source:            t.source,
	}
	if l != nil {
		e.LegUUID = l.id
	}
	return e
}

// current is the call's callee now: the destination answered last, else
// the number dialled.
func (c *call) current() string { return nonEmpty(c.callee, c.dest) }

func party(l *leg) events.Party {
	if l.caller {
		return events.Caller
	}
	return events.Callee
}

// eventTime is when FreeSWITCH raised the event (Event-Date-Timestamp, in
// microseconds since the epoch).
func eventTime(ev eventHeaders) time.Time {
	if us, err := strconv.ParseInt(ev.get("Event-Date-Timestamp"), 10, 64); err == nil && us > 0 {
		return time.UnixMicro(us).UTC()
	}
	return time.Now().UTC()
}

func nonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
