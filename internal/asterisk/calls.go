package asterisk

import (
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/switchhook/switchhook/internal/events"
)

// rememberEnded bounds how many ended channels are remembered for session
// correlation.
const rememberEnded = 4096

// leg is one Asterisk channel of a call.
type leg struct {
	id       string
	name     string // e.g. PJSIP/1002-00000002
	call     *call
	caller   bool   // the channel whose attempt the call is
	local    bool   // a Local channel half: plumbing, never a destination
	number   string // a callee leg: the number it rings
	rang     bool
	answered bool
	seen     bool // reported on the current connection (for reconciliation)
	cause    int  // from ChannelDestroyed
}

// call is one caller's attempt and every channel Asterisk made for it.
type call struct {
	uuid, session string
	callerLeg     string
	caller        string
	dest          string // as dialled
	callee        string // the destination answered last
	direction     events.Direction
	routed        bool
	answered      bool
	held          bool
	legs          map[string]*leg // live channels
	callerCause   int             // the caller channel's destroy cause, -1 until then
	lastCause     int             // the last destroyed channel's
	dialStatus    string          // the last final Dial status
	peerCause     int             // cause of the callee leg whose Dial failed last
	by            events.Party    // who hung up, from the first hangup request from a far end
}

// tracker turns one Asterisk's channel events into call events. It is used
// by one goroutine at a time.
type tracker struct {
	source     string
	log        *slog.Logger
	legs       map[string]*leg
	ended      map[string]string // channel → session of its ended call
	endedOrder []string
}

func newTracker(source string, log *slog.Logger) *tracker {
	return &tracker{source: source, log: log, legs: map[string]*leg{}, ended: map[string]string{}}
}

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
	if t.legs[ev.Channel.ID] == nil && ev.Type == "ChannelDestroyed" {
		return nil // never seen: nothing was emitted for it
	}
	l := t.leg(ev.Channel)
	c := l.call
	switch ev.Type {
	case "StasisStart":
		// The dialplan handed the caller to a Stasis application, which
		// plays the part of an IVR.
		if l.caller && !c.routed {
			return []events.Event{t.route(c, at, &events.Target{Type: events.IVR, Target: c.dest})}
		}
	case "ChannelStateChange":
		switch ev.Channel.State {
		case "Ringing":
			return t.ring(c, l, at)
		case "Up":
			return t.answer(c, l, at)
		}
	case "ChannelDtmfReceived":
		if l.local {
			return nil // a Local pair relays the digit it already reported
		}
		e := t.event(c, events.CallInput, at, l, c.current())
		e.Digit = ev.Digit
		e.DigitDuration = time.Duration(ev.DurationMS) * time.Millisecond
		e.Party = party(l)
		if err := e.Validate(); err != nil {
			t.log.Warn("asterisk: DTMF event skipped", "err", err, "channel", l.id)
			return nil
		}
		return append(t.ensureRouted(c, at), e)
	case "ChannelHold", "ChannelUnhold":
		hold := ev.Type == "ChannelHold"
		if l.local || !c.answered || c.held == hold {
			return nil
		}
		c.held = hold
		kind := events.CallUnhold
		if hold {
			kind = events.CallHold
		}
		e := t.event(c, kind, at, l, c.current())
		e.Party = party(l)
		return []events.Event{e}
	case "ChannelHangupRequest":
		// A hangup request that is not "soft" comes from the channel's own
		// far end (a BYE or CANCEL); Asterisk's own hangups of the other
		// legs are soft.
		if !ev.Soft && c.by == "" && !l.local && (l.caller || l.answered) {
			c.by = party(l)
		}
	case "ChannelDestroyed":
		l.cause = ev.Cause
		return t.drop(l, at)
	}
	return nil
}

// leg returns the leg of ch, tracking it first if new: it joins the call of
// the channel its linkedid names, or of its Local pair's other half, else it
// is the caller of a call of its own, until a Dial names it as a peer.
func (t *tracker) leg(ch *channel) *leg {
	if l := t.legs[ch.ID]; l != nil {
		if l.caller && !l.call.routed {
			l.call.dest = nonEmpty(ch.Dialplan.Exten, l.call.dest)
		}
		l.seen = true
		return l
	}
	l := &leg{id: ch.ID, name: ch.Name, local: strings.HasPrefix(ch.Name, "Local/"), seen: true}
	if p := t.parent(ch); p != nil {
		t.join(p.call, l)
		return l
	}
	c := &call{
		callerLeg: ch.ID, caller: ch.Caller.Number, dest: ch.Dialplan.Exten,
		legs: map[string]*leg{}, callerCause: -1, direction: events.Internal,
	}
	if fromTrunk(ch.Dialplan.Context) {
		c.direction = events.Inbound
	}
	c.uuid = callUUID(ch.ID)
	c.session = c.uuid
	if s, ok := t.ended[ch.Linkedid]; ok {
		c.session = s
	}
	l.caller = true
	t.join(c, l)
	return l
}

// parent is the known leg that made ch, if any.
func (t *tracker) parent(ch *channel) *leg {
	if ch.Linkedid != "" && ch.Linkedid != ch.ID {
		if p := t.legs[ch.Linkedid]; p != nil {
			return p
		}
	}
	if strings.HasPrefix(ch.Name, "Local/") && strings.HasSuffix(ch.Name, ";2") {
		half := strings.TrimSuffix(ch.Name, ";2") + ";1"
		for _, l := range t.legs {
			if l.local && l.name == half {
				return l
			}
		}
	}
	return nil
}

func (t *tracker) join(c *call, l *leg) {
	l.call = c
	c.legs[l.id] = l
	t.legs[l.id] = l
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

// callUUID keeps the caller channel's id as the call's UUID when it is a
// version 4 UUID (Asterisk's ids are "<epoch>.<n>" unless an originator set
// one); otherwise the call gets a fresh one.
func callUUID(id string) string {
	if u, err := uuid.Parse(id); err == nil && u.Version() == 4 && u.Variant() == uuid.RFC4122 && len(id) == 36 {
		return u.String()
	}
	return uuid.NewString()
}

// dial maps a Dial event: a new peer joins the caller's call (the first one
// shows the call is routed), and the peer's progress is reported.
func (t *tracker) dial(ev *ariEvent, at time.Time) []events.Event {
	if ev.Peer == nil || ev.Caller == nil {
		return nil // an originate with no calling channel: the peer is a caller itself
	}
	from := t.leg(ev.Caller)
	c := from.call
	peer := t.legs[ev.Peer.ID]
	switch {
	case peer == nil:
		peer = &leg{id: ev.Peer.ID, name: ev.Peer.Name, local: strings.HasPrefix(ev.Peer.Name, "Local/"), seen: true}
		t.join(c, peer)
	case peer.call != c:
		// The peer was taken for the caller of a call of its own until
		// now, which never emitted anything: it and the channels that
		// joined it (a Local pair's other half) move to this call.
		for _, l := range peer.call.legs {
			l.caller = false
			t.join(c, l)
		}
	}
	var out []events.Event
	switch ev.Dialstatus {
	case "":
		if peer.number == "" {
			peer.number = dialledNumber(ev.Dialstring)
		}
		if !c.routed {
			if from.caller {
				c.dest = nonEmpty(ev.Caller.Dialplan.Exten, c.dest)
			}
			tech, _, _ := strings.Cut(ev.Peer.Name, "/")
			out = append(out, t.route(c, at, dialTarget(ev.Caller.Dialplan.AppName, ev.Caller.Dialplan.AppData, tech+"/"+ev.Dialstring, c.dest)))
		}
	case "RINGING", "PROGRESS":
		out = append(out, t.ring(c, peer, at)...)
	case "ANSWER":
		out = append(out, t.answer(c, peer, at)...)
	case "PROCEEDING":
	default: // a final failure: BUSY, NOANSWER, CANCEL, CONGESTION, CHANUNAVAIL, …
		c.dialStatus = ev.Dialstatus
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

func (t *tracker) route(c *call, at time.Time, to *events.Target) events.Event {
	c.routed = true
	if to != nil && to.Type == events.Gateway && c.direction == events.Internal {
		c.direction = events.Outbound
	}
	e := t.event(c, events.CallRouted, at, nil, c.dest)
	e.LegUUID = c.callerLeg
	e.RoutedTo = to
	return e
}

func (t *tracker) ensureRouted(c *call, at time.Time) []events.Event {
	if c.routed {
		return nil
	}
	return []events.Event{t.route(c, at, nil)}
}

func (t *tracker) ring(c *call, l *leg, at time.Time) []events.Event {
	if l.caller || l.local || l.rang {
		return nil
	}
	l.rang = true
	return append(t.ensureRouted(c, at), t.event(c, events.CallRinging, at, l, l.number))
}

func (t *tracker) answer(c *call, l *leg, at time.Time) []events.Event {
	if l.local || l.answered {
		return nil
	}
	l.answered = true
	if l.caller {
		// Asterisk answers the caller's channel itself when a callee
		// answers a Dial; only an answer with no callee up is Asterisk
		// answering the call (an IVR, a Stasis application).
		for _, o := range c.legs {
			if !o.caller && !o.local && o.answered {
				return nil
			}
		}
		var out []events.Event
		if !c.routed {
			out = append(out, t.route(c, at, &events.Target{Type: events.IVR, Target: c.dest}))
		}
		c.answered, c.callee = true, c.dest
		return append(out, t.event(c, events.CallAnswer, at, l, c.dest))
	}
	out := t.ensureRouted(c, at)
	c.answered, c.callee = true, l.number
	return append(out, t.event(c, events.CallAnswer, at, l, l.number))
}

// drop forgets a destroyed channel; the call's CALL_HANGUP follows its last
// channel.
func (t *tracker) drop(l *leg, at time.Time) []events.Event {
	c := l.call
	delete(c.legs, l.id)
	delete(t.legs, l.id)
	t.remember(l.id, c.session)
	if l.caller {
		c.callerCause = l.cause
	}
	c.lastCause = l.cause
	if !l.caller && !l.answered && !l.local {
		c.peerCause = l.cause
	}
	if len(c.legs) > 0 || !c.routed {
		return nil
	}
	h := t.hangup(c)
	e := t.event(c, events.CallHangup, at, l, c.current())
	e.Hangup = h
	return []events.Event{e}
}

// hangup works out the cause, SIP code and party of a call's end.
func (t *tracker) hangup(c *call) *events.Hangup {
	code := c.callerCause
	if code < 0 {
		code = c.lastCause
	}
	cause := causeName(code)
	if !c.answered {
		// Dial's final status says more than the caller's cause.
		switch c.dialStatus {
		case "CANCEL":
			cause = events.CauseOriginatorCancel
		case "BUSY":
			cause = events.CauseUserBusy
		case "NOANSWER":
			cause = events.CauseNoAnswer
		case "CHANUNAVAIL":
			cause = events.CauseUserNotRegistered
			if c.peerCause != 0 && c.peerCause != 20 {
				cause = causeName(c.peerCause)
			}
		case "CONGESTION":
			cause = events.CauseNormalTemporaryFailure
			if c.peerCause != 0 && c.peerCause != 34 && c.peerCause != 42 {
				cause = causeName(c.peerCause)
			}
		}
	}
	return &events.Hangup{Cause: cause, SIPCode: sipCode(cause, c.answered), By: hangupBy(c, cause)}
}

func hangupBy(c *call, cause string) events.Party {
	switch cause {
	case events.CauseOriginatorCancel:
		return events.Caller
	case events.CauseNoAnswer, events.CauseUserNotRegistered, events.CauseRecoveryOnTimerExpire,
		events.CauseSystemShutdown, events.CauseNormalUnspecified:
		return events.System
	}
	if c.by != "" {
		return c.by
	}
	if !c.answered {
		switch cause {
		case events.CauseUserBusy, events.CauseCallRejected, events.CauseUnallocatedNumber,
			events.CauseInvalidNumberFormat, events.CauseNormalTemporaryFailure:
			return events.Callee
		}
	}
	return events.System
}

// sipCode is the final SIP status a cause stands for; Asterisk's events do
// not carry the SIP status itself.
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
	case events.CauseNoAnswer, "NO_USER_RESPONSE", "SUBSCRIBER_ABSENT":
		return 480
	case events.CauseUserNotRegistered, events.CauseUnallocatedNumber, "NO_ROUTE_DESTINATION":
		return 404
	case events.CauseRecoveryOnTimerExpire:
		return 408
	case events.CauseInvalidNumberFormat:
		return 484
	case events.CauseNormalTemporaryFailure, "NORMAL_CIRCUIT_CONGESTION", "SWITCH_CONGESTION":
		return 503
	}
	return 0
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

// reconcile ends the channels Asterisk no longer has and no event on this
// connection reported: they were destroyed while the connector was away.
// Asterisk cannot say why any more, so the cause is NORMAL_UNSPECIFIED.
func (t *tracker) reconcile(live map[string]bool, at time.Time) []events.Event {
	var out []events.Event
	for _, l := range sortedLegs(t.legs) {
		if live[l.id] || l.seen || t.legs[l.id] == nil {
			continue
		}
		l.cause = 0
		out = append(out, t.drop(l, at)...)
	}
	return out
}

// unsee marks every leg as not yet reported on a new connection.
func (t *tracker) unsee() {
	for _, l := range t.legs {
		l.seen = false
	}
}

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

func (c *call) current() string { return nonEmpty(c.callee, c.dest) }

func party(l *leg) events.Party {
	if l.caller {
		return events.Caller
	}
	return events.Callee
}

func nonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
