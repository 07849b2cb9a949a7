package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/switchhook/switchhook/internal/api/apitypes"
)

// TestQueuesDashboard shows the queues page in a real browser: an agent
// whose phone registered is idle, one without a phone is unregistered, and
// the Pause button pauses an agent in the store, so that the pause is there
// after a kill -9 and a restart.
func TestQueuesDashboard(t *testing.T) {
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
	sipPort := freeUDPPort(t)
	srv := StartServer(t, fmt.Sprintf(`sip: {listen: ["udp://127.0.0.1:%d"], domain: pbx.test}
extensions:
  - {number: "1001", password: secret-1001}
  - {number: "1002", password: secret-1002}
  - {number: "1003", password: secret-1003}
queues:
  - {number: "600", name: Sales, agents: ["1001", "1002"], strategy: round_robin}
`, sipPort))
	dashSIPp(t, sipp, t.TempDir(), "register.xml", fmt.Sprintf("127.0.0.1:%d", sipPort), 0,
		"-s", "1001", "-au", "1001", "-ap", "secret-1001", "-key", "expires", "300").wait(t)

	b := newDashBrowser(t, srv.URL)
	b.do(t, chromedp.Navigate(srv.URL+"/queues"))
	b.waitPath(t, "/signin")
	b.do(t,
		chromedp.SendKeys(chromedp.ID("token"), testToken),
		chromedp.Submit(chromedp.ID("token")),
	)
	b.waitPath(t, "/queues")
	agent := func(ext string) string { return `#queues section[data-queue="600"] tr[data-agent="` + ext + `"]` }
	b.poll(t, `document.querySelector('`+agent("1001")+` .agent-state.idle') !== null &&
		document.querySelector('`+agent("1002")+` .agent-state.unregistered') !== null`)
	if h := b.text(t, `#queues section[data-queue="600"] h2`); h != "600 · Sales" {
		t.Errorf("queue heading %q", h)
	}
	b.shoot(t, "queues")
	b.do(t, b.click(agent("1001")+` button[data-agent="1001"]`))
	b.poll(t, `document.querySelector('`+agent("1001")+` .agent-state.paused') !== null &&
		document.querySelector('`+agent("1001")+` button').textContent === 'Unpause'`)
	b.checkLabels(t)

	// A caller waits (1001 paused, 1002 without a phone): the page shows
	// it, counting its wait, until it hangs up.
	rtp := listenRTP(t)
	caller := dashSIPp(t, sipp, t.TempDir(), "caller_queue_listen.xml", fmt.Sprintf("127.0.0.1:%d", sipPort), 0,
		"-s", "600", "-key", "caller", "1003", "-au", "1003", "-ap", "secret-1003",
		"-key", "rtpport", strconv.Itoa(rtp.port()), "-key", "digit", "1", "-d", "3000")
	waiting := `#queues section[data-queue="600"] table.callers tr[data-call-uuid]`
	b.poll(t, `document.querySelector('`+waiting+`') !== null`)
	if row := b.text(t, waiting); !strings.Contains(row, "1003") {
		t.Errorf("waiting caller row %q does not show 1003", row)
	}
	b.shoot(t, "queues-waiting")
	caller.wait(t)
	b.poll(t, `document.querySelector('`+waiting+`') === null`)

	srv.Kill()
	srv.Restart()
	var q apitypes.Queue
	srv.API("GET", "/v1/queues/600", nil, http.StatusOK, &q)
	if a := q.Agents[0]; a.Extension != "1001" || !a.Paused || a.State != apitypes.AgentPaused {
		t.Errorf("after kill -9 and restart, agent %+v, want 1001 paused", a)
	}
	srv.API("POST", "/v1/queues/600/agents/1001/unpause", nil, http.StatusOK, &q)
	if q.Agents[0].Paused {
		t.Errorf("after unpause: %+v", q.Agents[0])
	}
}
