package e2e

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"
)

// TestLoadDelivery is the delivery load run of docs/benchmarks.md. It is
// skipped unless SWITCHHOOK_LOAD is set, e.g.
//
//	SWITCHHOOK_LOAD=1 go test -run TestLoadDelivery -v -timeout 10m ./e2e
//
// It runs the real process on SQLite with the simulator at a fixed call rate
// (LOAD_CALLS calls at LOAD_RATE calls/s, 7 events each) to one receiver,
// and reports deliveries per second and the latency from the event's
// occurrence to the request's arrival.
func TestLoadDelivery(t *testing.T) {
	if os.Getenv("SWITCHHOOK_LOAD") == "" {
		t.Skip("load run: set SWITCHHOOK_LOAD=1")
	}
	calls := envInt("LOAD_CALLS", 2000)
	rate := envInt("LOAD_RATE", 143) // 143 calls/s × 7 ≈ 1,000 events/s
	rcv := NewReceiver(t)
	StartServer(t, webhookConfig(rcv, "extended", "    max_in_flight: 64\n")+
		fmt.Sprintf("log: {level: warn}\nsimulator: {calls: %d, rate: %d, step: %s}\n", calls, rate, envStr("LOAD_STEP", "0s")))
	want := calls * 7
	hooks := rcv.WaitCount(t, want, 10*time.Minute)
	first, last := hooks[0].Arrived, hooks[len(hooks)-1].Arrived
	lat := make([]time.Duration, 0, len(hooks))
	for _, h := range hooks {
		at, err := time.Parse(time.RFC3339Nano, h.Body["occurred_at"].(string))
		if err != nil {
			t.Fatal(err)
		}
		lat = append(lat, h.Arrived.Sub(at))
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))].Round(100 * time.Microsecond) }
	secs := last.Sub(first).Seconds()
	t.Logf("offered %d events/s; delivered %d events in %.2fs = %.0f/s; event→request p50 %v p90 %v p99 %v max %v",
		rate*7, len(hooks), secs, float64(len(hooks))/secs, pct(0.50), pct(0.90), pct(0.99), lat[len(lat)-1])
	checkCalls(t, hooks)
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func envStr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
