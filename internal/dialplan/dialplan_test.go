package dialplan

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/events"
)

func testPlan(t *testing.T) *Plan {
	t.Helper()
	p, err := New(Config{
		Extensions: []string{"1001", "1002", "1003"},
		RingGroups: []RingGroup{
			{Number: "600", Strategy: Simultaneous, Members: []string{"1001", "1002"}},
			{Number: "601", Strategy: Sequential, Members: []string{"1002", "1001"}, Timeout: 30 * time.Second, MemberTimeout: 5 * time.Second},
		},
		IVRs: []IVR{
			{Number: "700", Options: map[string]string{"1": "1001", "2": "600", "9": "701"}, Default: "1003"},
			{Number: "701", Prompt: "menu.wav", DigitTimeout: time.Second},
		},
		Gateways: []string{"carrier", "backup"},
		Routes: []OutboundRoute{
			{Match: `^9(\d{4,15})$`, Gateway: "carrier", Number: "$1"},
			{Match: `00(?P<intl>\d+)`, Gateway: "backup", Number: "+${intl}"},
			{Match: `1\d{10}`, Gateway: "backup"},
		},
		Inbound: []Inbound{{DID: "8556900900", To: "700"}, {DID: "8556900901", To: "1002"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRoute(t *testing.T) {
	p := testPlan(t)
	ivr := func(n string) *IVR { r, _ := p.Local(n); return r.IVR }
	for _, tc := range []struct {
		dial string
		want Route
	}{
		{"1002", Route{Target: events.Target{Type: events.Extension, Target: "1002"}, Ring: []string{"1002"}}},
		{"600", Route{Target: events.Target{Type: events.RingGroup, Target: "600"}, Ring: []string{"1001", "1002"}, Timeout: DefaultGroupTimeout}},
		{"601", Route{Target: events.Target{Type: events.RingGroup, Target: "601"}, Ring: []string{"1002", "1001"}, Sequential: true, Timeout: 30 * time.Second, MemberTimeout: 5 * time.Second}},
		{"700", Route{Target: events.Target{Type: events.IVR, Target: "700"}, IVR: ivr("700")}},
		{"915551234", Route{Target: events.Target{Type: events.Gateway, Target: "carrier"}, Gateway: "carrier", Number: "15551234"}},
		{"0044201234", Route{Target: events.Target{Type: events.Gateway, Target: "backup"}, Gateway: "backup", Number: "+44201234"}},
		{"15551234567", Route{Target: events.Target{Type: events.Gateway, Target: "backup"}, Gateway: "backup", Number: "15551234567"}},
	} {
		got, ok := p.Route(tc.dial)
		if !ok || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Route(%s) = %+v, %v; want %+v", tc.dial, got, ok, tc.want)
		}
	}
	// A pattern matches the whole number, anchored or not.
	for _, n := range []string{"", "9999", "100", "9123", "91234567890123456", "x0044", "155512345678", "1001 "} {
		if r, ok := p.Route(n); ok {
			t.Errorf("Route(%q) matched %+v", n, r)
		}
	}
}

func TestIVRDefaults(t *testing.T) {
	p := testPlan(t)
	r, _ := p.Local("700")
	if r.IVR.DigitTimeout != DefaultDigitTimeout || r.IVR.Options["2"] != "600" || r.IVR.Default != "1003" {
		t.Errorf("ivr 700 = %+v", r.IVR)
	}
	r, _ = p.Local("701")
	if r.IVR.DigitTimeout != time.Second || r.IVR.Prompt != "menu.wav" || r.IVR.Default != "" {
		t.Errorf("ivr 701 = %+v", r.IVR)
	}
}

func TestLocalAndInbound(t *testing.T) {
	p := testPlan(t)
	if r, ok := p.Local("915551234"); ok {
		t.Errorf("Local searched outbound routes: %+v", r)
	}
	r, ok := p.Inbound("8556900900")
	if !ok || r.Target != (events.Target{Type: events.IVR, Target: "700"}) {
		t.Errorf("Inbound(8556900900) = %+v, %v", r, ok)
	}
	r, ok = p.Inbound("8556900901")
	if !ok || r.Target != (events.Target{Type: events.Extension, Target: "1002"}) {
		t.Errorf("Inbound(8556900901) = %+v, %v", r, ok)
	}
	// A carrier cannot reach what is not routed inbound, extensions and
	// outbound routes included.
	for _, n := range []string{"1001", "700", "915551234", "8556900902"} {
		if r, ok := p.Inbound(n); ok {
			t.Errorf("Inbound(%s) = %+v", n, r)
		}
	}
}

// A rewrite that leaves nothing to dial falls through to the next route.
func TestEmptyRewriteIsNoRoute(t *testing.T) {
	p, err := New(Config{Gateways: []string{"a", "b"}, Routes: []OutboundRoute{
		{Match: `9(\d*)`, Gateway: "a", Number: "$1"},
		{Match: `9`, Gateway: "b"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := p.Route("9"); !ok || r.Gateway != "b" || r.Number != "9" {
		t.Errorf("Route(9) = %+v, %v", r, ok)
	}
}

func TestNewErrors(t *testing.T) {
	exts := []string{"1001", "1002"}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Extensions: []string{"1", "1"}}, "extensions[1]: number 1 is used already by extensions[0]"},
		{Config{Extensions: []string{""}}, `extensions[0]: number "" is empty`},
		{Config{Extensions: []string{"10 01"}}, "cannot hold"},
		{Config{Extensions: exts, RingGroups: []RingGroup{{Number: "1001", Strategy: Simultaneous, Members: exts}}}, "ring_groups[0]: number 1001 is used already by extensions[0]"},
		{Config{Extensions: exts, RingGroups: []RingGroup{{Number: "600", Strategy: "random", Members: exts}}}, `ring_groups[0] (600): strategy "random" is not simultaneous or sequential`},
		{Config{Extensions: exts, RingGroups: []RingGroup{{Number: "600", Strategy: Sequential}}}, "ring_groups[0] (600): a ring group needs at least one member"},
		{Config{Extensions: exts, RingGroups: []RingGroup{{Number: "600", Strategy: Sequential, Members: []string{"1001", "1009"}}}}, `ring_groups[0] (600): members[1] "1009" is not an extension`},
		{Config{Extensions: exts, RingGroups: []RingGroup{{Number: "600", Strategy: Sequential, Members: []string{"1001", "1001"}}}}, "member 1001 is listed twice"},
		{Config{Extensions: exts, RingGroups: []RingGroup{
			{Number: "600", Strategy: Sequential, Members: exts},
			{Number: "601", Strategy: Sequential, Members: []string{"600"}},
		}}, `ring_groups[1] (601): members[0] "600" is not an extension`},
		{Config{Extensions: exts, RingGroups: []RingGroup{{Number: "600", Strategy: Sequential, Members: exts, MemberTimeout: -time.Second}}}, "timeouts must not be negative"},
		{Config{Extensions: exts, IVRs: []IVR{{Number: "700", DigitTimeout: -1}}}, "ivrs[0] (700): digit_timeout must not be negative"},
		{Config{Extensions: exts, IVRs: []IVR{{Number: "700", Options: map[string]string{"12": "1001"}}}}, `ivrs[0] (700): option "12" is not one digit`},
		{Config{Extensions: exts, IVRs: []IVR{{Number: "700", Options: map[string]string{"1": "1009"}}}}, `ivrs[0] (700): option 1: "1009" is no extension, ring group or IVR`},
		{Config{Extensions: exts, IVRs: []IVR{{Number: "700", Default: "915551234"}}}, `ivrs[0] (700): default "915551234" is no extension`},
		{Config{Gateways: []string{"carrier"}, Routes: []OutboundRoute{{Gateway: "carrier"}}}, "routes[0]: match is empty"},
		{Config{Gateways: []string{"carrier"}, Routes: []OutboundRoute{{Match: "9(", Gateway: "carrier"}}}, `routes[0]: match "9(" is not a regular expression`},
		{Config{Gateways: []string{"carrier"}, Routes: []OutboundRoute{{Match: "9", Gateway: "other"}}}, `routes[0]: gateway "other" is not a gateway's name`},
		{Config{Extensions: exts, Inbound: []Inbound{{To: "1001"}}}, "inbound[0]: did is empty"},
		{Config{Extensions: exts, Inbound: []Inbound{{DID: "5", To: "1001"}, {DID: "5", To: "1002"}}}, "inbound[1]: did 5 is routed twice"},
		{Config{Extensions: exts, Inbound: []Inbound{{DID: "5", To: "9"}}}, `inbound[0] (5): to "9" is no extension, ring group or IVR`},
	} {
		_, err := New(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want an error with %q", tc.cfg, err, tc.want)
		}
	}
}

// BenchmarkRoute routes an extension's number (a map look-up) and a number
// that goes out by the last of three outbound routes (three regexps).
func BenchmarkRoute(b *testing.B) {
	p, err := New(Config{
		Extensions: []string{"1001", "1002"},
		Gateways:   []string{"carrier"},
		Routes: []OutboundRoute{
			{Match: `^00(\d+)$`, Gateway: "carrier", Number: "+$1"},
			{Match: `^1\d{10}$`, Gateway: "carrier"},
			{Match: `^9(\d{4,15})$`, Gateway: "carrier", Number: "$1"},
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []string{"1002", "915551234567"} {
		b.Run(n, func(b *testing.B) {
			for b.Loop() {
				if _, ok := p.Route(n); !ok {
					b.Fatal("not routed")
				}
			}
		})
	}
}

func TestQueuesAreLocalNumbers(t *testing.T) {
	p, err := New(Config{
		Extensions: []string{"1001"}, Queues: []string{"600"},
		IVRs:    []IVR{{Number: "700", Options: map[string]string{"1": "600"}}},
		Inbound: []Inbound{{DID: "855", To: "600"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []func() (Route, bool){
		func() (Route, bool) { return p.Route("600") },
		func() (Route, bool) { return p.Inbound("855") },
	} {
		if got, ok := r(); !ok || got.Target != (events.Target{Type: events.Queue, Target: "600"}) {
			t.Errorf("route %+v, %v", got, ok)
		}
	}
	if _, err := New(Config{Extensions: []string{"600"}, Queues: []string{"600"}}); err == nil || !strings.Contains(err.Error(), "queues[0]: number 600 is used already by extensions[0]") {
		t.Errorf("err = %v", err)
	}
}
