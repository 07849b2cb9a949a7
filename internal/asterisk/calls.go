package asterisk

import (
	"cmp"
	"log/slog"
	"maps"
	"slices"
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
	callerTech  int    // the SIP status the caller channel's end was (tech_cause), 0 if none
	lastCause   int    // the last destroyed channel's
	dialStatus  string // the last final Dial status
	peerCause   int    // cause of the callee leg whose Dial failed last
	// gapCause is set when the call ended unseen while the connector was
	// away: the cause Gap.End gave; nobody can tell the SIP status then.
	gapCause string
	shutdown bool // Asterisk hung the call up as it shut down
}

// softhangupShutdown is the cause a soft ChannelHangupRequest carries when
// Asterisk hangs a channel up because it shuts down (its
// AST_SOFTHANGUP_SHUTDOWN flag, 1<<2, as a real Asterisk 22 sends it on
// "core restart now").
const softhangupShutdown = 4

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
	t.Heard(at)
	switch ev.Type {
	case "ChannelCreated":
		if ev.Channel != nil {
			t.leg(ev.Channel)
		}
		return nil
	case "Dial":
		return t.dial(ev, at)
	case "BridgeBlindTransfer":
		return t.blindTransfer(ev, at)
	case "BridgeAttendedTransfer":
		return t.attendedTransfer(ev, at)
	case "ChannelTransfer":
		return t.channelTransfer(ev, at)
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
	case "ChannelDialplan":
		// app_queue: the caller waits in a queue; its members' Dials are
		// the agents rung.
		if l.Caller && !c.Routed() && strings.EqualFold(ev.DialplanApp, "Queue") {
			return t.queue(c, ev.DialplanAppData, at)
		}
		if l.Caller && c.InQueue() && !strings.EqualFold(ev.DialplanApp, "Queue") {
			// Queue returned with no agent answering (its timeout, or
			// the queue full): the dialplan goes on to the overflow.
			t.LeaveQueue(c, at)
		}
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
		if !ev.Soft && c.By == "" && !local(l) && !l.Transferred && (l.Caller || l.Answered) {
			c.By = l.Party()
		}
		if ev.Soft && ev.Cause == softhangupShutdown {
			// Asterisk is shutting down or restarting ("core restart
			// now"): it hangs up every channel.
			c.Engine.shutdown = true
		}
	case "ChannelDestroyed":
		if l.Caller {
			c.Engine.callerTech = ev.TechCause
		}
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
	// PJSIP leaves the name empty when the caller's From has no display name.
	c.CallerName = ch.Caller.Name
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
			if strings.EqualFold(ev.Caller.Dialplan.AppName, "Queue") {
				out = append(out, t.queue(c, ev.Caller.Dialplan.AppData, at)...)
				break
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

// blindTransfer maps BridgeBlindTransfer: a callee's party sent the caller
// elsewhere (a REFER without Replaces). The call goes on; the transferee is
// sent through the dialplan, and the destinations its Dial rings are the
// transfer's. A transfer by the caller, or one that failed, changes
// nothing here.
func (t *tracker) blindTransfer(ev *ariEvent, at time.Time) []events.Event {
	if ev.Channel == nil || ev.Result != "Success" {
		return nil
	}
	return t.blind(t.Leg(ev.Channel.ID), at)
}

// blind maps a blind transfer by the party on leg by.
func (t *tracker) blind(by *leg, at time.Time) []events.Event {
	if by == nil || local(by) {
		return nil
	}
	if by.Caller {
		// The caller left: its call ends, the callee's party goes on in
		// a call of its own, routed by the Dial Asterisk makes for it.
		if nc := t.TransferByCaller(by.Call, by, events.CauseBlindTransfer); nc != nil {
			nc.Engine.callerCause = -1
		}
		return nil
	}
	return t.Transfer(by.Call, by, at)
}

// attendedTransfer maps BridgeAttendedTransfer: the callee of one call
// (its first leg) joined the caller to the party it had called meanwhile
// (its second leg's call, the consultation). The first call goes on with
// the target; the consultation call ends ATTENDED_TRANSFER.
func (t *tracker) attendedTransfer(ev *ariEvent, at time.Time) []events.Event {
	if ev.Result != "Success" || ev.TransfererFirstLeg == nil || ev.TransfererSecondLeg == nil {
		return nil
	}
	return t.attended(ev.TransfererFirstLeg, ev.TransfererSecondLeg, at, ev.TransferTarget, ev.Transferee)
}

// channelTransfer maps ChannelTransfer: Asterisk handing a REFER to the ARI
// application (PJSIP's transfer_handling = ari-only), which carries the
// transfer out itself and reports its progress (transfer_progress), each
// report another ChannelTransfer with its state. A blind transfer (a
// destination, no Replaces) is the transfer from the request on (no state;
// Asterisk has accepted the REFER), as BridgeBlindTransfer: the
// destinations the application dials for the transferee are the
// transfer's. An attended one (Replaces naming the transferor's other
// channel) joins the parties once the application reports success
// (channel_answered), as BridgeAttendedTransfer.
func (t *tracker) channelTransfer(ev *ariEvent, at time.Time) []events.Event {
	to, from := ev.ReferTo, ev.ReferredBy
	if to == nil || from == nil || from.SourceChannel == nil {
		return nil
	}
	if to.DestinationChannel == nil {
		if ev.State != "" || to.RequestedDestination.ProtocolID != "" {
			return nil // progress of a blind transfer, or a Replaces naming a dialog Asterisk does not have
		}
		return t.blind(t.Leg(from.SourceChannel.ID), at)
	}
	if ev.State != "channel_answered" {
		return nil
	}
	// The REFER came on the first call; Replaces names the consultation.
	return t.attended(from.SourceChannel, to.DestinationChannel, at, to.ConnectedChannel)
}

// attended maps an attended transfer by the party on channels first and
// second (the first call's and the consultation's): the target is the
// first of candidates that is a callee of the consultation call.
func (t *tracker) attended(first, second *channel, at time.Time, candidates ...*channel) []events.Event {
	// One transferer leg is a callee of the first call, the other the
	// caller of the consultation.
	var callee, caller *leg
	for _, ch := range []*channel{first, second} {
		l := t.Leg(ch.ID)
		switch {
		case l == nil:
			return nil
		case l.Caller:
			caller = l
		default:
			callee = l
		}
	}
	if callee == nil && caller != nil {
		return t.attendedByCaller(t.Leg(first.ID), t.Leg(second.ID), at)
	}
	if callee == nil || caller == nil {
		return nil
	}
	var target *leg
	for _, ch := range candidates {
		if ch != nil {
			if l := t.Leg(ch.ID); l != nil && l.Call == caller.Call && !l.Caller {
				target = l
			}
		}
	}
	if target == nil {
		return nil
	}
	caller.Transferred = true
	return t.Replace(callee.Call, callee, target, at)
}

// attendedByCaller maps an attended transfer by a caller who had called
// both parties: both its calls end ATTENDED_TRANSFER, and the parties it
// joined form a new call, answered already, in the first call's session.
func (t *tracker) attendedByCaller(first, second *leg, at time.Time) []events.Event {
	if !first.Caller || !second.Caller || first.Call == second.Call {
		return nil
	}
	var target *leg
	for l := range second.Call.Legs() {
		if !l.Caller && l.Answered {
			target = l
		}
	}
	nc := t.TransferByCaller(first.Call, first, events.CauseAttendedTransfer)
	second.Transferred = true
	second.Call.End = &events.Hangup{Cause: events.CauseAttendedTransfer, SIPCode: 200, By: events.Caller}
	if nc == nil || target == nil {
		return nil
	}
	nc.Engine.callerCause = -1
	return t.JoinAnswered(nc, target, at)
}

// queue routes c to the app_queue queue its Queue application's data
// names ("q800,,,,20"): routed_to is the queue's name, the stay is at the
// number the caller dialled.
func (t *tracker) queue(c *call, appData string, at time.Time) []events.Event {
	name, _, _ := strings.Cut(appData, ",")
	t.EnterQueue(c, c.Dest, at)
	return t.Route(c, at, &events.Target{Type: events.Queue, Target: cmp.Or(name, c.Dest)})
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

// hangup works out the cause, SIP code and party of a call's end. The
// cause of a call nobody answered comes from the Dial that decided it; the
// SIP code is what Asterisk says the caller's channel ended with
// (tech_cause), else 200 for an answered call, else what chan_pjsip sends
// for the caller's cause.
func hangup(c *call) *events.Hangup {
	if g := c.Engine.gapCause; g != "" {
		return &events.Hangup{Cause: g, By: callrules.HangupBy(g, "", c.Answered())}
	}
	code := c.Engine.callerCause
	if code < 0 {
		code = c.Engine.lastCause
	}
	cause := causeName(code)
	if c.Engine.shutdown {
		cause = events.CauseSystemShutdown
	} else if !c.Answered() {
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
	sip := c.Engine.callerTech
	switch {
	case sip != 0:
	case c.Answered():
		sip = 200
	case cause == events.CauseOriginatorCancel:
		sip = 487 // a CANCEL is always answered so (RFC 3261 9.2)
	default:
		sip = pjsipStatus(code)
	}
	return &events.Hangup{Cause: cause, SIPCode: sip, By: callrules.HangupBy(cause, c.By, c.Answered())}
}

// pjsipStatus is the SIP status chan_pjsip answers an unanswered channel
// with for a Q.850 cause (its hangup_cause2sip, 603 where that has none):
// what Asterisk sent when it did not report tech_cause.
func pjsipStatus(cause int) int {
	switch cause {
	case 1, 2, 3:
		return 404
	case 34, 42, 66:
		return 503
	case 18:
		return 408
	case 19, 20, 31:
		return 480
	case 21:
		return 403
	case 22:
		return 410
	case 28:
		return 484
	case 17:
		return 486
	case 38, 127:
		return 500
	case 29:
		return 501
	case 27:
		return 502
	case 58:
		return 488
	}
	return 603
}

// reconcile brings the calls up to date with live, Asterisk's channels
// listed on this connection (channels reported by an event on this
// connection count as live too): a channel gone was destroyed while the
// connector was away, at the time and with the cause gap tells; one still
// there gets the ring or answer it missed; one never seen is adopted.
func (t *tracker) reconcile(live map[string]liveChannel, gap calltrack.Gap, now time.Time) []events.Event {
	listed := func(id string) (calltrack.Channel, bool) { ch, ok := live[id]; return ch.Channel, ok }
	out := t.Reconcile(listed, now, func(l *leg) []events.Event {
		c := l.Call
		at, cause := gap.End(c)
		if l.Caller || len(slices.Collect(c.Legs())) == 1 && c.Engine.callerCause < 0 {
			// The caller's end went unseen: nothing is left to tell how
			// the call ended.
			c.Engine.gapCause = cause
		}
		return t.drop(l, 0, at)
	})
	return append(out, t.adopt(live, now)...)
}

// adopt takes up the channels Asterisk has that the connector never saw
// (it started, or came back, in the middle of their calls). Channels in one
// bridge are one call, whose caller is the oldest; a channel in no bridge
// is a call of its own when it runs a dialplan application (a caller, say
// in an IVR or a queue), else its own events will tell. Each call is
// routed when its caller was created, then gets the answer its channels'
// state shows. A call never starts with anything but CALL_ROUTED.
func (t *tracker) adopt(live map[string]liveChannel, now time.Time) []events.Event {
	chans := slices.SortedFunc(maps.Values(live), func(a, b liveChannel) int {
		return cmp.Or(a.Created.Compare(b.Created), strings.Compare(a.channel.ID, b.channel.ID))
	})
	var out []events.Event
	byBridge := map[string]*call{}
	var answered []*leg
	for _, ch := range chans {
		if t.Leg(ch.channel.ID) != nil || t.EndedLeg(ch.channel.ID) {
			continue
		}
		at := cmp.Or(ch.Created, now)
		if c := byBridge[ch.bridge]; c != nil && ch.bridge != "" {
			l := &leg{ID: ch.channel.ID, Name: ch.Name, Number: ch.Caller.Number, Seen: true}
			if n := ch.Connected.Number; n != "" && ch.Caller.Number == c.Caller {
				l.Number = n
			}
			t.Join(c, l)
			if ch.Up {
				answered = append(answered, l)
			}
			continue
		}
		if ch.bridge == "" && (ch.Dialplan.AppName == "" || ch.State != "Up" && ch.State != "Ring") {
			continue
		}
		l := t.leg(&ch.channel)
		c := l.Call
		if ch.bridge != "" {
			byBridge[ch.bridge] = c
		}
		var to *events.Target
		if strings.EqualFold(ch.Dialplan.AppName, "Dial") {
			to = dialTarget(ch.Dialplan.AppName, ch.Dialplan.AppData, "", c.Dest)
		}
		out = append(out, t.Route(c, at, to)...)
		if ch.Up {
			answered = append(answered, l)
		}
	}
	// Callees first: a caller whose call has a callee was answered by it.
	slices.SortStableFunc(answered, func(a, b *leg) int {
		if a.Caller == b.Caller {
			return 0
		}
		if a.Caller {
			return 1
		}
		return -1
	})
	for _, l := range answered {
		out = append(out, t.answer(l, now)...)
	}
	return out
}
