package delivery

import (
	"math"
	"sync"
	"time"
)

// HealthWindow is how far back Health remembers, in one-minute buckets.
const HealthWindow = time.Hour

const (
	healthMinutes = int(HealthWindow / time.Minute)
	// Latency buckets grow by √2 from 1 ms, so a percentile read from them
	// is within about 20% of the truth; bucket 0 holds everything under
	// 1 ms and the last everything over about 65 s (beyond any timeout).
	latencyBuckets = 34
)

// Health keeps, in memory, what the last hour of deliveries looked like: per
// endpoint and per minute, the attempts, the failures and a latency
// histogram, plus the events committed per minute. It is what the dashboard
// charts. It is not the record (the store is): it starts empty with the
// process and sees only this process's attempts.
//
// The engine tells it each attempt's outcome when Options.Health is set. A
// nil *Health records nothing and reports nothing.
type Health struct {
	mu        sync.Mutex
	since     time.Time
	events    [healthMinutes]eventMinute
	all       series
	endpoints map[string]*series
	swept     int64 // the minute of the last sweep of idle endpoints
}

type eventMinute struct {
	minute int64 // Unix minutes; a slot of another minute is stale
	n      int
}

// series is a ring of one-minute buckets, indexed by Unix minute.
type series struct {
	slots [healthMinutes]bucket
	last  int64 // the latest minute recorded
}

type bucket struct {
	minute   int64
	attempts int
	failures int
	latency  [latencyBuckets]uint32
}

// NewHealth returns an empty Health that starts counting at now.
func NewHealth(now time.Time) *Health {
	return &Health{since: now, endpoints: map[string]*series{}}
}

// Observe records one attempt to endpointID made at at, which took latency
// and was accepted (2xx) or not.
func (h *Health) Observe(endpointID string, at time.Time, latency time.Duration, ok bool) {
	if h == nil {
		return
	}
	m := unixMinute(at)
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.endpoints[endpointID]
	if s == nil {
		s = &series{}
		h.endpoints[endpointID] = s
	}
	s.add(m, latency, ok)
	h.all.add(m, latency, ok)
	h.sweep(m)
}

// CountEvent records one event committed at at.
func (h *Health) CountEvent(at time.Time) {
	if h == nil {
		return
	}
	m := unixMinute(at)
	h.mu.Lock()
	defer h.mu.Unlock()
	slot := &h.events[m%int64(healthMinutes)]
	if slot.minute != m {
		*slot = eventMinute{minute: m}
	}
	slot.n++
}

// sweep forgets, once a minute, the endpoints with no attempt in the window,
// so deleted endpoints do not stay in memory. h.mu is held.
func (h *Health) sweep(now int64) {
	if now == h.swept {
		return
	}
	h.swept = now
	for id, s := range h.endpoints {
		if now-s.last >= int64(healthMinutes) {
			delete(h.endpoints, id)
		}
	}
}

func (s *series) add(m int64, latency time.Duration, ok bool) {
	b := &s.slots[m%int64(healthMinutes)]
	if b.minute != m {
		*b = bucket{minute: m}
	}
	b.attempts++
	if !ok {
		b.failures++
	}
	b.latency[latencyBucket(latency)]++
	s.last = max(s.last, m)
}

// HealthMinute is one minute of attempts.
type HealthMinute struct {
	At       time.Time // the minute's start
	Attempts int
	Failures int
	// P50 and P99 are the latency percentiles of the minute's attempts,
	// estimated from the histogram; zero when there were none.
	P50, P99 time.Duration
}

// HealthSummary is an endpoint's (or every endpoint's) last hour.
type HealthSummary struct {
	// Since is when counting began: the start of the window, or the
	// process's start if later. Minutes before it are unknown, not idle.
	Since    time.Time
	Attempts int
	Failures int
	P50, P99 time.Duration
	// Minutes are the window's minutes, oldest first, the current last.
	Minutes []HealthMinute
}

// EventsMinute is how many events were committed in one minute.
type EventsMinute struct {
	At     time.Time
	Events int
}

// Endpoint summarizes endpointID's last hour as of now.
func (h *Health) Endpoint(endpointID string, now time.Time) HealthSummary {
	if h == nil {
		return emptySummary(now, now)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.endpoints[endpointID]
	if s == nil {
		s = &series{}
	}
	return s.summary(h.since, now)
}

// All summarizes every endpoint's attempts together.
func (h *Health) All(now time.Time) HealthSummary {
	if h == nil {
		return emptySummary(now, now)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.all.summary(h.since, now)
}

// Events returns the events committed per minute in the window, oldest
// first, and when counting began.
func (h *Health) Events(now time.Time) ([]EventsMinute, time.Time) {
	out := make([]EventsMinute, healthMinutes)
	cur := unixMinute(now)
	since := now
	if h != nil {
		h.mu.Lock()
		defer h.mu.Unlock()
		since = h.since
	}
	for i := range out {
		m := cur - int64(healthMinutes-1-i)
		out[i].At = time.Unix(m*60, 0).UTC()
		if h != nil {
			if slot := h.events[m%int64(healthMinutes)]; slot.minute == m {
				out[i].Events = slot.n
			}
		}
	}
	return out, windowStart(since, now)
}

func emptySummary(since, now time.Time) HealthSummary {
	var s series
	return s.summary(since, now)
}

func (s *series) summary(since, now time.Time) HealthSummary {
	cur := unixMinute(now)
	out := HealthSummary{Since: windowStart(since, now), Minutes: make([]HealthMinute, healthMinutes)}
	var total [latencyBuckets]uint32
	for i := range out.Minutes {
		m := cur - int64(healthMinutes-1-i)
		hm := HealthMinute{At: time.Unix(m*60, 0).UTC()}
		if b := &s.slots[m%int64(healthMinutes)]; b.minute == m {
			hm.Attempts, hm.Failures = b.attempts, b.failures
			hm.P50, hm.P99 = percentile(&b.latency, 0.50), percentile(&b.latency, 0.99)
			for j, n := range b.latency {
				total[j] += n
			}
			out.Attempts += b.attempts
			out.Failures += b.failures
		}
		out.Minutes[i] = hm
	}
	out.P50, out.P99 = percentile(&total, 0.50), percentile(&total, 0.99)
	return out
}

// windowStart is the later of since and the window's first minute.
func windowStart(since, now time.Time) time.Time {
	first := time.Unix((unixMinute(now)-int64(healthMinutes-1))*60, 0).UTC()
	if since.After(first) {
		return since.UTC()
	}
	return first
}

func unixMinute(t time.Time) int64 { return t.Unix() / 60 }

// latencyBucket is the bucket of d: 0 under 1 ms, then i for
// [2^((i-1)/2), 2^(i/2)) ms.
func latencyBucket(d time.Duration) int {
	ms := float64(d) / float64(time.Millisecond)
	if ms < 1 {
		return 0
	}
	return min(1+int(2*math.Log2(ms)), latencyBuckets-1)
}

// bucketBounds returns the latency range of bucket i.
func bucketBounds(i int) (lo, hi time.Duration) {
	if i == 0 {
		return 0, time.Millisecond
	}
	ms := func(x float64) time.Duration { return time.Duration(x * float64(time.Millisecond)) }
	return ms(math.Exp2(float64(i-1) / 2)), ms(math.Exp2(float64(i) / 2))
}

// percentile estimates the q-quantile of a histogram, interpolating within
// the bucket it falls in; zero for an empty one.
func percentile(h *[latencyBuckets]uint32, q float64) time.Duration {
	var n uint64
	for _, c := range h {
		n += uint64(c)
	}
	if n == 0 {
		return 0
	}
	rank := q * float64(n)
	var seen float64
	for i, c := range h {
		if c == 0 {
			continue
		}
		if seen+float64(c) >= rank {
			lo, hi := bucketBounds(i)
			frac := (rank - seen) / float64(c)
			return lo + time.Duration(frac*float64(hi-lo))
		}
		seen += float64(c)
	}
	_, hi := bucketBounds(latencyBuckets - 1)
	return hi
}
