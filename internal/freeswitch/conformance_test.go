package freeswitch

import (
	"testing"

	"github.com/switchhook/switchhook/internal/conformance"
	"github.com/switchhook/switchhook/internal/connector/connectortest"
	"github.com/switchhook/switchhook/internal/events"
)

// recorded plays the conformance suite from recordings of a real
// FreeSWITCH 1.10, replayed through the stand-in.
type recorded struct{}

// recordings names the recording of each scenario's call.
var recordings = map[string]string{
	"callee-hold-digit": "b", "busy": "c", "cancel": "d", "no-answer": "e", "engine-restart": "r1-freeswitch-kill",
}

func (recorded) Play(t *testing.T, scenario string) ([]events.Event, map[string]string, bool) {
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
	connectortest.WaitFor(t, "the call's hangup", func() bool {
		evs := sink.Events()
		return len(evs) > 0 && evs[len(evs)-1].Kind == events.CallHangup
	})
	// 1009 is a dialplan entry ringing 1002 with a 4 s call_timeout; the
	// caller got 480.
	return sink.Events(), map[string]string{"dialled": "1009", "sip": "480"}, true
}

// The FreeSWITCH connector passes the conformance suite.
func TestConformance(t *testing.T) {
	conformance.Run(t, recorded{})
}
