package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// apiForward is GET /v1/extensions/{number}/forward's answer.
type apiForward struct {
	Number        string  `json:"number"`
	Unconditional string  `json:"unconditional"`
	UserBusy      string  `json:"user_busy"`
	NoAnswer      string  `json:"no_answer"`
	NoAnswerAfter string  `json:"no_answer_after"`
	Unavailable   string  `json:"unavailable"`
	Source        string  `json:"source"`
	UpdatedAt     *string `json:"updated_at"`
}

// TestForwardingKeptAndEditedInTheDashboard sets an extension's forwarding
// in the dashboard of the real server in a real browser, with a refusal on
// the way; the setting survives a kill -9; and the config file's comes back
// when it is reset.
func TestForwardingKeptAndEditedInTheDashboard(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Skip("chromium is not installed at " + chromium)
	}
	srv := StartServer(t, fmt.Sprintf(`sip: {listen: ["udp://127.0.0.1:%d"]}
extensions:
  - {number: "1001", password: secret-1001, name: Alice}
  - {number: "1002", password: secret-1002, name: Bob, forward: {user_busy: "1001"}}
  - {number: "1003", password: secret-1003, name: Carol}
`, freeUDPPort(t)))
	b := newDashBrowser(t, srv.URL)
	step := func(name string, f func(t *testing.T)) {
		t.Helper()
		if !t.Run(name, f) {
			t.FailNow()
		}
	}
	step("sign in to the forwarding page", func(t *testing.T) {
		b.do(t, chromedp.Navigate(srv.URL+"/forwarding"))
		b.waitPath(t, "/signin")
		b.do(t, chromedp.SendKeys(chromedp.ID("token"), testToken), chromedp.Submit(chromedp.ID("token")))
		b.waitPath(t, "/forwarding")
		b.poll(t, `document.querySelectorAll('#forward-list tbody tr').length === 3`)
		row := b.text(t, `tr[data-number="1002"]`)
		if !strings.Contains(row, "1001") || !strings.Contains(row, "config file") {
			t.Errorf("1002's row %q does not show the config's busy forward to 1001", row)
		}
		b.shoot(t, "forwarding")
	})
	step("a number nobody can reach is refused, naming the field", func(t *testing.T) {
		b.do(t, b.click(`[data-edit="1003"]`), chromedp.WaitVisible(chromedp.ID("forward-form")))
		b.do(t,
			chromedp.SendKeys(chromedp.ID("fw-user_busy"), "1001"),
			chromedp.SendKeys(chromedp.ID("fw-no_answer"), "4242"),
			chromedp.SendKeys(chromedp.ID("fw-no_answer_after"), "12s"),
			b.click(`#forward-form button[type=submit]`),
		)
		b.poll(t, `document.querySelector('#fw-no_answer').getAttribute('aria-invalid') === 'true'`)
		if msg := b.text(t, "#forward-form [role=alert]"); !strings.Contains(msg, `"4242" is no extension`) {
			t.Errorf("error shown %q", msg)
		}
		b.shoot(t, "forwarding-refused")
		var f apiForward
		srv.API("GET", "/v1/extensions/1003/forward", nil, 200, &f)
		if f.Source != "config" || f.UserBusy != "" {
			t.Errorf("a refused forwarding was kept: %+v", f)
		}
	})
	step("saved", func(t *testing.T) {
		b.clear(t, "#fw-no_answer")
		b.do(t, chromedp.SendKeys(chromedp.ID("fw-no_answer"), "1002"), b.click(`#forward-form button[type=submit]`))
		b.poll(t, `!document.querySelector('#forward-form') && document.querySelector('tr[data-number="1003"]').textContent.includes('API')`)
		row := b.text(t, `tr[data-number="1003"]`)
		if !strings.Contains(row, "1001") || !strings.Contains(row, "1002") || !strings.Contains(row, "after 12s") {
			t.Errorf("1003's row after saving: %q", row)
		}
		b.checkRequests(t)
	})
	step("kept across a kill -9", func(t *testing.T) {
		srv.Kill()
		srv.Restart()
		var f apiForward
		srv.API("GET", "/v1/extensions/1003/forward", nil, 200, &f)
		if f.Source != "api" || f.UserBusy != "1001" || f.NoAnswer != "1002" || f.NoAnswerAfter != "12s" || f.UpdatedAt == nil {
			t.Errorf("after the restart: %+v", f)
		}
	})
	step("reset to the config file's", func(t *testing.T) {
		// Dashboard sessions end with the process: sign in again.
		b.do(t, chromedp.Navigate(srv.URL+"/forwarding?edit=1003"))
		b.waitPath(t, "/signin")
		b.do(t, chromedp.SendKeys(chromedp.ID("token"), testToken), chromedp.Submit(chromedp.ID("token")))
		b.waitPath(t, "/forwarding")
		b.do(t, chromedp.WaitVisible(chromedp.ID("fw-reset")))
		b.do(t, b.click("#fw-reset"))
		b.poll(t, `!document.querySelector('#forward-form') && document.querySelector('tr[data-number="1003"]').textContent.includes('config file')`)
		var f apiForward
		srv.API("GET", "/v1/extensions/1003/forward", nil, 200, &f)
		if f != (apiForward{Number: "1003", Source: "config"}) {
			t.Errorf("after reset: %+v", f)
		}
		b.checkRequests(t)
	})
}

// A forwarded call's page in the dashboard shows where the call moved.
func TestDashboardShowsACallsMoves(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Skip("chromium is not installed at " + chromium)
	}
	rs := map[string]*Receiver{"extended": NewReceiver(t)}
	s := startForwardServer(t, rs, `{unconditional: "1003"}`, `{}`)
	answers := s.phone(t, "1003", "callee_answer.xml")
	s.dial(t, "caller_bye.xml", "1001", "1002", "-d", "300")()
	answers()
	hooks := rs["extended"].WaitCount(t, 5, 20*time.Second)
	call := hooks[0].CallUUID()

	b := newDashBrowser(t, s.URL)
	b.do(t, chromedp.Navigate(s.URL+"/calls/"+call))
	b.waitPath(t, "/signin")
	b.do(t, chromedp.SendKeys(chromedp.ID("token"), testToken), chromedp.Submit(chromedp.ID("token")))
	b.waitPath(t, "/calls/"+call)
	b.poll(t, `document.querySelector('#moves') && !document.querySelector('#moves').hidden`)
	moves := b.text(t, "#moves")
	if !strings.Contains(moves, "1002") || !strings.Contains(moves, "1003") || !strings.Contains(moves, "unconditional") {
		t.Errorf("moves shown: %q", moves)
	}
	if !strings.Contains(b.text(t, "#timeline"), "unconditional from 1002") {
		t.Errorf("the timeline does not say the answer came by the forward")
	}
	if b.eval(t, `String(document.querySelector('#session-calls').hidden)`) != "true" {
		t.Errorf("a call alone in its session shows a session list")
	}
	b.shoot(t, "call-moved")
	b.checkRequests(t)
}
