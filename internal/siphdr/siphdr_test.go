package siphdr

import (
	"errors"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/switchhook/switchhook/internal/events"
)

func TestParseReferTo(t *testing.T) {
	cases := []struct {
		in       string
		target   string
		replaces *Replaces
	}{
		{"<sip:1003@10.0.0.1>", "1003", nil},
		{`"Carol" <sip:1003@pbx.example;transport=udp>;tag=ignored`, "1003", nil},
		{"sip:1003@pbx.example", "1003", nil},
		{"sip:1003@pbx.example;method=INVITE", "1003", nil},
		{"<sips:+4930123@pbx.example>", "+4930123", nil},
		{"<tel:+4930123;phone-context=example.com>", "+4930123", nil},
		{"<sip:*8@pbx>", "*8", nil},
		// RFC 5589 §7.3: an attended transfer's Refer-To.
		{"<sip:1003@pbx.example?Replaces=425928%40bobster.example.org%3Bto-tag%3D7743%3Bfrom-tag%3D6472>",
			"1003", &Replaces{CallID: "425928@bobster.example.org", ToTag: "7743", FromTag: "6472"}},
		{"<sip:1003@pbx?Require=replaces&replaces=abc%3Bfrom-tag%3D1%3Bto-tag%3D2%3Bearly-only>",
			"1003", &Replaces{CallID: "abc", ToTag: "2", FromTag: "1", EarlyOnly: true}},
		{"<sip:1003@pbx?Accept-Contact=x>", "1003", nil},
	}
	for _, c := range cases {
		r, err := ParseReferTo(c.in)
		if err != nil {
			t.Errorf("ParseReferTo(%q): %v", c.in, err)
			continue
		}
		if r.Target != c.target || (r.Replaces == nil) != (c.replaces == nil) || r.Replaces != nil && *r.Replaces != *c.replaces {
			t.Errorf("ParseReferTo(%q) = %q %+v, want %q %+v", c.in, r.Target, r.Replaces, c.target, c.replaces)
		}
	}
}

func TestParseReferToRefuses(t *testing.T) {
	for in, want := range map[string]string{
		"":                            "empty",
		"   ":                         "empty",
		"<sip:1003@pbx":               "no closing >",
		"<>":                          "is not a URI",
		"<http://example.com/1003>":   `scheme "http"`,
		"<mailto:bob@example.com>":    `scheme "mailto"`,
		"<sip:pbx.example>":           "names no number",
		"<sip:10 03@pbx>":             "names no number",
		"<sip:1003@pbx?Replaces=abc>": "needs both to-tag and from-tag",
		"<sip:1003@pbx?Replaces=%zz>": "percent-encoded",
		"sip:1003@pbx?Replaces=a":     "angle brackets",
		"<sip:1003@pbx?Replaces=a%3Bto-tag%3D1%3Bfrom-tag%3D2&Replaces=a%3Bto-tag%3D1%3Bfrom-tag%3D2>": "more than one Replaces",
		"<sip:" + strings.Repeat("1", 65) + "@pbx>":                                                    "names no number",
	} {
		_, err := ParseReferTo(in)
		if !errors.Is(err, ErrBadReferTo) || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseReferTo(%q) = %v, want …%s…", in, err, want)
		}
	}
}

func TestReferToRoundTrip(t *testing.T) {
	in := "<sip:1003@pbx.example?Replaces=425928%40bobster.example.org%3Bto-tag%3D7743%3Bfrom-tag%3D6472>"
	r, err := ParseReferTo(in)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.String(); got != in {
		t.Errorf("String() = %s\n      want %s", got, in)
	}
}

func TestParseReplaces(t *testing.T) {
	r, err := ParseReplaces(" 98732@sip.example.com ; from-tag=r33th4x0r;to-tag=ff87ff ")
	if err != nil || r != (Replaces{CallID: "98732@sip.example.com", ToTag: "ff87ff", FromTag: "r33th4x0r"}) {
		t.Fatalf("%+v, %v", r, err)
	}
	if s := r.String(); s != "98732@sip.example.com;to-tag=ff87ff;from-tag=r33th4x0r" {
		t.Errorf("String() = %s", s)
	}
	for in, want := range map[string]string{
		"":                                       "no usable Call-ID",
		";to-tag=1;from-tag=2":                   "no usable Call-ID",
		"a b;to-tag=1;from-tag=2":                "no usable Call-ID",
		"abc;to-tag=1":                           "needs both",
		"abc;from-tag=2":                         "needs both",
		"abc;to-tag=;from-tag=2":                 "to-tag empty",
		"abc;to-tag=1;to-tag=3;from-tag=2":       "to-tag empty or twice",
		"abc;to-tag=1;from-tag=2;from-tag=":      "from-tag empty or twice",
		"abc;to-tag=1;from-tag=2;early-only=yes": "takes no value",
	} {
		if _, err := ParseReplaces(in); !errors.Is(err, ErrBadReplaces) || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseReplaces(%q) = %v, want …%s…", in, err, want)
		}
	}
}

func TestReplacesMatches(t *testing.T) {
	r := Replaces{CallID: "c1", ToTag: "pbx-tag", FromTag: "phone-tag"}
	if !r.Matches("c1", "pbx-tag", "phone-tag") {
		t.Error("RFC 3891 §3: to-tag is the local tag, from-tag the remote one")
	}
	if !r.Matches("c1", "phone-tag", "pbx-tag") {
		t.Error("the tags the other way round are accepted too")
	}
	for _, d := range [][3]string{{"c2", "pbx-tag", "phone-tag"}, {"c1", "pbx-tag", "other"}, {"c1", "other", "phone-tag"}, {"c1", "pbx-tag", "pbx-tag"}} {
		if r.Matches(d[0], d[1], d[2]) {
			t.Errorf("matched dialog %v", d)
		}
	}
}

func TestSipfrag(t *testing.T) {
	body := Sipfrag(180, "Ringing")
	if string(body) != "SIP/2.0 180 Ringing\r\n" {
		t.Errorf("Sipfrag = %q", body)
	}
	for in, want := range map[string]int{
		"SIP/2.0 100 Trying\r\n":                         100,
		"SIP/2.0 200 OK":                                 200,
		"SIP/2.0 486 Busy Here\r\nContent-Length: 0\r\n": 486,
		"SIP/2.0 503 \r\n":                               503,
	} {
		code, _, err := ParseSipfrag([]byte(in))
		if err != nil || code != want {
			t.Errorf("ParseSipfrag(%q) = %d, %v", in, code, err)
		}
	}
	for _, in := range []string{"", "HTTP/1.1 200 OK", "SIP/2.0 2000 OK", "SIP/2.0 099 x", "SIP/2.0 700 x", "SIP/2.0 abc"} {
		if _, _, err := ParseSipfrag([]byte(in)); !errors.Is(err, ErrBadSipfrag) {
			t.Errorf("ParseSipfrag(%q) = %v", in, err)
		}
	}
	if NotifyState(100) != "active;expires=60" || NotifyState(183) != "active;expires=60" || NotifyState(200) != "terminated;reason=noresource" || NotifyState(404) != "terminated;reason=noresource" {
		t.Error("NotifyState")
	}
	if ReferEvent(7) != "refer;id=7" {
		t.Error(ReferEvent(7))
	}
}

func TestDiversion(t *testing.T) {
	cases := map[events.DiversionReason]string{
		events.DivertUnconditional: "<sip:1002@pbx.example>;reason=unconditional;counter=1",
		events.DivertUserBusy:      "<sip:1002@pbx.example>;reason=user-busy;counter=1",
		events.DivertNoAnswer:      "<sip:1002@pbx.example>;reason=no-answer;counter=1",
		events.DivertUnavailable:   "<sip:1002@pbx.example>;reason=unavailable;counter=1",
		events.DivertTransfer:      "<sip:1002@pbx.example>;reason=deflection;counter=1",
		events.DivertPickup:        "<sip:1002@pbx.example>;reason=unknown;counter=1",
	}
	for reason, want := range cases {
		got := Diversion("1002", "pbx.example", reason, 1)
		if got != want {
			t.Errorf("Diversion(%s) = %s, want %s", reason, got, want)
		}
		d, err := ParseDiversion(got)
		if err != nil || d.Number != "1002" || d.Counter != 1 || !strings.Contains(want, "reason="+d.Reason+";") {
			t.Errorf("ParseDiversion(%s) = %+v, %v", got, d, err)
		}
	}
	d, err := ParseDiversion(`"Bob" <sip:1002@10.0.0.1:5060;user=phone>;reason="user-busy";counter=3;privacy=off, <sip:1001@x>;reason=no-answer`)
	if err != nil || d != (DiversionInfo{Number: "1002", Reason: "user-busy", Counter: 3}) {
		t.Errorf("ParseDiversion = %+v, %v", d, err)
	}
	for _, in := range []string{"", "sip:1002@x;reason=user-busy", "<sip:x>;reason=user-busy", "<sip:1002@x>", "<sip:1002@x>;reason=no-answer;counter=0", "<:>;reason=a"} {
		if _, err := ParseDiversion(in); !errors.Is(err, ErrBadDiversion) {
			t.Errorf("ParseDiversion(%q) = %v", in, err)
		}
	}
}

func TestParserKeepsAMalformedReferTo(t *testing.T) {
	msg := func(referTo string) []byte {
		return []byte("REFER sip:1002@127.0.0.1 SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK1\r\n" +
			"From: <sip:1002@127.0.0.1>;tag=a\r\nTo: <sip:1001@127.0.0.1>;tag=b\r\n" +
			"Call-ID: c1\r\nCSeq: 3 REFER\r\nMax-Forwards: 70\r\n" + referTo +
			"Content-Length: 0\r\n\r\n")
	}
	for hdr, want := range map[string]string{
		"Refer-To: <sip:1003@127.0.0.1\r\n": "no closing >",
		"":                                  "exactly one, this one 0",
		"Refer-To: <sip:1003@h>\r\nr: <sip:1004@h>\r\n": "exactly one, this one 2",
		"r: <sip:1003@h?Replaces=c2%3Bto-tag%3D1>\r\n":  "needs both",
		"Refer-To: <sip:1003@127.0.0.1>\r\n":            "",
	} {
		m, err := Parser().ParseSIP(msg(hdr))
		if err != nil {
			t.Fatalf("%q: the message did not parse: %v", hdr, err)
		}
		req, ok := m.(*sip.Request)
		if !ok {
			t.Fatalf("%q: %T", hdr, m)
		}
		r, err := ReferToOf(req)
		switch {
		case want == "" && (err != nil || r.Target != "1003"):
			t.Errorf("%q: %+v, %v", hdr, r, err)
		case want != "" && (!errors.Is(err, ErrBadReferTo) || !strings.Contains(err.Error(), want)):
			t.Errorf("%q: %v, want …%s…", hdr, err, want)
		}
	}
}
