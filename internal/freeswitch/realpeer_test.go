package freeswitch

import (
	"bufio"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/switchhook/switchhook/internal/connector/connectortest"
)

// realEvents reads a recording of a real FreeSWITCH 1.10.12
// (testdata/real, one event a line with its headers URL-decoded, as
// recorded on an inbound event socket) and returns each event as the
// fixtures spell one: its header lines, values URL-encoded as
// mod_event_socket sends them in text/event-plain, in the recorded order.
func realEvents(t testing.TB, name string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "real", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var headers map[string]any
		if err := json.Unmarshal(sc.Bytes(), &headers); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		delete(headers, "_recv") // the recorder's own receive time
		var lines []string
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range headers {
				if !yield(k) {
					return
				}
			}
		}) {
			v, ok := headers[k].(string)
			if !ok {
				b, _ := json.Marshal(headers[k])
				v = string(b)
			}
			lines = append(lines, k+": "+strings.ReplaceAll(url.PathEscape(v), "+", "%2B"))
		}
		out = append(out, strings.Join(lines, "\n"))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// realScenarios are the calls recorded from a real FreeSWITCH (see
// testdata/real/README) and the events each must give.
var realScenarios = []struct {
	name string // the recording's prefix
	what string
	want []string
}{
	{"a", "answered; caller DTMF 1 (800 samples) and # (2000); caller hold/unhold; caller BYE", []string{
		"CALL_ROUTED 1001>1002 leg=d3ccd349 internal to=extension:1002",
		"CALL_RINGING 1001>1002 leg=4a7e552f internal",
		"CALL_ANSWER 1001>1002 leg=4a7e552f internal",
		"CALL_INPUT 1001>1002 leg=d3ccd349 internal digit=1 100ms caller",
		"CALL_INPUT 1001>1002 leg=d3ccd349 internal digit=# 250ms caller",
		"CALL_HOLD 1001>1002 leg=d3ccd349 internal caller",
		"CALL_UNHOLD 1001>1002 leg=d3ccd349 internal caller",
		"CALL_HANGUP 1001>1002 leg=d3ccd349 internal NORMAL_CLEARING 200 caller",
	}},
	{"b", "callee hold/unhold, SIP INFO 5 (1280 samples), callee BYE", []string{
		"CALL_ROUTED 1001>1002 leg=10ace087 internal to=extension:1002",
		"CALL_RINGING 1001>1002 leg=b3210502 internal",
		"CALL_ANSWER 1001>1002 leg=b3210502 internal",
		"CALL_HOLD 1001>1002 leg=b3210502 internal callee",
		"CALL_UNHOLD 1001>1002 leg=b3210502 internal callee",
		"CALL_INPUT 1001>1002 leg=b3210502 internal digit=5 160ms callee",
		"CALL_HANGUP 1001>1002 leg=10ace087 internal NORMAL_CLEARING 200 callee",
	}},
	{"c", "the callee answers 486", []string{
		"CALL_ROUTED 1001>1002 leg=afd5a56a internal to=extension:1002",
		"CALL_HANGUP 1001>1002 leg=afd5a56a internal USER_BUSY 486 callee",
	}},
	{"d", "the caller cancels while the callee rings", []string{
		"CALL_ROUTED 1001>1002 leg=290b9f22 internal to=extension:1002",
		"CALL_RINGING 1001>1002 leg=fb3d9535 internal",
		"CALL_HANGUP 1001>1002 leg=290b9f22 internal ORIGINATOR_CANCEL 487 caller",
	}},
	{"e", "nobody answers in call_timeout: the A-leg ends NORMAL_CLEARING, originate_disposition NO_ANSWER, the caller gets 480", []string{
		"CALL_ROUTED 1001>1009 leg=ad256e64 internal to=extension:1002",
		"CALL_RINGING 1001>1002 leg=03e89425 internal",
		"CALL_HANGUP 1001>1009 leg=03e89425 internal NO_ANSWER 480 system",
	}},
	{"h", "IVR, digit 2, transfer to 1002, then #, hold/unhold, BYE", []string{
		"CALL_ROUTED 1001>1010 leg=b4258bd9 internal to=ivr:1010",
		"CALL_ANSWER 1001>1010 leg=b4258bd9 internal",
		"CALL_INPUT 1001>1010 leg=b4258bd9 internal digit=2 100ms caller",
		"CALL_RINGING 1001>1002 leg=b6ec1264 internal",
		"CALL_ANSWER 1001>1002 leg=b6ec1264 internal",
		"CALL_INPUT 1001>1002 leg=b4258bd9 internal digit=# 250ms caller",
		"CALL_HOLD 1001>1002 leg=b4258bd9 internal caller",
		"CALL_UNHOLD 1001>1002 leg=b4258bd9 internal caller",
		"CALL_HANGUP 1001>1002 leg=b4258bd9 internal NORMAL_CLEARING 200 caller",
	}},
	{"i", "the dialplan transfers 1011 to 1003", []string{
		"CALL_ROUTED 1001>1011 leg=bedd6ff7 internal to=extension:1003",
		"CALL_RINGING 1001>1003 leg=1487a098 internal",
		"CALL_ANSWER 1001>1003 leg=1487a098 internal",
		"CALL_HANGUP 1001>1003 leg=bedd6ff7 internal NORMAL_CLEARING 200 caller",
	}},
	{"j", "1004 is not registered: FreeSWITCH refuses with 480", []string{
		"CALL_ROUTED 1001>1004 leg=5325a3d3 internal to=extension:1004",
		"CALL_HANGUP 1001>1004 leg=5325a3d3 internal USER_NOT_REGISTERED 480 system",
	}},
}

// Each recorded call, replayed as FreeSWITCH sent it, gives its events.
func TestRealFreeSWITCH(t *testing.T) {
	t.Parallel()
	for _, sc := range realScenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			sink := replay(t, realEvents(t, sc.name+"-esl.jsonl")...)
			got := sink.Wait(t, len(sc.want))
			assertEvents(t, got, sc.want)
			assertOneCall(t, got, "freeswitch/fs1")
			// SIPp's From is "1001" <sip:1001@…>: a display name, sent.
			if got[0].CallerIDName != "1001" {
				t.Errorf("caller_id_name %q, want 1001", got[0].CallerIDName)
			}
		})
	}
}

// caller_id_name is the caller leg's Caller-Caller-ID-Name, not what
// FreeSWITCH fills in when the caller sent none: mod_sofia's copy of the
// From user (sip_from_display then unset) or a placeholder.
func TestRealCallerName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		headers map[string]string // replaced on the caller leg's events; "" drops the header
		want    string
	}{
		{"display name sent", map[string]string{"Caller-Caller-ID-Name": "Alice%20Smith", "variable_sip_from_display": "Alice%20Smith"}, "Alice Smith"},
		{"set by the dialplan", map[string]string{"Caller-Caller-ID-Name": "Reception"}, "Reception"},
		{"no display name: the From user", map[string]string{"variable_sip_from_display": ""}, ""},
		{"placeholder", map[string]string{"Caller-Caller-ID-Name": "_undef_", "variable_sip_from_display": ""}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			evs := realEvents(t, "a-esl.jsonl")
			for i, ev := range evs {
				if !strings.Contains(ev, "\nCall-Direction: inbound\n") {
					continue
				}
				lines := strings.Split(ev, "\n")
				lines = slices.DeleteFunc(lines, func(l string) bool {
					k, _, _ := strings.Cut(l, ": ")
					_, ok := tc.headers[k]
					return ok
				})
				for k, v := range tc.headers {
					if v != "" {
						lines = append(lines, k+": "+v)
					}
				}
				evs[i] = strings.Join(lines, "\n")
			}
			sink := replay(t, evs...)
			got := sink.WaitHangup(t)
			assertOneCall(t, got, "freeswitch/fs1")
			if got[0].CallerIDName != tc.want {
				t.Errorf("caller_id_name %q, want %q", got[0].CallerIDName, tc.want)
			}
		})
	}
}

// A call that matches no route (FreeSWITCH answers 404) was never routed:
// it emits nothing, and the next call is not held up by it.
func TestRealUnrouted(t *testing.T) {
	t.Parallel()
	sink := replay(t, append(realEvents(t, "k-esl.jsonl"), realEvents(t, "j-esl.jsonl")...)...)
	got := sink.Wait(t, 2)
	assertEvents(t, got, realScenarios[len(realScenarios)-1].want)
}

// mod_callcenter (recording g): 800 runs answer, then callcenter q800,
// whose agent 1002 is reached by a leg the module originates with no
// parent leg. One call: routed to the queue as FreeSWITCH answered it
// (music while waiting), the agent rung and answering as an agent, every
// event carrying the stay, the hangup its outcome.
func TestRealFreeSWITCHCallcenter(t *testing.T) {
	t.Parallel()
	sink := replay(t, realEvents(t, "g-esl.jsonl")...)
	got := sink.Wait(t, 5)
	assertEvents(t, got, []string{
		"CALL_ROUTED 1001>800 leg=54ea6ef3 internal to=queue:q800",
		"CALL_ANSWER 1001>800 leg=54ea6ef3 internal",
		"CALL_RINGING 1001>1002 leg=840c4854 internal",
		"CALL_ANSWER 1001>1002 leg=840c4854 internal",
		"CALL_HANGUP 1001>1002 leg=840c4854 internal NORMAL_CLEARING 200 caller",
	})
	assertOneCall(t, got, "freeswitch/fs1")
	connectortest.AssertQueued(t, got, "800", got[2:4])
	if got[1].Diversion != nil {
		t.Errorf("the queue's own answer has diversion %+v", got[1].Diversion)
	}
	if q := got[4].Queue; q.Outcome != "answered" {
		t.Errorf("hangup's queue %+v, want answered", q)
	}
}

// Recording r4a: the event socket cut again and again while the call ends
// (as its stand-in: the events split over three connections, the channel
// list of each telling what is still up). One call, its hangup with the
// real cause, however many reconnections.
func TestRealCutRepeatedly(t *testing.T) {
	t.Parallel()
	evs := realEvents(t, "r4a-esl-cut-repeatedly-esl.jsonl")
	const a, b = "3d68185e", "fbc1639f"
	var ids [2]string
	for _, ev := range evs {
		for _, line := range strings.Split(ev, "\n") {
			if id, ok := strings.CutPrefix(line, "Unique-ID: "); ok {
				switch {
				case strings.HasPrefix(id, a):
					ids[0] = id
				case strings.HasPrefix(id, b):
					ids[1] = id
				}
			}
		}
	}
	fs := startFakeFS(t, "ClueCon")
	sink := &connectortest.Collector{}
	c := runConnector(t, "fs1", fs, sink)
	conn := fs.next(t)
	conn.send(evs[:10]...) // through both answers
	sink.Wait(t, 3)
	for i, part := range [][]string{evs[10:11], evs[11:]} {
		live := []fakeChannel{{UUID: ids[0], CallState: "ACTIVE", CIDNum: "1001", Dest: "1002"}}
		if i == 0 {
			live = append(live, fakeChannel{UUID: ids[1], Direction: "outbound", CallState: "ACTIVE", CallUUID: ids[0], Dest: "1002"})
		}
		fs.setChannelRows(live...)
		conn.conn.Close()
		conn = fs.next(t)
		conn.send(part...)
	}
	got := sink.WaitHangup(t)
	assertEvents(t, got, []string{
		"CALL_ROUTED 1001>1002 leg=3d68185e internal to=extension:1002",
		"CALL_RINGING 1001>1002 leg=fbc1639f internal",
		"CALL_ANSWER 1001>1002 leg=fbc1639f internal",
		"CALL_HANGUP 1001>1002 leg=3d68185e internal NORMAL_CLEARING 200 caller",
	})
	assertOneCall(t, got, "freeswitch/fs1")
	if st := c.Status(); st.Reconnects != 2 {
		t.Errorf("%d reconnects, want 2", st.Reconnects)
	}
}

// Where the event does not say whether the caller sent a display name (a
// B-leg's Other-Leg headers, the channel list), a name that repeats the
// number is dropped.
func TestCallerName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, number, sent, want string }{
		{"Alice", "1001", "", "Alice"},
		{"1001", "1001", "1001", "1001"},
		{"1001", "1001", "", ""},
		{"Outbound Call", "1001", "", ""},
		{"unknown", "", "", ""},
	} {
		if got := callerName(tc.name, tc.number, tc.sent); got != tc.want {
			t.Errorf("callerName(%q, %q, %q) = %q, want %q", tc.name, tc.number, tc.sent, got, tc.want)
		}
	}
}

// replay runs a connector against a new stand-in, sends evs on its event
// connection and returns what the connector emits.
func replay(t *testing.T, evs ...string) *connectortest.Collector {
	t.Helper()
	fs := startFakeFS(t, "ClueCon")
	sink := &connectortest.Collector{}
	runConnector(t, "fs1", fs, sink)
	fs.next(t).send(evs...)
	return sink
}
