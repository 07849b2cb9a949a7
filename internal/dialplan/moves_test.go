package dialplan

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/events"
)

func movesPlan(t *testing.T) *Plan {
	t.Helper()
	p, err := New(Config{
		Extensions: []string{"1001", "1002", "1003", "1004"},
		RingGroups: []RingGroup{{Number: "600", Strategy: Simultaneous, Members: []string{"1001", "1002"}}},
		Gateways:   []string{"carrier"},
		Routes:     []OutboundRoute{{Match: `9\d+`, Gateway: "carrier"}},
		PickupGroups: map[string]string{
			"1001": "sales", "1002": "sales", "1003": "support",
		},
		Pickup: PickupCodes{Group: "*8", Directed: "**"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestForwardTo(t *testing.T) {
	f := Forward{Unconditional: "1", UserBusy: "2", NoAnswer: "3", Unavailable: "4"}
	for reason, want := range map[events.DiversionReason]string{
		events.DivertUnconditional: "1", events.DivertUserBusy: "2", events.DivertNoAnswer: "3",
		events.DivertUnavailable: "4", events.DivertTransfer: "", events.DivertPickup: "",
	} {
		if got := f.To(reason); got != want {
			t.Errorf("To(%s) = %q, want %q", reason, got, want)
		}
	}
	if d := f.RingFor(); d != DefaultNoAnswerAfter {
		t.Errorf("RingFor = %v", d)
	}
	if d := (Forward{NoAnswer: "3", NoAnswerAfter: time.Second}).RingFor(); d != time.Second {
		t.Errorf("RingFor = %v", d)
	}
	if d := (Forward{NoAnswerAfter: time.Second}).RingFor(); d != 0 {
		t.Errorf("RingFor without a no-answer forward = %v", d)
	}
	if !(Forward{}).IsZero() || f.IsZero() {
		t.Error("IsZero")
	}
}

func TestCheckForward(t *testing.T) {
	p := movesPlan(t)
	ok := Forward{Unconditional: "1002", UserBusy: "600", NoAnswer: "9004930", NoAnswerAfter: 10 * time.Second, Unavailable: "1003"}
	if err := p.CheckForward("1001", ok, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		ext   string
		f     Forward
		field string
		msg   string
	}{
		{"600", Forward{}, "number", `"600" is not an extension`},
		{"4242", Forward{}, "number", `"4242" is not an extension`},
		{"1001", Forward{UserBusy: "1001"}, "user_busy", "forwards extension 1001 to itself"},
		{"1001", Forward{Unavailable: "555"}, "unavailable", `"555" is no extension, ring group or IVR and matches no route`},
		{"1001", Forward{NoAnswer: "*8"}, "no_answer", `"*8" is no extension`},
		{"1001", Forward{NoAnswer: "1002", NoAnswerAfter: -time.Second}, "no_answer_after", "must not be negative"},
		{"1001", Forward{NoAnswer: "1002"}, "no_answer_after", "20s is not shorter than the ring timeout 15s"},
	}
	for _, c := range cases {
		err := p.CheckForward(c.ext, c.f, 15*time.Second)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != c.field || !strings.Contains(fe.Msg, c.msg) {
			t.Errorf("CheckForward(%s, %+v) = %v, want %s: …%s…", c.ext, c.f, err, c.field, c.msg)
		}
	}
}

func TestPathDivert(t *testing.T) {
	p := Path{"1001"}
	var err error
	for _, n := range []string{"1002", "1003", "1004", "600", "9001"} {
		if p, err = p.Divert(n); err != nil {
			t.Fatalf("hop to %s: %v", n, err)
		}
	}
	if got := strings.Join(p, ","); got != "1001,1002,1003,1004,600,9001" {
		t.Fatalf("path %s", got)
	}
	if _, err := p.Divert("9002"); !errors.Is(err, ErrForwardLoop) {
		t.Errorf("sixth hop: %v", err)
	}
	short := Path{"1001", "1002"}
	if _, err := short.Divert("1001"); !errors.Is(err, ErrForwardLoop) || !strings.Contains(err.Error(), "1001 → 1002 → 1001") {
		t.Errorf("back to 1001: %v", err)
	}
	// Paths that share a prefix do not share their backing array.
	a, _ := short.Divert("1003")
	b, _ := short.Divert("1004")
	if a[2] != "1003" || b[2] != "1004" {
		t.Errorf("paths share storage: %v %v", a, b)
	}
}

func TestPickupCodes(t *testing.T) {
	p := movesPlan(t)
	for number, want := range map[string]*Pickup{
		"*8":     {},
		"**1002": {Extension: "1002"},
		"**4242": {Extension: "4242"},
		"**":     nil,
		"*81":    nil,
		"1002":   nil,
		"90049":  nil,
	} {
		got, ok := p.Pickup(number)
		if ok != (want != nil) || ok && got != *want {
			t.Errorf("Pickup(%q) = %+v, %v; want %+v", number, got, ok, want)
		}
	}
	none, _ := New(Config{Extensions: []string{"1001"}})
	if _, ok := none.Pickup("*8"); ok {
		t.Error("a plan without pickup codes picked up")
	}
}

func TestPickupTarget(t *testing.T) {
	p := movesPlan(t)
	t0 := time.Date(2026, 1, 27, 12, 0, 0, 0, time.UTC)
	calls := []RingingCall{
		{ID: "b", Caller: "1003", Ringing: []string{"1002"}, Since: t0.Add(2 * time.Second)},
		{ID: "a", Caller: "9004930", Ringing: []string{"1001", "1002"}, Since: t0.Add(time.Second)},
		{ID: "own", Caller: "1001", Ringing: []string{"1002"}, Since: t0},
		{ID: "c", Caller: "1002", Ringing: []string{"1003"}, Since: t0},
	}
	cases := []struct {
		picker string
		want   Pickup
		id     string
		ext    string
	}{
		{"1001", Pickup{}, "a", "1002"},                    // oldest ringing a sales member, not its own call
		{"1002", Pickup{}, "a", "1001"},                    // 1002 may pick up a call ringing 1001 and itself
		{"1004", Pickup{}, "", ""},                         // in no group
		{"1001", Pickup{Extension: "1003"}, "c", "1003"},   // directed works across groups
		{"1003", Pickup{Extension: "1002"}, "own", "1002"}, // directed: the oldest ringing 1002
		{"1002", Pickup{Extension: "1004"}, "", ""},        // nothing rings 1004
		{"1003", Pickup{}, "", ""},                         // support: only 1003 itself
	}
	for _, c := range cases {
		id, ext, ok := p.PickupTarget(c.picker, c.want, calls)
		if id != c.id || ext != c.ext || ok != (c.id != "") {
			t.Errorf("PickupTarget(%s, %+v) = %q, %q, %v; want %q, %q", c.picker, c.want, id, ext, ok, c.id, c.ext)
		}
	}
}

func TestBadPickupConfig(t *testing.T) {
	cases := map[string]Config{
		`"4242" is not an extension`: {Extensions: []string{"1001"}, PickupGroups: map[string]string{"4242": "sales"}},
		`both "*8"`:                  {Extensions: []string{"1001"}, Pickup: PickupCodes{Group: "*8", Directed: "*8"}},
		`"1001" is also a number of the dialplan (extension)`: {Extensions: []string{"1001"}, Pickup: PickupCodes{Group: "1001", Directed: "**"}},
	}
	for want, cfg := range cases {
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New = %v, want …%s…", err, want)
		}
	}
}

func TestConsultationSession(t *testing.T) {
	t0 := time.Date(2026, 1, 27, 12, 0, 0, 0, time.UTC)
	if s := ConsultationSession(nil); s != "" {
		t.Errorf("no held call: %q", s)
	}
	held := []HeldCall{{"s1", t0}, {"s3", t0.Add(2 * time.Second)}, {"s2", t0.Add(time.Second)}}
	if s := ConsultationSession(held); s != "s3" {
		t.Errorf("got %q, want the most recently held s3", s)
	}
}
