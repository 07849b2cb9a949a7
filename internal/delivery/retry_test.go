package delivery

import (
	"net/http"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 27, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		header string
		want   time.Duration
		ok     bool
	}{
		{"120", 2 * time.Minute, true},
		{" 7 ", 7 * time.Second, true},
		{"0", 0, true},
		{"99999999", MaxRetryAfter, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
		{now.Add(48 * time.Hour).Format(http.TimeFormat), MaxRetryAfter, true},
		{"", 0, false},
		{"-5", 0, false},
		{"soon", 0, false},
		{"1.5", 0, false},
	}
	for _, c := range cases {
		got, ok := retryAfter(c.header, now)
		if got != c.want || ok != c.ok {
			t.Errorf("retryAfter(%q) = %v, %v; want %v, %v", c.header, got, ok, c.want, c.ok)
		}
	}
}

func TestJitterStaysWithinTwentyPercent(t *testing.T) {
	const d = 10 * time.Second
	lo, hi := d, d
	for range 2000 {
		j := jitter(d)
		lo, hi = min(lo, j), max(hi, j)
	}
	if lo < 8*time.Second || hi > 12*time.Second {
		t.Fatalf("jitter ranged over [%v, %v], want within [8s, 12s]", lo, hi)
	}
	if hi-lo < 2*time.Second {
		t.Fatalf("jitter ranged over [%v, %v] only: not spread", lo, hi)
	}
	if jitter(0) != 0 {
		t.Fatal("jitter(0) != 0")
	}
}

func TestCircuitPauseGrowsToItsCap(t *testing.T) {
	o := Options{}
	o.setDefaults()
	r := &runner{e: &Engine{o: o}}
	want := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second,
		160 * time.Second, 320 * time.Second, 10 * time.Minute, 10 * time.Minute}
	for i, w := range want {
		if got := r.pause(o.CircuitFailures + i); got != w {
			t.Errorf("pause after %d failures = %v, want %v", o.CircuitFailures+i, got, w)
		}
	}
	if got := r.pause(1_000_000); got != 10*time.Minute {
		t.Errorf("pause after a million failures = %v", got)
	}
}
