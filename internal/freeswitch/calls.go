package freeswitch

import (
	"cmp"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/switchhook/switchhook/internal/callrules"
	"github.com/switchhook/switchhook/internal/calltrack"
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

// A call is one caller's attempt: its A-leg and every leg FreeSWITCH
// originated for it; a leg is one FreeSWITCH channel.
type (
	call = calltrack.Call[callEnd]
	leg  = calltrack.Leg[callEnd]
)

// callEnd is what FreeSWITCH has told of how a call ends.
type callEnd struct {
	end    *legEnd // the A-leg's end, else the last leg's
	aEnded bool
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
	*calltrack.Tracker[callEnd]
	// pending are calls first seen through a B-leg, by their A-leg's UUID.
	pending map[string]*call
}

func newTracker(source string, log *slog.Logger) *tracker {
	return &tracker{Tracker: calltrack.New[callEnd](source, log), pending: map[string]*call{}}
}

// handle maps one channel event to the call events it causes.
func (t *tracker) handle(ev eventHeaders) []events.Event {
	name, id := ev.get("Event-Name"), ev.get("Unique-ID")
	if id == "" || name == "HEARTBEAT" {
		return nil
	}
	at := eventTime(ev)
	var out []events.Event
	l := t.Leg(id)
	if l == nil {
		if name == "CHANNEL_HANGUP_COMPLETE" {
			return nil // a leg never seen: nothing was emitted for it
		}
		l, out = t.create(ev, at)
	}
	l.Seen = true
	c := l.Call
	switch name {
	case "CHANNEL_EXECUTE":
		if l.Caller && !c.Routed() {
			if tt, ok := routingApps[ev.get("Application")]; ok {
				c.Dest = cmp.Or(ev.get("Caller-Destination-Number"), c.Dest)
				out = append(out, t.Route(c, at, routeTarget(tt, ev.get("Application-Data"), c.Dest))...)
			}
		}
	case "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA":
		out = append(out, t.Ring(l, at)...)
	case "CHANNEL_ANSWER":
		// FreeSWITCH answering the A-leg itself answers as the number the
		// call is at now, which a transfer may have changed.
		dest := ev.get("Caller-Destination-Number")
		if l.Caller && !c.Routed() {
			c.Dest = cmp.Or(dest, c.Dest)
		}
		out = append(out, t.Answer(l, at, cmp.Or(dest, c.Dest))...)
	case "DTMF":
		// DTMF-Duration is in samples of the 8 kHz telephone-event clock.
		samples, _ := strconv.Atoi(ev.get("DTMF-Duration"))
		out = append(out, t.Input(l, at, ev.get("DTMF-Digit"), time.Duration(samples/8)*time.Millisecond)...)
	case "CHANNEL_HOLD", "CHANNEL_UNHOLD":
		out = append(out, t.Hold(l, at, name == "CHANNEL_HOLD")...)
	case "CHANNEL_HANGUP_COMPLETE":
		out = append(out, t.legEnded(l, ev, at)...)
	}
	return out
}

// create starts tracking a leg first seen in ev: a B-leg of a known call
// when it names one of its legs, else the A-leg of a new call.
func (t *tracker) create(ev eventHeaders, at time.Time) (*leg, []events.Event) {
	id := ev.get("Unique-ID")
	l := &leg{ID: id}
	for _, ref := range parentRefs(ev) {
		if p := t.Leg(ref); p != nil {
			c := p.Call
			l.Number = cmp.Or(ev.get("Caller-Destination-Number"), ev.get("Caller-Callee-ID-Number"))
			t.Join(c, l)
			// The first leg FreeSWITCH originates for a caller shows the
			// dialplan has picked a target, if no application said so.
			return l, t.EnsureRouted(c, at)
		}
	}
	if c := t.pending[id]; c != nil {
		// The A-leg of a call first seen through its B-leg.
		delete(t.pending, id)
		l.Caller = true
		t.Join(c, l)
		return l, nil
	}
	if refs := parentRefs(ev); len(refs) > 0 && ev.get("Call-Direction") == "outbound" {
		// A B-leg whose A-leg was never seen (the connector came in
		// mid-call): the call is the A-leg's, known from the B-leg's
		// Other-Leg headers until the A-leg's own events arrive.
		c := t.NewCall(refs[0])
		c.Caller = cmp.Or(ev.get("Other-Leg-Caller-ID-Number"), ev.get("Caller-Caller-ID-Number"))
		c.Dest = cmp.Or(ev.get("Other-Leg-Destination-Number"), ev.get("Caller-Destination-Number"))
		c.Direction = events.Internal
		if strings.HasPrefix(ev.get("Channel-Name"), "sofia/gateway/") {
			c.Direction = events.Outbound
		}
		l.Number = cmp.Or(ev.get("Caller-Destination-Number"), ev.get("Caller-Callee-ID-Number"))
		t.Join(c, l)
		t.pending[c.CallerLeg] = c
		return l, t.EnsureRouted(c, at)
	}
	c := t.NewCall(id, parentRefs(ev)...)
	c.Caller, c.Dest = ev.get("Caller-Caller-ID-Number"), ev.get("Caller-Destination-Number")
	if fromGateway(ev) {
		c.Direction = events.Inbound
	} else {
		c.Direction = events.Internal
	}
	l.Caller = true
	t.Join(c, l)
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
		return &events.Target{Type: events.Extension, Target: cmp.Or(ext, dest)}
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

func (t *tracker) legEnded(l *leg, ev eventHeaders, at time.Time) []events.Event {
	c := l.Call
	status, _ := strconv.Atoi(ev.get("variable_sip_term_status"))
	end := &legEnd{
		cause:       ev.get("Hangup-Cause"),
		sipStatus:   status,
		disposition: ev.get("variable_sip_hangup_disposition"),
	}
	if l.Caller {
		c.Engine.end, c.Engine.aEnded = end, true
	} else if !c.Engine.aEnded {
		c.Engine.end = end
	}
	// The first leg that FreeSWITCH saw hang up from the far end (a BYE or
	// CANCEL received), among the caller and the callees that answered,
	// ended the call.
	if c.By == "" && strings.HasPrefix(end.disposition, "recv_") && (l.Caller || l.Answered) {
		c.By = l.Party()
	}
	return t.drop(l, at)
}

// drop forgets a leg; the call's CALL_HANGUP follows its last leg.
func (t *tracker) drop(l *leg, at time.Time) []events.Event {
	out := t.Drop(l, at, hangup)
	if l.Call.Over() {
		delete(t.pending, l.Call.CallerLeg)
	}
	return out
}

// hangup works out a call's end from the end FreeSWITCH reported of its
// A-leg, else of its last leg.
func hangup(c *call) *events.Hangup {
	end := c.Engine.end
	if end == nil || end.cause == "" {
		end = &legEnd{cause: events.CauseNormalUnspecified}
	}
	by := c.By
	if by == "" && !c.Answered() && end.disposition == "recv_cancel" {
		by = events.Caller
	}
	h := &events.Hangup{Cause: end.cause, SIPCode: end.sipStatus, By: callrules.HangupBy(end.cause, by, c.Answered())}
	if h.SIPCode == 0 {
		// sip_term_status is missing when the leg was not SIP.
		h.SIPCode = callrules.SIPCode(end.cause, c.Answered())
	}
	return h
}

// reconcile ends the calls none of whose legs FreeSWITCH still has: they
// ended while the connector was away. live is FreeSWITCH's channel list
// taken on this connection; legs reported by an event on this connection
// count as live too.
func (t *tracker) reconcile(live map[string]bool, at time.Time) []events.Event {
	return t.Reconcile(live, func(l *leg) []events.Event {
		if c := l.Call; !c.Engine.aEnded && l.Caller {
			c.Engine.end, c.Engine.aEnded = &legEnd{cause: events.CauseNormalUnspecified}, true
		}
		return t.drop(l, at)
	})
}

// eventTime is when FreeSWITCH raised the event (Event-Date-Timestamp, in
// microseconds since the epoch).
func eventTime(ev eventHeaders) time.Time {
	if us, err := strconv.ParseInt(ev.get("Event-Date-Timestamp"), 10, 64); err == nil && us > 0 {
		return time.UnixMicro(us).UTC()
	}
	return time.Now().UTC()
}
