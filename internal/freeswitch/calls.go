package freeswitch

import (
	"cmp"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/switchhook/switchhook/internal/callrules"
	"github.com/switchhook/switchhook/internal/calltrack"
	"github.com/switchhook/switchhook/internal/events"
)

// The channel events the connector subscribes to; HEARTBEAT keeps an idle
// connection's read deadline from firing; CUSTOM names the subclasses
// after it (mod_sofia's transfer by REFER).
var subscribed = []string{
	"CHANNEL_CREATE", "CHANNEL_EXECUTE", "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA",
	"CHANNEL_ANSWER", "CHANNEL_HOLD", "CHANNEL_UNHOLD", "DTMF", "CHANNEL_BRIDGE", "CHANNEL_HANGUP_COMPLETE", "HEARTBEAT",
	"CUSTOM", "sofia::transferor",
}

// routingApps are the dialplan applications whose execution on a caller's
// leg means the dialplan has picked a target: bridge and transfer send the
// call on, the others make FreeSWITCH itself the destination (an IVR).
var routingApps = map[string]events.TargetType{
	"bridge": "", "transfer": events.Extension,
	"ivr": events.IVR, "playback": events.IVR, "play_and_get_digits": events.IVR,
	"voicemail": events.IVR, "conference": events.IVR, "fifo": events.Queue, "callcenter": events.Queue,
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
	// answered is FreeSWITCH's answer of the A-leg before the dialplan
	// said what for (the answer application runs before an IVR, a queue
	// with music or a playback): held until the next routing application
	// says where the call went, or anything else happens to the call.
	answered *selfAnswer
}

// selfAnswer is an answer of the A-leg by FreeSWITCH itself.
type selfAnswer struct {
	at   time.Time
	dest string
}

// legEnd is what CHANNEL_HANGUP_COMPLETE tells of a leg's end.
type legEnd struct {
	cause       string
	sipStatus   int    // the final SIP status FreeSWITCH says the leg's dialog ended with; 0 if it did not say
	disposition string // sip_hangup_disposition: recv_bye, send_cancel, …
	// originate is originate_disposition: on a caller's leg, the outcome of
	// its last bridge (NO_ANSWER, USER_BUSY, SUCCESS, …), which decides a
	// call nobody answered even when the leg itself ends NORMAL_CLEARING
	// because the dialplan went on.
	originate string
	gap       bool // worked out after a gap: nobody can tell what was sent
}

// tracker turns one FreeSWITCH's channel events into call events. It is
// used by one goroutine at a time.
type tracker struct {
	*calltrack.Tracker[callEnd]
	// pending are calls first seen through a B-leg, by their A-leg's UUID.
	pending map[string]*call
	// agents are mod_fifo's agents' channels that are no call's leg: a
	// member the module rings for a queue, with no link to any caller, and
	// a consumer who dialled in to take calls. A bridge to a caller waiting
	// in a fifo makes one that caller's agent.
	agents map[string]*agent
	// bridged are the agents a fifo bridged to a caller, in its call.
	bridged map[string]bool
	// consults are the consultation calls of att_xfer, by the leg that
	// runs it (the transferor's leg of the call it transfers).
	consults map[string]*consult
}

// standIn ends the id of a consultation call's stand-in caller leg, after
// the id of the transferor's leg it stands for.
const standIn = "/att_xfer"

// consult is a consultation call att_xfer places from the transferor's leg
// of another call: FreeSWITCH has no channel of its own for its caller, so
// the call's caller is a stand-in leg (the transferor's leg's id with a
// suffix), its events naming the transferor's leg.
type consult struct {
	call   *call // nil until att_xfer's leg to the target is made
	caller *leg
	data   string // att_xfer's argument: the target's dial string
}

// agent is a mod_fifo agent's channel while it is no call's leg.
type agent struct {
	number   string
	rang     bool
	answered bool
}

func newTracker(source string, log *slog.Logger) *tracker {
	return &tracker{Tracker: calltrack.New[callEnd](source, log), pending: map[string]*call{}, agents: map[string]*agent{}, bridged: map[string]bool{}, consults: map[string]*consult{}}
}

// resume takes up the calls the previous run left open, from sink.
func (t *tracker) resume(sink events.Sink) {
	t.ResumeFrom(sink, func(*call) {})
}

// handle maps one channel event to the call events it causes.
func (t *tracker) handle(ev eventHeaders) []events.Event {
	name, id := ev.get("Event-Name"), ev.get("Unique-ID")
	at := eventTime(ev)
	t.Heard(at)
	if id == "" || name == "HEARTBEAT" {
		return nil
	}
	var out []events.Event
	l := t.Leg(id)
	if name == "CUSTOM" {
		// sofia::transferor: the party on this leg sent a REFER. Without
		// Replaces FreeSWITCH sends the other leg to the Refer-To target
		// through the dialplan: a callee's transfer keeps the call; the
		// caller's ends it, and the callee's party goes on in a call of
		// its own, routed as its leg runs the dialplan. With Replaces it
		// names the legs it joins (an attended transfer).
		if l == nil || ev.get("Event-Subclass") != "sofia::transferor" {
			return nil
		}
		if ev.get("att_xfer_destination_peer_uuid") != "" {
			return t.attended(l, ev, at)
		}
		if l.Caller {
			t.TransferByCaller(l.Call, l, events.CauseBlindTransfer)
			return nil
		}
		if l.Answered {
			return t.Transfer(l.Call, l, at)
		}
		return nil
	}
	if a := t.agents[id]; a != nil && l == nil {
		return t.agentEvent(id, a, name, ev, at)
	}
	if l == nil && name == "CHANNEL_CREATE" && fifoMember(ev) {
		t.agents[id] = &agent{number: cmp.Or(ev.get("Caller-Destination-Number"), ev.get("Caller-Callee-ID-Number"))}
		return nil
	}
	if l == nil {
		if name == "CHANNEL_HANGUP_COMPLETE" {
			return nil // a leg never seen: nothing was emitted for it
		}
		if l, out = t.create(ev, at); l == nil {
			return nil
		}
	}
	l.Seen = true
	c := l.Call
	tt, routing := routingApps[ev.get("Application")]
	routing = routing && name == "CHANNEL_EXECUTE"
	if name != "CHANNEL_EXECUTE" {
		out = append(out, t.flushAnswer(c)...)
	} else if routing && l.Caller && !c.Routed() && c.Engine.answered != nil {
		at = c.Engine.answered.at // the dialplan's choice, made as it answered
	}
	switch name {
	case "CHANNEL_EXECUTE":
		if ev.get("Application") == "att_xfer" && c.Answered() && t.consults[id] == nil {
			t.consults[id] = &consult{data: ev.get("Application-Data")}
		}
		if l.Caller && c.InQueue() && routing && tt != events.Queue {
			// callcenter or fifo returned with no agent answering: the
			// dialplan goes on to the overflow.
			t.LeaveQueue(c, at)
		}
		if l.Caller && !c.Routed() && routing {
			c.Dest = cmp.Or(ev.get("Caller-Destination-Number"), c.Dest)
			to := routeTarget(tt, ev.get("Application-Data"), c.Dest)
			if to.Type == events.Queue {
				if ev.get("Application") == "fifo" && !strings.Contains(ev.get("Application-Data"), " in") {
					// A consumer (an agent) taking calls from a fifo:
					// not a call into the queue, and no call at all.
					if !hasCallee(c) {
						answered := l.Answered || c.Engine.answered != nil
						c.Engine.answered = nil
						t.drop(l, at)
						t.agents[id] = &agent{number: c.Caller, answered: answered}
					}
					return nil
				}
				t.EnterQueue(c, c.Dest, at)
			}
			out = append(out, t.Route(c, at, to)...)
		}
		if routing {
			out = append(out, t.flushAnswer(c)...)
		}
	case "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA":
		out = append(out, t.Ring(l, at)...)
	case "CHANNEL_ANSWER":
		// FreeSWITCH answering the A-leg itself answers as the number the
		// call is at now, which a transfer may have changed.
		dest := ev.get("Caller-Destination-Number")
		if l.Caller && !c.Routed() {
			c.Dest = cmp.Or(dest, c.Dest)
			if !hasCallee(c) {
				c.Engine.answered = &selfAnswer{at, cmp.Or(dest, c.Dest)}
				break
			}
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

// attended maps an attended transfer (a REFER with Replaces) that the
// party on leg by sent: mod_sofia's sofia::transferor names, on by, the leg
// by's call goes on with (att_xfer_original_call_id), the target leg it
// joins to it (att_xfer_destination_call_id) and the transferring party's
// leg of the consultation call (att_xfer_destination_peer_uuid). By a
// callee, the first call goes on with the target and the consultation call
// ends ATTENDED_TRANSFER; by the caller, both its calls end so and the
// parties it joined form a new call, answered already.
func (t *tracker) attended(by *leg, ev eventHeaders, at time.Time) []events.Event {
	consult, target := t.Leg(ev.get("att_xfer_destination_peer_uuid")), t.Leg(ev.get("att_xfer_destination_call_id"))
	if consult == nil || target == nil || target.Call != consult.Call || consult.Call == by.Call || !consult.Caller {
		return nil
	}
	if !by.Caller {
		return t.Replace(by.Call, by, target, at)
	}
	nc := t.TransferByCaller(by.Call, by, events.CauseAttendedTransfer)
	consult.Transferred = true
	consult.Call.End = &events.Hangup{Cause: events.CauseAttendedTransfer, SIPCode: 200, By: events.Caller}
	if nc == nil {
		return nil
	}
	return t.JoinAnswered(nc, target, at)
}

// fifoMember reports whether a channel FreeSWITCH creates is a member
// mod_fifo rings for a queue: the module originates it with no parent leg,
// naming the fifo (fifo_name) in its variables.
func fifoMember(ev eventHeaders) bool {
	return ev.get("Call-Direction") == "outbound" && len(parentRefs(ev)) == 0 && ev.get("variable_fifo_name") != ""
}

// agentEvent follows a fifo agent's channel until a bridge makes it a
// caller's agent: mod_fifo's consumer (the agent) bridges itself to the
// caller it takes (CHANNEL_BRIDGE on the agent, Bridge-A its own, Bridge-B
// the caller's). The caller's call then rings (if the module rang the
// agent) and is answered by the agent, with diversion_reason queue, at the
// bridge: the agent was the caller's only from then on.
func (t *tracker) agentEvent(id string, a *agent, name string, ev eventHeaders, at time.Time) []events.Event {
	switch name {
	case "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA":
		a.rang = true
	case "CHANNEL_ANSWER":
		a.answered = true
	case "CHANNEL_HANGUP_COMPLETE":
		delete(t.agents, id)
	case "CHANNEL_BRIDGE":
		other := ev.get("Bridge-B-Unique-ID")
		if other == id {
			other = ev.get("Bridge-A-Unique-ID")
		}
		caller := t.Leg(other)
		if caller == nil || !caller.Caller || !caller.Call.InQueue() {
			return nil
		}
		c := caller.Call
		delete(t.agents, id)
		l := &leg{ID: id, Number: a.number, Seen: true}
		t.Join(c, l)
		t.bridged[id] = true
		out := t.flushAnswer(c)
		if a.rang {
			out = append(out, t.Ring(l, at)...)
		}
		return append(out, t.Answer(l, at, "")...)
	}
	return nil
}

// hasCallee reports whether c has a leg FreeSWITCH made for it.
func hasCallee(c *call) bool {
	for l := range c.Legs() {
		if !l.Caller {
			return true
		}
	}
	return false
}

// flushAnswer emits the held answer of c's A-leg by FreeSWITCH itself, if
// any: its CALL_ANSWER (after CALL_ROUTED to an IVR when the dialplan
// never said more) at the time FreeSWITCH answered.
func (t *tracker) flushAnswer(c *call) []events.Event {
	p := c.Engine.answered
	if p == nil {
		return nil
	}
	c.Engine.answered = nil
	l := t.Leg(c.CallerLeg)
	if l == nil {
		return nil
	}
	l.Answered = false
	return t.Answer(l, p.at, p.dest)
}

// create starts tracking a leg first seen in ev: a B-leg of a known call
// when it names one of its legs, else the A-leg of a new call. A B-leg made
// for a call that has ended already is not tracked (nil): it must not open
// that call a second time.
func (t *tracker) create(ev eventHeaders, at time.Time) (*leg, []events.Event) {
	id := ev.get("Unique-ID")
	l := &leg{ID: id}
	if ev.get("Call-Direction") == "outbound" {
		for _, ref := range parentRefs(ev) {
			if t.EndedLeg(ref) && t.Leg(ref) == nil {
				return nil, nil
			}
		}
	}
	if r := t.Leg(ev.get("Other-Leg-Unique-ID")); r != nil && ev.get("Call-Direction") == "inbound" && strings.HasPrefix(ev.get("Caller-Destination-Number"), "answer,intercept:") {
		return t.replaces(r, l, ev, at)
	}
	for _, ref := range parentRefs(ev) {
		if x := t.consults[ref]; x != nil && x.call == nil && t.Leg(ref) != nil {
			return t.consultLeg(t.Leg(ref), x, l, ev, at)
		}
		if p := t.Leg(ref); p != nil {
			c := p.Call
			out := t.flushAnswer(c)
			l.Number = cmp.Or(ev.get("Caller-Destination-Number"), ev.get("Caller-Callee-ID-Number"))
			t.Join(c, l)
			// The first leg FreeSWITCH originates for a caller shows the
			// dialplan has picked a target, if no application said so.
			return l, append(out, t.EnsureRouted(c, at)...)
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
		c.CallerName = callerName(cmp.Or(ev.get("Other-Leg-Caller-ID-Name"), ev.get("Caller-Caller-ID-Name")), c.Caller, "")
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
	c.CallerName = callerName(ev.get("Caller-Caller-ID-Name"), c.Caller, ev.get("variable_sip_from_display"))
	if fromGateway(ev) {
		c.Direction = events.Inbound
	} else {
		c.Direction = events.Internal
	}
	l.Caller = true
	t.Join(c, l)
	return l, nil
}

// callerName is the caller's display name from a caller profile's name
// and number, "" when the caller sent none: mod_sofia copies the From's
// user into the name when the From has no display name (sent, the
// channel's sip_from_display, is set only from one), and FreeSWITCH's other
// stand-ins for no name are none either. sent is "" where the event does
// not carry it, and a name that only repeats the number is then dropped.
func callerName(name, number, sent string) string {
	switch name {
	case "", "_undef_", "unknown", "Outbound Call":
		return ""
	}
	if name == number && sent != name {
		return ""
	}
	return name
}

// parentRefs lists the legs a channel names as its originator; a
// mod_callcenter agent's leg, originated by the module with no parent leg,
// names the caller it is for in cc_member_session_uuid, and a member that
// mod_fifo's ringall strategy rings for one caller in fifo_bridge_uuid.
func parentRefs(ev eventHeaders) []string {
	id := ev.get("Unique-ID")
	var refs []string
	for _, h := range []string{"Other-Leg-Unique-ID", "variable_originating_leg_uuid", "Channel-Call-UUID", "variable_cc_member_session_uuid", "variable_fifo_bridge_uuid"} {
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
	case events.Queue: // callcenter "<queue>@<domain>", fifo "<queue> in …"
		name, _, _ := strings.Cut(strings.TrimSpace(data), " ")
		name, _, _ = strings.Cut(name, "@")
		return &events.Target{Type: events.Queue, Target: cmp.Or(name, dest)}
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
	delete(t.bridged, l.ID)
	var out []events.Event
	if x := t.consults[l.ID]; x != nil {
		// The transferor left while att_xfer consulted: its target, if up,
		// takes its place in the call it transferred.
		delete(t.consults, l.ID)
		if x.call != nil && !x.call.Over() {
			for o := range x.call.Legs() {
				switch {
				case o.Caller || !o.Answered:
				case l.Caller:
					// The caller transferred: its call ends, the parties
					// it joined are a new call.
					x.call.End = &events.Hangup{Cause: events.CauseAttendedTransfer, SIPCode: 200, By: events.Caller}
					if nc := t.TransferByCaller(c, l, events.CauseAttendedTransfer); nc != nil {
						out = append(out, t.JoinAnswered(nc, o, at)...)
					}
				default:
					out = append(out, t.Replace(c, l, o, at)...)
				}
			}
			out = append(out, t.endConsult(x, at)...)
		}
	}
	if l.Caller {
		// A fifo consumer that waits for the next caller stays up: the
		// caller's leaving ends its call, and the agent is free again.
		for o := range c.Legs() {
			if t.bridged[o.ID] {
				delete(t.bridged, o.ID)
				t.drop(o, at)
				t.agents[o.ID] = &agent{number: o.Number, answered: true}
			}
		}
	}
	end := &legEnd{
		cause:       ev.get("Hangup-Cause"),
		sipStatus:   sentStatus(ev),
		disposition: ev.get("variable_sip_hangup_disposition"),
		originate:   ev.get("variable_originate_disposition"),
	}
	if l.Caller {
		c.Engine.end, c.Engine.aEnded = end, true
	} else if !c.Engine.aEnded {
		c.Engine.end = end
	}
	// The first leg that FreeSWITCH saw hang up from the far end (a BYE or
	// CANCEL received), among the caller and the callees that answered,
	// ended the call.
	if c.By == "" && strings.HasPrefix(end.disposition, "recv_") && !l.Transferred && (l.Caller || l.Answered) {
		c.By = l.Party()
	}
	out = append(out, t.drop(l, at)...)
	for b, x := range t.consults {
		if x.call == c && !l.Caller && !hasCallee(c) {
			// att_xfer's target left, or FreeSWITCH hung it up at the
			// transferor's word (the cancel key): the consultation is
			// over, the transferor back with the first call.
			delete(t.consults, b)
			if c.By == "" {
				c.By = events.Caller
			}
			out = append(out, t.endConsult(x, at)...)
		}
	}
	return out
}

// consultLeg starts the consultation call of att_xfer, run on leg from,
// whose leg to the target l is: a call of from's party in from's call's
// session, routed to the target att_xfer dials, with l its callee.
func (t *tracker) consultLeg(from *leg, x *consult, l *leg, ev eventHeaders, at time.Time) (*leg, []events.Event) {
	first := from.Call
	number, name := from.Number, ""
	if from.Caller {
		number, name = first.Caller, first.CallerName
	}
	c := t.NewCall(from.ID + standIn)
	c.UUID, c.Session, c.CallerLeg = uuid.NewString(), first.Session, from.ID
	c.Caller, c.CallerName, c.Direction = number, name, first.Direction
	l.Number = cmp.Or(ev.get("Caller-Destination-Number"), ev.get("Caller-Callee-ID-Number"))
	to := routeTarget("", x.data, l.Number)
	c.Dest = cmp.Or(to.Target, l.Number)
	x.call, x.caller = c, &leg{ID: from.ID + standIn, Caller: true, Seen: true}
	t.Join(c, x.caller)
	t.Join(c, l)
	return l, t.Route(c, at, to)
}

// replaces maps an INVITE with Replaces (RFC 3891) naming the dialog of
// leg r, an answered callee: mod_sofia makes the new channel l answer and
// intercept r's partner, naming r as its other leg, in an inline dialplan
// ("answer,intercept:<uuid>"), and r is hung up. l's party takes r's place
// in r's call (EVENTS.md's attended transfer: CALL_UNHOLD if held, then
// CALL_ANSWER of the newcomer, diversion_reason attended_transfer); mod_sofia
// gives l r's caller ids, so its number is the INVITE's From user.
func (t *tracker) replaces(r, l *leg, ev eventHeaders, at time.Time) (*leg, []events.Event) {
	l.Number = cmp.Or(ev.get("variable_sip_from_user"), ev.get("Caller-Caller-ID-Number"))
	if r.Caller || !r.Answered {
		// Replacing a caller, or a dialog not answered (a pickup): not
		// a transfer this maps; the new channel is a leg of the call.
		t.Join(r.Call, l)
		return l, nil
	}
	// Replace moves a leg from the call it joined: here a holder of l's
	// own, never routed, that emits nothing.
	t.Join(t.NewCall(l.ID), l)
	return l, t.Replace(r.Call, r, l, at)
}

// endConsult ends an att_xfer consultation call with its stand-in caller:
// ATTENDED_TRANSFER when its target moved to the first call, else as its
// target's leg ended.
func (t *tracker) endConsult(x *consult, at time.Time) []events.Event {
	out := t.drop(x.caller, at)
	for i := range out {
		out[i].LegUUID = x.call.CallerLeg
	}
	return out
}

// drop forgets a leg; the call's CALL_HANGUP follows its last leg.
func (t *tracker) drop(l *leg, at time.Time) []events.Event {
	out := t.Drop(l, at, hangup)
	if l.Call.Over() {
		delete(t.pending, l.Call.CallerLeg)
	}
	return out
}

// sentStatus is the final SIP status FreeSWITCH says a leg's dialog ended
// with: sip_term_status, else the proto-specific cause ("sip:480"); 0 when
// it says neither (a request it refused itself, a leg that was not SIP).
func sentStatus(ev eventHeaders) int {
	if n, err := strconv.Atoi(ev.get("variable_sip_term_status")); err == nil && n > 0 {
		return n
	}
	if code, ok := strings.CutPrefix(ev.get("variable_proto_specific_hangup_cause"), "sip:"); ok {
		if n, err := strconv.Atoi(code); err == nil {
			return n
		}
	}
	return 0
}

// hangup works out a call's end from the end FreeSWITCH reported of its
// A-leg, else of its last leg. A call nobody answered takes its cause from
// the leg that decided it: the A-leg's originate_disposition (the callee
// leg's outcome), since the A-leg itself may end NORMAL_CLEARING once the
// dialplan goes on after the failed bridge. The SIP code is what
// FreeSWITCH says it sent, else what it sends for the A-leg's own cause.
func hangup(c *call) *events.Hangup {
	end := c.Engine.end
	if end == nil || end.cause == "" {
		end = &legEnd{cause: events.CauseNormalUnspecified}
	}
	cause := end.cause
	if !c.Answered() && end.originate != "" && end.originate != "SUCCESS" {
		cause = end.originate
	}
	by := c.By
	if by == "" && !c.Answered() && end.disposition == "recv_cancel" {
		by = events.Caller
	}
	h := &events.Hangup{Cause: cause, SIPCode: end.sipStatus, By: callrules.HangupBy(cause, by, c.Answered())}
	switch {
	case h.SIPCode != 0 || end.gap:
	case c.Answered():
		h.SIPCode = 200
	default:
		h.SIPCode = sofiaStatus(end.cause)
	}
	return h
}

// sofiaStatus is the SIP status mod_sofia answers an unanswered call with
// for a hangup cause (its hangup_cause_to_sip table): what FreeSWITCH sent
// when it refused the caller itself and did not report the status.
func sofiaStatus(cause string) int {
	switch cause {
	case "UNALLOCATED_NUMBER", "NO_ROUTE_TRANSIT_NET", "NO_ROUTE_DESTINATION":
		return 404
	case "USER_BUSY":
		return 486
	case "NO_USER_RESPONSE":
		return 408
	case "NO_ANSWER", "SUBSCRIBER_ABSENT":
		return 480
	case "CALL_REJECTED", "DECLINE":
		return 603
	case "NUMBER_CHANGED", "REDIRECTION_TO_NEW_DESTINATION":
		return 410
	case "INVALID_NUMBER_FORMAT", "INVALID_URL", "INVALID_GATEWAY":
		return 484
	case "NETWORK_OUT_OF_ORDER":
		return 502
	case "REQUESTED_CHAN_UNAVAIL", "NORMAL_CIRCUIT_CONGESTION", "NORMAL_TEMPORARY_FAILURE", "SWITCH_CONGESTION", "GATEWAY_DOWN":
		return 503
	case "RECOVERY_ON_TIMER_EXPIRE":
		return 504
	case "INCOMPATIBLE_DESTINATION":
		return 488
	case "ORIGINATOR_CANCEL":
		return 487
	case "BUSY_EVERYWHERE":
		return 600
	}
	return 480
}

// reconcile brings the calls up to date with live, FreeSWITCH's channel
// list taken on this connection (legs reported by an event on this
// connection count as live too): a leg gone ended while the connector was
// away, at the time and with the cause gap tells; a leg still there gets
// the ring or answer it missed; a channel never seen is adopted.
func (t *tracker) reconcile(live map[string]liveChannel, gap calltrack.Gap, now time.Time) []events.Event {
	listed := func(id string) (calltrack.Channel, bool) {
		// A stand-in caller is live while the leg it stands for is.
		ch, ok := live[strings.TrimSuffix(id, standIn)]
		return ch.Channel, ok
	}
	out := t.Reconcile(listed, now, func(l *leg) []events.Event {
		c := l.Call
		at, cause := gap.End(c)
		if !c.Engine.aEnded && l.Caller {
			c.Engine.end, c.Engine.aEnded = &legEnd{cause: cause, gap: true}, true
		} else if c.Engine.end == nil {
			c.Engine.end = &legEnd{cause: cause, gap: true}
		}
		return t.drop(l, at)
	})
	// What ended while the connector was away ended these too.
	for id := range t.agents {
		if _, ok := live[id]; !ok {
			delete(t.agents, id)
		}
	}
	for id := range t.consults {
		if t.Leg(id) == nil {
			delete(t.consults, id)
		}
	}
	for id := range t.bridged {
		if t.Leg(id) == nil {
			delete(t.bridged, id)
		}
	}
	return append(out, t.adopt(live, now)...)
}

// adopt takes up the channels FreeSWITCH has that the connector never saw
// (it started, or came back, in the middle of their calls): each A-leg is a
// call routed when the channel was created, its B-legs (whose call_uuid
// names it) join it, and each then gets the ring or answer its state
// shows. A call never starts with anything but CALL_ROUTED.
func (t *tracker) adopt(live map[string]liveChannel, now time.Time) []events.Event {
	chans := slices.SortedFunc(maps.Values(live), func(a, b liveChannel) int {
		if (a.Direction == "outbound") != (b.Direction == "outbound") {
			if a.Direction == "outbound" {
				return 1
			}
			return -1
		}
		return cmp.Or(a.Created.Compare(b.Created), strings.Compare(a.UUID, b.UUID))
	})
	var out []events.Event
	var callers []*leg
	for _, ch := range chans {
		if t.Leg(ch.UUID) != nil || t.EndedLeg(ch.UUID) {
			continue
		}
		at := cmp.Or(ch.Created, now)
		if parent := t.Leg(ch.CallUUID); ch.Direction == "outbound" && parent != nil && ch.CallUUID != ch.UUID {
			l := &leg{ID: ch.UUID, Number: ch.Dest, Seen: true}
			t.Join(parent.Call, l)
			out = append(out, t.EnsureRouted(parent.Call, at)...)
			if ch.Ringing {
				out = append(out, t.Ring(l, now)...)
			}
			if ch.Up {
				out = append(out, t.Answer(l, now, "")...)
			}
			continue
		}
		if ch.Direction == "outbound" {
			continue // a B-leg whose A-leg is not listed: its events will tell
		}
		c := t.NewCall(ch.UUID)
		c.Caller, c.Dest, c.Direction = ch.CIDNum, ch.Dest, events.Internal
		c.CallerName = callerName(ch.CIDName, ch.CIDNum, "")
		if strings.HasPrefix(ch.Name, "sofia/external/") {
			c.Direction = events.Inbound
		}
		l := &leg{ID: ch.UUID, Caller: true, Seen: true}
		t.Join(c, l)
		var to *events.Target
		if tt, ok := routingApps[ch.Application]; ok {
			to = routeTarget(tt, ch.ApplicationData, c.Dest)
		}
		out = append(out, t.Route(c, at, to)...)
		if ch.Up {
			callers = append(callers, l)
		}
	}
	// Callers last: one whose call has a callee leg was answered by it.
	for _, l := range callers {
		out = append(out, t.Answer(l, now, l.Call.Dest)...)
	}
	return out
}

// eventTime is when FreeSWITCH raised the event (Event-Date-Timestamp, in
// microseconds since the epoch).
func eventTime(ev eventHeaders) time.Time {
	if us, err := strconv.ParseInt(ev.get("Event-Date-Timestamp"), 10, 64); err == nil && us > 0 {
		return time.UnixMicro(us).UTC()
	}
	return time.Now().UTC()
}
