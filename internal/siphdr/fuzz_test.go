package siphdr

import (
	"testing"
)

// The parsers read what phones and carriers send: none may panic, and what
// they accept must render back to something they accept the same.

func FuzzParseReferTo(f *testing.F) {
	for _, s := range []string{
		"<sip:1003@pbx>", "sip:1003@pbx;x=y", "<tel:+4930123>", `"A" <sips:1@h>`,
		"<sip:1003@pbx?Replaces=a%40b%3Bto-tag%3D1%3Bfrom-tag%3D2>", "<sip:1@h?replaces=%zz>", "<", ">", "<sip:@>",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseReferTo(s)
		if err != nil {
			return
		}
		if r.Target == "" || !dialable(r.Target) {
			t.Fatalf("ParseReferTo(%q) accepted target %q", s, r.Target)
		}
		if r.URI.Scheme == "tel" {
			return
		}
		back, err := ParseReferTo(r.String())
		if err != nil {
			t.Fatalf("ParseReferTo(%q) → %s → %v", s, r.String(), err)
		}
		if back.Target != r.Target || (back.Replaces == nil) != (r.Replaces == nil) || back.Replaces != nil && *back.Replaces != *r.Replaces {
			t.Fatalf("round trip of %q: %+v then %+v", s, r, back)
		}
	})
}

func FuzzParseReplaces(f *testing.F) {
	for _, s := range []string{"a@b;to-tag=1;from-tag=2", "x;from-tag=1;to-tag=2;early-only", ";;;", "a;to-tag=;from-tag="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseReplaces(s)
		if err != nil {
			return
		}
		back, err := ParseReplaces(r.String())
		if err != nil || back != r {
			t.Fatalf("ParseReplaces(%q) = %+v → %q → %+v, %v", s, r, r.String(), back, err)
		}
		if !r.Matches(r.CallID, r.ToTag, r.FromTag) {
			t.Fatalf("%+v does not match its own dialog", r)
		}
	})
}

func FuzzParseSipfrag(f *testing.F) {
	for _, s := range []string{"SIP/2.0 200 OK\r\n", "SIP/2.0 100", "SIP/2.0 999 x", "\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		code, _, err := ParseSipfrag(b)
		if err == nil && (code < 100 || code > 699) {
			t.Fatalf("ParseSipfrag(%q) = %d", b, code)
		}
	})
}

func FuzzParseDiversion(f *testing.F) {
	for _, s := range []string{"<sip:1002@x>;reason=user-busy;counter=1", "<sip:1@h>;reason=\"a\", <sip:2@h>", "<>;", "<sip:1@h>;counter=-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDiversion(s)
		if err == nil && (d.Number == "" || d.Reason == "" || d.Counter < 1) {
			t.Fatalf("ParseDiversion(%q) = %+v", s, d)
		}
	})
}
