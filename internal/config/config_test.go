package config

import (
	"strings"
	"testing"
	"time"
)

func TestDefaultsAreValid(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.Listen != "127.0.0.1:8080" || c.Store.DSN != "sqlite://./switchhook-data/switchhook.db" || !c.SIP.On() || !c.DemoExtensions {
		t.Fatalf("unexpected defaults: %+v", c)
	}
}

func TestParseFullFile(t *testing.T) {
	c, err := Parse([]byte(`
timezone: Europe/Berlin
http: {listen: "127.0.0.1:9000", admin_token: secret-token}
store: {dsn: "sqlite:///var/lib/switchhook/db", retention: 240h}
webhooks:
  - url: https://crm.example.com/pbx
    events: [CALL_ANSWER, CALL_HANGUP]
    payload: extended
    headers: {Authorization: "Bearer x"}
    timeout: 5s
    retry_schedule: [0s, 1s, 1m]
sip: {enabled: false}
extensions:
  - {number: "1001", password: "long-enough", name: Alice}
ring_timeout: 20s
`))
	if err != nil {
		t.Fatal(err)
	}
	w := c.Webhooks[0]
	if w.Timeout.D() != 5*time.Second || len(w.RetrySchedule) != 3 || w.RetrySchedule[2].D() != time.Minute || w.Headers["Authorization"] != "Bearer x" {
		t.Errorf("webhook = %+v", w)
	}
	if c.SIP.On() || c.DemoExtensions || c.RingTimeout.D() != 20*time.Second || c.Store.Retention.D() != 240*time.Hour {
		t.Errorf("config = %+v", c)
	}
}

func TestBadConfigNamesTheKey(t *testing.T) {
	cases := map[string]string{
		"webhooks:\n  - url: http://x\n    secrt: a\n": "webhooks[0].secrt: unknown key (line 3)",
		"htp: {}\n":                 "htp: unknown key",
		"http: {listen: nowhere}\n": "http.listen:",
		"webhooks:\n  - url: http://x\n    timeout: soon\n":                   "webhooks[0].timeout: \"soon\" is not a duration like 10s, 5m or 24h (line 3)",
		"webhooks:\n  - url: http://x\n    events: [CALL_DANCE]\n":            "webhooks[0].events[0]: unknown event \"CALL_DANCE\"",
		"webhooks:\n  - url: ftp://x\n":                                       "webhooks[0].url:",
		"webhooks:\n  - url: http://x\n    payload: fancy\n":                  "webhooks[0].payload: unknown payload profile",
		"webhooks:\n  - url: http://x\n    max_in_flight: many\n":             "webhooks[0].max_in_flight: cannot unmarshal",
		"webhooks:\n  - url: http://x\n    headers: {webhook-id: x}\n":        "webhooks[0].headers.webhook-id:",
		"webhooks:\n  - url: http://x\n  - url: http://x\n":                   "webhooks[1].url: http://x is declared already",
		"timezone: Mars/Olympus\n":                                            "timezone:",
		"store: {dsn: mysql://x}\n":                                           "store.dsn:",
		"sip: {listen: [\"sctp://0.0.0.0:5060\"]}\n":                          "sip.listen[0]:",
		"sip: {rtp_ports: 20000-10000}\n":                                     "sip.rtp_ports:",
		"extensions:\n  - {number: \"10a\", password: longenough}\n":          "extensions[0].number:",
		"extensions:\n  - {number: \"1001\", password: short}\n":              "extensions[0].password:",
		"freeswitch:\n  - {name: fs1, address: nowhere, password: ClueCon}\n": "freeswitch[0].address:",
		"asterisk:\n  - {name: a, url: http://h:8088, username: u, app: x}\nfreeswitch:\n  - {name: a, address: \"h:1\", password: p}\n": "asterisk[0].name: \"a\" is used already by freeswitch[0]",
		"- just a list\n": "(top level): want a mapping",
	}
	for in, want := range cases {
		_, err := Parse([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q)\n  err = %v\n want containing %q", in, err, want)
		}
	}
}

func TestEmptyFileIsDefaults(t *testing.T) {
	c, err := Parse(nil)
	if err != nil || c.HTTP.Listen != "127.0.0.1:8080" {
		t.Fatalf("Parse(nil) = %+v, %v", c, err)
	}
}
