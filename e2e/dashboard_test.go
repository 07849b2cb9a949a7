package e2e

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// updateScreenshots writes the dashboard's screenshots into docs/screenshots
// instead of a temporary directory.
var updateScreenshots = flag.Bool("screenshots", false, "write the dashboard screenshots into docs/screenshots")

// chromium is Debian's browser; the tests never download one.
const chromium = "/usr/bin/chromium"

// dashWait bounds each wait for the page; nothing should take more than a
// fraction of it.
const dashWait = 20 * time.Second

// TestDashboard drives the dashboard in a real headless browser against a
// real switchhook with its built-in PBX, SIPp phones and two receivers: one
// that accepts and one that fails until it is fixed.
func TestDashboard(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Skip("chromium is not installed at " + chromium)
	}
	sipp, err := exec.LookPath("sipp")
	if err != nil {
		t.Skip("sipp is not installed")
	}
	good := NewReceiver(t)
	flaky := NewReceiver(t)
	var fixed atomic.Bool
	flaky.Respond(func(Webhook, int) int {
		if fixed.Load() {
			return http.StatusOK
		}
		return http.StatusInternalServerError
	})
	sipPort := freeUDPPort(t)
	srv := StartServer(t, fmt.Sprintf(`timezone: Europe/Berlin
sip: {listen: ["udp://127.0.0.1:%d"], domain: pbx.test}
extensions:
  - {number: "1001", password: secret-1001, name: Alice}
  - {number: "1002", password: secret-1002, name: Bob}
ring_timeout: 4s
webhooks:
  - url: %q
    description: Call log
    payload: extended
    secret: %q
    retry_schedule: [0s, 200ms, 500ms]
  - url: %q
    description: Flaky CRM
    secret: %q
    retry_schedule: [0s]
`, sipPort, good.URL, good.Secret, flaky.URL, flaky.Secret))
	pbxAddr := fmt.Sprintf("127.0.0.1:%d", sipPort)
	b := newDashBrowser(t, srv.URL)
	// Each step builds on the one before: stop at the first that fails.
	step := func(name string, f func(t *testing.T)) {
		t.Helper()
		if !t.Run(name, f) {
			t.FailNow()
		}
	}

	step("a wrong token is refused", func(t *testing.T) {
		b.do(t, chromedp.Navigate(srv.URL+"/calls"))
		b.waitPath(t, "/signin")
		b.shoot(t, "signin")
		b.do(t,
			chromedp.SendKeys(chromedp.ID("token"), "not-the-token"),
			chromedp.Submit(chromedp.ID("token")),
			chromedp.WaitVisible(chromedp.ID("signin-error")),
		)
		if msg := b.text(t, "#signin-error"); !strings.Contains(msg, "wrong") {
			t.Errorf("error %q does not say the token is wrong", msg)
		}
		b.shoot(t, "signin-refused")
		// The browser is still signed out: the API refuses it.
		status := b.eval(t, `fetch('/v1/endpoints').then(r => r.status)`)
		if status != "401" {
			t.Errorf("GET /v1/endpoints after a wrong token: %s, want 401", status)
		}
	})

	step("sign in", func(t *testing.T) {
		b.clear(t, "#token")
		b.do(t,
			chromedp.SendKeys(chromedp.ID("token"), testToken),
			chromedp.Submit(chromedp.ID("token")),
		)
		// Back where the browser first went, signed in.
		b.waitPath(t, "/calls")
		b.do(t, chromedp.WaitVisible(chromedp.ID("call-results")))
		if zone := b.text(t, "#zone"); zone != "Europe/Berlin" {
			t.Errorf("zone shown %q, want the configured Europe/Berlin", zone)
		}
		// A state-changing request without the CSRF token is refused, one
		// with it is let through.
		if got := b.eval(t, `fetch('/v1/endpoints', {method: 'POST', body: '{}'}).then(r => r.status)`); got != "403" {
			t.Errorf("POST without the CSRF token: %s, want 403", got)
		}
		if got := b.eval(t, `fetch('/session').then(r => r.json()).then(s => fetch('/v1/endpoints', {method: 'POST', headers: {'X-CSRF-Token': s.csrf_token}, body: '{}'})).then(r => r.status)`); got != "400" {
			t.Errorf("POST with the CSRF token and no url: %s, want 400 (let through, then refused by validation)", got)
		}
	})

	var callUUID string
	step("a ringing call shows in Live and goes after hangup", func(t *testing.T) {
		dir := t.TempDir()
		calleePort := freeUDPPort(t)
		b.do(t, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("live-calls")))
		b.poll(t, `document.querySelector('.stream-status.live') !== null`)
		dashSIPp(t, sipp, dir, "register.xml", pbxAddr, calleePort,
			"-s", "1002", "-au", "1002", "-ap", "secret-1002", "-key", "expires", "300").wait(t)
		b.poll(t, `document.querySelector('#live-registrations tr[data-extension="1002"]') !== null`)
		callee := dashSIPp(t, sipp, dir, "callee_ring.xml", "", calleePort, "-s", "1002")
		caller := dashSIPp(t, sipp, dir, "caller_reject_480.xml", pbxAddr, 0,
			"-s", "1002", "-key", "caller", "1001", "-au", "1001", "-ap", "secret-1001")
		callUUID = b.eval(t, `new Promise(resolve => {
			const look = () => {
				const row = document.querySelector('#live-calls tr[data-state="ringing"]');
				if (row) resolve(row.dataset.callUuid); else requestAnimationFrame(look);
			};
			look();
		})`)
		if b.text(t, `#live-calls tr[data-call-uuid="`+callUUID+`"] td[data-label="Call"]`) != "1001 → 1002" {
			t.Errorf("the ringing call does not show 1001 → 1002")
		}
		// The PBX's channels add the call's legs: the caller's and the
		// ringing callee's.
		b.poll(t, `document.querySelectorAll('#live-calls tr[data-call-uuid="`+callUUID+`"] .legs li').length === 2`)
		b.shoot(t, "live")
		caller.wait(t)
		callee.wait(t)
		b.poll(t, `document.querySelector('#live-calls tr[data-call-uuid]') === null`)
		b.poll(t, `document.querySelector('#live-events li[data-event="CALL_HANGUP"][data-call-uuid="`+callUUID+`"]') !== null`)
	})

	step("the call's page shows its events and delivered attempts", func(t *testing.T) {
		hooks := good.WaitFor(t, dashWait, "the call's three events", func(hs []Webhook) bool {
			return len(ByCall(hs)[callUUID]) == 3
		})
		want := Events(ByCall(hooks)[callUUID])
		b.do(t, b.click(`#live-events li[data-event="CALL_HANGUP"] a`))
		b.waitPath(t, "/calls/"+callUUID)
		// Every event, each delivered to the good receiver with a 200, and
		// given up on by the flaky one after its one attempt.
		b.poll(t, `document.querySelectorAll('#timeline li.event').length === 3 &&
			document.querySelectorAll('#timeline .delivery[data-status="succeeded"] tr[data-status-code="200"]').length === 3 &&
			document.querySelectorAll('#timeline .delivery[data-status="failed"] tr[data-status-code="500"]').length === 3`)
		got := strings.Fields(b.eval(t, `[...document.querySelectorAll('#timeline li.event')].map(li => li.dataset.event).join(' ')`))
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("timeline %v, receiver got %v", got, want)
		}
		if text := b.text(t, "#timeline"); !strings.Contains(text, "NO_ANSWER") || !strings.Contains(text, "HTTP 500") {
			t.Errorf("timeline does not show the hangup cause and the failed attempts' error:\n%s", text)
		}
		// Compact: one line per endpoint under each event, its last attempt
		// on that line, the attempts folded until asked for.
		if got := b.eval(t, `[...document.querySelectorAll('#timeline li.event')].map(li => li.querySelectorAll('.delivery').length).join(' ')`); got != "2 2 2" {
			t.Errorf("deliveries per event %q, want one per endpoint: 2 2 2", got)
		}
		if got := b.eval(t, `String([...document.querySelectorAll('#timeline .delivery table')].filter(t => t.checkVisibility()).length)`); got != "0" {
			t.Errorf("%s attempt tables shown before any is opened", got)
		}
		if got := b.text(t, `#timeline li.event[data-event="CALL_ROUTED"] .delivery[data-status="failed"] .last-attempt`); !strings.Contains(got, "500") || !strings.Contains(got, "HTTP 500") {
			t.Errorf("the failed delivery's line says %q, want its last attempt's 500", got)
		}
		b.do(t, b.click(`#timeline li.event[data-event="CALL_ROUTED"] .delivery[data-status="failed"] details.attempts-of summary`))
		b.poll(t, `document.querySelector('#timeline li.event[data-event="CALL_ROUTED"] .delivery[data-status="failed"] table').checkVisibility()`)
		// The hangup's payload is the extended profile's, as the API renders it.
		b.do(t, b.click(`#timeline li.event[data-event="CALL_HANGUP"] summary`))
		if payload := b.text(t, `#timeline li.event[data-event="CALL_HANGUP"] pre.payload`); !strings.Contains(payload, `"hangup_cause": "NO_ANSWER"`) || !strings.Contains(payload, `"call_uuid": "`+callUUID+`"`) {
			t.Errorf("hangup payload:\n%s", payload)
		}
		b.shoot(t, "call")
	})

	step("a failed delivery is sent again by its Retry button", func(t *testing.T) {
		fixed.Store(true)
		before := len(flaky.Accepted())
		sel := `#timeline li.event[data-event="CALL_ROUTED"] .delivery[data-status="failed"]`
		id := b.eval(t, `document.querySelector('`+sel+`').dataset.deliveryId`)
		b.do(t, b.click(sel+` button[data-retry]`))
		flaky.WaitCount(t, before+1, dashWait)
		b.poll(t, `document.querySelector('.delivery[data-delivery-id="`+id+`"][data-status="succeeded"] tr[data-status-code="200"]') !== null &&
			document.querySelectorAll('.delivery[data-delivery-id="`+id+`"] tr[data-status-code]').length === 2`)
		if got := flaky.Accepted()[before]; got.CallUUID() != callUUID || got.Event() != "CALL_ROUTED" {
			t.Errorf("the retry sent %s of %s", got.Event(), got.CallUUID())
		}
	})

	step("Live starts with the last events", func(t *testing.T) {
		b.do(t, chromedp.Navigate(srv.URL+"/overview"), chromedp.WaitVisible(chromedp.CSS(`#overview .tiles`)),
			b.click(`a[data-nav="live"]`))
		// No event is recorded meanwhile: these come from the store.
		b.poll(t, `document.querySelectorAll('#live-events li[data-call-uuid="`+callUUID+`"]').length === 3`)
		if got := b.eval(t, `[...document.querySelectorAll('#live-events li')].map(li => li.dataset.event).join(' ')`); got != "CALL_HANGUP CALL_RINGING CALL_ROUTED" {
			t.Errorf("Live's feed %q, want the call's events newest first", got)
		}
	})

	step("Extensions lists each extension, its phone and state", func(t *testing.T) {
		b.do(t, b.click(`a[data-nav="extensions"]`))
		b.waitPath(t, "/extensions")
		b.poll(t, `document.querySelectorAll('#extension-list tr[data-extension]').length === 2`)
		if got := b.eval(t, `[...document.querySelectorAll('#extension-list tr[data-extension]')].map(r => r.dataset.extension + ':' + r.dataset.state).join(' ')`); got != "1001:unregistered 1002:idle" {
			t.Errorf("extensions %q, want 1001 unregistered and 1002 idle (registered)", got)
		}
		if text := b.text(t, `#extension-list tr[data-extension="1002"]`); !strings.Contains(text, "Bob") || !strings.Contains(text, "127.0.0.1:") || !strings.Contains(text, "SIPp") {
			t.Errorf("1002's row %q does not show its name and phone", text)
		}
		b.shoot(t, "extensions")
	})

	step("search calls", func(t *testing.T) {
		b.do(t, chromedp.Navigate(srv.URL+"/calls"), chromedp.WaitVisible(chromedp.ID("q-number")),
			chromedp.SendKeys(chromedp.ID("q-number"), "1002"),
			chromedp.SetValue(chromedp.ID("q-event"), "CALL_RINGING"),
			b.click(`form[role=search] button[type=submit]`),
		)
		b.waitPath(t, "/calls")
		b.poll(t, `location.search.includes('number=1002') && location.search.includes('event=CALL_RINGING') &&
			document.querySelector('#call-results tr[data-call-uuid="`+callUUID+`"]') !== null`)
		b.shoot(t, "calls")
		b.do(t, chromedp.Navigate(srv.URL+"/calls?number=1003"))
		b.poll(t, `document.querySelector('#call-results .empty') !== null`)
		// A call UUID that is not known says so.
		b.do(t, chromedp.SendKeys(chromedp.ID("q-uuid"), "0b6f7e2c-6a53-4f35-9d55-1f2a0c3e9b7d"),
			b.click(`form[role=search] button[type=submit]`))
		b.poll(t, `location.pathname.startsWith('/calls/0b6f') && /call "0b6f.*" not found/.test(document.querySelector('main .alert.error')?.textContent)`)
	})

	step("create an endpoint, send a test event, see its attempt", func(t *testing.T) {
		third := NewReceiver(t)
		b.do(t, chromedp.Navigate(srv.URL+"/endpoints"), chromedp.WaitVisible(chromedp.ID("endpoint-list")),
			b.click("#new-endpoint"),
			chromedp.WaitVisible(chromedp.ID("new-url")),
			// A bad URL first: the API's message shows at the field.
			chromedp.SendKeys(chromedp.ID("new-url"), "ftp://nope"),
			b.click(`#create-form button[type=submit]`),
		)
		b.poll(t, `document.querySelector('#new-url[aria-invalid="true"]') !== null`)
		if msg := b.text(t, `#create-form .alert.error`); !strings.Contains(msg, "http") {
			t.Errorf("bad URL message %q", msg)
		}
		b.clear(t, "#new-url")
		b.do(t,
			chromedp.SendKeys(chromedp.ID("new-url"), third.URL),
			chromedp.SendKeys(chromedp.ID("new-description"), "Billing"),
			chromedp.SendKeys(chromedp.ID("new-secret"), third.Secret),
			b.click("#new-extended"),
			b.click("#new-CALL_INPUT"),
			b.click("#new-CALL_HANGUP"),
			b.click(`#create-form button[type=submit]`),
			chromedp.WaitVisible(chromedp.ID("section-test")),
		)
		if h1 := b.text(t, "h1"); h1 != "Billing" {
			t.Errorf("endpoint page heading %q", h1)
		}
		b.do(t, b.click("#secret-reveal"))
		if got := b.text(t, "#secret"); got != third.Secret {
			t.Errorf("revealed secret %q, want %q", got, third.Secret)
		}
		b.do(t,
			chromedp.SetValue(chromedp.ID("test-kind"), "CALL_INPUT"),
			b.click(`#section-test button[type=submit]`),
		)
		hooks := third.WaitCount(t, 1, dashWait)
		if hooks[0].Event() != "CALL_INPUT" || hooks[0].Body["sequence"] == nil {
			t.Errorf("test event %s", hooks[0].Raw)
		}
		b.poll(t, `document.querySelector('#test-result .delivery[data-status="succeeded"] tr[data-status-code="200"]') !== null`)
		b.poll(t, `document.querySelector('#endpoint-health dd') !== null && document.querySelector('#endpoint-health svg') !== null`)
		b.shoot(t, "endpoint")

		// Times are entered as they are shown: 24-hour, in the zone.
		if got := b.eval(t, `document.querySelector('#replay-since').type + ' ' + document.querySelector('#replay-since').value`); !regexp.MustCompile(`^text \d{4}-\d\d-\d\d \d\d:\d\d$`).MatchString(got) {
			t.Errorf("replay's From field %q, want a text field of YYYY-MM-DD HH:MM", got)
		}
		// Edit: the new description is the heading.
		b.clear(t, "#edit-description")
		b.do(t, chromedp.SendKeys(chromedp.ID("edit-description"), "Billing system"),
			b.click(`#settings-form button[type=submit]`))
		b.poll(t, `document.querySelector('h1').textContent === 'Billing system'`)
		// Replay the last hour: of the events this endpoint takes, the
		// call's hangup and its own test event, in order.
		b.do(t, b.click(`#replay-form button[type=submit]`))
		b.poll(t, `document.querySelector('#replay-result').textContent !== '' || document.querySelector('#replay-form .alert.error:not([hidden])') !== null`)
		if got := b.text(t, "#replay-result"); got != "2 deliveries queued." {
			t.Errorf("replay says %q, want 2 deliveries queued.", got)
		}
		// Two calls: each in order, but in no order between them.
		replayed := ByCall(third.WaitCount(t, 3, dashWait)[1:])
		if got := replayed[callUUID]; len(got) != 1 || got[0].Event() != "CALL_HANGUP" {
			t.Errorf("replayed of the call: %v", Events(got))
		}
		if got := replayed[hooks[0].CallUUID()]; len(got) != 1 || got[0].ID != hooks[0].ID {
			t.Errorf("replayed test event: %v", Events(got))
		}
		// Copy: to the clipboard, or selected for the user to copy where the
		// browser refuses; either way it says so.
		b.do(t, b.click("#secret-copy"))
		b.poll(t, `document.querySelector('#toast.shown') !== null && /copied|Copying/.test(document.querySelector('#toast').textContent)`)
		// Rotate: a new secret shows, and the old one still signs.
		b.do(t, b.click(`#section-secret button[type=submit]`))
		b.poll(t, `document.querySelector('#secret').textContent !== '`+third.Secret+`' && document.querySelector('#secret-previous p') !== null`)
		// Disable, then delete through the confirmation.
		b.do(t, b.click("#toggle-disabled"))
		b.poll(t, `document.querySelector('.badges .badge.failed') !== null && document.querySelector('#toggle-disabled').textContent === 'Enable endpoint'`)
		b.do(t, chromedp.Navigate(srv.URL+"/endpoints"), chromedp.WaitVisible(chromedp.CSS(`#endpoint-list table`)))
		// In the order they were made: the config file's, then Billing.
		if got := b.eval(t, `[...document.querySelectorAll('#endpoint-list tr[data-endpoint-id] td[data-label="Endpoint"] a')].map(a => a.textContent).join(' | ')`); !strings.HasSuffix(got, "Billing system") {
			t.Errorf("endpoints listed %q, want Billing system, made last, last", got)
		}
		b.shoot(t, "endpoints")
		b.do(t, b.click(`#endpoint-list a[href^="/endpoints/"]:not([href*="ep_cfg_"])`),
			chromedp.WaitVisible(chromedp.ID("delete-endpoint")),
			b.click("#delete-endpoint"),
			b.click("#delete-confirm"))
		b.waitPath(t, "/endpoints")
		b.poll(t, `document.querySelectorAll('#endpoint-list tr[data-endpoint-id]').length === 2`)
	})

	step("overview", func(t *testing.T) {
		b.do(t, chromedp.Navigate(srv.URL+"/overview"), chromedp.WaitVisible(chromedp.CSS(`#overview .tiles`)))
		// The flaky endpoint failed most: it comes first.
		first := b.text(t, `#overview tr[data-endpoint-id] td[data-label="Endpoint"] a`)
		if first != "Flaky CRM" {
			t.Errorf("first endpoint %q, want the failing Flaky CRM", first)
		}
		// The call's three events; test events are not counted.
		if events := b.text(t, `#overview .tile .tile-value`); events != "3" {
			t.Errorf("events in the last hour: %s, want 3", events)
		}
		b.shoot(t, "overview")
	})

	step("dark theme", func(t *testing.T) {
		if _, err := chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}},
		}); err != nil {
			t.Fatal(err)
		}
		b.do(t, chromedp.Navigate(srv.URL+"/calls/"+callUUID), chromedp.WaitVisible(chromedp.CSS(`#timeline li.event`)))
		b.shoot(t, "call-dark")
	})

	step("a restart signs the browser out", func(t *testing.T) {
		b.do(t, chromedp.Navigate(srv.URL+"/overview"), chromedp.WaitVisible(chromedp.CSS(`#overview .tiles`)),
			b.click(`a[data-nav="live"]`))
		b.poll(t, `document.querySelector('.stream-status.live') !== null`)
		if err := srv.Stop(); err != nil {
			t.Fatal(err)
		}
		b.poll(t, `document.querySelector('.stream-status.reconnecting') !== null`)
		// Sessions live in the server's memory: the new process knows none,
		// and the page sends the browser to sign in, back to Live after.
		srv.Restart()
		b.waitPath(t, "/signin")
		b.do(t, chromedp.SendKeys(chromedp.ID("token"), testToken), chromedp.Submit(chromedp.ID("token")))
		b.waitPath(t, "/")
		b.poll(t, `document.querySelector('.stream-status.live') !== null`)
	})

	step("sign out", func(t *testing.T) {
		b.do(t, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("live-calls")),
			b.click("#signout"))
		b.waitPath(t, "/signin")
		if status := b.eval(t, `fetch('/v1/endpoints').then(r => r.status)`); status != "401" {
			t.Errorf("GET /v1/endpoints after signing out: %s, want 401", status)
		}
	})

	step("every request went to the server", func(t *testing.T) {
		b.checkRequests(t)
	})
}

// dashBrowser is a headless chromium with one tab, recording every request
// the pages make and every uncaught exception.
type dashBrowser struct {
	ctx    context.Context
	origin string // the server's, the only one the pages may reach
	shots  string // where screenshots go

	mu         sync.Mutex
	requests   []string
	exceptions []string
}

func newDashBrowser(t *testing.T, origin string) *dashBrowser {
	t.Helper()
	b := &dashBrowser{origin: origin, shots: t.TempDir()}
	if *updateScreenshots {
		b.shots = filepath.Join("..", "docs", "screenshots")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	b.ctx = ctx
	err := chromedp.Listen(ctx, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			b.requests = append(b.requests, ev.Request.URL)
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			desc := d.Text
			if d.Exception != nil {
				desc += " " + d.Exception.Description
			}
			b.exceptions = append(b.exceptions, fmt.Sprintf("%s:%d: %s", d.URL, d.LineNumber+1, desc))
		}
	})
	if err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return b
}

// do runs actions, each bounded by dashWait.
func (b *dashBrowser) do(t *testing.T, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	for _, a := range actions {
		ctx, cancel := context.WithTimeout(b.ctx, dashWait)
		err := chromedp.Do(ctx, a)
		cancel()
		if err != nil {
			t.Fatalf("browser: %v (page %s)\n%s", err, b.location(), b.errors())
		}
	}
}

// click clicks the first element sel matches, scrolled to the middle of
// the window first so that the sticky header cannot be over it.
func (b *dashBrowser) click(sel string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		var v chromedp.Void
		if _, err := chromedp.Evaluate[chromedp.Void](`document.querySelector(`+strconv.Quote(sel)+`)?.scrollIntoView({block: 'center'})`)(ctx, t); err != nil {
			return v, err
		}
		return chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible)(ctx, t)
	}
}

// eval evaluates a JavaScript expression (awaiting a promise) and returns
// its value as text.
func (b *dashBrowser) eval(t *testing.T, js string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, dashWait)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[any](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v (page %s)\n%s", js, err, b.location(), b.errors())
	}
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// poll waits until a JavaScript condition holds. A navigation under way
// ends a poll early; it is started again in the new page.
func (b *dashBrowser) poll(t *testing.T, cond string) {
	t.Helper()
	deadline := time.Now().Add(dashWait)
	for {
		ctx, cancel := context.WithDeadline(b.ctx, deadline)
		_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingTimeout(time.Until(deadline)), chromedp.WithPollingInterval(50*time.Millisecond)))
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) || !strings.Contains(err.Error(), "navigated or closed") && !strings.Contains(err.Error(), "context") {
			t.Fatalf("waiting for %s: %v (page %s)\n%s", cond, err, b.location(), b.errors())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// text is the visible text of the first element sel matches.
func (b *dashBrowser) text(t *testing.T, sel string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, dashWait)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v (page %s)\n%s", sel, err, b.location(), b.errors())
	}
	return strings.TrimSpace(s)
}

// clear empties an input.
func (b *dashBrowser) clear(t *testing.T, sel string) {
	t.Helper()
	b.eval(t, `(el => { el.value = ''; return 1 })(document.querySelector('`+sel+`'))`)
}

// waitPath waits until the page's path is path.
func (b *dashBrowser) waitPath(t *testing.T, path string) {
	t.Helper()
	b.poll(t, `document.readyState === 'complete' && location.pathname === '`+path+`'`)
}

func (b *dashBrowser) location() string {
	ctx, cancel := context.WithTimeout(b.ctx, time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	return loc
}

// errors lists the page's uncaught exceptions so far.
func (b *dashBrowser) errors() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.exceptions, "\n")
}

// shoot saves full-page screenshots of the page at desktop (1280) and
// phone (390) width as NAME-desktop.png and NAME-phone.png.
func (b *dashBrowser) shoot(t *testing.T, name string) {
	t.Helper()
	b.checkLabels(t)
	for _, v := range []struct {
		suffix        string
		width, height int64
	}{{"desktop", 1280, 900}, {"phone", 390, 844}} {
		b.do(t, chromedp.EmulateViewport(v.width, v.height, chromedp.EmulatePortrait))
		// Hide a passing notice and scroll to the top (or the sticky header
		// shows mid-page), then wait two frames: the layout settles and the
		// charts redraw at the width.
		b.eval(t, `document.getElementById('toast') && (document.getElementById('toast').className = 'toast'),
			window.scrollTo(0, 0),
			new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(1))))`)
		ctx, cancel := context.WithTimeout(b.ctx, dashWait)
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		cancel()
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(b.shots, name+"-"+v.suffix+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b.do(t, chromedp.EmulateViewport(1280, 900))
}

// checkLabels fails the test if a form control of the page has no label,
// or something clickable is not a link or a button.
func (b *dashBrowser) checkLabels(t *testing.T) {
	t.Helper()
	bad := b.eval(t, `[...document.querySelectorAll('input, select, textarea')]
		.filter(el => el.type !== 'hidden' && el.labels.length === 0 && !el.getAttribute('aria-label'))
		.concat([...document.querySelectorAll('[onclick], [tabindex]:not(h1):not(main):not([role=alert])')])
		.map(el => el.outerHTML.slice(0, 120)).join('\n')`)
	if bad != "" {
		t.Errorf("page %s has controls without a label or clickables that are not buttons:\n%s", b.location(), bad)
	}
}

// checkRequests fails the test if a page asked any host but the server,
// or threw an exception.
func (b *dashBrowser) checkRequests(t *testing.T) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	origin, err := url.Parse(b.origin)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.requests) < 20 {
		t.Errorf("only %d requests recorded; is the recorder working?", len(b.requests))
	}
	for _, r := range b.requests {
		u, err := url.Parse(r)
		if err != nil || u.Scheme == "data" || u.Scheme == "about" {
			continue
		}
		if u.Host != origin.Host || u.Scheme != origin.Scheme {
			t.Errorf("a page requested %s, not on %s", r, b.origin)
		}
	}
	for _, e := range b.exceptions {
		t.Errorf("uncaught exception in a page: %s", e)
	}
}

// dashRun is one SIPp process.
type dashRun struct {
	name string
	dir  string
	done chan error
	out  *syncBuffer
}

// dashSIPp runs SIPp with a scenario of testdata/sipp from port (a free one
// if 0); remote is the PBX for a client scenario, "" for a server one.
func dashSIPp(t *testing.T, bin, dir, scenario, remote string, port int, args ...string) *dashRun {
	t.Helper()
	if port == 0 {
		port = freeUDPPort(t)
	}
	sf, err := filepath.Abs(filepath.Join("testdata", "sipp", scenario))
	if err != nil {
		t.Fatal(err)
	}
	all := append(append(sippLocal(port), "-sf", sf, "-m", "1", "-timeout", "30s", "-timeout_error", "-nostdin", "-trace_err"), args...)
	if remote != "" {
		all = append(all, remote)
	}
	r := &dashRun{name: scenario, dir: dir, done: make(chan error, 1), out: &syncBuffer{}}
	cmd := exec.Command(bin, all...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = r.out, r.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.done <- cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			cmd.Process.Kill()
		}
	})
	return r
}

// wait waits for the scenario to pass.
func (r *dashRun) wait(t *testing.T) {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err
		if err != nil {
			errs, _ := filepath.Glob(filepath.Join(r.dir, "*_errors.log"))
			var logs strings.Builder
			for _, f := range errs {
				b, _ := os.ReadFile(f)
				logs.Write(b)
			}
			t.Fatalf("sipp %s: %v\n%s\n%s", r.name, err, r.out.String(), logs.String())
		}
	case <-time.After(40 * time.Second):
		t.Fatalf("sipp %s did not finish\n%s", r.name, r.out.String())
	}
}
