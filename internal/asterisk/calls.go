package asterisk

import (
	"cmp"
	"log/slog"
	"strings"
	"time"

	"github.com/switchhook/switchhook/internal/callrules"
	"github.com/switchhook/switchhook/internal/calltrack"
	"github.com/switchhook/switchhook/internal/events"
)

// A call is one caller's attempt and every channel Asterisk made for it; a
// leg is one Asterisk channel.
type (
	call = calltrack.Call[callEnd]
	leg  = calltrack.Leg[callEnd]
)

// callEnd is what Asterisk has told of how a call ends.
type callEnd struct {
	callerCause int    // the caller channel's destroy cause, -1 until then
	lastCause   int    // the last destroyed channel's
	dialStatus  string // the last final Dial status
	peerCause   int    // cause of the callee leg whose Dial failed last
}

// tracker turns one Asterisk's channel events into call events. It is used
// by one goroutine at a time.
type tracker struct {
	*calltrack.Tracker[callEnd]
}

func newTracker(source string, log *slog.Logger) *tracker {
	return &tracker{calltrack.New[callEnd](source, log)}
}

// local reports whether l is a Local channel half: plumbing between two
// channels, never a destination, whose digits, holds and state the channel
// at its far end reports already.
func local(l *leg) bool { return strings.HasPrefix(l.Name, "Local/") }

// handle maps one ARI event to the call events it causes.
func (t *tracker) handle(ev *ariEvent) []events.Event {
	at := ev.time()
	switch ev.Type {
	case "ChannelCreated":
		if ev.Channel != nil {
			t.leg(ev.Channel)
		}
		return nil
	case "Dial":
		return t.dial(ev, at)
	}
	if ev.Channel == nil {
		return nil
	}
	if t.Leg(ev.Channel.ID) == nil && ev.Type == "ChannelDestroyed" {
		return nil // never seen: nothing was emitted for it
	}
	l := t.leg(ev.Channel)
	c := l.Call
	switch ev.Type {
	case "StasisStart":
		// The dialplan handed the caller to a Stasis application, which
		// plays the part of an IVR.
		if l.Caller && !c.Routed() {
			return t.Route(c, at, &events.Target{Type: events.IVR, Target: c.Dest})
		}
	case "ChannelStateChange":
		switch ev.Channel.State {
		case "Ringing":
			return t.ring(l, at)
		case "Up":
			return t.answer(l, at)
		}
	case "ChannelDtmfReceived":
		if local(l) {
			return nil // a Local pair relays the digit it already reported
		}
		return t.Input(l, at, ev.Digit, time.Duration(ev.DurationMS)*time.Millisecond)
	case "ChannelHold", "ChannelUnhold":
		if local(l) {
			return nil
		}
		return t.Hold(l, at, ev.Type == "ChannelHold")
	case "ChannelHangupRequest":
		// A hangup request that is not "soft" comes from the channel's own
		// far end (a BYE or CANCEL); Asterisk's own hangups of the other
		// legs are soft.
		if !ev.Soft && c.By == "" && !local(l) && (l.Caller || l.Answered) {
			c.By = l.Party()
		}
	case "ChannelDestroyed":
		return t.drop(l, ev.Cause, at)
	}
	return nil
}

// leg returns the leg of ch, tracking it first if new: it joins the call of
// the channel its linkedid names, or of its Local pair's other half, else it
// is the caller of a call of its own, until a Dial names it as a peer.
func (t *tracker) leg(ch *channel) *leg {
	if l := t.Leg(ch.ID); l != nil {
		if l.Caller && !l.Call.Routed() {
			l.Call.Dest = cmp.Or(ch.Dialplan.Exten, l.Call.Dest)
		}
		l.Seen = true
		return l
	}
	l := &leg{ID: ch.ID, Name: ch.Name, Seen: true}
	if p := t.parent(ch); p != nil {
		t.Join(p.Call, l)
		return l
	}
	c := t.NewCall(ch.ID, ch.Linkedid)
	c.Caller, c.Dest, c.Direction = ch.Caller.Number, ch.Dialplan.Exten, events.Internal
	c.Engine.callerCause = -1
	if fromTrunk(ch.Dialplan.Context) {
		c.Direction = events.Inbound
	}
	l.Caller = true
	t.Join(c, l)
	return l
}

// parent is the known leg that made ch, if any.
func (t *tracker) parent(ch *channel) *leg {
	if ch.Linkedid != "" && ch.Linkedid != ch.ID {
		if p := t.Leg(ch.Linkedid); p != nil {
			return p
		}
	}
	if strings.HasPrefix(ch.Name, "Local/") && strings.HasSuffix(ch.Name, ";2") {
		half := strings.TrimSuffix(ch.Name, ";2") + ";1"
		for l := range t.Legs() {
			if local(l) && l.Name == half {
				return l
			}
		}
	}
	return nil
}

// fromTrunk reports whether a caller's dialplan context is one calls from a
// provider land in, by the common naming (FreePBX's from-trunk and
// from-pstn, and the like).
func fromTrunk(context string) bool {
	for _, p := range []string{"from-trunk", "from-pstn", "from-external", "from-provider", "inbound"} {
		if strings.HasPrefix(context, p) {
			return true
		}
	}
	return false
}

// dial maps a Dial event: a new peer joins the caller's call (the first one
// shows the call is routed), and the peer's progress is reported.
func (t *tracker) dial(ev *ariEvent, at time.Time) []events.Event {
	if ev.Peer == nil || ev.Caller == nil {
		return nil // an originate with no calling channel: the peer is a caller itself
	}
	from := t.leg(ev.Caller)
	c := from.Call
	peer := t.Leg(ev.Peer.ID)
	switch {
	case peer == nil:
		peer = &leg{ID: ev.Peer.ID, Name: ev.Peer.Name, Seen: true}
		t.Join(c, peer)
	case peer.Call != c:
		// The peer was taken for the caller of a call of its own until
		// now, which never emitted anything: it and the channels that
		// joined it (a Local pair's other half) move to this call.
		for l := range peer.Call.Legs() {
			l.Caller = false
			t.Join(c, l)
		}
	}
	var out []events.Event
	switch ev.Dialstatus {
	case "":
		if peer.Number == "" {
			peer.Number = dialledNumber(ev.Dialstring)
		}
		if !c.Routed() {
			if from.Caller {
				c.Dest = cmp.Or(ev.Caller.Dialplan.Exten, c.Dest)
			}
			tech, _, _ := strings.Cut(ev.Peer.Name, "/")
			out = append(out, t.Route(c, at, dialTarget(ev.Caller.Dialplan.AppName, ev.Caller.Dialplan.AppData, tech+"/"+ev.Dialstring, c.Dest))...)
		}
	case "RINGING", "PROGRESS":
		out = append(out, t.ring(peer, at)...)
	case "ANSWER":
		out = append(out, t.answer(peer, at)...)
	case "PROCEEDING":
	default: // a final failure: BUSY, NOANSWER, CANCEL, CONGESTION, CHANUNAVAIL, …
		c.Engine.dialStatus = ev.Dialstatus
	}
	return out
}

// dialledNumber is the number in a dial string's resource: "1002",
// "+15551234567@carrier1" and "1002@from-internal" (a Local channel) give
// the part before "@".
func dialledNumber(dialstring string) string {
	n, _, _ := strings.Cut(dialstring, "@")
	if i := strings.LastIndexByte(n, '/'); i >= 0 {
		n = n[i+1:]
	}
	return n
}

// dialTarget says where a Dial sent the call, from the caller's Dial
// application data ("PJSIP/1002&PJSIP/1003,30") when the snapshot has it,
// else from this peer's device ("PJSIP/1002").
func dialTarget(app, data, device, dest string) *events.Target {
	targets := []string{device}
	if strings.EqualFold(app, "Dial") && data != "" {
		devs, _, _ := strings.Cut(data, ",")
		targets = strings.Split(devs, "&")
	}
	if len(targets) > 1 {
		return &events.Target{Type: events.RingGroup, Target: dest}
	}
	dev := targets[0]
	tech, res, ok := strings.Cut(dev, "/")
	if !ok {
		res, tech = tech, ""
	}
	num, host, remote := strings.Cut(res, "@")
	switch {
	case remote && !strings.EqualFold(tech, "Local"):
		// PJSIP/<number>@<endpoint>: out through a provider's endpoint.
		return &events.Target{Type: events.Gateway, Target: host}
	case num != "":
		return &events.Target{Type: events.Extension, Target: num}
	}
	return &events.Target{Type: events.Extension, Target: dest}
}

func (t *tracker) ring(l *leg, at time.Time) []events.Event {
	if local(l) {
		return nil
	}
	return t.Ring(l, at)
}

// answer reports l's answer; Asterisk answering the caller's channel itself
// answers as the number dialled.
func (t *tracker) answer(l *leg, at time.Time) []events.Event {
	if local(l) {
		return nil
	}
	return t.Answer(l, at, l.Call.Dest)
}

// drop forgets a channel destroyed with cause; the call's CALL_HANGUP
// follows its last channel.
func (t *tracker) drop(l *leg, cause int, at time.Time) []events.Event {
	c := l.Call
	if l.Caller {
		c.Engine.callerCause = cause
	}
	c.Engine.lastCause = cause
	if !l.Caller && !l.Answered && !local(l) {
		c.Engine.peerCause = cause
	}
	return t.Drop(l, at, hangup)
}

// hangup works out the cause, SIP code and party of a call's end.
func hangup(c *call) *events.Hangup {
	code := c.Engine.callerCause
	if code < 0 {
		code = c.Engine.lastCause
	}
	cause := causeName(code)
	if !c.Answered() {
		// Dial's final status says more than the caller's cause.
		peerCause := c.Engine.peerCause
		switch c.Engine.dialStatus {
		case "CANCEL":
			cause = events.CauseOriginatorCancel
		case "BUSY":
			cause = events.CauseUserBusy
		case "NOANSWER":
			cause = events.CauseNoAnswer
		case "CHANUNAVAIL":
			cause = events.CauseUserNotRegistered
			if peerCause != 0 && peerCause != 20 {
				cause = causeName(peerCause)
			}
		case "CONGESTION":
			cause = events.CauseNormalTemporaryFailure
			if peerCause != 0 && peerCause != 34 && peerCause != 42 {
				cause = causeName(peerCause)
			}
		}
	}
	return &events.Hangup{Cause: cause, SIPCode: sipCode(cause, c.Answered()), By: callrules.HangupBy(cause, c.By, c.Answered())}
}

// sipCode is the final SIP status a cause stands for; Asterisk's events do
// not carry the SIP status itself. Causes EVENTS.md does not name take the
// status of the nearest one it does.
func sipCode(cause string, answered bool) int {
	switch cause {
	case "NO_USER_RESPONSE", "SUBSCRIBER_ABSENT":
		return 480
	case "NO_ROUTE_DESTINATION":
		return 404
	case "NORMAL_CIRCUIT_CONGESTION", "SWITCH_CONGESTION":
		return 503
	}
	return callrules.SIPCode(cause, answered)
}

// reconcile ends the channels Asterisk no longer has and no event on this
// connection reported: they were destroyed while the connector was away.
// Asterisk cannot say why any more, so the cause is NORMAL_UNSPECIFIED.
func (t *tracker) reconcile(live map[string]bool, at time.Time) []events.Event {
	return t.Reconcile(live, func(l *leg) []events.Event { return t.drop(l, 0, at) })
}
