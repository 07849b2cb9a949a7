package config

import (
	"strings"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/store"
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
		"sip: {media_timeout: 500ms}\n":                                       "sip.media_timeout:",
		"sip: {min_se: 0s}\n":                                                 "sip.min_se:",
		"sip: {session_expires: 60s, min_se: 90s}\n":                          "sip.session_expires:",
		"extensions:\n  - {number: \"10a\", password: longenough}\n":          "extensions[0].number:",
		"extensions:\n  - {number: \"1001\", password: short}\n":              "extensions[0].password:",
		"freeswitch:\n  - {name: fs1, address: nowhere, password: ClueCon}\n": "freeswitch[0].address:",
		"asterisk:\n  - {name: a, url: http://h:8088, username: u, app: x}\nfreeswitch:\n  - {name: a, address: \"h:1\", password: p}\n": "asterisk[0].name: \"a\" is used already by freeswitch[0]",
		"- just a list\n": "(top level): want a mapping",
		"extensions:\n  - {number: \"1001\", password: longenough}\nring_groups:\n  - {number: \"1001\", strategy: simultaneous, members: [\"1001\"]}\n": "ring_groups[0].number: 1001 is used already by extensions[0]",
		"extensions:\n  - {number: \"1001\", password: longenough}\nring_groups:\n  - {number: \"600\", strategy: simultaneous, members: [\"1009\"]}\n":  "ring_groups[0].members[0]: \"1009\" is not an extension",
		"ring_groups:\n  - {number: \"600\", strategy: random, members: [\"1001\"]}\n":                                                                   "ring_groups[0].strategy:",
		"ivrs:\n  - {number: \"700\", options: {\"1\": \"4242\"}}\n":                                                                                     "ivrs[0].options.1: \"4242\" is no extension",
		"ivrs:\n  - {number: \"700\", default: \"4242\"}\n":                                                                                              "ivrs[0].default:",
		"routes:\n  - {match: \"^9(\\\\d+)$\", gateway: nowhere}\n":                                                                                      "routes[0].gateway: \"nowhere\" is not a gateway's name",
		"gateways:\n  - {name: c, address: \"127.0.0.2:5060\"}\nroutes:\n  - {match: \"(\", gateway: c}\n":                                               "routes[0].match:",
		"gateways:\n  - {name: c, address: nowhere}\n":                                                                                                   "gateways[0].address:",
		"inbound:\n  - {did: \"855\", to: \"4242\"}\n":                                                                                                   "inbound[0].to:",
	}
	for in, want := range cases {
		_, err := Parse([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q)\n  err = %v\n want containing %q", in, err, want)
		}
	}
}

func TestPBXRoutingKeys(t *testing.T) {
	c, err := Parse([]byte(`
extensions:
  - {number: "1001", password: long-enough}
  - {number: "1002", password: long-enough}
  - {number: "1003", password: long-enough}
ring_groups:
  - {number: "600", strategy: simultaneous, members: ["1001", "1002"], timeout: 20s}
  - {number: "601", strategy: sequential, members: ["1001", "1002"], timeout: 20s, member_timeout: 8s}
ivrs:
  - number: "700"
    digit_timeout: 5s
    options: {"1": "1001", "2": "600"}
    default: "1003"
gateways:
  - {name: carrier, address: "127.0.0.2:5060", username: "", password: "", register: false}
routes:
  - {match: "^9(\\d{4,15})$", gateway: carrier, number: "$1"}
inbound:
  - {did: "8556900900", to: "700"}
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.RingGroups) != 2 || c.RingGroups[1].MemberTimeout.D() != 8*time.Second || c.IVRs[0].Options["2"] != "600" || c.Routes[0].Number != "$1" || c.Inbound[0].To != "700" {
		t.Errorf("parsed %+v", c)
	}
}

func TestEmptyFileIsDefaults(t *testing.T) {
	c, err := Parse(nil)
	if err != nil || c.HTTP.Listen != "127.0.0.1:8080" {
		t.Fatalf("Parse(nil) = %+v, %v", c, err)
	}
}

const movesBase = `
extensions:
  - {number: "1001", password: long-enough, pickup_group: sales}
  - {number: "1002", password: long-enough, pickup_group: sales}
  - number: "1003"
    password: long-enough
    forward: {unconditional: "1001", user_busy: "600", no_answer: "900442", no_answer_after: 12s, unavailable: "1002"}
ring_groups:
  - {number: "600", strategy: simultaneous, members: ["1001", "1002"]}
gateways:
  - {name: carrier, address: "127.0.0.2:5060"}
routes:
  - {match: "9\\d+", gateway: carrier}
`

func TestForwardAndPickupKeys(t *testing.T) {
	c, err := Parse([]byte(movesBase + "pickup: {group: \"*9\", directed: \"*7\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	f := c.Extensions[2].Forward
	if f.Unconditional != "1001" || f.UserBusy != "600" || f.NoAnswer != "900442" || f.NoAnswerAfter.D() != 12*time.Second || f.Unavailable != "1002" {
		t.Errorf("forward = %+v", f)
	}
	if c.Extensions[0].PickupGroup != "sales" || c.Pickup != (Pickup{Group: "*9", Directed: "*7"}) {
		t.Errorf("pickup = %q %+v", c.Extensions[0].PickupGroup, c.Pickup)
	}
	d, err := Parse([]byte(movesBase))
	if err != nil || d.Pickup != (Pickup{Group: "*8", Directed: "**"}) {
		t.Errorf("default pickup codes = %+v, %v", d.Pickup, err)
	}
}

func TestBadForwardAndPickupNameTheKey(t *testing.T) {
	ext := func(extra string) string {
		return "extensions:\n  - {number: \"1001\", password: long-enough}\n  - {number: \"1002\", password: long-enough" + extra + "}\n"
	}
	cases := map[string]string{
		ext(", forward: {unconditional: \"1002\"}"):                    `extensions[1].forward.unconditional: forwards extension 1002 to itself`,
		ext(", forward: {user_busy: \"4242\"}"):                        `extensions[1].forward.user_busy: "4242" is no extension, ring group or IVR and matches no route`,
		ext(", forward: {no_answer: \"1001\", no_answer_after: 40s}"):  `extensions[1].forward.no_answer_after: 40s is not shorter than ring_timeout 30s`,
		ext(", forward: {no_answer: \"1001\", no_answer_after: -1s}"):  `extensions[1].forward.no_answer_after: must not be negative`,
		ext(", forward: {no_answer: \"1001\", no_answer_after: soon}"): `extensions[1].forward.no_answer_after: "soon" is not a duration`,
		ext(", forward: {busy: \"1001\"}"):                             `extensions[1].forward.busy: unknown key`,
		ext(", pickup_group: \"sales team\""):                          `extensions[1].pickup_group: "sales team" is not a name`,
		ext("") + "pickup: {group: \"\"}\n":                            `pickup.group: "" is not a code`,
		ext("") + "pickup: {directed: \"*a\"}\n":                       `pickup.directed: "*a" is not a code`,
		ext("") + "pickup: {group: \"1001\"}\n":                        `pickup.group: "1001" is the number of extensions[0]`,
		ext("") + "pickup: {directed: \"10\"}\n":                       `pickup.directed: "10" starts the number`,
		ext("") + "pickup: {group: \"**\"}\n":                          `pickup.group: "**" is also the directed pickup code`,
		ext("") + "pickup: {group: \"**1001\"}\n":                      `pickup.group: "**1001" is also the directed pickup of 1001`,
		ext("") + "pickup: {groups: \"*8\"}\n":                         `pickup.groups: unknown key`,
	}
	for in, want := range cases {
		_, err := Parse([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q)\n  err = %v\n want containing %q", in, err, want)
		}
	}
}

func TestBadQueuesNameWhatIsWrong(t *testing.T) {
	exts := "extensions:\n  - {number: \"1001\", password: longenough}\n  - {number: \"1002\", password: longenough}\nring_groups:\n  - {number: \"600\", strategy: simultaneous, members: [\"1001\"]}\n"
	queues := map[string]string{
		"queues:\n  - {number: \"700\", agents: [\"1001\", \"1009\"]}\n":                     "queues[0].agents[1]: \"1009\" is not an extension",
		"queues:\n  - {number: \"700\", agents: [\"1001\"], overflow: \"4242\"}\n":           "queues[0].overflow: \"4242\" is no extension, ring group, queue or IVR, and no route matches it",
		"queues:\n  - {number: \"700\", agents: [\"1001\"], overflow: \"700\"}\n":            "queues[0].overflow: 700 is the queue itself",
		"queues:\n  - {number: \"1002\", agents: [\"1001\"]}\n":                              "queues[0].number: 1002 is used already by extensions[1]",
		"queues:\n  - {number: \"600\", agents: [\"1001\"]}\n":                               "queues[0].number: 600 is used already by ring_groups[0]",
		"queues:\n  - {number: \"700\", agents: [\"1001\"], strategy: random}\n":             "queues[0].strategy: strategy \"random\" does not exist (want ring_all, round_robin, longest_idle or linear)",
		"queues:\n  - {number: \"700\", agents: []}\n":                                       "queues[0].agents: a queue needs at least one agent",
		"queues:\n  - {number: \"700\", agents: [\"1001\", \"1001\"]}\n":                     "queues[0].agents[1]: 1001 is listed twice",
		"queues:\n  - {number: \"700\", agents: [\"1001\"], max_wait: -1s}\n":                "queues[0]: agent_timeout, max_wait, wrapup and max_callers must not be negative",
		"queues:\n  - {number: \"700\", agents: [\"1001\"], max_wait: soon}\n":               "queues[0].max_wait: \"soon\" is not a duration",
		"queues:\n  - {number: \"700\", agents: [\"1001\"], musik: x}\n":                     "queues[0].musik: unknown key",
		"queues:\n  - {number: \"700\", agents: [\"1001\"]}\nivrs:\n  - {number: \"700\"}\n": "ivrs[0].number: 700 is used already by queues[0]",
	}
	for in, want := range queues {
		_, err := Parse([]byte(exts + in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q)\n  err = %v\n want containing %q", in, err, want)
		}
	}
}

func TestQueues(t *testing.T) {
	c, err := Parse([]byte(`
extensions:
  - {number: "1001", password: long-enough}
  - {number: "1002", password: long-enough}
gateways:
  - {name: carrier, address: "127.0.0.2:5060"}
routes:
  - {match: "9\\d+", gateway: carrier}
queues:
  - number: "700"
    name: Sales
    agents: ["1001", "1002"]
    strategy: round_robin
    agent_timeout: 10s
    max_wait: 2m
    wrapup: 5s
    overflow: "701"
    music: ringback
    max_callers: 5
  - {number: "701", agents: ["1002"], overflow: "955501"}
ivrs:
  - {number: "800", options: {"1": "700"}}
inbound:
  - {did: "8556900900", to: "700"}
`))
	if err != nil {
		t.Fatal(err)
	}
	q := c.Queues[0]
	if q.Name != "Sales" || q.Strategy != "round_robin" || q.AgentTimeout.D() != 10*time.Second || q.MaxWait.D() != 2*time.Minute ||
		q.Wrapup.D() != 5*time.Second || q.Overflow != "701" || q.Music != "ringback" || q.MaxCallers != 5 || len(q.Agents) != 2 {
		t.Errorf("queue %+v", q)
	}
}

// A value refused by validation is named with its key and its line, so a
// reload of a bad file says where to look.
func TestValidationNamesLine(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ yaml, want string }{
		{"extensions:\n  - {number: \"1001\", password: long-enough}\n  - number: \"1002\"\n    password: short\n", "extensions[1].password: must be at least 8 characters (line 4)"},
		{"extensions:\n  - {number: \"1001\", password: short}\n", "extensions[0].password: must be at least 8 characters (line 2)"},
		{"log:\n  level: loud\n", `log.level: "loud" is not one of debug, info, warn, error (line 2)`},
	} {
		_, err := Parse([]byte(c.yaml))
		if err == nil || err.Error() != c.want {
			t.Errorf("%q: %v, want %s", c.yaml, err, c.want)
		}
	}
}

func TestDeliveryDefaultsAreTheStoresAndAreReplaced(t *testing.T) {
	c := Default()
	if c.Delivery.Timeout.D() != store.DefaultTimeout || c.Delivery.MaxInFlight != store.DefaultMaxInFlight || len(c.Delivery.RetrySchedule) != len(store.DefaultRetrySchedule()) {
		t.Errorf("delivery defaults %+v are not the store's", c.Delivery)
	}
	c, err := Parse([]byte("delivery: {retry_schedule: [1s, 2s]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s := c.Delivery.RetrySchedule; len(s) != 2 || s[0].D() != time.Second || s[1].D() != 2*time.Second {
		t.Errorf("retry_schedule [1s, 2s] read as %v", s)
	}
}
