package asterisk

import (
	"testing"

	"github.com/switchhook/switchhook/internal/conformance"
	"github.com/switchhook/switchhook/internal/connector/connectortest"
	"github.com/switchhook/switchhook/internal/events"
)

// recorded plays the conformance suite from recordings of a real
// Asterisk 22, replayed through the stand-in.
type recorded struct{}

// recordings names the recording of each scenario's call.
var recordings = map[string]string{
	"callee-hold-digit": "b", "busy": "c", "cancel": "d", "no-answer": "e", "engine-restart": "r1-asterisk-kill",
}

func (recorded) Play(t *testing.T, scenario string) ([]events.Event, map[string]string, bool) {
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
	connectortest.WaitFor(t, "the call's hangup", func() bool {
		evs := sink.Events()
		return len(evs) > 0 && evs[len(evs)-1].Kind == events.CallHangup
	})
	// 1009 is Dial(PJSIP/1002,4); chan_pjsip answered the caller's cause
	// 16 with 603 (the SIPp trace shows it).
	return sink.Events(), map[string]string{"dialled": "1009", "sip": "603"}, true
}

// The Asterisk connector passes the conformance suite.
func TestConformance(t *testing.T) {
	conformance.Run(t, recorded{})
}
