package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/store/postgres/pgtest"
)

// testSender posts test events to one endpoint of a server from several
// clients at once and keeps the event_id of every 2xx answer.
type testSender struct {
	url      string
	endpoint string
	client   *http.Client

	mu       sync.Mutex
	answered []string
	latency  []time.Duration
}

func newTestSender(s *Server, endpoint string, clients int) *testSender {
	return &testSender{
		url:      s.URL + "/v1/endpoints/" + endpoint + "/test",
		endpoint: endpoint,
		client: &http.Client{
			Timeout:   30 * time.Second,
			Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients},
		},
	}
}

// send posts one test event; it returns false when the request failed or
// was not answered 2xx, which a killed server does.
func (ts *testSender) send(ctx context.Context) bool {
	req, err := http.NewRequestWithContext(ctx, "POST", ts.url, bytes.NewReader([]byte("{}")))
	if err != nil {
		return false
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := ts.client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode/100 != 2 {
		return false
	}
	took := time.Since(start)
	var out struct {
		EventID string `json:"event_id"`
	}
	if json.Unmarshal(b, &out) != nil || out.EventID == "" {
		return false
	}
	ts.mu.Lock()
	ts.answered = append(ts.answered, out.EventID)
	ts.latency = append(ts.latency, took)
	ts.mu.Unlock()
	return true
}

// run sends from clients goroutines until ctx is done or one of them sees
// a failed request, and returns the event_ids answered 2xx.
func (ts *testSender) run(ctx context.Context, clients int, each func(answered int64)) []string {
	var wg sync.WaitGroup
	var n atomic.Int64
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if !ts.send(ctx) {
					return
				}
				if each != nil {
					each(n.Add(1))
				}
			}
		}()
	}
	wg.Wait()
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return slices.Clone(ts.answered)
}

// storeConfig is the config's store for a test on store: SQLite in the
// data dir (the harness's), or a PostgreSQL database of the test's own.
func storeConfig(t *testing.T, store string) string {
	if store != "postgres" {
		return ""
	}
	return fmt.Sprintf("store: {dsn: %q}\n", pgtest.DSN(t))
}

// TestAnsweredTestEventsSurviveKill9 sends test events from 8 clients and
// kills the server with SIGKILL the instant the last of a round's answers
// arrives (the other clients' requests still in flight), three rounds,
// restarting in between. Every event_id answered 2xx must reach the
// receiver: a 2xx means committed.
func TestAnsweredTestEventsSurviveKill9(t *testing.T) {
	t.Parallel()
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			const (
				clients  = 8
				rounds   = 3
				perRound = 240
			)
			rcv := newBacklogReceiver(t)
			close(rcv.gate)
			cfg := fmt.Sprintf("webhooks:\n  - url: %q\n    retry_schedule: [0s, 200ms, 500ms, 1s]\nlog: {level: info}\n", rcv.url)
			cfg += storeConfig(t, store)
			srv := StartServer(t, cfg)
			ep := endpointID(t, srv)
			answered := map[string]bool{}
			for round := range rounds {
				if round > 0 {
					srv.Restart()
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				var once sync.Once
				ids := newTestSender(srv, ep, clients).run(ctx, clients, func(n int64) {
					if n >= perRound {
						once.Do(func() { srv.cmd.Process.Signal(syscall.SIGKILL) })
					}
				})
				cancel()
				<-srv.done
				if len(ids) < perRound {
					t.Fatalf("round %d: only %d test events answered before the kill\n%s", round, len(ids), srv.Output())
				}
				for _, id := range ids {
					answered[id] = true
				}
			}
			srv.Restart()
			missing := func() []string {
				rcv.mu.Lock()
				defer rcv.mu.Unlock()
				var out []string
				for id := range answered {
					if !rcv.seen[id] {
						out = append(out, id)
					}
				}
				return out
			}
			for deadline := time.Now().Add(time.Minute); len(missing()) > 0 && time.Now().Before(deadline); {
				time.Sleep(100 * time.Millisecond)
			}
			if m := missing(); len(m) > 0 {
				t.Fatalf("%d of %d test events answered 2xx never arrived, e.g. %s", len(m), len(answered), m[0])
			}
			rcv.mu.Lock()
			extra := len(rcv.seen) - len(answered)
			rcv.mu.Unlock()
			t.Logf("%s: %d answered test events over %d kill -9 rounds all arrived; %d more arrived whose answer was cut off", store, len(answered), rounds, extra)
		})
	}
}

// TestLoadTestPath is the test-path load run of docs/benchmarks.md: for 1, 8
// and 64 clients it posts test events for LOAD_SECONDS (10 by default) and
// reports requests/s and the answer time's p50 and p99. It is skipped unless
// SWITCHHOOK_LOAD is set; LOAD_STORE picks sqlite or postgres (both by
// default):
//
//	SWITCHHOOK_LOAD=1 go test -run TestLoadTestPath -v -timeout 20m ./e2e
func TestLoadTestPath(t *testing.T) {
	if os.Getenv("SWITCHHOOK_LOAD") == "" {
		t.Skip("load run: set SWITCHHOOK_LOAD=1")
	}
	seconds := envInt("LOAD_SECONDS", 10)
	stores := []string{"sqlite", "postgres"}
	if s := os.Getenv("LOAD_STORE"); s != "" {
		stores = strings.Split(s, ",")
	}
	for _, store := range stores {
		for _, clients := range []int{1, 8, 64} {
			t.Run(fmt.Sprintf("%s/%d", store, clients), func(t *testing.T) {
				rcv := newBacklogReceiver(t)
				close(rcv.gate)
				cfg := fmt.Sprintf("webhooks:\n  - url: %q\n    max_in_flight: 64\nlog: {level: warn}\n", rcv.url)
				cfg += storeConfig(t, store)
				srv := StartServer(t, cfg)
				ts := newTestSender(srv, endpointID(t, srv), clients)
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(seconds)*time.Second)
				start := time.Now()
				ids := ts.run(ctx, clients, nil)
				took := time.Since(start)
				cancel()
				lat := slices.Clone(ts.latency)
				slices.Sort(lat)
				pct := func(p float64) time.Duration {
					return lat[int(p*float64(len(lat)-1))].Round(10 * time.Microsecond)
				}
				t.Logf("%s, %d clients: %d test events in %.1fs = %.0f req/s; answer p50 %v p99 %v max %v",
					store, clients, len(ids), took.Seconds(), float64(len(ids))/took.Seconds(), pct(0.5), pct(0.99), lat[len(lat)-1])
				rcv.waitCount(t, len(ids), 2*time.Minute)
			})
		}
	}
}

// TestAPIChangesSurviveKill9 kills switchhook with SIGKILL the instant each
// answer that changes data arrives (endpoint create, update, rotate-secret,
// delete; a delivery's retry; a replay) and checks, after a restart, that
// the change is there: a 2xx means committed.
func TestAPIChangesSurviveKill9(t *testing.T) {
	t.Parallel()
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			cfg := "log: {level: info}\n"
			cfg += storeConfig(t, store)
			rcv := NewReceiver(t)
			srv := StartServer(t, cfg)
			crash := func() { srv.Kill(); srv.Restart() }
			type endpoint struct {
				ID          string `json:"id"`
				Description string `json:"description"`
				Secret      string `json:"secret"`
				MaxInFlight int    `json:"max_in_flight"`
			}

			var ep endpoint
			srv.API("POST", "/v1/endpoints", map[string]any{"url": rcv.URL, "secret": rcv.Secret, "retry_schedule": []string{"0s"}}, http.StatusCreated, &ep)
			crash()
			srv.API("GET", "/v1/endpoints/"+ep.ID, nil, http.StatusOK, nil)

			srv.API("PATCH", "/v1/endpoints/"+ep.ID, map[string]any{"description": "changed before the kill", "max_in_flight": 3}, http.StatusOK, nil)
			crash()
			var got endpoint
			srv.API("GET", "/v1/endpoints/"+ep.ID, nil, http.StatusOK, &got)
			if got.Description != "changed before the kill" || got.MaxInFlight != 3 {
				t.Errorf("after the kill the patched endpoint is %+v", got)
			}

			var rotated endpoint
			srv.API("POST", "/v1/endpoints/"+ep.ID+"/rotate-secret", nil, http.StatusOK, &rotated)
			crash()
			srv.API("GET", "/v1/endpoints/"+ep.ID, nil, http.StatusOK, &got)
			if got.Secret != rotated.Secret || got.Secret == ep.Secret {
				t.Errorf("after the kill the secret is %q, want the rotated %q", got.Secret, rotated.Secret)
			}
			rcv.Secret = rotated.Secret

			// A delivery that failed, retried: the retry survives.
			rcv.Respond(func(Webhook, int) int { return http.StatusInternalServerError })
			var sent struct {
				EventID string `json:"event_id"`
			}
			srv.API("POST", "/v1/endpoints/"+ep.ID+"/test", map[string]any{}, http.StatusAccepted, &sent)
			var failed []struct {
				ID int64 `json:"id"`
			}
			waitUntil(t, 30*time.Second, "the test event's delivery to fail", func() bool {
				srv.API("GET", "/v1/deliveries?status=failed&event_id="+sent.EventID, nil, http.StatusOK, &failed)
				return len(failed) == 1
			})
			rcv.Respond(nil)
			srv.API("POST", fmt.Sprintf("/v1/deliveries/%d/retry", failed[0].ID), nil, http.StatusAccepted, nil)
			crash()
			rcv.WaitFor(t, 30*time.Second, "the retried delivery", func(hooks []Webhook) bool {
				return slices.ContainsFunc(hooks, func(h Webhook) bool { return h.ID == sent.EventID })
			})

			// A replay of the endpoint's events: the deliveries it made survive.
			// It is made once the retried delivery's outcome is recorded, so
			// that this test is about the replay's commit alone.
			waitUntil(t, 30*time.Second, "the retried delivery recorded as succeeded", func() bool {
				var d struct {
					Status string `json:"status"`
				}
				srv.API("GET", fmt.Sprintf("/v1/deliveries/%d", failed[0].ID), nil, http.StatusOK, &d)
				return d.Status == "succeeded"
			})
			var replay struct {
				Deliveries int `json:"deliveries"`
			}
			srv.API("POST", "/v1/endpoints/"+ep.ID+"/replay", map[string]any{"since": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)}, http.StatusAccepted, &replay)
			if replay.Deliveries < 1 {
				t.Fatalf("replay made %d deliveries", replay.Deliveries)
			}
			crash()
			replayed := func() bool {
				n := 0
				for _, h := range rcv.Accepted() {
					if h.ID == sent.EventID {
						n++
					}
				}
				return n >= 2
			}
			for deadline := time.Now().Add(30 * time.Second); !replayed() && time.Now().Before(deadline); {
				time.Sleep(50 * time.Millisecond)
			}
			if !replayed() {
				var ds []map[string]any
				srv.API("GET", "/v1/deliveries?endpoint_id="+ep.ID, nil, http.StatusOK, &ds)
				for _, d := range ds {
					var full map[string]any
					srv.API("GET", fmt.Sprintf("/v1/deliveries/%v", d["id"]), nil, http.StatusOK, &full)
					t.Logf("delivery %+v", full)
				}
				for _, h := range rcv.Accepted() {
					t.Logf("webhook %s at %v", h.ID, h.Arrived)
				}
				t.Fatalf("the replayed event did not arrive")
			}

			srv.API("DELETE", "/v1/endpoints/"+ep.ID, nil, http.StatusNoContent, nil)
			crash()
			srv.API("GET", "/v1/endpoints/"+ep.ID, nil, http.StatusNotFound, nil)
		})
	}
}
