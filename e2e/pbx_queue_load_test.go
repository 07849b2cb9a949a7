package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/api/apitypes"
)

// TestPBXQueueLoad is the queue load run of docs/benchmarks.md, skipped
// unless SWITCHHOOK_QUEUE_LOAD is set: 50 callers into one round-robin queue
// of 10 agents (SIPp phones that answer after 200 ms, talk for QUEUE_LOAD_TALK,
// default 2s, and hang up). 40 callers come at 20/s and wait until an agent
// has talked to them; 10 more come behind them at 10/s, press a digit and
// hang up a second later, before their turn: abandoned. Every call must
// end as scripted, with every webhook, in order, and the queue's counts
// must say so.
func TestPBXQueueLoad(t *testing.T) {
	if os.Getenv("SWITCHHOOK_QUEUE_LOAD") == "" {
		t.Skip("queue load run: set SWITCHHOOK_QUEUE_LOAD=1")
	}
	if _, err := exec.LookPath("sipp"); err != nil {
		t.Skip("sipp is not installed")
	}
	const waiting, abandoning, agents = 40, 10, 10
	talk, err := time.ParseDuration(envStr("QUEUE_LOAD_TALK", "2s"))
	if err != nil || talk <= 0 {
		t.Fatalf("QUEUE_LOAD_TALK=%q is not a positive duration", os.Getenv("QUEUE_LOAD_TALK"))
	}
	rcv := newLoadReceiver(t)
	sipPort := freeUDPPort(t)
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "log: {level: warn}\nwebhooks:\n  - url: %q\n    payload: extended\n    secret: %q\n", rcv.url, rcv.secret)
	fmt.Fprintf(&cfg, "sip:\n  listen: [\"udp://127.0.0.1:%d\"]\n  domain: pbx.test\n  rtp_ports: \"20000-40000\"\n", sipPort)
	fmt.Fprintf(&cfg, "extensions:\n  - {number: \"3001\", password: %s}\n  - {number: \"3002\", password: %s}\n", loadPassword("3001"), loadPassword("3002"))
	var exts []string
	for i := range agents {
		n := strconv.Itoa(2001 + i)
		exts = append(exts, strconv.Quote(n))
		fmt.Fprintf(&cfg, "  - {number: %q, password: %s}\n", n, loadPassword(n))
	}
	fmt.Fprintf(&cfg, "queues:\n  - {number: \"600\", agents: [%s], strategy: round_robin, max_wait: 120s}\n", strings.Join(exts, ", "))
	srv := startLoadServer(t, cfg.String())
	pbx := fmt.Sprintf("127.0.0.1:%d", sipPort)
	dir := t.TempDir()

	var phones []*sippProc
	for i := range agents {
		n := strconv.Itoa(2001 + i)
		port := freeUDPPort(t)
		startSIPp(t, dir, "register.xml", pbx, port, "-m", "1", "-s", n, "-au", n, "-ap", loadPassword(n),
			"-key", "expires", "3600").wait(t, 30*time.Second)
		phones = append(phones, startSIPp(t, dir, "agent_talk.xml", "", port, "-s", n, "-m", strconv.Itoa(waiting),
			"-d", strconv.Itoa(int(talk.Milliseconds())), "-timeout", "180s"))
	}
	load0, ticks0, start := loadavg(), procTicks(srv.pid), time.Now()
	callers := startSIPp(t, dir, "caller_ivr_wait.xml", pbx, 0, "-s", "600", "-key", "caller", "3001", "-au", "3001", "-ap", loadPassword("3001"),
		"-r", "20", "-m", strconv.Itoa(waiting), "-l", strconv.Itoa(waiting), "-timeout", "180s")
	// Behind the waiting callers, once they are all in.
	waitUntil(t, 30*time.Second, "the waiting callers routed", func() bool { return rcv.count("CALL_ROUTED") >= waiting })
	quitters := startSIPp(t, dir, "caller_queue_listen.xml", pbx, 0, "-s", "600", "-key", "caller", "3002", "-au", "3002", "-ap", loadPassword("3002"),
		"-key", "rtpport", strconv.Itoa(freeUDPPort(t)), "-key", "digit", "7", "-d", "1000",
		"-r", "10", "-m", strconv.Itoa(abandoning), "-l", strconv.Itoa(abandoning), "-timeout", "60s")
	var peak apitypes.Queue
	for range 600 {
		var qu apitypes.Queue
		getJSON(t, srv.url+"/v1/queues/600", &qu)
		if len(qu.Callers) > len(peak.Callers) {
			peak = qu
		}
		if qu.Answered+qu.Abandoned == waiting+abandoning {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	callersErr := callers.wait(t, 3*time.Minute)
	quittersErr := quitters.wait(t, time.Minute)
	elapsed := time.Since(start)
	cpu := float64(procTicks(srv.pid)-ticks0) / clockTicks
	for _, p := range phones {
		p.cmd.Process.Kill()
	}
	hooks := rcv.waitSettled(t, time.Minute)
	if callersErr != nil || quittersErr != nil {
		t.Errorf("SIPp: waiting callers %v, abandoning callers %v", callersErr, quittersErr)
	}

	// Every call as scripted, every webhook in order.
	calls := map[string][]loadHook{}
	var order []string
	for _, h := range hooks {
		if _, ok := calls[h.call]; !ok {
			order = append(order, h.call)
		}
		calls[h.call] = append(calls[h.call], h)
	}
	answeredBy := map[string]int{}
	var maxWait int64
	outcomes := map[string]int{}
	for _, id := range order {
		hs := calls[id]
		var got []string
		for i, h := range hs {
			got = append(got, h.event)
			if h.seq != i+1 {
				t.Errorf("call %s: webhook %d has sequence %d", id, i+1, h.seq)
			}
			if h.queue == nil || h.queue.Number != "600" {
				t.Errorf("call %s: %s without the queue's stay", id, h.event)
			}
		}
		last := hs[len(hs)-1]
		outcome := ""
		if last.queue != nil {
			outcome, maxWait = last.queue.Outcome, max(maxWait, last.queue.Wait)
		}
		outcomes[outcome]++
		want := []string{"CALL_ROUTED", "CALL_ANSWER", "CALL_RINGING", "CALL_ANSWER", "CALL_HANGUP"}
		wantOutcome, wantBy := "answered", "callee"
		if hs[0].caller == "3002" {
			want = []string{"CALL_ROUTED", "CALL_ANSWER", "CALL_INPUT", "CALL_HANGUP"}
			wantOutcome, wantBy = "abandoned", "caller"
		} else if len(hs) == 5 {
			answeredBy[hs[3].dest]++
		}
		if !slices.Equal(got, want) || outcome != wantOutcome || last.by != wantBy || last.cause != "NORMAL_CLEARING" {
			t.Errorf("call %s of %s: %v, outcome %q, hung up by %s (%s); want %v, %q, %s", id, hs[0].caller, got, outcome, last.by, last.cause, want, wantOutcome, wantBy)
		}
	}
	// First come, first served: ranked by when they were routed and by
	// when an agent answered, no answered caller may move by more than the
	// agents offered callers at once.
	var routedAt, answeredAt []loadHook
	for _, id := range order {
		if hs := calls[id]; len(hs) == 5 {
			routedAt, answeredAt = append(routedAt, hs[0]), append(answeredAt, hs[3])
		}
	}
	slices.SortStableFunc(answeredAt, func(a, b loadHook) int { return a.occurred.Compare(b.occurred) })
	slices.SortStableFunc(routedAt, func(a, b loadHook) int { return a.occurred.Compare(b.occurred) })
	displaced := 0
	for i, h := range answeredAt {
		j := slices.IndexFunc(routedAt, func(r loadHook) bool { return r.call == h.call })
		displaced = max(displaced, abs(i-j))
	}
	if displaced > agents {
		t.Errorf("a caller was answered %d places away from its place in the queue", displaced)
	}
	if len(calls) != waiting+abandoning || outcomes["answered"] != waiting || outcomes["abandoned"] != abandoning {
		t.Errorf("%d calls, outcomes %v; want %d answered and %d abandoned", len(calls), outcomes, waiting, abandoning)
	}
	var qu apitypes.Queue
	getJSON(t, srv.url+"/v1/queues/600", &qu)
	if qu.Answered != waiting || qu.Abandoned != abandoning || qu.Overflow != 0 || len(qu.Callers) != 0 {
		t.Errorf("the queue counts %d answered, %d abandoned, %d overflow, %d waiting", qu.Answered, qu.Abandoned, qu.Overflow, len(qu.Callers))
	}
	var per []string
	for i := range agents {
		n := strconv.Itoa(2001 + i)
		per = append(per, fmt.Sprintf("%s:%d", n, answeredBy[n]))
	}
	t.Logf("queue load: %d callers (%d waiting for an agent, %d abandoning) into one round-robin queue of %d agents talking %s each",
		waiting+abandoning, waiting, abandoning, agents, talk)
	t.Logf("all %d calls ended as scripted in %s: %v; longest wait %d s; at most %d callers waiting at once",
		len(calls), elapsed.Round(100*time.Millisecond), outcomes, maxWait, len(peak.Callers))
	t.Logf("calls per agent: %s; answered at most %d places away from the order they came in", strings.Join(per, " "), displaced)
	t.Logf("%d webhooks, %d duplicates, %d bad signatures; switchhook used %.2f s of CPU (%.0f%% of one core); load average %s at start, %s at end",
		len(hooks), rcv.duplicates(), rcv.badSignatures(), cpu, cpu/elapsed.Seconds()*100, load0, loadavg())
}

// count counts the webhooks of event kind received so far.
func (r *loadReceiver) count(event string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, h := range r.hooks {
		if h.event == event {
			n++
		}
	}
	return n
}

// getJSON reads an API answer with the harness's admin token.
func getJSON(t *testing.T, url string, out any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func abs(n int) int { return max(n, -n) }
