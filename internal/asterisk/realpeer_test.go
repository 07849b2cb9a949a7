package asterisk

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/switchhook/switchhook/internal/connector/connectortest"
)

// recvField is the field the recorder added to each message.
var recvField = regexp.MustCompile(`, "_recv": [0-9.]+\}$`)

// realMessages reads a recording of a real Asterisk 22.10.1 (testdata/real,
// one WebSocket message a line as received) and returns the messages as
// Asterisk sent them: each line without the recorder's _recv field.
func realMessages(t testing.TB, name string) []string {
	t.Helper()
	var out []string
	for _, line := range realLines(t, name) {
		if !recvField.MatchString(line) {
			t.Fatalf("%s: a line without _recv: %.80s", name, line)
		}
		out = append(out, recvField.ReplaceAllString(line, "}"))
	}
	return out
}

// realLines reads the recording's lines as recorded.
func realLines(t testing.TB, name string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "real", name))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// realScenarios are the calls recorded from a real Asterisk (see
// testdata/real/README) and the events each must give.
var realScenarios = []struct {
	name string // the recording's prefix
	want []string
}{
	// Asterisk sends no ChannelDtmfReceived for the caller's digits here: a
	// plain Dial bridge passes DTMF natively.
	{"a", []string{
		"CALL_ROUTED 1001>1002 leg=1796390486.6 internal to=extension:1002",
		"CALL_RINGING 1001>1002 leg=1796390486.7 internal",
		"CALL_ANSWER 1001>1002 leg=1796390486.7 internal",
		"CALL_HOLD 1001>1002 leg=1796390486.6 internal caller",
		"CALL_UNHOLD 1001>1002 leg=1796390486.6 internal caller",
		"CALL_HANGUP 1001>1002 leg=1796390486.7 internal NORMAL_CLEARING 200 caller",
	}},
	{"b", []string{
		"CALL_ROUTED 1001>1002 leg=1796390495.8 internal to=extension:1002",
		"CALL_RINGING 1001>1002 leg=1796390495.9 internal",
		"CALL_ANSWER 1001>1002 leg=1796390495.9 internal",
		"CALL_HOLD 1001>1002 leg=1796390495.9 internal callee",
		"CALL_UNHOLD 1001>1002 leg=1796390495.9 internal callee",
		"CALL_INPUT 1001>1002 leg=1796390495.9 internal digit=5 160ms callee",
		"CALL_HANGUP 1001>1002 leg=1796390495.8 internal NORMAL_CLEARING 200 callee",
	}},
	{"c", []string{
		"CALL_ROUTED 1001>1002 leg=1796390507.10 internal to=extension:1002",
		"CALL_HANGUP 1001>1002 leg=1796390507.10 internal USER_BUSY 486 callee",
	}},
	{"d", []string{
		"CALL_ROUTED 1001>1002 leg=1796390511.12 internal to=extension:1002",
		"CALL_RINGING 1001>1002 leg=1796390511.13 internal",
		"CALL_HANGUP 1001>1002 leg=1796390511.13 internal ORIGINATOR_CANCEL 487 caller",
	}},
	// Dial's NOANSWER decides the cause; the caller got 603, chan_pjsip's
	// answer to its cause 16 (the SIPp trace shows it).
	{"e", []string{
		"CALL_ROUTED 1001>1009 leg=1796390516.14 internal to=extension:1002",
		"CALL_RINGING 1001>1002 leg=1796390516.15 internal",
		"CALL_HANGUP 1001>1009 leg=1796390516.14 internal NO_ANSWER 603 system",
	}},
}

// Each recorded call, replayed as Asterisk sent it, gives its events.
func TestRealAsterisk(t *testing.T) {
	t.Parallel()
	for _, sc := range realScenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			sink := replay(t, realMessages(t, sc.name+"-ari.jsonl")...)
			got := sink.Wait(t, len(sc.want))
			assertEvents(t, got, sc.want)
			assertOneCall(t, got, "asterisk/ast1")
			// SIPp's From is "1001" <sip:1001@…>: a display name, sent.
			if got[0].CallerIDName != "1001" {
				t.Errorf("caller_id_name %q, want 1001", got[0].CallerIDName)
			}
		})
	}
}

// caller_id_name is the caller channel's caller.name, which PJSIP leaves
// empty when the caller's From has no display name.
func TestRealCallerName(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"Alice Smith", ""} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var msgs []string
			for _, m := range realMessages(t, "a-ari.jsonl") {
				msgs = append(msgs, strings.ReplaceAll(m, `"caller": {"name": "1001", "number": "1001"}`, `"caller": {"name": "`+name+`", "number": "1001"}`))
			}
			sink := replay(t, msgs...)
			got := sink.WaitHangup(t)
			assertOneCall(t, got, "asterisk/ast1")
			if got[0].CallerIDName != name {
				t.Errorf("caller_id_name %q, want %q", got[0].CallerIDName, name)
			}
		})
	}
}

// app_queue (recording f): 1001 dials 800 = Queue(q800), whose one member,
// PJSIP/1002, answers. One call, routed to the queue; the member rung and
// answering as an agent; every event carries the stay, the hangup its
// outcome.
func TestRealAsteriskQueue(t *testing.T) {
	t.Parallel()
	sink := replay(t, realMessages(t, "f-ari.jsonl")...)
	got := sink.Wait(t, 4)
	assertEvents(t, got, []string{
		"CALL_ROUTED 1001>800 leg=1796390555.16 internal to=queue:q800",
		"CALL_RINGING 1001>1002 leg=1796390555.17 internal",
		"CALL_ANSWER 1001>1002 leg=1796390555.17 internal",
		"CALL_HANGUP 1001>1002 leg=1796390555.17 internal NORMAL_CLEARING 200 caller",
	})
	assertOneCall(t, got, "asterisk/ast1")
	connectortest.AssertQueued(t, got, "800", got[1:3])
	if q := got[3].Queue; q.Outcome != "answered" || q.Wait != got[2].Queue.Wait {
		t.Errorf("hangup's queue %+v, want answered after the wait the answer gave (%d s)", q, got[2].Queue.Wait)
	}
}

// Recording r3: "core restart now" with a call up. Asterisk hangs every
// channel up as it shuts down (soft hangup requests with its shutdown
// flag): one CALL_HANGUP, SYSTEM_SHUTDOWN by the system, the BYE it sent.
func TestRealCoreRestart(t *testing.T) {
	t.Parallel()
	sink := replay(t, realMessages(t, "r3-core-restart-now-ari.jsonl")...)
	got := sink.Wait(t, 4)
	assertEvents(t, got, []string{
		"CALL_ROUTED 1001>1002 leg=1796393317.12020 internal to=extension:1002",
		"CALL_RINGING 1001>1002 leg=1796393317.12021 internal",
		"CALL_ANSWER 1001>1002 leg=1796393317.12021 internal",
		"CALL_HANGUP 1001>1002 leg=1796393317.12020 internal SYSTEM_SHUTDOWN 200 system",
	})
	assertOneCall(t, got, "asterisk/ast1")
}

// replay runs a connector against a new stand-in, sends msgs on its event
// connection and returns what the connector emits.
func replay(t *testing.T, msgs ...string) *connectortest.Collector {
	t.Helper()
	a := startFakeAsterisk(t, "u", "p")
	sink := &connectortest.Collector{}
	runConnector(t, "ast1", a, sink)
	a.next(t).send(msgs...)
	return sink
}
