package sipauth

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

func newRequest(method sip.RequestMethod) *sip.Request {
	req := sip.NewRequest(method, sip.Uri{Scheme: "sip", Host: "pbx.test"})
	req.AppendHeader(sip.NewHeader("Via", "SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK1"))
	req.AppendHeader(sip.NewHeader("From", "<sip:1001@pbx.test>;tag=a"))
	req.AppendHeader(sip.NewHeader("To", "<sip:1001@pbx.test>"))
	req.AppendHeader(sip.NewHeader("Call-ID", "c1"))
	req.AppendHeader(sip.NewHeader("CSeq", "1 "+method.String()))
	return req
}

var users = func(u string) (string, bool) {
	if u == "1001" {
		return "secret", true
	}
	return "", false
}

// answer computes what a client sends back for the challenge with algorithm alg.
func answer(t *testing.T, res *sip.Response, header, alg, user, password string, method sip.RequestMethod) string {
	t.Helper()
	for _, h := range res.GetHeaders(header) {
		chal, err := digest.ParseChallenge(h.Value())
		if err != nil {
			t.Fatal(err)
		}
		if chal.Algorithm != alg {
			continue
		}
		cred, err := digest.Digest(chal, digest.Options{Method: method.String(), URI: "sip:pbx.test", Username: user, Password: password})
		if err != nil {
			t.Fatal(err)
		}
		return cred.String()
	}
	t.Fatalf("no %s challenge in %s", alg, res.String())
	return ""
}

func TestVerify(t *testing.T) {
	a, err := New("pbx.test", users, WithAlgorithms([]string{"md5", "SHA-256"}))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method         sip.RequestMethod
		code           int
		header, answer string
		proxy          bool
	}{
		{sip.REGISTER, 401, "WWW-Authenticate", "Authorization", false},
		{sip.INVITE, 407, "Proxy-Authenticate", "Proxy-Authorization", true},
	} {
		for _, alg := range []string{"MD5", "SHA-256"} {
			req := newRequest(tc.method)
			if _, err := a.Verify(req, tc.proxy); !errors.Is(err, ErrNoCredentials) {
				t.Fatalf("no credentials: %v", err)
			}
			res := a.Challenge(req, tc.code, false)
			if res.StatusCode != tc.code || len(res.GetHeaders(tc.header)) != 2 {
				t.Fatalf("challenge = %s", res.String())
			}
			if first := res.GetHeaders(tc.header)[0].Value(); !strings.Contains(first, "algorithm=SHA-256") {
				t.Errorf("first challenge is not SHA-256 (RFC 8760 §2.4): %s", first)
			}
			ok := newRequest(tc.method)
			ok.AppendHeader(sip.NewHeader(tc.answer, answer(t, res, tc.header, alg, "1001", "secret", tc.method)))
			if user, err := a.Verify(ok, tc.proxy); err != nil || user != "1001" {
				t.Errorf("%s %s: Verify = %q, %v", tc.method, alg, user, err)
			}
			bad := newRequest(tc.method)
			bad.AppendHeader(sip.NewHeader(tc.answer, answer(t, res, tc.header, alg, "1001", "wrong", tc.method)))
			if _, err := a.Verify(bad, tc.proxy); !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "wrong password") {
				t.Errorf("%s %s wrong password: %v", tc.method, alg, err)
			}
			unknown := newRequest(tc.method)
			unknown.AppendHeader(sip.NewHeader(tc.answer, answer(t, res, tc.header, alg, "9999", "secret", tc.method)))
			if _, err := a.Verify(unknown, tc.proxy); !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), `unknown user "9999"`) {
				t.Errorf("%s %s unknown user: %v", tc.method, alg, err)
			}
		}
	}
}

// By default only MD5 is offered, and credentials of another algorithm are
// refused: clients such as baresip 1.0 fail on a SHA-256 challenge.
func TestDefaultMD5Only(t *testing.T) {
	t.Parallel()
	a, _ := New("pbx.test", users)
	req := newRequest(sip.REGISTER)
	res := a.Challenge(req, 401, false)
	if hs := res.GetHeaders("WWW-Authenticate"); len(hs) != 1 || !strings.Contains(hs[0].Value(), "algorithm=MD5") {
		t.Fatalf("challenge = %s", res.String())
	}
	ok := newRequest(sip.REGISTER)
	ok.AppendHeader(sip.NewHeader("Authorization", answer(t, res, "WWW-Authenticate", "MD5", "1001", "secret", sip.REGISTER)))
	if _, err := a.Verify(ok, false); err != nil {
		t.Fatal(err)
	}
	strong, _ := New("pbx.test", users, WithAlgorithms([]string{"SHA-256"}))
	sha := newRequest(sip.REGISTER)
	sha.AppendHeader(sip.NewHeader("Authorization", answer(t, strong.Challenge(req, 401, false), "WWW-Authenticate", "SHA-256", "1001", "secret", sip.REGISTER)))
	if _, err := a.Verify(sha, false); !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "offered: MD5") {
		t.Errorf("SHA-256 credentials against MD5 only: %v", err)
	}
	if _, err := ParseAlgorithms([]string{"MD5", "SHA-512"}); err == nil || !strings.Contains(err.Error(), "SHA-512") {
		t.Errorf("unknown algorithm: %v", err)
	}
}

// The realm can follow the request: the address the phone used.
func TestRealmFunc(t *testing.T) {
	t.Parallel()
	a, _ := New("fallback", users, WithRealmFunc(func(r *sip.Request) string { return r.Recipient.Host }))
	req := newRequest(sip.REGISTER)
	res := a.Challenge(req, 401, false)
	if v := res.GetHeader("WWW-Authenticate").Value(); !strings.Contains(v, `realm="pbx.test"`) {
		t.Fatalf("challenge = %s", v)
	}
	ok := newRequest(sip.REGISTER)
	ok.AppendHeader(sip.NewHeader("Authorization", answer(t, res, "WWW-Authenticate", "MD5", "1001", "secret", sip.REGISTER)))
	if _, err := a.Verify(ok, false); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyNonce(t *testing.T) {
	now := time.Unix(1700000000, 0)
	a, err := New("pbx.test", users, WithClock(func() time.Time { return now }), WithNonceTTL(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	req := newRequest(sip.REGISTER)
	res := a.Challenge(req, 401, false)
	cred := answer(t, res, "WWW-Authenticate", "MD5", "1001", "secret", sip.REGISTER)

	now = now.Add(2 * time.Minute)
	late := newRequest(sip.REGISTER)
	late.AppendHeader(sip.NewHeader("Authorization", cred))
	if _, err := a.Verify(late, false); !errors.Is(err, ErrStale) {
		t.Errorf("expired nonce: %v", err)
	}
	if res := a.Challenge(late, 401, true); !strings.Contains(res.GetHeader("WWW-Authenticate").Value(), "stale=true") {
		t.Errorf("stale challenge = %s", res.String())
	}

	other, _ := New("pbx.test", users)
	forged := newRequest(sip.REGISTER)
	forged.AppendHeader(sip.NewHeader("Authorization", answer(t, other.Challenge(req, 401, false), "WWW-Authenticate", "MD5", "1001", "secret", sip.REGISTER)))
	// A nonce of another key (this process's before a restart) is stale:
	// the client is challenged afresh, not refused.
	if _, err := a.Verify(forged, false); !errors.Is(err, ErrStale) || !strings.Contains(err.Error(), "not issued by this process") {
		t.Errorf("foreign nonce: %v", err)
	}
}

func TestVerifyMalformed(t *testing.T) {
	a, _ := New("pbx.test", users)
	for _, v := range []string{
		`Basic dXNlcjpwYXNz`,
		`Digest username="1001", realm="pbx.test", nonce="zz", uri="sip:pbx.test", response="00"`,
		`Digest username="1001", realm="pbx.test", nonce="00", uri="sip:pbx.test", response="00", nc=zz`,
	} {
		req := newRequest(sip.REGISTER)
		req.AppendHeader(sip.NewHeader("Authorization", v))
		if _, err := a.Verify(req, false); !errors.Is(err, ErrRejected) {
			t.Errorf("%s: %v", v, err)
		}
	}
	// Credentials for another realm are as good as none.
	req := newRequest(sip.REGISTER)
	req.AppendHeader(sip.NewHeader("Authorization", `Digest username="1001", realm="other", nonce="00", uri="sip:x", response="00"`))
	if _, err := a.Verify(req, false); !errors.Is(err, ErrNoCredentials) {
		t.Errorf("other realm: %v", err)
	}
	if _, err := New("", users); err == nil {
		t.Error("empty realm accepted")
	}
}

func TestLimiter(t *testing.T) {
	now := time.Unix(1700000000, 0)
	l := NewLimiter(LimiterConfig{Threshold: 3, Backoff: time.Second, MaxBackoff: 4 * time.Second, Window: time.Minute, Now: func() time.Time { return now }})
	ip, other := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	for range 2 {
		l.Fail(ip)
	}
	if _, blocked := l.Blocked(ip); blocked {
		t.Fatal("blocked before the threshold")
	}
	l.Fail(ip)
	if left, blocked := l.Blocked(ip); !blocked || left != time.Second {
		t.Fatalf("after 3 failures: %v %v", left, blocked)
	}
	if _, blocked := l.Blocked(other); blocked {
		t.Error("another address is blocked")
	}
	for _, want := range []time.Duration{2 * time.Second, 4 * time.Second, 4 * time.Second} {
		l.Fail(ip)
		if left, _ := l.Blocked(ip); left != want {
			t.Errorf("backoff = %v, want %v", left, want)
		}
	}
	now = now.Add(5 * time.Second)
	if _, blocked := l.Blocked(ip); blocked {
		t.Error("still blocked after the backoff")
	}
	l.Succeed(ip)
	l.Fail(ip)
	if _, blocked := l.Blocked(ip); blocked {
		t.Error("success did not clear the failures")
	}
	// Failures older than the window are forgotten.
	l.Fail(ip)
	now = now.Add(2 * time.Minute)
	l.Fail(ip)
	if _, blocked := l.Blocked(ip); blocked {
		t.Error("old failures counted")
	}
}

func TestLimiterBounded(t *testing.T) {
	l := NewLimiter(LimiterConfig{MaxEntries: 10})
	for i := range 100 {
		l.Fail(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}))
	}
	if n := len(l.entries); n > 10 {
		t.Errorf("%d entries tracked, want at most 10", n)
	}
}
