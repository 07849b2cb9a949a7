package pbx

import (
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// recv returns the next message that is not a provisional response, or ""
// if none comes within wait.
func (w *wire) recv(wait time.Duration) string {
	w.t.Helper()
	buf := make([]byte, 65535)
	deadline := time.Now().Add(wait)
	for {
		w.conn.SetReadDeadline(deadline)
		n, err := w.conn.Read(buf)
		if err != nil {
			return ""
		}
		if msg := string(buf[:n]); !strings.HasPrefix(msg, "SIP/2.0 1") {
			return msg
		}
	}
}

// reply answers req (as received) with code, copying what a response
// repeats of its request.
func (w *wire) reply(req string, code int, reason string) {
	w.t.Helper()
	lines := []string{"SIP/2.0 " + strconv.Itoa(code) + " " + reason}
	for _, name := range []string{"Via", "From", "To", "Call-ID", "CSeq"} {
		for _, v := range header(req, name) {
			if name == "To" {
				v += ";tag=callee"
			}
			lines = append(lines, name+": "+v)
		}
	}
	lines = append(lines, "Content-Length: 0", "", "")
	if _, err := w.conn.WriteToUDP([]byte(strings.Join(lines, "\r\n")), w.to); err != nil {
		w.t.Fatal(err)
	}
}

// The PBX gives each phone its own address on the interface the phone
// reaches it by, or sip.external_ip to a phone outside sip.local_networks;
// the realm is the address the phone used. Both phones here are on
// loopback: 127.0.0.1 is a local network, 127.0.0.2 stands for a phone on
// the far side of a NAT.
func TestAddressTowardEachPhone(t *testing.T) {
	t.Parallel()
	tp := startPBX(t, func(c *Config) {
		c.Listen = []string{"udp://0.0.0.0:0"}
		c.Domain = ""
		c.ExternalIP = "192.0.2.10"
		c.LocalNetworks = []string{"127.0.0.1/32"}
	})
	_, port, _ := net.SplitHostPort(tp.udp)
	pbxAddr := "127.0.0.1:" + port
	uri := "sip:127.0.0.1"

	register := func(w *wire, ext string) {
		t.Helper()
		res := w.send(w.request("REGISTER", uri, ext, ext, []string{"Expires: 300"}, ""), 2*time.Second)
		chal := header(res, "WWW-Authenticate")
		if len(chal) != 1 || !strings.Contains(chal[0], `realm="127.0.0.1"`) || !strings.Contains(chal[0], "algorithm=MD5") {
			t.Fatalf("challenge, want one MD5 for realm 127.0.0.1: %q", chal)
		}
		auth := authorize(t, res, "MD5", "REGISTER", uri, ext, password(ext))
		if res := w.send(w.request("REGISTER", uri, ext, ext, []string{"Expires: 300", auth}, ""), 2*time.Second); !strings.HasPrefix(status(res), "SIP/2.0 200") {
			t.Fatalf("register %s: %s", ext, status(res))
		}
	}
	// call has caller dial ext and returns the INVITE callee receives,
	// which it refuses as busy.
	call := func(caller *wire, from string, callee *wire, ext string) string {
		t.Helper()
		target := "sip:" + ext + "@127.0.0.1"
		res := caller.send(caller.request("INVITE", target, from, ext, []string{"Content-Type: application/sdp"}, g711Offer), 2*time.Second)
		auth := authorize(t, res, "MD5", "INVITE", target, from, password(from))
		invite := caller.request("INVITE", target, from, ext, []string{"Content-Type: application/sdp", auth}, g711Offer)
		if _, err := caller.conn.WriteToUDP([]byte(invite), caller.to); err != nil {
			t.Fatal(err)
		}
		got := callee.recv(3 * time.Second)
		if !strings.HasPrefix(got, "INVITE ") {
			t.Fatalf("%s got no INVITE: %q", ext, got)
		}
		callee.reply(got, 486, "Busy Here")
		if ack := callee.recv(3 * time.Second); !strings.HasPrefix(ack, "ACK ") {
			t.Fatalf("%s got no ACK of its 486: %q", ext, ack)
		}
		final := caller.recv(3 * time.Second)
		if !strings.HasPrefix(status(final), "SIP/2.0 486") {
			t.Fatalf("caller got %q", status(final))
		}
		// ACK of the non-2xx final response: same branch, To with its tag.
		ack := strings.Replace(invite, "INVITE "+target, "ACK "+target, 1)
		ack = regexp.MustCompile(`CSeq: (\d+) INVITE`).ReplaceAllString(ack, "CSeq: $1 ACK")
		ack = strings.Replace(ack, "To: <sip:"+ext+"@pbx.test>", "To: "+header(final, "To")[0], 1)
		caller.conn.WriteToUDP([]byte(ack), caller.to)
		return got
	}
	near := newWireFrom(t, net.IPv4(127, 0, 0, 1), pbxAddr)
	far := newWireFrom(t, net.IPv4(127, 0, 0, 2), pbxAddr)
	register(near, "1001")
	register(far, "1002")

	for _, c := range []struct {
		name           string
		caller, callee *wire
		from, to, want string
	}{
		{"to the far phone", near, far, "1001", "1002", "192.0.2.10"},
		{"to the near phone", far, near, "1002", "1001", "127.0.0.1"},
	} {
		inv := call(c.caller, c.from, c.callee, c.to)
		for _, name := range []string{"Via", "Contact", "From"} {
			if v := header(inv, name); len(v) == 0 || !strings.Contains(v[0], c.want) {
				t.Errorf("%s: %s %q, want %s", c.name, name, v, c.want)
			}
		}
		if !strings.Contains(inv, "c=IN IP4 "+c.want+"\r\n") {
			t.Errorf("%s: SDP does not name %s:\n%s", c.name, c.want, inv)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for tp.activeCalls() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
}

func TestLocalAddrs(t *testing.T) {
	t.Parallel()
	a := &localAddrs{
		bind: netip.MustParseAddr("0.0.0.0"), external: netip.MustParseAddr("203.0.113.5"),
		localNets: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, fallback: netip.MustParseAddr("203.0.113.5"),
		cache: map[netip.Addr]netip.Addr{},
	}
	if got := a.forRemote(netip.MustParseAddr("198.51.100.7")); got.String() != "203.0.113.5" {
		t.Errorf("outside: %s", got)
	}
	if got := a.forRemote(netip.MustParseAddr("127.0.0.1")); got.String() != "203.0.113.5" {
		t.Errorf("loopback not listed as local: %s", got)
	}
	a.localNets = append(a.localNets, netip.MustParsePrefix("127.0.0.0/8"))
	if got := a.forRemote(netip.MustParseAddr("127.0.0.3")); got.String() != "127.0.0.1" {
		t.Errorf("loopback: %s", got)
	}
	a.external = netip.Addr{}
	bound := &localAddrs{bind: netip.MustParseAddr("127.0.0.9"), cache: map[netip.Addr]netip.Addr{}}
	if got := bound.forRemote(netip.MustParseAddr("127.0.0.1")); got.String() != "127.0.0.9" {
		t.Errorf("bound listener: %s", got)
	}
}
