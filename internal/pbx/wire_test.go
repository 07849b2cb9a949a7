package pbx

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/icholy/digest"

	"github.com/switchhook/switchhook/internal/sipauth"
)

// wire is a SIP client that writes requests byte for byte on UDP, for the
// cases no well-behaved user agent produces.
type wire struct {
	t    *testing.T
	conn *net.UDPConn
	to   *net.UDPAddr
	n    int
}

func newWire(t *testing.T, addr string) *wire {
	t.Helper()
	return newWireFrom(t, net.IPv4(127, 0, 0, 1), addr)
}

// newWireFrom sends from ip, another loopback address standing for another
// host.
func newWireFrom(t *testing.T, ip net.IP, addr string) *wire {
	t.Helper()
	to, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &wire{t: t, conn: c, to: to}
}

func (w *wire) local() string { return w.conn.LocalAddr().String() }

// request builds a request with the usual headers; extra lines and body
// are added as given.
func (w *wire) request(method, uri, from, to string, extra []string, body string) string {
	w.n++
	lines := []string{
		fmt.Sprintf("%s %s SIP/2.0", method, uri),
		fmt.Sprintf("Via: SIP/2.0/UDP %s;branch=z9hG4bK-wire-%d-%d", w.local(), time.Now().UnixNano(), w.n),
		"Max-Forwards: 70",
		fmt.Sprintf("From: <sip:%s@pbx.test>;tag=wire%d", from, w.n),
		fmt.Sprintf("To: <sip:%s@pbx.test>", to),
		fmt.Sprintf("Call-ID: wire-%d-%d@test", time.Now().UnixNano(), w.n),
		fmt.Sprintf("CSeq: %d %s", w.n, method),
		fmt.Sprintf("Contact: <sip:%s@%s>", from, w.local()),
	}
	lines = append(lines, extra...)
	lines = append(lines, fmt.Sprintf("Content-Length: %d", len(body)), "", body)
	return strings.Join(lines, "\r\n")
}

// send writes msg and returns the first final response, or "" if none
// comes within wait.
func (w *wire) send(msg string, wait time.Duration) string {
	w.t.Helper()
	if _, err := w.conn.WriteToUDP([]byte(msg), w.to); err != nil {
		w.t.Fatal(err)
	}
	buf := make([]byte, 65535)
	deadline := time.Now().Add(wait)
	for {
		w.conn.SetReadDeadline(deadline)
		n, err := w.conn.Read(buf)
		if err != nil {
			return ""
		}
		res := string(buf[:n])
		if !strings.HasPrefix(res, "SIP/2.0 1") {
			return res
		}
	}
}

func status(res string) string {
	line, _, _ := strings.Cut(res, "\r\n")
	return line
}

func header(res, name string) []string {
	var out []string
	for _, l := range strings.Split(res, "\r\n") {
		k, v, ok := strings.Cut(l, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out
}

// authorize answers the challenge of res with algorithm alg.
func authorize(t *testing.T, res, alg, method, uri, user, password string) string {
	t.Helper()
	for _, name := range []string{"WWW-Authenticate", "Proxy-Authenticate"} {
		for _, h := range header(res, name) {
			chal, err := digest.ParseChallenge(h)
			if err != nil {
				t.Fatal(err)
			}
			if chal.Algorithm != alg {
				continue
			}
			cred, err := digest.Digest(chal, digest.Options{Method: method, URI: uri, Username: user, Password: password})
			if err != nil {
				t.Fatal(err)
			}
			hdr := "Authorization"
			if name == "Proxy-Authenticate" {
				hdr = "Proxy-Authorization"
			}
			return hdr + ": " + cred.String()
		}
	}
	t.Fatalf("no %s challenge in:\n%s", alg, res)
	return ""
}

const g711Offer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"

func TestMalformedAndUnsupportedRequests(t *testing.T) {
	tp := startPBX(t, nil)
	w := newWire(t, tp.udp)
	uri := "sip:pbx.test"

	if res := w.send("this is not SIP\r\n\r\n", 300*time.Millisecond); res != "" {
		t.Errorf("garbage got an answer: %s", status(res))
	}
	if res := w.send("INVITE sip:1002@pbx.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKx\r\nContent-Length: 0\r\n\r\n", 500*time.Millisecond); res != "" && !strings.HasPrefix(status(res), "SIP/2.0 400") {
		t.Errorf("headerless INVITE: %s", status(res))
	}
	cases := []struct {
		name, msg, want string
		header          string
	}{
		{"options", w.request("OPTIONS", uri, "1001", "pbx", nil, ""), "SIP/2.0 200", "Allow"},
		{"unknown method", w.request("FROB", uri, "1001", "pbx", nil, ""), "SIP/2.0 501", "Allow"},
		{"unsupported method", w.request("SUBSCRIBE", uri, "1001", "pbx", []string{"Event: presence"}, ""), "SIP/2.0 405", "Allow"},
		{"bye outside a dialog", w.request("BYE", uri, "1001", "1002", nil, ""), "SIP/2.0 481", ""},
		{"info outside a dialog", w.request("INFO", uri, "1001", "1002", nil, ""), "SIP/2.0 481", ""},
		{"cancel of nothing", w.request("CANCEL", uri, "1001", "1002", nil, ""), "SIP/2.0 481", ""},
		{"re-INVITE of no dialog", strings.Replace(w.request("INVITE", "sip:1002@pbx.test", "1001", "1002", nil, ""), "To: <sip:1002@pbx.test>", "To: <sip:1002@pbx.test>;tag=gone", 1), "SIP/2.0 481", ""},
		{"unauthenticated INVITE", w.request("INVITE", "sip:1002@pbx.test", "1001", "1002", []string{"Content-Type: application/sdp"}, g711Offer), "SIP/2.0 407", "Proxy-Authenticate"},
		{"unauthenticated REGISTER", w.request("REGISTER", uri, "1001", "1001", nil, ""), "SIP/2.0 401", "WWW-Authenticate"},
	}
	for _, c := range cases {
		res := w.send(c.msg, 2*time.Second)
		if !strings.HasPrefix(status(res), c.want) {
			t.Errorf("%s: got %q, want %s", c.name, status(res), c.want)
			continue
		}
		if c.header != "" && len(header(res, c.header)) == 0 {
			t.Errorf("%s: no %s header in\n%s", c.name, c.header, res)
		}
	}

	// Authenticated INVITEs the PBX cannot take: no offer, a body that is
	// not SDP, an offer without G.711.
	invite := func(to, contentType, body string) string {
		msg := w.request("INVITE", "sip:"+to+"@pbx.test", "1001", to, []string{"Content-Type: " + contentType}, body)
		res := w.send(msg, 2*time.Second)
		if !strings.HasPrefix(status(res), "SIP/2.0 407") {
			t.Fatalf("no challenge: %s", status(res))
		}
		auth := authorize(t, res, "MD5", "INVITE", "sip:"+to+"@pbx.test", "1001", "pw-1001")
		return w.send(w.request("INVITE", "sip:"+to+"@pbx.test", "1001", to, []string{"Content-Type: " + contentType, auth}, body), 2*time.Second)
	}
	for _, c := range []struct{ name, ct, body, want, warn string }{
		{"no offer", "application/sdp", "", "SIP/2.0 488", "without an SDP offer"},
		{"not sdp", "text/plain", "hello", "SIP/2.0 415", "want application/sdp"},
		{"bad sdp", "application/sdp", "v=0\r\nnonsense\r\n", "SIP/2.0 488", "sdp"},
		{"no common codec", "application/sdp", strings.Replace(g711Offer, "RTP/AVP 0 101", "RTP/AVP 18 101\r\na=rtpmap:18 G729/8000", 1), "SIP/2.0 488", "no common codec"},
	} {
		res := invite("1002", c.ct, c.body)
		if !strings.HasPrefix(status(res), c.want) {
			t.Errorf("%s: got %q, want %s", c.name, status(res), c.want)
			continue
		}
		if warn := header(res, "Warning"); len(warn) == 0 || !strings.Contains(warn[0], c.warn) {
			t.Errorf("%s: Warning %q does not say %q", c.name, warn, c.warn)
		}
	}
	// Spoofing another extension's caller ID is refused.
	msg := w.request("INVITE", "sip:1002@pbx.test", "1003", "1002", []string{"Content-Type: application/sdp"}, g711Offer)
	res := w.send(msg, 2*time.Second)
	auth := authorize(t, res, "MD5", "INVITE", "sip:1002@pbx.test", "1001", "pw-1001")
	res = w.send(w.request("INVITE", "sip:1002@pbx.test", "1003", "1002", []string{"Content-Type: application/sdp", auth}, g711Offer), 2*time.Second)
	if !strings.HasPrefix(status(res), "SIP/2.0 403") {
		t.Errorf("INVITE from 1003 authenticated as 1001: %s", status(res))
	}
	if evs := tp.events.all(); len(evs) != 0 {
		t.Errorf("refused requests emitted events:\n%s", dump(evs))
	}
}

// With SHA-256 configured besides MD5, both are offered, SHA-256 first, and
// both are accepted (by default only MD5 is: TestAddressTowardEachPhone).
func TestRegisterAuth(t *testing.T) {
	tp := startPBX(t, func(c *Config) { c.AuthAlgorithms = []string{"MD5", "SHA-256"} }, func(p *PBX) {
		p.limiter = sipauth.NewLimiter(sipauth.LimiterConfig{Threshold: 3, Backoff: time.Minute})
	})
	w := newWire(t, tp.udp)
	uri := "sip:pbx.test"
	register := func(user, password, alg string, extra ...string) string {
		t.Helper()
		res := w.send(w.request("REGISTER", uri, user, user, extra, ""), 2*time.Second)
		if !strings.HasPrefix(status(res), "SIP/2.0 401") {
			t.Fatalf("REGISTER not challenged: %s", status(res))
		}
		if chal := header(res, "WWW-Authenticate"); len(chal) != 2 || !strings.Contains(chal[0], "SHA-256") {
			t.Errorf("challenges %q, want SHA-256 then MD5", chal)
		}
		auth := authorize(t, res, alg, "REGISTER", uri, user, password)
		return w.send(w.request("REGISTER", uri, user, user, append(extra, auth), ""), 2*time.Second)
	}
	for _, alg := range []string{"MD5", "SHA-256"} {
		if res := register("1001", "pw-1001", alg, "Expires: 120"); !strings.HasPrefix(status(res), "SIP/2.0 200") {
			t.Errorf("%s: %s", alg, status(res))
		}
	}
	if regs := tp.Registrations(); len(regs) != 1 || regs[0].Extension != "1001" || regs[0].Contact != "sip:1001@"+w.local() {
		t.Errorf("registrations = %+v", regs)
	}
	// Unregister.
	if res := register("1001", "pw-1001", "MD5", "Expires: 0"); !strings.HasPrefix(status(res), "SIP/2.0 200") {
		t.Errorf("unregister: %s", status(res))
	}
	if regs := tp.Registrations(); len(regs) != 0 {
		t.Errorf("after unregister: %+v", regs)
	}

	// Wrong password and unknown user: 403, and after three failures from
	// this address, 503 with Retry-After even for the right password.
	for _, c := range [][2]string{{"1001", "wrong"}, {"7777", "pw-1001"}, {"1002", "pw-1001"}} {
		res := register(c[0], c[1], "MD5")
		if !strings.HasPrefix(status(res), "SIP/2.0 403") {
			t.Errorf("%s/%s: %s", c[0], c[1], status(res))
		}
		if warn := header(res, "Warning"); len(warn) == 0 || !strings.Contains(warn[0], "authentication failed") {
			t.Errorf("%s/%s: Warning = %q", c[0], c[1], warn)
		}
	}
	res := w.send(w.request("REGISTER", uri, "1001", "1001", nil, ""), 2*time.Second)
	if !strings.HasPrefix(status(res), "SIP/2.0 503") || len(header(res, "Retry-After")) == 0 {
		t.Errorf("after repeated failures: %s", res)
	}
	// Another address is not slowed down.
	other := newWireFrom(t, net.IPv4(127, 0, 0, 2), tp.udp)
	if res := other.send(other.request("REGISTER", uri, "1001", "1001", nil, ""), 2*time.Second); !strings.HasPrefix(status(res), "SIP/2.0 401") {
		t.Errorf("other address: %s", status(res))
	}
	// Registering someone else's extension with one's own credentials.
	res = other.send(other.request("REGISTER", uri, "1002", "1002", nil, ""), 2*time.Second)
	auth := authorize(t, res, "MD5", "REGISTER", uri, "1001", "pw-1001")
	res = other.send(other.request("REGISTER", uri, "1002", "1002", []string{auth}, ""), 2*time.Second)
	if !strings.HasPrefix(status(res), "SIP/2.0 403") {
		t.Errorf("1001 registering 1002: %s", status(res))
	}
}
