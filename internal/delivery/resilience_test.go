package delivery_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/delivery"
	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/signature"
	"github.com/switchhook/switchhook/internal/store"
	"github.com/switchhook/switchhook/receiver"
)

func TestSlowEndpointDoesNotHoldBackAnother(t *testing.T) {
	st := openStore(t)
	release := make(chan struct{})
	slow := newHook(t, func(n int, r received, w http.ResponseWriter) {
		select {
		case <-release:
		case <-time.After(waitLimit):
		}
		w.WriteHeader(http.StatusNoContent)
	})
	fast := newHook(t, nil)
	slowEP := endpoint(t, st, slow.srv.URL, func(ep *store.Endpoint) { ep.MaxInFlight = 2; ep.Timeout = time.Minute })
	fastEP := endpoint(t, st, fast.srv.URL, nil)
	slow.forEndpoint(slowEP)
	fast.forEndpoint(fastEP)
	eng := start(t, st, testOptions(t))
	for range 5 {
		emit(t, st, eng, call(3)...)
	}
	waitFor(t, "fast endpoint got every event", allStatus(t, st, fastEP.ID, 15, store.Succeeded))
	if n := len(slow.got()); n > 2 {
		t.Errorf("slow endpoint has %d requests in flight, more than its MaxInFlight 2", n)
	}
	close(release)
	waitFor(t, "slow endpoint got every event", allStatus(t, st, slowEP.ID, 15, store.Succeeded))
}

func TestReplay(t *testing.T) {
	st := openStore(t)
	h := newHook(t, nil)
	ep := endpoint(t, st, h.srv.URL, nil)
	h.forEndpoint(ep)
	eng := start(t, st, testOptions(t))
	evs := call(3)
	emit(t, st, eng, evs...)
	waitFor(t, "delivered", allStatus(t, st, ep.ID, 3, store.Succeeded))

	n, err := st.Replay(context.Background(), ep.ID, store.ReplayFilter{
		Since: evs[0].OccurredAt.Add(-time.Minute), Until: time.Now().Add(time.Minute),
	}, time.Now())
	if err != nil || n != 3 {
		t.Fatalf("Replay = %d, %v", n, err)
	}
	eng.Wake()
	waitFor(t, "replayed", allStatus(t, st, ep.ID, 6, store.Succeeded))
	got := h.got()
	for i, r := range got {
		if want := evs[i%3].ID; r.Event.WebhookID != want {
			t.Errorf("request %d is event %s, want %s (original order, then replay in order)", i, r.Event.WebhookID, want)
		}
	}
}

func TestSecretRotation(t *testing.T) {
	st := openStore(t)
	current, old, expired := signature.NewSecret(), signature.NewSecret(), signature.NewSecret()
	h := newHook(t, nil)
	ep := endpoint(t, st, h.srv.URL, func(ep *store.Endpoint) {
		ep.Secrets = []store.Secret{
			{Value: current},
			{Value: old, ExpiresAt: time.Now().Add(time.Hour)},
			{Value: expired, ExpiresAt: time.Now().Add(-time.Second)},
		}
	})
	h.secrets = []string{current, old} // each must verify
	eng := start(t, st, testOptions(t))
	emit(t, st, eng, call(1)...)
	waitFor(t, "delivered", allStatus(t, st, ep.ID, 1, store.Succeeded))

	r := h.got()[0]
	sigs := strings.Fields(r.Header.Get(receiver.HeaderSignature))
	if len(sigs) != 2 {
		t.Fatalf("webhook-signature %q: want two signatures, the current and the rotated-out secret's", sigs)
	}
	body, err := eventBody(t, st, ep, r.Event.WebhookID)
	if err != nil {
		t.Fatal(err)
	}
	if err := receiver.Verify(expired, r.Header, body, 0); err == nil {
		t.Error("the expired secret still signs")
	}
}

// eventBody renders the stored event id as ep receives it.
func eventBody(t *testing.T, st store.Store, ep *store.Endpoint, id string) ([]byte, error) {
	t.Helper()
	evs, err := st.ListEvents(context.Background(), store.EventFilter{})
	if err != nil {
		return nil, err
	}
	for _, e := range evs {
		if e.ID == id {
			return e.Payload(ep.Profile, time.UTC)
		}
	}
	t.Fatalf("event %s not stored", id)
	return nil, nil
}

// After CircuitFailures failures in a row the endpoint is paused without
// spending attempts; a failed probe pauses it longer; a successful one
// closes the circuit.
func TestCircuitOpensAndClosesAfterProbe(t *testing.T) {
	st := openStore(t)
	const failures = 4 // 3 open the circuit, the 4th is a failed probe
	var (
		mu   sync.Mutex
		seen []store.Circuit // the stored circuit as each request arrives
		epID string
	)
	h := newHook(t, func(n int, r received, w http.ResponseWriter) {
		got, err := st.GetEndpoint(context.Background(), epID)
		if err != nil {
			t.Error(err)
			return
		}
		mu.Lock()
		seen = append(seen, got.Circuit)
		mu.Unlock()
		if n <= failures {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	ep := endpoint(t, st, h.srv.URL, func(ep *store.Endpoint) {
		ep.MaxInFlight = 1
		ep.RetrySchedule = make([]time.Duration, 100)
		for i := range ep.RetrySchedule {
			ep.RetrySchedule[i] = 5 * time.Millisecond
		}
	})
	epID = ep.ID
	h.forEndpoint(ep)
	o := testOptions(t)
	o.CircuitFailures = 3
	o.CircuitPause = 150 * time.Millisecond
	eng := start(t, st, o)
	emit(t, st, eng, call(1)...)
	emit(t, st, eng, call(1)...)

	waitFor(t, "both delivered", allStatus(t, st, ep.ID, 2, store.Succeeded))
	if c := getEndpoint(t, st, ep.ID).Circuit; c.State != store.CircuitClosed || c.ConsecutiveFailures != 0 || !c.FailingSince.IsZero() {
		t.Errorf("circuit after success %+v, want closed and reset", c)
	}

	got := h.got()
	if len(got) != failures+2 {
		t.Fatalf("hook got %d requests, want %d: paused deliveries must not be tried", len(got), failures+2)
	}
	mu.Lock()
	defer mu.Unlock()
	// Requests 4 and 5 are probes of a half-open circuit, after 3 and 4
	// failures in a row; request 6 finds it closed.
	for i, want := range map[int]store.Circuit{
		3: {State: store.CircuitHalfOpen, ConsecutiveFailures: 3},
		4: {State: store.CircuitHalfOpen, ConsecutiveFailures: 4},
		5: {State: store.CircuitClosed},
	} {
		if c := seen[i]; c.State != want.State || c.ConsecutiveFailures != want.ConsecutiveFailures {
			t.Errorf("request %d found the circuit %s after %d failures, want %s after %d", i+1, c.State, c.ConsecutiveFailures, want.State, want.ConsecutiveFailures)
		}
	}
	if seen[3].FailingSince.IsZero() || !seen[3].PausedUntil.After(got[2].At) {
		t.Errorf("first probe found %+v: want failing since the first failure, paused after the third", seen[3])
	}
	// The probe came after the first pause, the next one after the doubled pause.
	if gap := got[3].At.Sub(got[2].At); gap < 150*time.Millisecond {
		t.Errorf("probe came %v after the circuit opened, before its 150ms pause", gap)
	}
	if gap := got[4].At.Sub(got[3].At); gap < 300*time.Millisecond {
		t.Errorf("second probe came %v after the first failed, before the doubled 300ms pause", gap)
	}
	var spent int
	for _, d := range deliveries(t, st, ep.ID) {
		spent += d.Attempts
	}
	if spent != failures+2 {
		t.Errorf("deliveries spent %d attempts, want %d", spent, failures+2)
	}
}

func TestDisableAfterFailingTooLong(t *testing.T) {
	st := openStore(t)
	h := newHook(t, func(n int, r received, w http.ResponseWriter) { w.WriteHeader(http.StatusInternalServerError) })
	ep := endpoint(t, st, h.srv.URL, func(ep *store.Endpoint) {
		ep.RetrySchedule = []time.Duration{0, 10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond, time.Hour}
	})
	h.forEndpoint(ep)
	o := testOptions(t)
	o.DisableAfter = 20 * time.Millisecond
	eng := start(t, st, o)
	emit(t, st, eng, call(1)...)
	waitFor(t, "endpoint disabled", func() bool { return getEndpoint(t, st, ep.ID).Disabled })
	if got := getEndpoint(t, st, ep.ID); !strings.Contains(got.DisabledReason, "no successful delivery since") {
		t.Errorf("disabled reason %q", got.DisabledReason)
	}
}

func TestShutdownFinishesInFlight(t *testing.T) {
	st := openStore(t)
	arrived := make(chan struct{}, 1)
	h := newHook(t, func(n int, r received, w http.ResponseWriter) {
		arrived <- struct{}{}
		time.Sleep(300 * time.Millisecond)
		w.WriteHeader(http.StatusNoContent)
	})
	ep := endpoint(t, st, h.srv.URL, nil)
	h.forEndpoint(ep)
	eng := start(t, st, testOptions(t))
	emit(t, st, eng, call(1)...)
	select {
	case <-arrived:
	case <-time.After(waitLimit):
		t.Fatal("no request")
	}
	eng.stop(t)
	d := deliveries(t, st, ep.ID)[0]
	if d.Status != store.Succeeded || d.LeaseOwner != "" {
		t.Fatalf("delivery after shutdown %+v, want succeeded", d)
	}
}

func TestShutdownTimeoutAbandonsAndReleases(t *testing.T) {
	st := openStore(t)
	release := make(chan struct{})
	arrived := make(chan struct{}, 10)
	h := newHook(t, func(n int, r received, w http.ResponseWriter) {
		arrived <- struct{}{}
		if n == 1 {
			select {
			case <-release:
			case <-r.Done:
			case <-time.After(waitLimit):
			}
		}
		w.WriteHeader(http.StatusNoContent)
	})
	ep := endpoint(t, st, h.srv.URL, func(ep *store.Endpoint) { ep.Timeout = time.Minute })
	h.forEndpoint(ep)
	o := testOptions(t)
	o.ShutdownTimeout = 100 * time.Millisecond
	first := start(t, st, o)
	emit(t, st, first, call(1)...)
	<-arrived
	first.stop(t)
	d := deliveries(t, st, ep.ID)[0]
	if d.Status != store.Pending || d.Attempts != 0 || d.LeaseOwner != "" {
		t.Fatalf("abandoned delivery %+v, want pending, untried, unleased", d)
	}
	close(release)

	start(t, st, o)
	waitFor(t, "sent again by the next run", allStatus(t, st, ep.ID, 1, store.Succeeded))
}

// Leases left by a run that died are taken back when the node starts again.
func TestRestartReclaimsOwnLeases(t *testing.T) {
	st := openStore(t)
	h := newHook(t, nil)
	ep := endpoint(t, st, h.srv.URL, nil)
	h.forEndpoint(ep)
	emit(t, st, nil, call(1)...)
	now := time.Now()
	jobs, err := st.ClaimDeliveries(context.Background(), store.ClaimParams{Owner: "test-node", Now: now, LeaseUntil: now.Add(time.Hour), Limit: 10})
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim: %v, %v", jobs, err)
	}
	start(t, st, testOptions(t))
	waitFor(t, "delivered", allStatus(t, st, ep.ID, 1, store.Succeeded))
}

// Work made by another process (here, written straight to the store with
// no Wake) is found by polling.
func TestPollFindsUnannouncedWork(t *testing.T) {
	st := openStore(t)
	h := newHook(t, nil)
	ep := endpoint(t, st, h.srv.URL, nil)
	h.forEndpoint(ep)
	start(t, st, testOptions(t))
	emit(t, st, nil, call(2)...)
	waitFor(t, "delivered", allStatus(t, st, ep.ID, 2, store.Succeeded))
}

func TestEndpointsChanged(t *testing.T) {
	st := openStore(t)
	h := newHook(t, nil)
	ep := endpoint(t, st, h.srv.URL, func(ep *store.Endpoint) { ep.Profile = events.Standard })
	h.forEndpoint(ep)
	o := testOptions(t)
	o.ReloadInterval = time.Hour // only EndpointsChanged reloads
	eng := start(t, st, o)
	emit(t, st, eng, call(1)...)
	waitFor(t, "delivered", allStatus(t, st, ep.ID, 1, store.Succeeded))

	ep = getEndpoint(t, st, ep.ID)
	ep.Profile = events.Extended
	if err := st.UpdateEndpoint(context.Background(), ep); err != nil {
		t.Fatal(err)
	}
	eng.EndpointsChanged()
	emit(t, st, eng, call(1)...)
	waitFor(t, "delivered", allStatus(t, st, ep.ID, 2, store.Succeeded))
	got := h.got()
	if got[0].Event.Sequence != 0 || got[1].Event.Sequence != 1 {
		t.Errorf("profiles: first request sequence %d (want standard: none), second %d (want extended: 1)", got[0].Event.Sequence, got[1].Event.Sequence)
	}
}

func TestWakeAndEndpointsChangedNeverBlock(t *testing.T) {
	eng := delivery.New(openStore(t), testOptions(t))
	for range 1000 { // nobody runs the engine: the signals must coalesce
		eng.Wake()
		eng.EndpointsChanged()
	}
}

func TestRunTwice(t *testing.T) {
	eng := delivery.New(openStore(t), testOptions(t))
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- eng.Run(ctx) }()
	}
	// One Run refuses at once; the other runs until cancelled.
	select {
	case err := <-errs:
		if err == nil || !strings.Contains(err.Error(), "twice") {
			t.Errorf("second Run: %v", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("no Run refused")
	}
	cancel()
	if err := <-errs; err != nil {
		t.Errorf("first Run: %v", err)
	}
}

// Failures of requests already in flight when the circuit opened do not
// lengthen its pause.
func TestCircuitIgnoresFailuresInFlightWhenOpened(t *testing.T) {
	st := openStore(t)
	const n = 8
	var arrived sync.WaitGroup
	arrived.Add(n)
	h := newHook(t, func(_ int, r received, w http.ResponseWriter) {
		arrived.Done()
		arrived.Wait() // all n in flight at once, then all fail
		w.WriteHeader(http.StatusInternalServerError)
	})
	ep := endpoint(t, st, h.srv.URL, func(ep *store.Endpoint) {
		ep.MaxInFlight = n
		ep.RetrySchedule = []time.Duration{0, time.Hour}
	})
	h.forEndpoint(ep)
	o := testOptions(t)
	o.CircuitFailures = 2
	o.CircuitPause = time.Hour
	eng := start(t, st, o)
	for range n {
		emit(t, st, eng, call(1)...)
	}
	waitFor(t, "all attempts recorded", func() bool {
		ds := deliveries(t, st, ep.ID)
		for _, d := range ds {
			if d.Attempts != 1 {
				return false
			}
		}
		return len(ds) == n
	})
	c := getEndpoint(t, st, ep.ID).Circuit
	if c.State != store.CircuitOpen || c.ConsecutiveFailures != 2 || c.PausedUntil.After(time.Now().Add(time.Hour)) {
		t.Fatalf("circuit %+v: want open after 2 failures, paused for the first pause only", c)
	}
}

// flakyStore is the real store with some of its calls failing first, as a
// database under a lock or briefly unreachable does.
type flakyStore struct {
	store.Store
	claimFailures, completeFailures atomic.Int32
}

func (f *flakyStore) ClaimDeliveries(ctx context.Context, p store.ClaimParams) ([]*store.Job, error) {
	if f.claimFailures.Add(-1) >= 0 {
		return nil, errors.New("database is locked")
	}
	return f.Store.ClaimDeliveries(ctx, p)
}

func (f *flakyStore) CompleteAttempts(ctx context.Context, owner string, outs []store.Outcome) error {
	if f.completeFailures.Add(-1) >= 0 {
		return errors.New("database is locked")
	}
	return f.Store.CompleteAttempts(ctx, owner, outs)
}

// Outcomes the store could not take are kept and recorded later, without
// sending the webhook again; failed claims are retried.
func TestStoreErrorsAreRetried(t *testing.T) {
	st := openStore(t)
	h := newHook(t, nil)
	ep := endpoint(t, st, h.srv.URL, nil)
	h.forEndpoint(ep)
	fs := &flakyStore{Store: st}
	fs.claimFailures.Store(3)
	fs.completeFailures.Store(3)
	eng := start(t, fs, testOptions(t))
	emit(t, st, eng, call(2)...)
	waitFor(t, "delivered", allStatus(t, st, ep.ID, 2, store.Succeeded))
	if n := len(h.got()); n != 2 {
		t.Errorf("hook got %d requests, want 2: a recorded outcome must not be sent again", n)
	}
}

// An idle engine asks the store for work once per PollInterval, not in a
// loop, also while a retry is scheduled far ahead.
func TestIdleEngineOnlyPolls(t *testing.T) {
	st := openStore(t)
	h := newHook(t, func(_ int, _ received, w http.ResponseWriter) { w.WriteHeader(http.StatusInternalServerError) })
	ep := endpoint(t, st, h.srv.URL, func(ep *store.Endpoint) { ep.RetrySchedule = []time.Duration{0, time.Hour} })
	h.forEndpoint(ep)
	cs := &countingStore{Store: st}
	o := testOptions(t)
	o.PollInterval = 50 * time.Millisecond
	eng := start(t, cs, o)
	emit(t, st, eng, call(1)...)
	waitFor(t, "first attempt recorded", func() bool { return deliveries(t, st, ep.ID)[0].Attempts == 1 })
	before := cs.claims.Load()
	time.Sleep(500 * time.Millisecond)
	if n := cs.claims.Load() - before; n > 20 {
		t.Errorf("%d claims in 500ms of idling with a 50ms poll interval", n)
	}
}

// Endpoints set up wrong fail their attempts with an error that says what
// is wrong, and send nothing unsigned.
func TestMisconfiguredEndpoints(t *testing.T) {
	st := openStore(t)
	h := newHook(t, func(int, received, http.ResponseWriter) { t.Error("a request was sent") })
	cases := []struct {
		name string
		mod  func(*store.Endpoint)
		want string
	}{
		{"expired secret", func(ep *store.Endpoint) {
			ep.Secrets = []store.Secret{{Value: signature.NewSecret(), ExpiresAt: time.Now().Add(-time.Second)}}
		}, "has no valid signing secret"},
		{"secret not base64", func(ep *store.Endpoint) { ep.Secrets = []store.Secret{{Value: "whsec_not*base64"}} }, "has no valid signing secret"},
		{"scheme", func(ep *store.Endpoint) { ep.URL = "ftp://127.0.0.1/hooks" }, `unsupported protocol scheme "ftp"`},
		{"URL", func(ep *store.Endpoint) { ep.URL = "http://127.0.0.1:bad/" }, `endpoint URL "http://127.0.0.1:bad/"`},
	}
	eps := make([]*store.Endpoint, len(cases))
	for i, c := range cases {
		eps[i] = endpoint(t, st, h.srv.URL, func(ep *store.Endpoint) {
			c.mod(ep)
			ep.RetrySchedule = []time.Duration{0}
		})
	}
	eng := start(t, st, testOptions(t))
	emit(t, st, eng, call(1)...)
	for i, c := range cases {
		waitFor(t, c.name+" failed", allStatus(t, st, eps[i].ID, 1, store.Failed))
		if d := deliveries(t, st, eps[i].ID)[0]; !strings.Contains(d.LastError, c.want) {
			t.Errorf("%s: last error %q, want it to say %q", c.name, d.LastError, c.want)
		}
	}
}

// A response body is kept as valid UTF-8 (it is shown in the API and
// stored in PostgreSQL text), whatever the receiver sent.
func TestResponseKeptAsValidUTF8(t *testing.T) {
	st := openStore(t)
	h := newHook(t, func(_ int, _ received, w http.ResponseWriter) {
		w.WriteHeader(http.StatusOK)
		w.Write([]byte("ok \xff\xfe done"))
	})
	ep := endpoint(t, st, h.srv.URL, nil)
	h.forEndpoint(ep)
	eng := start(t, st, testOptions(t))
	emit(t, st, eng, call(1)...)
	waitFor(t, "delivered", allStatus(t, st, ep.ID, 1, store.Succeeded))
	if a := attempts(t, st, deliveries(t, st, ep.ID)[0].ID)[0]; a.Response != "ok \uFFFD done" {
		t.Errorf("response kept as %q", a.Response)
	}
}

// A commit of outcomes that takes its time (the store's writer busy, a slow
// disk) holds back neither other calls' events nor the call whose outcome it
// is: a new call's event is claimed and sent meanwhile, and the waiting
// call's next event follows once its outcome is committed.
func TestSlowCommitDoesNotHoldBackClaims(t *testing.T) {
	st := openStore(t)
	h := newHook(t, nil)
	ep := endpoint(t, st, h.srv.URL, nil)
	h.forEndpoint(ep)
	bs := &blockingStore{Store: st, blocked: make(chan struct{}), release: make(chan struct{})}
	eng := start(t, bs, testOptions(t))
	t.Cleanup(bs.unblock) // before the engine stops, should the test fail first
	first := call(2)
	emit(t, st, eng, first...)
	select {
	case <-bs.blocked:
	case <-time.After(waitLimit):
		t.Fatal("the first outcome was never committed")
	}
	second := call(1)
	emit(t, st, eng, second...)
	waitFor(t, "the other call's event sent while the first outcome commits", func() bool { return len(h.got()) == 2 })
	if got := h.got()[1].Event.CallUUID; got != second[0].CallUUID {
		t.Fatalf("second request is of call %s, want the new call %s: the first call's next event went before its predecessor was recorded", got, second[0].CallUUID)
	}
	bs.unblock()
	waitFor(t, "delivered", allStatus(t, st, ep.ID, 3, store.Succeeded))
	got := h.got()
	if len(got) != 3 || got[2].Event.CallUUID != first[1].CallUUID || got[2].Event.Sequence != 2 {
		t.Fatalf("requests %d, last %+v: want the first call's second event last", len(got), got[len(got)-1].Event)
	}
}

// blockingStore holds its first CompleteAttempts until release is closed,
// saying on blocked that it is holding it.
type blockingStore struct {
	store.Store
	once, unblocked  sync.Once
	blocked, release chan struct{}
}

func (b *blockingStore) unblock() { b.unblocked.Do(func() { close(b.release) }) }

func (b *blockingStore) CompleteAttempts(ctx context.Context, owner string, outs []store.Outcome) error {
	b.once.Do(func() {
		close(b.blocked)
		<-b.release
	})
	return b.Store.CompleteAttempts(ctx, owner, outs)
}
