package sipauth

import (
	"net/netip"
	"sync"
	"time"
)

// Limiter slows down addresses that keep failing authentication, the usual
// shape of password guessing against a PBX: after Threshold failures within
// Window, the address is refused for a backoff that doubles with each further
// failure, up to MaxBackoff. A success clears the address.
type Limiter struct {
	threshold  int
	window     time.Duration
	backoff    time.Duration
	maxBackoff time.Duration
	maxEntries int
	now        func() time.Time

	mu      sync.Mutex
	entries map[netip.Addr]*failures
}

type failures struct {
	count int
	last  time.Time
	until time.Time
}

// LimiterConfig sets a Limiter's thresholds; zero fields take the defaults.
type LimiterConfig struct {
	Threshold  int           // failures before the first block (default 5)
	Window     time.Duration // failures older than this are forgotten (default 10m)
	Backoff    time.Duration // first block (default 1s)
	MaxBackoff time.Duration // longest block (default 5m)
	MaxEntries int           // addresses tracked at most (default 100000)
	Now        func() time.Time
}

// NewLimiter makes a Limiter.
func NewLimiter(c LimiterConfig) *Limiter {
	l := &Limiter{
		threshold: c.Threshold, window: c.Window, backoff: c.Backoff, maxBackoff: c.MaxBackoff,
		maxEntries: c.MaxEntries, now: c.Now, entries: make(map[netip.Addr]*failures),
	}
	if l.threshold <= 0 {
		l.threshold = 5
	}
	if l.window <= 0 {
		l.window = 10 * time.Minute
	}
	if l.backoff <= 0 {
		l.backoff = time.Second
	}
	if l.maxBackoff <= 0 {
		l.maxBackoff = 5 * time.Minute
	}
	if l.maxEntries <= 0 {
		l.maxEntries = 100000
	}
	if l.now == nil {
		l.now = time.Now
	}
	return l
}

// Blocked reports whether ip is refused now, and for how much longer.
func (l *Limiter) Blocked(ip netip.Addr) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.entries[ip]
	if !ok {
		return 0, false
	}
	if left := f.until.Sub(l.now()); left > 0 {
		return left, true
	}
	return 0, false
}

// Fail records a failed authentication from ip.
func (l *Limiter) Fail(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	f, ok := l.entries[ip]
	if !ok {
		if len(l.entries) >= l.maxEntries {
			l.prune(now)
		}
		f = &failures{}
		l.entries[ip] = f
	}
	if now.Sub(f.last) > l.window {
		f.count = 0
	}
	f.count++
	f.last = now
	if over := f.count - l.threshold; over >= 0 {
		d := l.backoff << min(over, 30)
		if d <= 0 || d > l.maxBackoff {
			d = l.maxBackoff
		}
		f.until = now.Add(d)
	}
}

// Succeed forgets ip's failures.
func (l *Limiter) Succeed(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.entries, ip)
}

// prune drops addresses that are neither blocked nor recently failing, and
// when that is not enough, all of them: the map must stay bounded under a
// flood of spoofed addresses.
func (l *Limiter) prune(now time.Time) {
	for ip, f := range l.entries {
		if now.After(f.until) && now.Sub(f.last) > l.window {
			delete(l.entries, ip)
		}
	}
	if len(l.entries) >= l.maxEntries {
		clear(l.entries)
	}
}
