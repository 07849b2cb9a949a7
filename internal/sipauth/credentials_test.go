package sipauth

import (
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

var credentialSeeds = []string{
	`Digest username="1001", realm="pbx.test", nonce="0011", uri="sip:pbx.test", response="abcd", algorithm=MD5, cnonce="xyz", qop=auth, nc=00000001`,
	`digest username="1001",realm="pbx.test",nonce="0011",uri="sip:1002@pbx.test;transport=udp",response="ABCD",algorithm=SHA-256`,
	`DIGEST   username = "a\"b\\c" ,  realm="r", nc=1, nc=ff, userhash=TRUE, opaque="", qop=auth-int`,
	`Digest username="caf` + "\xc3\xa9" + `", realm="` + "\xff\xfe" + `", uri="sip:x"`,
	`Digest username="1001", realm="pbx.test", nc=zz`,
	`Digest username="1001", realm="pbx.test", nc=-1, cnonce="c", qop=auth`,
	`Digest username="1001" realm="pbx.test"`,
	`Digest username="1001", realm="pbx.test",`,
	`Digest username="1001", uri=sip:x`,
	`Digest username="unterminated`,
	`Digest username="escape at the end\`,
	`Digest =x, ="", unknown-key="v"`,
	`Digest `,
	`Digest`,
	`Basic dXNlcjpwYXNz`,
	"Digest username=\"1001\",\trealm=\"pbx.test\"",
	`Digest username="` + "\xe2\x82" + `"`,
}

// parseCredentials reads what digest.ParseCredentials reads, and fails
// where it fails.
func FuzzParseCredentials(f *testing.F) {
	for _, s := range credentialSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, wantErr := digest.ParseCredentials(s)
		got, err := parseCredentials(s)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("%q: error %v, digest's %v", s, err, wantErr)
		}
		if err != nil {
			if err.Error() != wantErr.Error() {
				t.Errorf("%q: error %q, digest's %q", s, err, wantErr)
			}
			return
		}
		if got != *want {
			t.Errorf("%q:\n got %+v\nwant %+v", s, got, *want)
		}
	})
}

// The response Verify expects is digest.Digest's for the same fields.
func TestResponseMatchesDigest(t *testing.T) {
	t.Parallel()
	for _, c := range []digest.Credentials{
		{Username: "1001", URI: "sip:pbx.test", Nonce: "n1", Algorithm: "MD5", QOP: "auth", Cnonce: "c1", Nc: 1},
		{Username: "1001", URI: "sip:pbx.test", Nonce: "n1", Algorithm: "md5", QOP: "auth", Cnonce: "c1", Nc: 0x1234abcd},
		{Username: "1001", URI: "sip:pbx.test", Nonce: "n1", Algorithm: "SHA-256", QOP: "auth", Cnonce: "c1", Nc: 7},
		{Username: "1001", URI: "sip:pbx.test", Nonce: "n1", Algorithm: "sha-256"},
		{Username: "1001", URI: "sip:pbx.test", Nonce: "n1"},
		{Username: "1001", URI: "sip:pbx.test", Nonce: "n1", QOP: "auth", Cnonce: "c1"},
		{Username: "1001", URI: "sip:pbx.test", Nonce: "n1", QOP: "auth", Cnonce: "c1", Nc: -1},
		{Username: strings.Repeat("u", 300), URI: strings.Repeat("sip:", 100), Nonce: strings.Repeat("n", 200), Algorithm: "SHA-256", QOP: "auth", Cnonce: "c", Nc: 2},
	} {
		chal := &digest.Challenge{Realm: "pbx.test", Nonce: c.Nonce, Algorithm: c.Algorithm}
		if c.QOP != "" {
			chal.QOP = []string{c.QOP}
		}
		want, err := digest.Digest(chal, digest.Options{
			Method: "INVITE", URI: c.URI, Username: c.Username, Password: "secret", Cnonce: c.Cnonce, Count: c.Nc,
		})
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := response(nil, &c, "pbx.test", "INVITE", "secret"); !ok || string(got) != want.Response {
			t.Errorf("%+v: response %q, %v; digest's %q", c, got, ok, want.Response)
		}
	}
	if _, ok := response(nil, &digest.Credentials{Username: "1001", Nonce: "n", QOP: "auth"}, "r", "INVITE", "p"); ok {
		t.Error("a response under qop without a cnonce")
	}
}

// The challenge is digest.Challenge's, written without its parameters.
func TestChallengeMatchesDigest(t *testing.T) {
	t.Parallel()
	for _, realm := range []string{"pbx.test", "127.0.0.1", `we"ird\realm` + "\x01é"} {
		for _, alg := range Algorithms {
			for _, stale := range []bool{false, true} {
				want := (&digest.Challenge{Realm: realm, Nonce: "00ff", Algorithm: alg, QOP: []string{"auth"}, Stale: stale}).String()
				if got := challenge(realm, "00ff", alg, stale); got != want {
					t.Errorf("challenge %q, digest's %q", got, want)
				}
			}
		}
	}
}

// Challenging and verifying an INVITE, the PBX's work for each call, makes
// no garbage but the nonce; digest's parser and a fresh HMAC each time
// made over a hundred objects.
func TestAuthAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocations are counted without the race detector")
	}
	a, _ := New("pbx.test", users)
	req := newRequest(sip.INVITE)
	res := a.Challenge(req, sip.StatusProxyAuthRequired, false)
	ok := newRequest(sip.INVITE)
	ok.AppendHeader(sip.NewHeader("Proxy-Authorization", answer(t, res, "Proxy-Authenticate", "MD5", "1001", "secret", sip.INVITE)))
	verify := testing.AllocsPerRun(100, func() {
		if _, err := a.Verify(ok, true); err != nil {
			t.Fatal(err)
		}
	})
	nonce := testing.AllocsPerRun(100, func() { _ = a.nonce() })
	if verify > 0 || nonce > 1 {
		t.Errorf("allocations: Verify %.0f, nonce %.0f", verify, nonce)
	}
	if testing.Verbose() {
		t.Logf("allocations: Verify %.0f, nonce %.0f", verify, nonce)
	}
}
