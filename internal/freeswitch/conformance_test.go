package freeswitch

import (
	"strings"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/conformance"
	"github.com/switchhook/switchhook/internal/connector/connectortest"
	"github.com/switchhook/switchhook/internal/events"
)

// recorded plays the conformance suite from recordings of a real
// FreeSWITCH 1.10, replayed through the stand-in.
type recorded struct{}

// recordings names the recording of each scenario's call.
var recordings = map[string]string{
	"callee-hold-digit": "b", "caller-digits-hold": "a", "busy": "c", "cancel": "d", "no-answer": "e", "engine-restart": "r1-freeswitch-kill",
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
	}
	switch scenario {
	case "ivr":
		// Recording h: 1010 runs play_and_get_digits, 2 transfers to
		// 1002; the caller's digits lasted 100 and 250 ms.
		return play(t, "h"), map[string]string{"d1": "100", "d2": "250"}, true
	case "ring-group":
		return ringGroup(t), nil, true
	}
	if scenario == "queue-music-answered" {
		// Recording g: 800 answers, then callcenter q800; the caller
		// hangs up.
		return play(t, "g"), map[string]string{"dialled": "800", "queue": "q800", "by": "caller"}, true
	}
	name, ok := recordings[scenario]
	if !ok {
		return nil, nil, false
	}
	fs := startFakeFS(t, "ClueCon")
	sink := &connectortest.Collector{}
	runConnector(t, "fs1", fs, sink)
	fs.next(t).send(realEvents(t, name+"-esl.jsonl")...)
	if scenario == "engine-restart" {
		// The recording ends as FreeSWITCH was killed, the call up.
		sink.Wait(t, 3)
		fs.restart()
	}
	sink.WaitHangup(t)
	// 1009 is a dialplan entry ringing 1002 with a 4 s call_timeout; the
	// caller got 480.
	// a's digits lasted 100 and 250 ms (DTMF-Duration 800 and 2000).
	return sink.Events(), map[string]string{"dialled": "1009", "sip": "480", "d1": "100", "d2": "250"}, true
}

// The FreeSWITCH connector passes the conformance suite.
func TestConformance(t *testing.T) {
	conformance.Run(t, recorded{})
}

// play replays recording name and returns its events once the call hung
// up.
func play(t *testing.T, name string) []events.Event {
	sink := replay(t, realEvents(t, name+"-esl.jsonl")...)
	return sink.WaitHangup(t)
}

// split cuts recording b (1002 answers, holds, sends a digit, hangs up)
// before the first CHANNEL_ANSWER, and after the second (both legs up),
// with the rows FreeSWITCH lists once both legs are up.
func split(t *testing.T) (ringing, after []string, up []fakeChannel) {
	evs := realEvents(t, "b-esl.jsonl")
	var answers []int
	for i, ev := range evs {
		if strings.Contains(ev, "Event-Name: CHANNEL_ANSWER") {
			answers = append(answers, i)
		}
	}
	const a, b = "10ace087-656e-4fad-b47b-b5fce197a245", "b3210502-b363-42e1-b42b-0783416548b2"
	return evs[:answers[0]], evs[answers[1]+1:], []fakeChannel{
		{UUID: a, CallState: "ACTIVE", CIDNum: "1001", Dest: "1002"},
		{UUID: b, Direction: "outbound", CallState: "ACTIVE", CallUUID: a, CIDNum: "1001", Dest: "1002"},
	}
}

// restartMidCall stops the connector (switchhook) while the callee rings
// and starts a new one, given the call as the recorder keeps it, once the
// callee answered.
func restartMidCall(t *testing.T) []events.Event {
	ringing, after, up := split(t)
	fs := startFakeFS(t, "ClueCon")
	before := &connectortest.Collector{}
	stop := connectortest.Start(t, newTestConnector(t, fs), before)
	fs.next(t).send(ringing...)
	first := before.Wait(t, 2)
	stop()
	fs.setChannelRows(up...)
	sink := &connectortest.Remembering{}
	sink.Remember(first)
	connectortest.Run(t, newTestConnector(t, fs), sink)
	fs.next(t).send(after...)
	sink.WaitHangup(t)
	return append(first, sink.Events()...)
}

// reconnectMidCall cuts the connection once the call is answered.
func reconnectMidCall(t *testing.T) []events.Event {
	_, after, up := split(t)
	evs := realEvents(t, "b-esl.jsonl")
	fs := startFakeFS(t, "ClueCon")
	sink := &connectortest.Collector{}
	runConnector(t, "fs1", fs, sink)
	conn := fs.next(t)
	conn.send(evs[:len(evs)-len(after)]...)
	sink.Wait(t, 3)
	fs.setChannelRows(up...)
	conn.conn.Close()
	fs.next(t).send(after...)
	sink.WaitHangup(t)
	return sink.Events()
}

// newTestConnector is a connector to fs with test timings.
func newTestConnector(t *testing.T, fs *fakeFS) *Connector {
	c := New(Config{Name: "fs1", Address: fs.addr, Password: fs.password}, connectortest.Logger(t), nil)
	c.link.MinBackoff, c.link.MaxBackoff = 10*time.Millisecond, 50*time.Millisecond
	return c
}

// blindTransferOfHeldCall sends, through the stand-in, what FreeSWITCH
// sends for a blind transfer by the callee as its events are documented
// (no recording of a transfer exists): 1002's leg answers, holds, sends
// REFER (sofia::transferor) and leaves; the A-leg bridges to 1003.
func blindTransferOfHeldCall(t *testing.T) []events.Event {
	const a, b, c = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222", "33333333-3333-4333-8333-333333333333"
	return playESL(t, 1, append(eslAnswered(a, b, "1001", "1002", false), [][]string{
		{"CHANNEL_HOLD", b},
		{"CUSTOM", b, "Event-Subclass: sofia%3A%3Atransferor"},
		{"CHANNEL_HANGUP_COMPLETE", b, "Hangup-Cause: NORMAL_CLEARING", "variable_sip_hangup_disposition: recv_bye"},
		{"CHANNEL_EXECUTE", a, "Application: bridge", "Application-Data: user/1003%40d", "Caller-Destination-Number: 1003"},
		{"CHANNEL_CREATE", c, "Call-Direction: outbound", "Other-Leg-Unique-ID: " + a, "Caller-Destination-Number: 1003"},
		{"CHANNEL_PROGRESS", c},
		{"CHANNEL_ANSWER", c},
		{"CHANNEL_HANGUP_COMPLETE", a, "Hangup-Cause: NORMAL_CLEARING", "variable_sip_hangup_disposition: recv_bye", "variable_sip_term_status: 200"},
		{"CHANNEL_HANGUP_COMPLETE", c, "Hangup-Cause: NORMAL_CLEARING", "variable_sip_hangup_disposition: send_bye"},
	}...))
}

// blindTransferByCaller: the caller's leg sends REFER (sofia::transferor)
// and leaves; its B-leg runs the dialplan to 1003, who answers and hangs
// up. As FreeSWITCH documents its events; no recording exists.
func blindTransferByCaller(t *testing.T) []events.Event {
	const a, b, c = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222", "33333333-3333-4333-8333-333333333333"
	return playESL(t, 2, append(eslAnswered(a, b, "1001", "1002", true), [][]string{
		{"CUSTOM", a, "Event-Subclass: sofia%3A%3Atransferor"},
		{"CHANNEL_HANGUP_COMPLETE", a, "Hangup-Cause: NORMAL_CLEARING", "variable_sip_hangup_disposition: recv_bye"},
		{"CHANNEL_EXECUTE", b, "Application: bridge", "Application-Data: user/1003%40d", "Caller-Destination-Number: 1003"},
		{"CHANNEL_CREATE", c, "Call-Direction: outbound", "Other-Leg-Unique-ID: " + b, "Caller-Destination-Number: 1003"},
		{"CHANNEL_PROGRESS", c},
		{"CHANNEL_ANSWER", c},
		{"CHANNEL_HANGUP_COMPLETE", c, "Hangup-Cause: NORMAL_CLEARING", "variable_sip_hangup_disposition: recv_bye"},
		{"CHANNEL_HANGUP_COMPLETE", b, "Hangup-Cause: NORMAL_CLEARING", "variable_sip_hangup_disposition: send_bye"},
	}...))
}

// attendedTransferByCallee: 1002's leg answers, holds; 1002 calls 1003,
// who answers, and sends REFER with Replaces on its leg of the first call.
// No recording of an attended transfer exists: this is the sequence
// mod_sofia's REFER handling (sofia_handle_sip_i_refer, an attended
// transfer whose consultation leg originated its bridge) and the bridge
// code send, derived from FreeSWITCH 1.10's source: sofia::replaced on
// the transferor's consultation leg, sofia::transferor on its leg of the
// first call naming the legs joined, sofia::transferee on the party who
// stays, which is parked on hold music until the consultation leg, sent a
// BYE, is gone and the held party is bridged to the target.
func attendedTransferByCallee(t *testing.T) []events.Event {
	const a, b, c, d = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222", "33333333-3333-4333-8333-333333333333", "44444444-4444-4444-8444-444444444444"
	evs := append(eslAnswered(a, b, "1001", "1002", false), []string{"CHANNEL_HOLD", b})
	evs = append(evs, eslAnswered(c, d, "1002", "1003", true)...)
	return playESL(t, 2, append(evs, [][]string{
		{"CUSTOM", c, "Event-Subclass: sofia%3A%3Areplaced", "att_xfer_replaced_by: " + a},
		{"CUSTOM", b, "Event-Subclass: sofia%3A%3Atransferor", "att_xfer_original_call_id: " + a, "att_xfer_destination_call_id: " + d, "att_xfer_destination_peer_uuid: " + c},
		{"CUSTOM", a, "Event-Subclass: sofia%3A%3Atransferee", "att_xfer_replaced_call_id: " + c},
		{"CHANNEL_EXECUTE", a, "Application: endless_playback", "Application-Data: local_stream%3A%2F%2Fmoh"},
		{"CHANNEL_EXECUTE", a, "Application: park"},
		{"CHANNEL_HANGUP_COMPLETE", c, "Hangup-Cause: NORMAL_CLEARING", "variable_sip_hangup_disposition: send_bye", "variable_endpoint_disposition: ATTENDED_TRANSFER"},
		{"CHANNEL_BRIDGE", a, "Bridge-A-Unique-ID: " + a, "Bridge-B-Unique-ID: " + d},
		{"CHANNEL_HANGUP_COMPLETE", b, "Hangup-Cause: NORMAL_CLEARING", "variable_sip_hangup_disposition: recv_bye"},
		{"CHANNEL_HANGUP_COMPLETE", a, "Hangup-Cause: NORMAL_CLEARING", "variable_sip_hangup_disposition: recv_bye", "variable_sip_term_status: 200"},
		{"CHANNEL_HANGUP_COMPLETE", d, "Hangup-Cause: NORMAL_CLEARING", "variable_sip_hangup_disposition: send_bye"},
	}...))
}

// attendedTransferByCaller: 1001 calls 1002, who rings and answers; 1001
// holds, calls 1003 and sends REFER with Replaces on the first call;
// mod_sofia joins 1002 and 1003, 1001's legs leave, 1002 hangs up. Derived
// from FreeSWITCH 1.10's source as attendedTransferByCallee.
func attendedTransferByCaller(t *testing.T) []events.Event {
	const a, b, a2, d = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222", "33333333-3333-4333-8333-333333333333", "44444444-4444-4444-8444-444444444444"
	evs := append(eslAnswered(a, b, "1001", "1002", true), []string{"CHANNEL_HOLD", a})
	evs = append(evs, eslAnswered(a2, d, "1001", "1003", true)...)
	return playESL(t, 3, append(evs, [][]string{
		{"CUSTOM", a2, "Event-Subclass: sofia%3A%3Areplaced", "att_xfer_replaced_by: " + b},
		{"CUSTOM", a, "Event-Subclass: sofia%3A%3Atransferor", "att_xfer_original_call_id: " + b, "att_xfer_destination_call_id: " + d, "att_xfer_destination_peer_uuid: " + a2},
		{"CUSTOM", b, "Event-Subclass: sofia%3A%3Atransferee", "att_xfer_replaced_call_id: " + a2},
		{"CHANNEL_HANGUP_COMPLETE", a2, "Hangup-Cause: NORMAL_CLEARING", "variable_sip_hangup_disposition: send_bye", "variable_endpoint_disposition: ATTENDED_TRANSFER"},
		{"CHANNEL_BRIDGE", b, "Bridge-A-Unique-ID: " + b, "Bridge-B-Unique-ID: " + d},
		{"CHANNEL_HANGUP_COMPLETE", a, "Hangup-Cause: NORMAL_CLEARING", "variable_sip_hangup_disposition: recv_bye"},
		{"CHANNEL_HANGUP_COMPLETE", b, "Hangup-Cause: NORMAL_CLEARING", "variable_sip_hangup_disposition: recv_bye", "variable_sip_term_status: 200"},
		{"CHANNEL_HANGUP_COMPLETE", d, "Hangup-Cause: NORMAL_CLEARING", "variable_sip_hangup_disposition: send_bye"},
	}...))
}

// ringGroup: 1001 dials 600, a bridge to user/1002 and user/1003 at once;
// both ring, 1003 answers, and FreeSWITCH hangs up the other leg with
// LOSE_RACE (marking it group_dial_status loser); 1001 hangs up. No
// recording exists: the sequence is switch_ivr_originate's for a bridge to
// several endpoints, as FreeSWITCH 1.10's source shows it.
func ringGroup(t *testing.T) []events.Event {
	const a, b, c = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222", "33333333-3333-4333-8333-333333333333"
	return playESL(t, 1, [][]string{
		{"CHANNEL_CREATE", a, "Call-Direction: inbound", "Caller-Caller-ID-Number: 1001", "Caller-Destination-Number: 600"},
		{"CHANNEL_EXECUTE", a, "Application: bridge", "Application-Data: user/1002%40d,user/1003%40d", "Caller-Destination-Number: 600"},
		{"CHANNEL_CREATE", b, "Call-Direction: outbound", "Other-Leg-Unique-ID: " + a, "Caller-Destination-Number: 1002"},
		{"CHANNEL_CREATE", c, "Call-Direction: outbound", "Other-Leg-Unique-ID: " + a, "Caller-Destination-Number: 1003"},
		{"CHANNEL_PROGRESS", b},
		{"CHANNEL_PROGRESS", c},
		{"CHANNEL_ANSWER", c},
		{"CHANNEL_HANGUP_COMPLETE", b, "Hangup-Cause: LOSE_RACE", "variable_sip_hangup_disposition: send_cancel", "variable_group_dial_status: loser"},
		{"CHANNEL_ANSWER", a},
		{"CHANNEL_HANGUP_COMPLETE", a, "Hangup-Cause: NORMAL_CLEARING", "variable_sip_hangup_disposition: recv_bye", "variable_sip_term_status: 200"},
		{"CHANNEL_HANGUP_COMPLETE", c, "Hangup-Cause: NORMAL_CLEARING", "variable_sip_hangup_disposition: send_bye"},
	})
}

// eslAnswered is playESL's rows for a call from extension from (inbound
// leg caller) bridged to extension to (outbound leg callee), whose leg
// answers, after CHANNEL_PROGRESS if it was rung, before the caller's.
func eslAnswered(caller, callee, from, to string, rung bool) [][]string {
	evs := [][]string{
		{"CHANNEL_CREATE", caller, "Call-Direction: inbound", "Caller-Caller-ID-Number: " + from, "Caller-Destination-Number: " + to},
		{"CHANNEL_EXECUTE", caller, "Application: bridge", "Application-Data: user/" + to + "%40d", "Caller-Destination-Number: " + to},
		{"CHANNEL_CREATE", callee, "Call-Direction: outbound", "Other-Leg-Unique-ID: " + caller, "Caller-Destination-Number: " + to},
	}
	if rung {
		evs = append(evs, []string{"CHANNEL_PROGRESS", callee})
	}
	return append(evs, []string{"CHANNEL_ANSWER", callee}, []string{"CHANNEL_ANSWER", caller})
}

// playESL sends evs (name, Unique-ID, then header lines, values
// URL-encoded) through the stand-in and returns the events once hangups
// calls have hung up.
func playESL(t *testing.T, hangups int, evs [][]string) []events.Event {
	var frames []string
	for _, ev := range evs {
		lines := append([]string{"Event-Name: " + ev[0], "Unique-ID: " + ev[1], "Event-Date-Timestamp: 1796586204000000"}, ev[2:]...)
		frames = append(frames, strings.Join(lines, "\n"))
	}
	sink := replay(t, frames...)
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

// A caller in a mod_fifo queue answered by an agent the module rang gives
// the suite's events for a queue that answers with music, as
// mod_callcenter's recording does.
func TestConformanceFifo(t *testing.T) {
	conformance.Compare(t, "queue-music-answered", fifoAnswered(t), map[string]string{"dialled": "800", "queue": "q800", "by": "caller"})
}

// fifoAnswered: 1001 dials 800, fifo q800 in (which answers the caller
// with music); the module's enterprise strategy rings member 1002 with no
// link to any caller (fifo_name in its variables), which answers and runs
// fifo q800 out wait: the consumer bridges itself to the caller
// (CHANNEL_BRIDGE); 1001 hangs up and the agent stays, waiting for the
// next caller. No recording exists: the sequence is mod_fifo's
// (o_thread_run, fifo_function) and the bridge's as FreeSWITCH 1.10's
// source shows them.
func fifoAnswered(t *testing.T) []events.Event {
	const a, m = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
	return playESL(t, 1, [][]string{
		{"CHANNEL_CREATE", a, "Call-Direction: inbound", "Caller-Caller-ID-Number: 1001", "Caller-Destination-Number: 800"},
		{"CHANNEL_EXECUTE", a, "Application: fifo", "Application-Data: q800%20in", "Caller-Destination-Number: 800"},
		{"CHANNEL_ANSWER", a, "Caller-Destination-Number: 800"},
		{"CUSTOM", a, "Event-Subclass: fifo%3A%3Ainfo", "FIFO-Name: q800", "FIFO-Action: push"},
		{"CHANNEL_CREATE", m, "Call-Direction: outbound", "Channel-Call-UUID: " + m, "Caller-Caller-ID-Number: Queue%3A%20q800", "Caller-Destination-Number: 1002", "variable_fifo_name: q800", "variable_fifo_hangup_check: q800"},
		{"CHANNEL_PROGRESS", m},
		{"CHANNEL_ANSWER", m},
		{"CHANNEL_EXECUTE", m, "Application: fifo", "Application-Data: q800%20out%20wait"},
		{"CUSTOM", m, "Event-Subclass: fifo%3A%3Ainfo", "FIFO-Name: q800", "FIFO-Action: bridge-consumer-start"},
		{"CUSTOM", a, "Event-Subclass: fifo%3A%3Ainfo", "FIFO-Name: q800", "FIFO-Action: bridge-caller-start"},
		{"CHANNEL_BRIDGE", m, "Bridge-A-Unique-ID: " + m, "Bridge-B-Unique-ID: " + a},
		{"CHANNEL_UNBRIDGE", m, "Bridge-A-Unique-ID: " + m, "Bridge-B-Unique-ID: " + a},
		{"CHANNEL_HANGUP_COMPLETE", a, "Hangup-Cause: NORMAL_CLEARING", "variable_sip_hangup_disposition: recv_bye", "variable_sip_term_status: 200"},
	})
}
