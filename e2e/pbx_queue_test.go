package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/switchhook/switchhook/e2e/testua"
	"github.com/switchhook/switchhook/internal/api/apitypes"
	"github.com/switchhook/switchhook/internal/siphdr"
)

// Call queues of the built-in PBX, through the real process: callers and
// agents are SIPp phones, both profiles' receivers get every event with
// every field, the queue's among them.

// startQueueServer is the PBX process with extensions 1001-1004 and queues
// (YAML of the queues: key's items), one endpoint per profile.
func startQueueServer(t *testing.T, receivers map[string]*Receiver, queues string) *pbxServer {
	t.Helper()
	port := freeUDPPort(t)
	return launchPBX(t, queueConfig(receivers, port, queues), port)
}

// queueConfig is startQueueServer's config, SIP on port.
func queueConfig(receivers map[string]*Receiver, port int, queues string) string {
	cfg := pbxConfig(receivers, port)
	cfg.WriteString("extensions:\n")
	for _, e := range []string{"1001", "1002", "1003", "1004"} {
		fmt.Fprintf(cfg, "  - {number: %q, password: secret-%s}\n", e, e)
	}
	cfg.WriteString("ring_timeout: 5s\nqueues:\n" + queues)
	return cfg.String()
}

// agent registers ext from a free port and runs scenario there for calls
// calls; the returned func waits for it to succeed.
func (s *pbxServer) agent(t *testing.T, ext, scenario string, calls int) func() {
	t.Helper()
	port := freeUDPPort(t)
	s.register(t, ext, port)
	return s.listen(t, scenario, port, "-s", ext, "-m", strconv.Itoa(calls))
}

// queueCalls waits for n webhooks in each profile and returns each
// profile's calls, in the order their CALL_ROUTED came.
func queueCalls(t *testing.T, receivers map[string]*Receiver, n int) map[string][][]Webhook {
	t.Helper()
	out := map[string][][]Webhook{}
	for profile, r := range receivers {
		hooks := r.WaitCount(t, n, 30*time.Second)
		if profile == "extended" {
			checkCalls(t, hooks)
		}
		byCall := ByCall(hooks)
		for _, h := range hooks {
			if h.Event() == "CALL_ROUTED" {
				out[profile] = append(out[profile], byCall[h.CallUUID()])
			}
		}
		if r.BadSignatures() != 0 {
			t.Errorf("%s: %d bad signatures", profile, r.BadSignatures())
		}
	}
	// Nothing more comes: one CALL_HANGUP per call, no stray event after.
	time.Sleep(300 * time.Millisecond)
	if got := receivers["extended"].Accepted(); len(got) != n {
		t.Errorf("%d webhooks, want %d: %v", len(got), n, Events(got))
	}
	return out
}

// checkQueueCall checks one call's webhooks in both profiles against the
// wants made from its extended webhooks.
func checkQueueCall(t *testing.T, calls map[string][][]Webhook, i int, wants func(ext []Webhook) []hookWant) {
	t.Helper()
	w := wants(calls["extended"][i])
	for profile, cs := range calls {
		checkPBXCall(t, profile, cs[i], w)
	}
}

// stay is the queue field the extended webhook h must carry: the queue's
// number and h's own whole seconds waited, which must lie in [min, max] and
// never go back within the call (checked by waits); the outcome on
// CALL_HANGUP.
func stay(t *testing.T, h Webhook, number string, min, max float64, outcome string) map[string]any {
	t.Helper()
	q, _ := h.Body["queue"].(map[string]any)
	wait, ok := q["wait"].(float64)
	if !ok || wait != float64(int64(wait)) || wait < min || wait > max {
		t.Errorf("%s: queue.wait %v, want whole seconds in [%v, %v]\n%s", h.Event(), q["wait"], min, max, h.Raw)
	}
	out := map[string]any{"number": number, "wait": q["wait"]}
	if outcome != "" {
		out["outcome"] = outcome
	}
	return out
}

// waits checks that the call's queue.wait never goes back.
func waits(t *testing.T, hooks []Webhook) {
	t.Helper()
	last := -1.0
	for _, h := range hooks {
		q, _ := h.Body["queue"].(map[string]any)
		w, _ := q["wait"].(float64)
		if w < last {
			t.Errorf("queue.wait went back from %v to %v at %s", last, w, h.Event())
		}
		last = w
	}
}

// in merges extended fields.
func in(ms ...map[string]any) map[string]any {
	out := map[string]any{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

func q(s map[string]any) map[string]any { return map[string]any{"queue": s} }

// with adds extended fields to w.
func with(w hookWant, ext ...map[string]any) hookWant {
	w.ext = in(append([]map[string]any{w.ext}, ext...)...)
	return w
}

func divert(from, reason string) map[string]any {
	return map[string]any{"diverted_from": from, "diversion_reason": reason}
}

// answeredByAgent is the wants of a call to music queue 600 that agent
// answered and hung up, having waited at most maxWait seconds.
func answeredByAgent(t *testing.T, c routedCall, h []Webhook, agent string, maxWait float64) []hookWant {
	t.Helper()
	return []hookWant{
		with(c.routed("600", "queue", "600"), q(stay(t, h[0], "600", 0, 0, ""))),
		c.want("CALL_ANSWER", "Q", "600", q(stay(t, h[1], "600", 0, 0, ""))),
		c.want("CALL_RINGING", "B", agent, in(divert("600", "queue"), q(stay(t, h[2], "600", 0, maxWait, "")))),
		c.want("CALL_ANSWER", "B", agent, in(divert("600", "queue"), q(stay(t, h[3], "600", 0, maxWait, "")))),
		with(c.hangup(t, h[4], "B", agent, "NORMAL_CLEARING", 200, "callee", "600"), q(stay(t, h[4], "600", 0, maxWait, "answered"))),
	}
}

// Round robin: two calls in a row go to the two agents in turn. The queue
// answers each caller with its music first; the agent who answers hangs up.
func TestPBXQueueRoundRobin(t *testing.T) {
	rs := bothProfiles(t)
	s := startQueueServer(t, rs, `  - {number: "600", agents: ["1001", "1002"], strategy: round_robin}
`)
	a1 := s.agent(t, "1001", "callee_answer_bye.xml", 1)
	a2 := s.agent(t, "1002", "callee_answer_bye.xml", 1)
	s.dial(t, "caller_ivr_wait.xml", "1003", "600")()
	a1()
	s.dial(t, "caller_ivr_wait.xml", "1004", "600")()
	a2()

	calls := queueCalls(t, rs, 10)
	for i, agent := range []string{"1001", "1002"} {
		c := routedCall{caller: []string{"1003", "1004"}[i], direction: "internal"}
		checkQueueCall(t, calls, i, func(h []Webhook) []hookWant {
			waits(t, h)
			return answeredByAgent(t, c, h, agent, 3)
		})
	}
}

// Ring all: both agents ring; 1002 answers, and 1001, who never answers,
// is cancelled.
func TestPBXQueueRingAll(t *testing.T) {
	rs := bothProfiles(t)
	s := startQueueServer(t, rs, `  - {number: "600", agents: ["1001", "1002"], strategy: ring_all}
`)
	rings := s.agent(t, "1001", "callee_ring.xml", 1)
	answers := s.agent(t, "1002", "callee_answer_bye.xml", 1)
	s.dial(t, "caller_ivr_wait.xml", "1003", "600")()
	rings()
	answers()

	calls := queueCalls(t, rs, 6)
	c := routedCall{caller: "1003", direction: "internal"}
	checkQueueCall(t, calls, 0, func(h []Webhook) []hookWant {
		waits(t, h)
		// Both agents ring; which rings first is up to the network.
		first, second := "1001", "1002"
		if h[2].Body["destination_number"] == "1002" {
			first, second = second, first
		}
		return []hookWant{
			with(c.routed("600", "queue", "600"), q(stay(t, h[0], "600", 0, 0, ""))),
			c.want("CALL_ANSWER", "Q", "600", q(stay(t, h[1], "600", 0, 0, ""))),
			c.want("CALL_RINGING", "B"+first, first, in(divert("600", "queue"), q(stay(t, h[2], "600", 0, 3, "")))),
			c.want("CALL_RINGING", "B"+second, second, in(divert("600", "queue"), q(stay(t, h[3], "600", 0, 3, "")))),
			c.want("CALL_ANSWER", "B1002", "1002", in(divert("600", "queue"), q(stay(t, h[4], "600", 0, 3, "")))),
			with(c.hangup(t, h[5], "B1002", "1002", "NORMAL_CLEARING", 200, "callee", "600"), q(stay(t, h[5], "600", 0, 3, "answered"))),
		}
	})
}

// A paused agent is not rung: the linear queue skips 1001, paused through
// the API, and 1002 answers. 1001's phone is registered but nothing
// answers there: ringing it would show.
func TestPBXQueuePausedAgentNotRung(t *testing.T) {
	rs := bothProfiles(t)
	s := startQueueServer(t, rs, `  - {number: "600", agents: ["1001", "1002"], strategy: linear}
`)
	s.register(t, "1001", freeUDPPort(t))
	var qu apitypes.Queue
	s.API("POST", "/v1/queues/600/agents/1001/pause", nil, 200, &qu)
	if !qu.Agents[0].Paused {
		t.Fatalf("1001 not paused: %+v", qu.Agents[0])
	}
	answers := s.agent(t, "1002", "callee_answer_bye.xml", 1)
	s.dial(t, "caller_ivr_wait.xml", "1003", "600")()
	answers()

	calls := queueCalls(t, rs, 5)
	c := routedCall{caller: "1003", direction: "internal"}
	checkQueueCall(t, calls, 0, func(h []Webhook) []hookWant {
		return answeredByAgent(t, c, h, "1002", 3)
	})
	s.API("GET", "/v1/queues/600", nil, 200, &qu)
	if a := qu.Agents[0]; !a.Paused || a.State != apitypes.AgentPaused || qu.Answered != 1 {
		t.Errorf("queue after the call: %+v", qu)
	}
}

// rtpListener counts the RTP packets sent to a UDP port on loopback.
type rtpListener struct {
	conn    *net.UDPConn
	packets chan int // the payload type of each RTP packet
}

func listenRTP(t *testing.T) *rtpListener {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	l := &rtpListener{conn: conn, packets: make(chan int, 4096)}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			if n > 12 && buf[0]>>6 == 2 {
				select {
				case l.packets <- int(buf[1] & 0x7f):
				default:
				}
			}
		}
	}()
	return l
}

func (l *rtpListener) port() int { return l.conn.LocalAddr().(*net.UDPAddr).Port }

// A caller waiting hears the queue's music (RTP reaches its port), is shown
// by GET /v1/queues, presses a digit (CALL_INPUT) and hangs up before any
// agent answers: abandoned, hung up by the caller, the seconds it waited.
func TestPBXQueueMusicDigitAndAbandon(t *testing.T) {
	rs := bothProfiles(t)
	s := startQueueServer(t, rs, `  - {number: "600", name: Support, agents: ["1001"]}
`)
	rtp := listenRTP(t)
	caller := s.dial(t, "caller_queue_listen.xml", "1003", "600", "-key", "rtpport", strconv.Itoa(rtp.port()), "-key", "digit", "5", "-d", "2500")

	// Music plays: G.711 packets, about 50 a second, well before the
	// caller leaves.
	deadline := time.After(10 * time.Second)
	for got := 0; got < 25; got++ {
		select {
		case pt := <-rtp.packets:
			if pt != 0 && pt != 8 {
				t.Fatalf("RTP payload type %d, want G.711 (0 or 8)", pt)
			}
		case <-deadline:
			t.Fatalf("%d RTP packets of music reached the caller in 10s", got)
		}
	}
	var qs []apitypes.Queue
	s.API("GET", "/v1/queues", nil, 200, &qs)
	if len(qs) != 1 || len(qs[0].Callers) != 1 {
		t.Fatalf("GET /v1/queues while a caller waits: %+v", qs)
	}
	if w := qs[0].Callers[0]; w.CallerIDNumber != "1003" || w.Position != 1 || w.CallUUID == "" || len(w.Ringing) != 0 {
		t.Errorf("waiting caller %+v", w)
	}
	if a := qs[0].Agents[0]; a.Extension != "1001" || a.State != apitypes.AgentUnregistered {
		t.Errorf("agent %+v, want 1001 unregistered", a)
	}
	caller()

	calls := queueCalls(t, rs, 4)
	if got := calls["extended"][0][0].CallUUID(); got != qs[0].Callers[0].CallUUID {
		t.Errorf("GET /v1/queues showed call %s, the webhooks are of %s", qs[0].Callers[0].CallUUID, got)
	}
	c := routedCall{caller: "1003", direction: "internal"}
	checkQueueCall(t, calls, 0, func(h []Webhook) []hookWant {
		waits(t, h)
		input := c.input("A", "600", "5", 160)
		return []hookWant{
			with(c.routed("600", "queue", "600"), q(stay(t, h[0], "600", 0, 0, ""))),
			c.want("CALL_ANSWER", "Q", "600", q(stay(t, h[1], "600", 0, 0, ""))),
			with(input, q(stay(t, h[2], "600", 0, 1, ""))),
			with(c.hangup(t, h[3], "A", "600", "NORMAL_CLEARING", 200, "caller", "600"), q(stay(t, h[3], "600", 2, 4, "abandoned"))),
		}
	})
	s.API("GET", "/v1/queues/600", nil, 200, &qs[0])
	if qs[0].Abandoned != 1 || len(qs[0].Callers) != 0 {
		t.Errorf("queue after the caller left: %+v", qs[0])
	}
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	metrics := string(body)
	for _, want := range []string{
		`switchhook_call_queue_calls_total{outcome="abandoned",queue="600"} 1`,
		`switchhook_call_queue_callers_waiting{queue="600"} 0`,
		`switchhook_call_queue_wait_seconds_count{queue="600"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// A caller who waits max_wait moves on to the queue's overflow number,
// whose ringing and answer say so (queue_overflow).
func TestPBXQueueOverflowAfterMaxWait(t *testing.T) {
	rs := bothProfiles(t)
	s := startQueueServer(t, rs, `  - {number: "600", agents: ["1001"], max_wait: 2s, overflow: "1002"}
`)
	answers := s.agent(t, "1002", "callee_answer_bye.xml", 1)
	s.dial(t, "caller_ivr_wait.xml", "1003", "600")()
	answers()

	calls := queueCalls(t, rs, 5)
	c := routedCall{caller: "1003", direction: "internal"}
	checkQueueCall(t, calls, 0, func(h []Webhook) []hookWant {
		waits(t, h)
		return []hookWant{
			with(c.routed("600", "queue", "600"), q(stay(t, h[0], "600", 0, 0, ""))),
			c.want("CALL_ANSWER", "Q", "600", q(stay(t, h[1], "600", 0, 0, ""))),
			c.want("CALL_RINGING", "B", "1002", in(divert("600", "queue_overflow"), q(stay(t, h[2], "600", 2, 2, "")))),
			c.want("CALL_ANSWER", "B", "1002", in(divert("600", "queue_overflow"), q(stay(t, h[3], "600", 2, 2, "")))),
			with(c.hangup(t, h[4], "B", "1002", "NORMAL_CLEARING", 200, "callee", "600"), q(stay(t, h[4], "600", 2, 2, "overflow"))),
		}
	})
}

// max_callers: with one caller waiting in a ringback queue, the next goes
// straight to the overflow (a queue with music); the first cancels while it
// waits: abandoned.
func TestPBXQueueMaxCallers(t *testing.T) {
	rs := bothProfiles(t)
	s := startQueueServer(t, rs, `  - {number: "600", agents: ["1001"], max_callers: 1, music: ringback, overflow: "601"}
  - {number: "601", agents: ["1002"]}
`)
	answers := s.agent(t, "1002", "callee_answer_bye.xml", 1)
	first := s.dial(t, "caller_cancel_wait.xml", "1003", "600", "-d", "2500")
	waitQueued(t, s, "600", 1)
	s.dial(t, "caller_ivr_wait.xml", "1004", "600")()
	answers()
	first()

	calls := queueCalls(t, rs, 7)
	one := routedCall{caller: "1003", direction: "internal"}
	checkQueueCall(t, calls, 0, func(h []Webhook) []hookWant {
		return []hookWant{
			with(one.routed("600", "queue", "600"), q(stay(t, h[0], "600", 0, 0, ""))),
			with(one.hangup(t, h[1], "A", "600", "ORIGINATOR_CANCEL", 487, "caller", ""), q(stay(t, h[1], "600", 2, 3, "abandoned"))),
		}
	})
	two := routedCall{caller: "1004", direction: "internal"}
	checkQueueCall(t, calls, 1, func(h []Webhook) []hookWant {
		waits(t, h)
		return []hookWant{
			with(two.routed("600", "queue", "600"), q(stay(t, h[0], "600", 0, 0, ""))),
			// The overflow is queue 601, with music: it answers as the
			// caller's move, and the stay is 601's from then on.
			two.want("CALL_ANSWER", "Q", "601", in(divert("600", "queue_overflow"), q(stay(t, h[1], "601", 0, 0, "")))),
			two.want("CALL_RINGING", "B", "1002", in(divert("601", "queue"), q(stay(t, h[2], "601", 0, 3, "")))),
			two.want("CALL_ANSWER", "B", "1002", in(divert("601", "queue"), q(stay(t, h[3], "601", 0, 3, "")))),
			with(two.hangup(t, h[4], "B", "1002", "NORMAL_CLEARING", 200, "callee", "601"), q(stay(t, h[4], "601", 0, 3, "answered"))),
		}
	})
	var qu apitypes.Queue
	s.API("GET", "/v1/queues/600", nil, 200, &qu)
	if qu.Overflow != 1 || qu.Abandoned != 1 {
		t.Errorf("queue 600 counts %d overflows and %d abandoned, want 1 and 1", qu.Overflow, qu.Abandoned)
	}
}

// Without an overflow number, a caller who waits max_wait is hung up:
// NO_ANSWER by the system (480 to a caller the ringback queue never
// answered).
func TestPBXQueueMaxWaitWithoutOverflow(t *testing.T) {
	rs := bothProfiles(t)
	s := startQueueServer(t, rs, `  - {number: "600", agents: ["1001"], max_wait: 2s, music: ringback}
`)
	s.dial(t, "caller_reject_480.xml", "1003", "600")()

	calls := queueCalls(t, rs, 2)
	c := routedCall{caller: "1003", direction: "internal"}
	checkQueueCall(t, calls, 0, func(h []Webhook) []hookWant {
		return []hookWant{
			with(c.routed("600", "queue", "600"), q(stay(t, h[0], "600", 0, 0, ""))),
			with(c.hangup(t, h[1], "A", "600", "NO_ANSWER", 480, "system", ""), q(stay(t, h[1], "600", 2, 2, "overflow"))),
		}
	})
}

// waitQueued waits until n callers wait in queue number.
func waitQueued(t *testing.T, s *pbxServer, number string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var qu apitypes.Queue
		s.API("GET", "/v1/queues/"+number, nil, 200, &qu)
		if len(qu.Callers) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue %s: %d callers waiting, want %d", number, len(qu.Callers), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A ringback queue answers nothing: the caller hears ringing until the
// agent answers, and the only CALL_ANSWER is the agent's.
func TestPBXQueueRingback(t *testing.T) {
	rs := bothProfiles(t)
	s := startQueueServer(t, rs, `  - {number: "600", agents: ["1001"], music: ringback}
`)
	answers := s.agent(t, "1001", "callee_answer_bye.xml", 1)
	s.dial(t, "caller_ivr_wait.xml", "1003", "600")()
	answers()

	calls := queueCalls(t, rs, 4)
	c := routedCall{caller: "1003", direction: "internal"}
	checkQueueCall(t, calls, 0, func(h []Webhook) []hookWant {
		return []hookWant{
			with(c.routed("600", "queue", "600"), q(stay(t, h[0], "600", 0, 0, ""))),
			c.want("CALL_RINGING", "B", "1001", in(divert("600", "queue"), q(stay(t, h[1], "600", 0, 3, "")))),
			c.want("CALL_ANSWER", "B", "1001", in(divert("600", "queue"), q(stay(t, h[2], "600", 0, 3, "")))),
			with(c.hangup(t, h[3], "B", "1001", "NORMAL_CLEARING", 200, "callee", "1001"), q(stay(t, h[3], "600", 0, 3, "answered"))),
		}
	})
}

// Two callers wait for one agent: once it can take calls they are served
// in the order they came, the second after the first's call ended.
func TestPBXQueueCallersServedInArrivalOrder(t *testing.T) {
	rs := bothProfiles(t)
	s := startQueueServer(t, rs, `  - {number: "600", agents: ["1001"]}
`)
	agent := s.agent(t, "1001", "callee_answer_bye.xml", 2)
	// 1001 is paused until both callers wait.
	var qu apitypes.Queue
	s.API("POST", "/v1/queues/600/agents/1001/pause", nil, 200, &qu)
	first := s.dial(t, "caller_ivr_wait.xml", "1003", "600")
	waitQueued(t, s, "600", 1)
	second := s.dial(t, "caller_ivr_wait.xml", "1004", "600")
	waitQueued(t, s, "600", 2)
	s.API("GET", "/v1/queues/600", nil, 200, &qu)
	if qu.Callers[0].CallerIDNumber != "1003" || qu.Callers[1].CallerIDNumber != "1004" || qu.Callers[1].Position != 2 {
		t.Errorf("callers %+v", qu.Callers)
	}
	s.API("POST", "/v1/queues/600/agents/1001/unpause", nil, 200, &qu)
	first()
	second()
	agent()

	calls := queueCalls(t, rs, 10)
	var answered []time.Time
	for i, caller := range []string{"1003", "1004"} {
		c := routedCall{caller: caller, direction: "internal"}
		checkQueueCall(t, calls, i, func(h []Webhook) []hookWant {
			waits(t, h)
			at, _ := time.Parse(time.RFC3339Nano, h[3].Body["occurred_at"].(string))
			answered = append(answered, at)
			return answeredByAgent(t, c, h, "1001", 10)
		})
	}
	if len(answered) == 2 && !answered[0].Before(answered[1]) {
		t.Errorf("the second caller was answered at %v, before the first at %v", answered[1], answered[0])
	}
}

// An agent in wrapup is skipped: 1001 answers the first call and rests for
// its wrapup, so the next caller goes to 1002 although the linear queue
// lists 1001 first.
func TestPBXQueueWrapupSkipsTheAgent(t *testing.T) {
	rs := bothProfiles(t)
	s := startQueueServer(t, rs, `  - {number: "600", agents: ["1001", "1002"], strategy: linear, wrapup: 30s}
`)
	a1 := s.agent(t, "1001", "callee_answer_bye.xml", 1)
	a2 := s.agent(t, "1002", "callee_answer_bye.xml", 1)
	s.dial(t, "caller_ivr_wait.xml", "1003", "600")()
	a1()
	var qu apitypes.Queue
	s.API("GET", "/v1/queues/600", nil, 200, &qu)
	if qu.Agents[0].State != apitypes.AgentWrapup {
		t.Errorf("1001 after its call: %+v, want wrapup", qu.Agents[0])
	}
	s.dial(t, "caller_ivr_wait.xml", "1004", "600")()
	a2()

	calls := queueCalls(t, rs, 10)
	for i, agent := range []string{"1001", "1002"} {
		c := routedCall{caller: []string{"1003", "1004"}[i], direction: "internal"}
		checkQueueCall(t, calls, i, func(h []Webhook) []hookWant {
			return answeredByAgent(t, c, h, agent, 3)
		})
	}
}

// An IVR's option leads to the queue: the IVR answers, the caller presses
// 1 and waits in the queue (already answered, so it hears the music at
// once); the agent answers. The stay starts when the caller enters the
// queue, and the events before it carry none.
func TestPBXQueueFromIVR(t *testing.T) {
	rs := bothProfiles(t)
	s := startQueueServer(t, rs, `  - {number: "600", agents: ["1001"]}
ivrs:
  - {number: "700", digit_timeout: 5s, options: {"1": "600"}}
`)
	answers := s.agent(t, "1001", "callee_answer_bye.xml", 1)
	s.dial(t, "caller_ivr_2833.xml", "1003", "700")()
	answers()

	calls := queueCalls(t, rs, 7)
	c := routedCall{caller: "1003", direction: "internal"}
	checkQueueCall(t, calls, 0, func(h []Webhook) []hookWant {
		waits(t, h)
		return []hookWant{
			c.routed("700", "ivr", "700"),
			c.want("CALL_ANSWER", "IVR", "700", nil),
			c.input("A", "700", "1", 280),
			c.want("CALL_ANSWER", "Q", "600", q(stay(t, h[3], "600", 0, 0, ""))),
			c.want("CALL_RINGING", "B", "1001", in(divert("600", "queue"), q(stay(t, h[4], "600", 0, 3, "")))),
			c.want("CALL_ANSWER", "B", "1001", in(divert("600", "queue"), q(stay(t, h[5], "600", 0, 3, "")))),
			with(c.hangup(t, h[6], "B", "1001", "NORMAL_CLEARING", 200, "callee", "700"), q(stay(t, h[6], "600", 0, 3, "answered"))),
		}
	})
}

// An agent on a call of its own is skipped: 1001 talks to 1003 directly,
// so the linear queue rings 1002 for 1004.
func TestPBXQueueAgentOnACallSkipped(t *testing.T) {
	rs := bothProfiles(t)
	s := startQueueServer(t, rs, `  - {number: "600", agents: ["1001", "1002"], strategy: linear}
`)
	busy := s.agent(t, "1001", "callee_answer.xml", 1)
	direct := s.dial(t, "caller_bye.xml", "1003", "1001", "-d", "4000")
	deadline := time.Now().Add(10 * time.Second)
	for {
		var qu apitypes.Queue
		s.API("GET", "/v1/queues/600", nil, 200, &qu)
		if qu.Agents[0].State == apitypes.AgentOnCall {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("1001 on its own call: %+v", qu.Agents[0])
		}
		time.Sleep(50 * time.Millisecond)
	}
	answers := s.agent(t, "1002", "callee_answer_bye.xml", 1)
	s.dial(t, "caller_ivr_wait.xml", "1004", "600")()
	answers()
	direct()
	busy()

	calls := queueCalls(t, rs, 10)
	if got := Events(calls["extended"][0]); len(got) != 5 || calls["extended"][0][0].Body["destination_number"] != "1001" {
		t.Errorf("the direct call: %v", got)
	}
	c := routedCall{caller: "1004", direction: "internal"}
	checkQueueCall(t, calls, 1, func(h []Webhook) []hookWant {
		return answeredByAgent(t, c, h, "1002", 3)
	})
}

// A queue agent who completes an attended transfer is done with the queue
// call, as after a blind transfer: 1001 (SIPp) waits in ringback queue 600
// and is answered by agent 1002 (the project's phone); 1002 holds, calls
// 1003 and sends REFER with Replaces. 1001 and 1003 talk on, and 1002 is in
// its wrapup, no longer on the queue's call.
func TestPBXQueueAgentAttendedTransfer(t *testing.T) {
	rs := bothProfiles(t)
	s := startQueueServer(t, rs, `  - {number: "600", agents: ["1002"], music: ringback, wrapup: 30s}
`)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ph := testPhone(t, ctx, s, "1002")
	answers := s.phone(t, "1003", "callee_answer.xml")
	caller := s.dial(t, "caller_transferred.xml", "1001", "600")
	first, err := ph.Answer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var qu apitypes.Queue
	s.API("GET", "/v1/queues/600", nil, 200, &qu)
	if qu.Agents[0].State != apitypes.AgentOnCall {
		t.Errorf("1002 answering: %+v, want on_call", qu.Agents[0])
	}
	if err := ph.Hold(ctx, first); err != nil {
		t.Fatal(err)
	}
	consult, err := ph.Call(ctx, "1003")
	if err != nil {
		t.Fatal(err)
	}
	rp, err := siphdr.ParseReplaces(testua.Replaces(consult))
	if err != nil {
		t.Fatal(err)
	}
	referTo := siphdr.ReferTo{URI: sip.Uri{Scheme: "sip", User: "1003", Host: "pbx.test"}, Replaces: &rp}
	if res, err := ph.Refer(ctx, first, referTo.String()); err != nil || res.StatusCode != 202 {
		t.Fatalf("REFER: %v %v", res, err)
	}
	waitNotify(t, ctx, ph, 200, first.InviteRequest.CallID().Value())
	// The wrapup must start with the transfer, not when 1001 hangs up (its
	// scenario does once the PBX has been quiet for three seconds).
	if qu = wrapupWhileUp(t, s, rs); qu.Answered != 1 {
		t.Errorf("queue 600 after the attended transfer: %+v, want 1 answered", qu)
	}
	caller()
	answers()

	// The queue call went on with 1003 and ended answered.
	calls := ByCall(rs["extended"].WaitCount(t, 10, 20*time.Second))
	var hangup Webhook
	for _, hs := range calls {
		if hs[0].Body["destination_number"] == "600" {
			hangup = hs[len(hs)-1]
		}
	}
	qs, _ := hangup.Body["queue"].(map[string]any)
	if hangup.Event() != "CALL_HANGUP" || hangup.Body["destination_number"] != "1003" || qs["outcome"] != "answered" {
		t.Errorf("the queue call's end: %s", hangup.Raw)
	}
}

// The same when the transfer's target completes it: 1003's phone sends an
// INVITE replacing agent 1002's dialog of the queue call. 1002 gets BYE and
// is in its wrapup while 1001 and 1003 talk on.
func TestPBXQueueAgentReplacedByInvite(t *testing.T) {
	rs := bothProfiles(t)
	s := startQueueServer(t, rs, `  - {number: "600", agents: ["1002"], music: ringback, wrapup: 30s}
`)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	agent := testPhone(t, ctx, s, "1002")
	target := testPhone(t, ctx, s, "1003")
	caller := s.dial(t, "caller_passive.xml", "1001", "600")
	first, err := agent.Answer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	joined, err := target.Call(ctx, "600", sip.NewHeader("Replaces", testua.ReplacesAnswered(first)))
	if err != nil {
		t.Fatal(err)
	}
	if err := agent.WaitFor(ctx, "1002's BYE", func(_ []*sip.Request, byes map[string]bool) bool {
		return byes[first.InviteRequest.CallID().Value()]
	}); err != nil {
		t.Fatal(err)
	}
	wrapupWhileUp(t, s, rs)
	// The call goes on until its new callee hangs up.
	if err := joined.Bye(ctx); err != nil {
		t.Fatal(err)
	}
	caller()
}

// wrapupWhileUp checks that the first agent of queue 600 is in its wrapup
// while 1001's queue call is still up, and returns the queue as then
// shown.
func wrapupWhileUp(t *testing.T, s *pbxServer, rs map[string]*Receiver) apitypes.Queue {
	t.Helper()
	var qu apitypes.Queue
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.API("GET", "/v1/queues/600", nil, 200, &qu)
		if qu.Agents[0].State == apitypes.AgentWrapup || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, h := range rs["extended"].Accepted() {
		if h.Event() == "CALL_HANGUP" && h.Body["caller_id_number"] == "1001" {
			t.Fatalf("the queue call ended before the agent's wrapup was seen: %s", h.Raw)
		}
	}
	if qu.Agents[0].State != apitypes.AgentWrapup {
		t.Errorf("agent %+v, want wrapup", qu.Agents[0])
	}
	return qu
}
