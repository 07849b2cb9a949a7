package asterisk

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/conformance"
	"github.com/switchhook/switchhook/internal/connector/connectortest"
	"github.com/switchhook/switchhook/internal/events"
)

// recorded plays the conformance suite from recordings of a real
// Asterisk 22, replayed through the stand-in.
type recorded struct{}

// recordings names the recording of each scenario's call. Recording a has
// no caller-digits-hold: with a plain Dial bridge Asterisk passes DTMF
// natively and reports none.
var recordings = map[string]string{
	"callee-hold-digit": "b", "busy": "c", "cancel": "d", "no-answer": "e", "engine-restart": "r1-asterisk-kill",
}

func (recorded) Play(t *testing.T, scenario string) ([]events.Event, map[string]string, bool) {
	switch scenario {
	case "switchhook-restart":
		return restartMidCall(t), nil, true
	case "reconnect":
		return reconnectMidCall(t), nil, true
	case "blind-transfer-held":
		return blindTransferOfHeldCall(t), nil, true
	case "blind-transfer-by-caller":
		return blindTransferByCaller(t), nil, true
	case "attended-transfer-by-callee":
		return attendedTransferByCallee(t), nil, true
	case "attended-transfer-by-caller":
		return attendedTransferByCaller(t), nil, true
	case "ivr":
		t.Skip("no recording of an Asterisk IVR call exists: the real Asterisk recordings have none")
	case "ring-group":
		return ringGroup(t), nil, true
	}
	if scenario == "queue-ringback-answered" {
		// Recording f: 800 is Queue(q800), its member PJSIP/1002
		// answers; the caller hangs up.
		sink := replay(t, realMessages(t, "f-ari.jsonl")...)
		return sink.WaitHangup(t), map[string]string{"dialled": "800", "queue": "q800", "by": "caller"}, true
	}
	name, ok := recordings[scenario]
	if !ok {
		return nil, nil, false
	}
	a := startFakeAsterisk(t, "u", "p")
	sink := &connectortest.Collector{}
	runConnector(t, "ast1", a, sink)
	a.next(t).send(realMessages(t, name+"-ari.jsonl")...)
	if scenario == "engine-restart" {
		// The recording ends as Asterisk was killed, the call up.
		sink.Wait(t, 3)
		a.restart()
	}
	sink.WaitHangup(t)
	// 1009 is Dial(PJSIP/1002,4); chan_pjsip answered the caller's cause
	// 16 with 603 (the SIPp trace shows it).
	return sink.Events(), map[string]string{"dialled": "1009", "sip": "603"}, true
}

// The Asterisk connector passes the conformance suite.
func TestConformance(t *testing.T) {
	conformance.Run(t, recorded{})
}

// split cuts recording b (1002 answers, holds, sends a digit, hangs up)
// before the callee's channel is Up, and after the caller's is, with the
// channels Asterisk lists once both are up.
func split(t *testing.T) (ringing, after []string, up []fakeChannel) {
	msgs := realMessages(t, "b-ari.jsonl")
	answer := slices.IndexFunc(msgs, func(m string) bool {
		return strings.Contains(m, `"type": "ChannelStateChange"`) && strings.Contains(m, `"id": "1796390495.9"`) && strings.Contains(m, `"state": "Up"`)
	})
	callerUp := slices.IndexFunc(msgs, func(m string) bool {
		return strings.Contains(m, `"type": "ChannelStateChange"`) && strings.Contains(m, `"id": "1796390495.8"`) && strings.Contains(m, `"state": "Up"`)
	})
	return msgs[:answer], msgs[callerUp+1:], []fakeChannel{
		{ID: "1796390495.8", Name: "PJSIP/1001-00000008"},
		{ID: "1796390495.9", Name: "PJSIP/1002-00000009", Caller: "1001"},
	}
}

// restartMidCall stops the connector (switchhook) while the callee rings
// and starts a new one, given the call as the recorder keeps it, once the
// callee answered.
func restartMidCall(t *testing.T) []events.Event {
	ringing, after, up := split(t)
	a := startFakeAsterisk(t, "u", "p")
	before := &connectortest.Collector{}
	stop := connectortest.Start(t, newTestConnector(t, a), before)
	a.next(t).send(ringing...)
	first := before.Wait(t, 2)
	stop()
	a.setChannelRows(map[string][]string{"b1": {"1796390495.8", "1796390495.9"}}, up...)
	sink := &connectortest.Remembering{}
	sink.Remember(first)
	connectortest.Run(t, newTestConnector(t, a), sink)
	conn := a.next(t)
	connectortest.WaitFor(t, "the missed answer", func() bool { return len(sink.Events()) == 1 })
	conn.send(after...)
	sink.WaitHangup(t)
	return append(first, sink.Events()...)
}

// reconnectMidCall cuts the connection once the call is answered.
func reconnectMidCall(t *testing.T) []events.Event {
	_, after, up := split(t)
	msgs := realMessages(t, "b-ari.jsonl")
	a := startFakeAsterisk(t, "u", "p")
	sink := &connectortest.Collector{}
	runConnector(t, "ast1", a, sink)
	conn := a.next(t)
	conn.send(msgs[:len(msgs)-len(after)]...)
	sink.Wait(t, 3)
	a.setChannelRows(map[string][]string{"b1": {"1796390495.8", "1796390495.9"}}, up...)
	conn.ws.CloseNow()
	a.next(t).send(after...)
	sink.WaitHangup(t)
	return sink.Events()
}

// newTestConnector is a connector to a with test timings.
func newTestConnector(t *testing.T, a *fakeAsterisk) *Connector {
	c := New(Config{Name: "ast1", URL: a.url(), Username: a.user, Password: a.pass}, connectortest.Logger(t), nil)
	c.link.MinBackoff, c.link.MaxBackoff = 10*time.Millisecond, 50*time.Millisecond
	return c
}

// playARI sends evs as ARI messages through the stand-in and returns the
// events once a call has hung up and then hangups stop coming (10 ms).
func playARI(t *testing.T, evs []*ariEvent, hangups int) []events.Event {
	var msgs []string
	for _, ev := range evs {
		ev.Timestamp = "2026-12-06T19:40:00.000+0000"
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, string(b))
	}
	sink := replay(t, msgs...)
	connectortest.WaitFor(t, "the calls' hangups", func() bool {
		n := 0
		for _, e := range sink.Events() {
			if e.Kind == events.CallHangup {
				n++
			}
		}
		return n >= hangups
	})
	return sink.Events()
}

// blindTransferByCaller: 1001 transfers 1002 to 1003 (BridgeBlindTransfer
// on 1001's channel) and leaves; 1002's channel dials 1003, who answers
// and hangs up. As ARI documents the events; no recording exists.
func blindTransferByCaller(t *testing.T) []events.Event {
	a, b, c := ch("1.1", "PJSIP/1001-1", "Ring", "1001", "1002"), ch("1.2", "PJSIP/1002-2", "Down", "1001", "s"), ch("1.3", "PJSIP/1003-3", "Down", "1002", "s")
	a.Dialplan.AppName, a.Dialplan.AppData = "Dial", "PJSIP/1002,15"
	bDials := withState(b, "Up")
	bDials.Dialplan.Exten, bDials.Dialplan.AppName, bDials.Dialplan.AppData = "1003", "Dial", "PJSIP/1003,15"
	return playARI(t, slices.Concat(dialAnswered(a, b, "1002", true), []*ariEvent{
		{Type: "BridgeBlindTransfer", Channel: a, Transferee: b, Result: "Success"},
		{Type: "ChannelHangupRequest", Channel: a, Cause: 16},
		{Type: "ChannelDestroyed", Channel: a, Cause: 16},
	}, dialsNew(bDials, c, "1003"), []*ariEvent{
		{Type: "ChannelHangupRequest", Channel: c, Cause: 16},
		{Type: "ChannelDestroyed", Channel: c, Cause: 16},
		{Type: "ChannelDestroyed", Channel: b, Cause: 16},
	}), 2)
}

// attendedTransferByCallee: 1002 answers, holds, calls 1003 from a second
// channel, and joins 1001 and 1003 (BridgeAttendedTransfer); both of its
// channels leave, 1001 hangs up. As ARI documents the events; no recording
// exists.
func attendedTransferByCallee(t *testing.T) []events.Event {
	a, b := ch("1.1", "PJSIP/1001-1", "Ring", "1001", "1002"), ch("1.2", "PJSIP/1002-2", "Down", "1001", "s")
	b2, c := ch("1.3", "PJSIP/1002-3", "Ring", "1002", "1003"), ch("1.4", "PJSIP/1003-4", "Down", "1002", "s")
	a.Dialplan.AppName, a.Dialplan.AppData = "Dial", "PJSIP/1002,15"
	b2.Dialplan.AppName, b2.Dialplan.AppData = "Dial", "PJSIP/1003,15"
	evs := append(dialAnswered(a, b, "1002", false), &ariEvent{Type: "ChannelHold", Channel: b})
	evs = append(evs, dialAnswered(b2, c, "1003", true)...)
	return playARI(t, append(evs, []*ariEvent{
		{Type: "BridgeAttendedTransfer", TransfererFirstLeg: b, TransfererSecondLeg: b2, Transferee: a, TransferTarget: c, Result: "Success"},
		{Type: "ChannelHangupRequest", Channel: b, Cause: 16},
		{Type: "ChannelDestroyed", Channel: b, Cause: 16},
		{Type: "ChannelHangupRequest", Channel: b2, Cause: 16},
		{Type: "ChannelDestroyed", Channel: b2, Cause: 16},
		{Type: "ChannelHangupRequest", Channel: a, Cause: 16},
		{Type: "ChannelDestroyed", Channel: a, Cause: 16},
		{Type: "ChannelDestroyed", Channel: c, Cause: 16},
	}...), 2)
}

// attendedTransferByCaller: 1001 calls 1002, who rings and answers; 1001
// holds, calls 1003 from a second channel and joins them
// (BridgeAttendedTransfer, its first leg 1001's first channel); both of
// 1001's channels leave, 1002 hangs up. As ARI documents the events; no
// recording exists.
func attendedTransferByCaller(t *testing.T) []events.Event {
	a, b := ch("1.1", "PJSIP/1001-1", "Ring", "1001", "1002"), ch("1.2", "PJSIP/1002-2", "Down", "1001", "s")
	a2, c := ch("1.3", "PJSIP/1001-3", "Ring", "1001", "1003"), ch("1.4", "PJSIP/1003-4", "Down", "1001", "s")
	a.Dialplan.AppName, a.Dialplan.AppData = "Dial", "PJSIP/1002,15"
	a2.Dialplan.AppName, a2.Dialplan.AppData = "Dial", "PJSIP/1003,15"
	evs := append(dialAnswered(a, b, "1002", true), &ariEvent{Type: "ChannelHold", Channel: a})
	evs = append(evs, dialAnswered(a2, c, "1003", true)...)
	return playARI(t, append(evs,
		&ariEvent{Type: "BridgeAttendedTransfer", TransfererFirstLeg: a, TransfererSecondLeg: a2, Transferee: b, TransferTarget: c, Result: "Success"},
		&ariEvent{Type: "ChannelHangupRequest", Channel: a, Cause: 16, Soft: true},
		&ariEvent{Type: "ChannelDestroyed", Channel: a, Cause: 16},
		&ariEvent{Type: "ChannelHangupRequest", Channel: a2, Cause: 16, Soft: true},
		&ariEvent{Type: "ChannelDestroyed", Channel: a2, Cause: 16},
		&ariEvent{Type: "ChannelHangupRequest", Channel: b, Cause: 16},
		&ariEvent{Type: "ChannelDestroyed", Channel: b, Cause: 16},
		&ariEvent{Type: "ChannelDestroyed", Channel: c, Cause: 16},
	), 3)
}

// ringGroup: 1001 dials 600, Dial(PJSIP/1002&PJSIP/1003,15); both ring,
// 1003 answers, app_dial hangs up the other itself (hanguptree: Dial
// status CANCEL, no hangup request, cause 26 ANSWERED_ELSEWHERE); 1001
// hangs up. No recording exists: the sequence is
// app_dial's, as Asterisk 22's source shows it.
func ringGroup(t *testing.T) []events.Event {
	a, b, c := ch("1.1", "PJSIP/1001-1", "Ring", "1001", "600"), ch("1.2", "PJSIP/1002-2", "Down", "1001", "s"), ch("1.3", "PJSIP/1003-3", "Down", "1001", "s")
	a.Dialplan.AppName, a.Dialplan.AppData = "Dial", "PJSIP/1002&PJSIP/1003,15"
	return playARI(t, []*ariEvent{
		{Type: "ChannelCreated", Channel: a},
		{Type: "ChannelCreated", Channel: b},
		{Type: "Dial", Caller: a, Peer: b, Dialstring: "1002"},
		{Type: "ChannelCreated", Channel: c},
		{Type: "Dial", Caller: a, Peer: c, Dialstring: "1003"},
		{Type: "ChannelStateChange", Channel: withState(b, "Ringing")},
		{Type: "Dial", Caller: a, Peer: b, Dialstring: "1002", Dialstatus: "RINGING"},
		{Type: "ChannelStateChange", Channel: withState(c, "Ringing")},
		{Type: "Dial", Caller: a, Peer: c, Dialstring: "1003", Dialstatus: "RINGING"},
		{Type: "ChannelStateChange", Channel: withState(c, "Up")},
		{Type: "Dial", Caller: a, Peer: c, Dialstring: "1003", Dialstatus: "ANSWER"},
		{Type: "Dial", Caller: a, Peer: b, Dialstring: "1002", Dialstatus: "CANCEL"},
		{Type: "ChannelDestroyed", Channel: b, Cause: 26, CauseTxt: "Answered elsewhere", TechCause: 487},
		{Type: "ChannelStateChange", Channel: withState(a, "Up")},
		{Type: "ChannelHangupRequest", Channel: a, Cause: 16},
		{Type: "ChannelDestroyed", Channel: a, Cause: 16},
		{Type: "ChannelDestroyed", Channel: c, Cause: 16},
	}, 1)
}

// blindTransferOfHeldCall sends, through the stand-in, what Asterisk sends
// for a blind transfer by the callee as ARI documents its events (no
// recording of a transfer exists): 1002 answers, holds, transfers 1001 to
// 1003 (BridgeBlindTransfer), leaves; 1001's channel dials 1003.
func blindTransferOfHeldCall(t *testing.T) []events.Event {
	a, b, c := ch("1.1", "PJSIP/1001-1", "Ring", "1001", "1002"), ch("1.2", "PJSIP/1002-2", "Down", "1001", "s"), ch("1.3", "PJSIP/1003-3", "Down", "1001", "s")
	a.Dialplan.AppName, a.Dialplan.AppData = "Dial", "PJSIP/1002,15"
	return playARI(t, slices.Concat(dialAnswered(a, b, "1002", false), []*ariEvent{
		{Type: "ChannelHold", Channel: b},
		{Type: "BridgeBlindTransfer", Channel: b, Transferee: a, Result: "Success"},
		{Type: "ChannelHangupRequest", Channel: b, Cause: 16},
		{Type: "ChannelDestroyed", Channel: b, Cause: 16},
	}, dialsNew(a, c, "1003"), []*ariEvent{
		{Type: "ChannelHangupRequest", Channel: a, Cause: 16},
		{Type: "ChannelDestroyed", Channel: a, Cause: 16},
		{Type: "ChannelDestroyed", Channel: c, Cause: 16},
	}), 1)
}

// Transfers that an ARI application carries out (PJSIP's
// transfer_handling = ari-only: Asterisk reports the REFER as
// ChannelTransfer and leaves the transfer to the application) give the
// suite's events as the transfers Asterisk makes itself do.
func TestConformanceARITransfers(t *testing.T) {
	for name, play := range map[string]func(*testing.T) []events.Event{
		"blind-transfer-held": ariBlindTransferOfHeldCall, "attended-transfer-by-callee": ariAttendedTransferByCallee,
	} {
		t.Run(name, func(t *testing.T) { conformance.Compare(t, name, play(t), nil) })
	}
}

// inStasis is a channel an ARI application drives: it runs Stasis(app),
// and the application creates and dials the channels it calls.
func inStasis(c *channel) *channel {
	c.Dialplan.AppName, c.Dialplan.AppData = "Stasis", "app"
	return c
}

// ariBlindTransferOfHeldCall: the application dials 1002 for 1001 (Dial
// naming 1001's channel as the caller); 1002 answers, holds and sends
// REFER to 1003: ChannelTransfer, a request (no state) with the
// destination; the application dials 1003 for 1001 and reports progress,
// then success; 1002 leaves, 1001 hangs up. No recording exists: the events
// and their fields are those Asterisk 22's res_pjsip_refer (ari-only mode)
// and stasis_channels (ChannelTransfer's JSON) send, as its source shows.
func ariBlindTransferOfHeldCall(t *testing.T) []events.Event {
	a, b, c := inStasis(ch("1.1", "PJSIP/1001-1", "Ring", "1001", "1002")), ch("1.2", "PJSIP/1002-2", "Down", "1001", "s"), ch("1.3", "PJSIP/1003-3", "Down", "1001", "s")
	transfer := func(state string) *ariEvent {
		ev := &ariEvent{Type: "ChannelTransfer", State: state, ReferTo: &referTo{}, ReferredBy: &referredBy{SourceChannel: withState(b, "Up"), ConnectedChannel: withState(a, "Up")}}
		ev.ReferTo.RequestedDestination.Destination = "1003"
		return ev
	}
	return playARI(t, []*ariEvent{
		{Type: "ChannelCreated", Channel: a},
		{Type: "ChannelCreated", Channel: b},
		{Type: "Dial", Caller: a, Peer: b, Dialstring: "1002"},
		{Type: "Dial", Caller: a, Peer: b, Dialstring: "1002", Dialstatus: "ANSWER"},
		{Type: "ChannelStateChange", Channel: withState(b, "Up")},
		{Type: "ChannelStateChange", Channel: withState(a, "Up")},
		{Type: "ChannelHold", Channel: b},
		transfer(""),
		{Type: "ChannelCreated", Channel: c},
		{Type: "Dial", Caller: a, Peer: c, Dialstring: "1003"},
		{Type: "Dial", Caller: a, Peer: c, Dialstring: "1003", Dialstatus: "RINGING"},
		transfer("channel_progress"),
		{Type: "Dial", Caller: a, Peer: c, Dialstring: "1003", Dialstatus: "ANSWER"},
		{Type: "ChannelStateChange", Channel: withState(c, "Up")},
		transfer("channel_answered"),
		{Type: "ChannelHangupRequest", Channel: b, Cause: 16},
		{Type: "ChannelDestroyed", Channel: b, Cause: 16},
		{Type: "ChannelHangupRequest", Channel: a, Cause: 16},
		{Type: "ChannelDestroyed", Channel: a, Cause: 16},
		{Type: "ChannelDestroyed", Channel: c, Cause: 16},
	}, 1)
}

// ariAttendedTransferByCallee: 1002 answers, holds, calls 1003 from a
// second channel, and sends REFER with Replaces naming that call on its
// first: ChannelTransfer names the channel replaced (1002's second) and the
// one bridged to it (1003's); the application joins 1001 and 1003 and
// reports success (channel_answered); 1002's channels leave, 1001 hangs
// up. Derived from Asterisk 22's source, as ariBlindTransferOfHeldCall.
func ariAttendedTransferByCallee(t *testing.T) []events.Event {
	a, b := inStasis(ch("1.1", "PJSIP/1001-1", "Ring", "1001", "1002")), ch("1.2", "PJSIP/1002-2", "Down", "1001", "s")
	b2, c := inStasis(ch("1.3", "PJSIP/1002-3", "Ring", "1002", "1003")), ch("1.4", "PJSIP/1003-4", "Down", "1002", "s")
	transfer := func(state string) *ariEvent {
		ev := &ariEvent{Type: "ChannelTransfer", State: state,
			ReferTo:    &referTo{DestinationChannel: withState(b2, "Up"), ConnectedChannel: withState(c, "Up")},
			ReferredBy: &referredBy{SourceChannel: withState(b, "Up"), ConnectedChannel: withState(a, "Up")}}
		ev.ReferTo.RequestedDestination.ProtocolID = "consult-call-id@1002"
		return ev
	}
	return playARI(t, []*ariEvent{
		{Type: "ChannelCreated", Channel: a},
		{Type: "ChannelCreated", Channel: b},
		{Type: "Dial", Caller: a, Peer: b, Dialstring: "1002"},
		{Type: "Dial", Caller: a, Peer: b, Dialstring: "1002", Dialstatus: "ANSWER"},
		{Type: "ChannelStateChange", Channel: withState(b, "Up")},
		{Type: "ChannelStateChange", Channel: withState(a, "Up")},
		{Type: "ChannelHold", Channel: b},
		{Type: "ChannelCreated", Channel: b2},
		{Type: "ChannelCreated", Channel: c},
		{Type: "Dial", Caller: b2, Peer: c, Dialstring: "1003"},
		{Type: "Dial", Caller: b2, Peer: c, Dialstring: "1003", Dialstatus: "RINGING"},
		{Type: "Dial", Caller: b2, Peer: c, Dialstring: "1003", Dialstatus: "ANSWER"},
		{Type: "ChannelStateChange", Channel: withState(c, "Up")},
		{Type: "ChannelStateChange", Channel: withState(b2, "Up")},
		transfer(""),
		transfer("channel_answered"),
		{Type: "ChannelHangupRequest", Channel: b, Cause: 16},
		{Type: "ChannelDestroyed", Channel: b, Cause: 16},
		{Type: "ChannelHangupRequest", Channel: b2, Cause: 16},
		{Type: "ChannelDestroyed", Channel: b2, Cause: 16},
		{Type: "ChannelHangupRequest", Channel: a, Cause: 16},
		{Type: "ChannelDestroyed", Channel: a, Cause: 16},
		{Type: "ChannelDestroyed", Channel: c, Cause: 16},
	}, 2)
}

// dialAnswered is what Asterisk sends for a call from one channel that
// another answers: both channels created, app_dial's Dial events (RINGING
// among them if the callee was rung), then the callee's channel up and the
// caller's.
func dialAnswered(from, to *channel, number string, rung bool) []*ariEvent {
	evs := []*ariEvent{
		{Type: "ChannelCreated", Channel: from},
		{Type: "ChannelCreated", Channel: to},
		{Type: "Dial", Caller: from, Peer: to, Dialstring: number},
	}
	if rung {
		evs = append(evs, &ariEvent{Type: "Dial", Caller: from, Peer: to, Dialstring: number, Dialstatus: "RINGING"})
	}
	return append(evs,
		&ariEvent{Type: "Dial", Caller: from, Peer: to, Dialstring: number, Dialstatus: "ANSWER"},
		&ariEvent{Type: "ChannelStateChange", Channel: withState(to, "Up")},
		&ariEvent{Type: "ChannelStateChange", Channel: withState(from, "Up")})
}

// dialsNew is app_dial's events for a channel dialling a new one that rings
// and answers: the callee's channel created, the Dial events, the callee's
// channel up.
func dialsNew(from, to *channel, number string) []*ariEvent {
	return []*ariEvent{
		{Type: "ChannelCreated", Channel: to},
		{Type: "Dial", Caller: from, Peer: to, Dialstring: number},
		{Type: "Dial", Caller: from, Peer: to, Dialstring: number, Dialstatus: "RINGING"},
		{Type: "Dial", Caller: from, Peer: to, Dialstring: number, Dialstatus: "ANSWER"},
		{Type: "ChannelStateChange", Channel: withState(to, "Up")},
	}
}
