package pbx

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/events"
)

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q is not a positive number", name, v)
	}
	return n
}

// TestLoad drives SIPp calls through the B2BUA alone, its events collected
// in memory rather than recorded and delivered: the PBX's own share of the
// end-to-end load runs (e2e/pbx_load_test.go), with the same scenarios.
// Each call authenticates as its own extension, rings, is answered, sends
// an RFC 4733 digit and streams G.711 both ways for the hold time. It checks
// that every call's events are complete and in order and that nothing
// leaked, and reports CPU and heap. It runs only with PBX_LOAD=1:
//
//	PBX_LOAD=1 PBX_LOAD_RATE=200 PBX_LOAD_SECONDS=30 go test -run 'TestLoad$' -v ./internal/pbx/
func TestLoad(t *testing.T) {
	if os.Getenv("PBX_LOAD") == "" || testing.Short() {
		t.Skip("load run: set PBX_LOAD=1")
	}
	rate := envInt(t, "PBX_LOAD_RATE", 50)
	seconds := envInt(t, "PBX_LOAD_SECONDS", 60)
	holdMS := envInt(t, "PBX_LOAD_HOLD_MS", 1000)
	calls := rate * seconds
	callers := min(calls, 5000)
	tp := startPBX(t, func(c *Config) {
		c.RingTimeout = 30 * time.Second
		c.Extensions = slices.Clone(c.Extensions)
		for i := range callers {
			n := strconv.Itoa(10000 + i)
			c.Extensions = append(c.Extensions, Extension{Number: n, Password: "pw-" + n})
		}
	})
	writeLoadFiles(t, tp.dir, callers)
	calleePort := freePort(t)
	tp.register(t, "1002", calleePort, "udp")

	var base runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&base)
	var allocs0 runtime.MemStats
	runtime.ReadMemStats(&allocs0)
	limit := strconv.Itoa(calls)
	timeout := strconv.Itoa(seconds+120) + "s"
	start := time.Now()
	cpu0 := cpuTicks(os.Getpid())
	callee := tp.sipp(t, "load_callee.xml", "", calleePort, "-s", "1002", "-m", limit, "-timeout", timeout)
	caller := tp.sipp(t, "load_caller.xml", tp.udp, 0, "-s", "1002", "-inf", "callers.csv",
		"-m", limit, "-l", limit, "-r", strconv.Itoa(rate), "-d", strconv.Itoa(holdMS), "-timeout", timeout)
	sipp0 := cpuTicks(caller.cmd.Process.Pid) + cpuTicks(callee.cmd.Process.Pid)

	// Sample the concurrency and the heap while the run goes.
	peakCalls, peakHeap, peakEvents := 0, uint64(0), 0
	var sippTicks int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		var m runtime.MemStats
		for tp.events.hangups() < calls && time.Since(start) < time.Duration(seconds+120)*time.Second {
			if n := tp.activeCalls(); n > peakCalls {
				// Collect first, so that the heap is what is live.
				runtime.GC()
				runtime.ReadMemStats(&m)
				peakCalls, peakHeap, peakEvents = n, m.HeapInuse, tp.events.count()
			}
			if n := cpuTicks(caller.cmd.Process.Pid) + cpuTicks(callee.cmd.Process.Pid); n > sippTicks {
				sippTicks = n
			}
			time.Sleep(250 * time.Millisecond)
		}
	}()
	caller.waitFor(t, tp.dir, time.Duration(seconds+150)*time.Second)
	callee.waitFor(t, tp.dir, 60*time.Second)
	tp.events.waitHangups(t, calls, 30*time.Second)
	<-done
	elapsed := time.Since(start)
	var allocs runtime.MemStats
	runtime.ReadMemStats(&allocs)
	cpuTicks := cpuTicks(os.Getpid()) - cpu0
	cpu := float64(cpuTicks) / 100 / elapsed.Seconds() * 100
	sippCPU := float64(sippTicks-sipp0) / 100 / elapsed.Seconds() * 100

	got := byCall(tp.events.all())
	if len(got) != calls {
		t.Fatalf("%d calls emitted events, want %d", len(got), calls)
	}
	for _, c := range got {
		checkCall(t, c, c[0].CallerIDNumber, start, []want{
			routed1002,
			{kind: events.CallRinging, dest: "1002", leg: "B"},
			{kind: events.CallAnswer, dest: "1002", leg: "B"},
			{kind: events.CallInput, dest: "1002", leg: "A", party: events.Caller, digit: "1", dur: 280 * time.Millisecond},
			{kind: events.CallHangup, dest: "1002", leg: "A", hangup: &events.Hangup{Cause: events.CauseNormalClearing, SIPCode: 200, By: events.Caller}},
		})
		if t.Failed() {
			break
		}
	}
	// Once every call is over the heap holds the collected events only,
	// which gives their cost; the heap at the peak less the idle heap and
	// the events collected by then is what the live calls took.
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	perEvent := float64(after.HeapInuse-min(after.HeapInuse, base.HeapInuse)) / float64(tp.events.count())
	live := float64(peakHeap) - float64(base.HeapInuse) - perEvent*float64(peakEvents)
	perCall := max(0, live) / float64(max(1, peakCalls)) / 1024
	t.Logf("%d calls at %d/s (%d ms of audio each) in %s: all complete and in order; peak %d concurrent calls, ~%.0f KiB of heap per live call (idle heap %.1f MiB)",
		calls, rate, holdMS, elapsed.Round(time.Second), peakCalls, perCall, float64(base.HeapInuse)/(1<<20))
	t.Logf("CPU in %% of one core over the run: PBX (this test process) %.0f%% (%.2f ms a call), SIPp caller and callee %.0f%%",
		cpu, float64(cpuTicks)*10/float64(calls), sippCPU)
	// What the process allocated over the run, a call: the PBX's garbage,
	// which the collector's share of the CPU follows. The sampler's
	// collections above and the events kept in memory are in it too.
	t.Logf("allocated a call: %.1f KiB in %.0f objects; %d collections over the run",
		float64(allocs.TotalAlloc-allocs0.TotalAlloc)/1024/float64(calls),
		float64(allocs.Mallocs-allocs0.Mallocs)/float64(calls), allocs.NumGC-allocs0.NumGC)
}

// writeLoadFiles puts in dir what the load scenarios read: the callers'
// credentials (load_caller.xml's injection file) and a second of A-law
// silence for rtp_stream.
func writeLoadFiles(t *testing.T, dir string, callers int) {
	t.Helper()
	var csv strings.Builder
	csv.WriteString("SEQUENTIAL\n")
	for i := range callers {
		n := strconv.Itoa(10000 + i)
		fmt.Fprintf(&csv, "%s;[authentication username=%s password=pw-%s]\n", n, n, n)
	}
	if err := os.WriteFile(filepath.Join(dir, "callers.csv"), []byte(csv.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	// 0xD5 is A-law's zero.
	if err := os.WriteFile(filepath.Join(dir, "load.alaw"), bytes.Repeat([]byte{0xD5}, 8000), 0o600); err != nil {
		t.Fatal(err)
	}
}

// cpuTicks is the CPU time of process pid so far, in clock ticks (1/100 s).
func cpuTicks(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return utime + stime
}

// liveCalls makes a PBX that only keeps books, with n answered calls of two
// dialogs each, and returns it and its calls.
func liveCalls(n int) (*PBX, []*call) {
	p := &PBX{calls: map[string]*call{}, dialogs: map[string]*dialogLeg{}}
	calls := make([]*call, n)
	for i := range calls {
		c := &call{p: p, id: fmt.Sprintf("call-%d", i)}
		c.a = &dialogLeg{c: c}
		b := &dialogLeg{c: c}
		p.calls[c.id] = c
		p.addDialog(c.id+"/a", c.a)
		p.addDialog(c.id+"/b", b)
		calls[i] = c
	}
	return p, calls
}

// An ended call's dialogs go, and only its: the others' in-dialog requests
// still find their legs.
func TestForgetDropsOnlyItsDialogs(t *testing.T) {
	p, calls := liveCalls(3)
	p.forget(calls[1])
	if _, ok := p.calls[calls[1].id]; ok || len(p.calls) != 2 {
		t.Errorf("calls after forgetting %s: %v", calls[1].id, p.calls)
	}
	for _, c := range calls {
		for _, side := range []string{"/a", "/b"} {
			l, ok := p.dialogs[c.id+side]
			if want := c != calls[1]; ok != want || ok && l.c != c {
				t.Errorf("dialog %s%s: found %v (leg of %v), want found %v", c.id, side, ok, l, want)
			}
		}
	}
}

// BenchmarkCallEnd is the PBX's book-keeping as one call ends while 1,000
// others are up, as in the 1,000-call load run: it runs under the lock every
// in-dialog request takes.
func BenchmarkCallEnd(b *testing.B) {
	p, _ := liveCalls(1000)
	for i := 0; b.Loop(); i++ {
		c := &call{p: p, id: fmt.Sprintf("extra-%d", i)}
		c.a = &dialogLeg{c: c}
		p.calls[c.id] = c
		p.addDialog(c.id+"/a", c.a)
		p.addDialog(c.id+"/b", &dialogLeg{c: c})
		p.forget(c)
	}
}

// Each Emit of a call has its own time: one that runs out ends only its
// own context, the next gets a fresh one, and the PBX stopping ends none.
func TestEmitBound(t *testing.T) {
	t.Parallel()
	base, stopPBX := context.WithCancel(context.Background())
	stopPBX()
	var b emitBound
	ctx := b.start(base, time.Hour)
	b.stop()
	if again := b.start(base, time.Hour); again != ctx || again.Err() != nil {
		t.Fatalf("a second Emit in time: context %p (first %p), err %v", again, ctx, again.Err())
	}
	b.stop()
	ctx = b.start(base, time.Millisecond)
	select {
	case <-ctx.Done():
	case <-time.After(time.Minute):
		t.Fatal("an Emit's time did not run out")
	}
	b.stop()
	next := b.start(base, time.Hour)
	defer b.stop()
	if next == ctx || next.Err() != nil {
		t.Fatalf("after an Emit ran out of time: the same context %v, err %v", next == ctx, next.Err())
	}
}
