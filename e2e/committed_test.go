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
			if store == "postgres" {
				cfg += fmt.Sprintf("store: {dsn: %q}\n", pgtest.DSN(t))
			}
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
				if store == "postgres" {
					cfg += fmt.Sprintf("store: {dsn: %q}\n", pgtest.DSN(t))
				}
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
