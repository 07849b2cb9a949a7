package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// webhookConfig declares one endpoint for r, in the given payload profile.
func webhookConfig(r *Receiver, profile string, extra string) string {
	return fmt.Sprintf("webhooks:\n  - url: %q\n    payload: %s\n    secret: %q\n    retry_schedule: [0s, 200ms, 500ms, 1s, 2s]\n%s", r.URL, profile, r.Secret, extra)
}

func TestTestEventIsSignedAndDelivered(t *testing.T) {
	rcv := NewReceiver(t)
	srv := StartServer(t, "")
	var ep struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	srv.API("POST", "/v1/endpoints", map[string]any{"url": rcv.URL, "payload": "extended", "secret": rcv.Secret}, http.StatusCreated, &ep)
	var sent struct {
		EventID  string `json:"event_id"`
		CallUUID string `json:"call_uuid"`
	}
	srv.API("POST", "/v1/endpoints/"+ep.ID+"/test", map[string]any{"event": "CALL_INPUT"}, http.StatusAccepted, &sent)
	got := rcv.WaitCount(t, 1, 10*time.Second)
	h := got[0]
	if h.ID != sent.EventID || h.Event() != "CALL_INPUT" || h.CallUUID() != sent.CallUUID || h.Body["event_id"] != sent.EventID {
		t.Errorf("webhook %s %s, want id %s call %s", h.ID, h.Raw, sent.EventID, sent.CallUUID)
	}
	if _, ok := h.Body["digit_duration"].(float64); !ok {
		t.Errorf("digit_duration is not a number: %s", h.Raw)
	}
	if ua := h.Header.Get("User-Agent"); !strings.HasPrefix(ua, "switchhook/") {
		t.Errorf("User-Agent = %q", ua)
	}
	// The attempt is recorded and visible through the API.
	var call struct {
		Deliveries []struct {
			Status   string `json:"status"`
			Attempts []struct {
				StatusCode int `json:"status_code"`
			} `json:"attempts"`
		} `json:"deliveries"`
	}
	waitUntil(t, 5*time.Second, "the delivery to be recorded as succeeded", func() bool {
		var list []map[string]any
		srv.API("GET", "/v1/deliveries?call_uuid="+sent.CallUUID, nil, 200, &list)
		return len(list) == 1 && list[0]["status"] == "succeeded"
	})
	_ = call
	if rcv.BadSignatures() != 0 {
		t.Errorf("%d requests failed signature verification", rcv.BadSignatures())
	}
}

// checkCalls asserts that every call the receiver saw is complete and in
// order: sequence 1, 2, 3 … in arrival order, CALL_ROUTED first, one
// CALL_HANGUP last; and that duplicates only repeat a webhook-id.
func checkCalls(t *testing.T, hooks []Webhook) map[string][]Webhook {
	t.Helper()
	seqID := map[string]string{}
	for _, h := range hooks {
		key := fmt.Sprintf("%s/%v", h.CallUUID(), h.Body["sequence"])
		if id, ok := seqID[key]; ok && id != h.ID {
			t.Errorf("call %s sequence %v came with two webhook-ids %s and %s", h.CallUUID(), h.Body["sequence"], id, h.ID)
		}
		seqID[key] = h.ID
	}
	calls := ByCall(hooks)
	for id, hs := range calls {
		for i, h := range hs {
			if seq, _ := h.Body["sequence"].(float64); int(seq) != i+1 {
				t.Errorf("call %s: webhook %d has sequence %v: %v", id, i, h.Body["sequence"], Events(hs))
				break
			}
		}
		if hs[0].Event() != "CALL_ROUTED" || hs[len(hs)-1].Event() != "CALL_HANGUP" {
			t.Errorf("call %s: %v, want CALL_ROUTED … CALL_HANGUP", id, Events(hs))
		}
	}
	return calls
}

func TestSimulatedCallsArriveCompleteAndInOrder(t *testing.T) {
	rcv := NewReceiver(t)
	StartServer(t, webhookConfig(rcv, "extended", "")+"simulator: {calls: 40, rate: 200}\n")
	hooks := rcv.WaitCount(t, 40*7, 30*time.Second)
	calls := checkCalls(t, hooks)
	if len(calls) != 40 {
		t.Errorf("%d calls, want 40", len(calls))
	}
	for _, hs := range calls {
		want := "CALL_ROUTED CALL_RINGING CALL_ANSWER CALL_INPUT CALL_HOLD CALL_UNHOLD CALL_HANGUP"
		if got := strings.Join(Events(hs), " "); got != want {
			t.Errorf("events %s, want %s", got, want)
		}
	}
}

// TestKillDuringBurstLosesNothing kills the process with SIGKILL while it
// delivers a burst, restarts it, and checks that every call arrives complete
// and in order: events committed before the crash are delivered after it,
// and calls cut short get their CALL_HANGUP with cause SYSTEM_SHUTDOWN.
func TestKillDuringBurstLosesNothing(t *testing.T) {
	rcv := NewReceiver(t)
	// A slow receiver makes a backlog, so the kill lands mid-delivery.
	rcv.Respond(func(Webhook, int) int { time.Sleep(2 * time.Millisecond); return 200 })
	hooks := webhookConfig(rcv, "extended", "    max_in_flight: 4\n")
	// Calls last about 0.7s each and overlap, so some are up at the kill.
	srv := StartServer(t, hooks+"simulator: {calls: 400, rate: 200, step: 100ms}\n")
	rcv.WaitCount(t, 300, 30*time.Second)
	srv.Kill()
	before := len(rcv.Accepted())

	// Restart without the simulator: only what was committed is delivered.
	rewriteConfig(t, srv, hooks)
	srv.Restart()
	var pending []map[string]any
	waitUntil(t, 60*time.Second, "no pending deliveries", func() bool {
		srv.API("GET", "/v1/deliveries?status=pending&limit=10", nil, 200, &pending)
		return len(pending) == 0
	})
	var failed []map[string]any
	srv.API("GET", "/v1/deliveries?status=failed&limit=10", nil, 200, &failed)
	if len(failed) != 0 {
		t.Errorf("%d deliveries failed: %v", len(failed), failed)
	}
	all := rcv.Accepted()
	calls := checkCalls(t, all)
	shutdown := 0
	for _, hs := range calls {
		if hs[len(hs)-1].Body["hangup_cause"] == "SYSTEM_SHUTDOWN" {
			shutdown++
		}
	}
	t.Logf("%d webhooks before the kill, %d after the restart; %d calls, %d ended by SYSTEM_SHUTDOWN", before, len(all), len(calls), shutdown)
	if len(all) <= before {
		t.Errorf("nothing was delivered after the restart")
	}
	if shutdown == 0 {
		t.Errorf("no call was up at the kill: the test did not test recovery")
	}
}

// TestSIGTERMFinishesInFlightAndLosesNothing stops the process gracefully
// during a burst; it must exit within its shutdown bound, and a restart
// delivers the rest.
func TestSIGTERMFinishesInFlightAndLosesNothing(t *testing.T) {
	rcv := NewReceiver(t)
	rcv.Respond(func(Webhook, int) int { time.Sleep(2 * time.Millisecond); return 200 })
	hooks := webhookConfig(rcv, "extended", "    max_in_flight: 4\n")
	srv := StartServer(t, hooks+"simulator: {calls: 200, rate: 200, step: 50ms}\n")
	rcv.WaitCount(t, 100, 30*time.Second)
	start := time.Now()
	if err := srv.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	t.Logf("stopped %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	rewriteConfig(t, srv, hooks)
	srv.Restart()
	all := rcv.WaitFor(t, 60*time.Second, "every call to end", func(hs []Webhook) bool {
		calls := ByCall(hs)
		for _, c := range calls {
			if c[len(c)-1].Event() != "CALL_HANGUP" {
				return false
			}
		}
		return len(calls) > 0
	})
	checkCalls(t, all)
}
