package gateway

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/switchhook/switchhook/internal/sipauth"
)

func TestNewErrors(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Address: "1.2.3.4:5060"}, `gateway "": the name is empty`},
		{Config{Name: "my carrier", Address: "1.2.3.4:5060"}, "has a space"},
		{Config{Name: "c", Address: "1.2.3.4"}, `gateway c: address "1.2.3.4" is not host:port`},
		{Config{Name: "c", Address: ":5060"}, "is not host:port"},
		{Config{Name: "c", Address: "1.2.3.4:0"}, "is not host:port"},
		{Config{Name: "c", Address: "1.2.3.4:sip"}, "is not host:port"},
		{Config{Name: "c", Address: "1.2.3.4:5060", Transport: "tls"}, `gateway c: transport "tls" is not udp or tcp`},
		{Config{Name: "c", Address: "1.2.3.4:5060", Username: "a@b"}, `username "a@b"`},
		{Config{Name: "c", Address: "1.2.3.4:5060", Register: true, Username: "u"}, "gateway c: register needs a username and a password"},
	} {
		if _, err := New(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v) = %v, want an error with %q", c.cfg, err, c.want)
		}
	}
	g, err := New(Config{Name: "c", Address: "sip.example.com:5070", Transport: "TCP"})
	if err != nil {
		t.Fatal(err)
	}
	if u := g.URI("123"); g.Transport() != "tcp" || g.Address() != "sip.example.com:5070" || u.String() != "sip:123@sip.example.com:5070" {
		t.Errorf("gateway: %s %s %s", g.Transport(), g.Address(), u.String())
	}
	if s := g.Status(); s.Register || s.Registered || s.Kind != "gateway" || s.Name != "c" || s.Transport != "tcp" {
		t.Errorf("status of a gateway that does not register: %+v", s)
	}
}

func TestMatches(t *testing.T) {
	g, _ := New(Config{Name: "c", Address: "127.0.0.2:5060"})
	if !g.Matches(netip.MustParseAddr("127.0.0.2")) || !g.Matches(netip.MustParseAddr("::ffff:127.0.0.2")) || g.Matches(netip.MustParseAddr("127.0.0.1")) {
		t.Error("an IP gateway does not match exactly its address")
	}
	h, _ := New(Config{Name: "h", Address: "localhost:5060"})
	if h.Matches(netip.MustParseAddr("127.0.0.1")) {
		t.Error("a host name matched before it was resolved")
	}
	if err := h.Resolve(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !h.Matches(netip.MustParseAddr("127.0.0.1")) {
		t.Error("localhost does not match 127.0.0.1 once resolved")
	}
	bad, _ := New(Config{Name: "b", Address: "no-such-host.invalid:5060"})
	if err := bad.Resolve(context.Background()); err == nil || !strings.Contains(err.Error(), "gateway b: resolve no-such-host.invalid") {
		t.Errorf("Resolve of an unknown host = %v", err)
	}
}

// registrar is a carrier's registrar on loopback, made with sipgo and the
// PBX's own digest verifier; answer decides each response.
type registrar struct {
	addr string
	auth *sipauth.Authenticator

	mu     sync.Mutex
	got    []*sip.Request
	answer func(n int, req *sip.Request) *sip.Response
}

func newRegistrar(t *testing.T, answer func(r *registrar, n int, req *sip.Request) *sip.Response) *registrar {
	t.Helper()
	r := &registrar{}
	var err error
	r.auth, err = sipauth.New("carrier.test", func(user string) (string, bool) { return "trunk-secret", user == "trunkuser" })
	if err != nil {
		t.Fatal(err)
	}
	r.answer = func(n int, req *sip.Request) *sip.Response { return answer(r, n, req) }
	ua, err := sipgo.NewUA()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	srv.OnRegister(func(req *sip.Request, tx sip.ServerTransaction) {
		r.mu.Lock()
		r.got = append(r.got, req.Clone())
		n := len(r.got)
		r.mu.Unlock()
		tx.Respond(r.answer(n, req))
	})
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	r.addr = conn.LocalAddr().String()
	go ua.TransportLayer().ServeUDP(conn)
	t.Cleanup(func() {
		conn.Close()
		ua.Close()
	})
	return r
}

func (r *registrar) requests() []*sip.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*sip.Request(nil), r.got...)
}

// ok answers req 200 with expires on its Contact.
func ok(req *sip.Request, expires string) *sip.Response {
	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
	if expires != "" {
		c := req.Contact().Clone()
		c.Params.Add("expires", expires)
		res.AppendHeader(c)
	}
	return res
}

// verified answers an authenticated REGISTER with then, any other with a
// challenge.
func (r *registrar) verified(req *sip.Request, then func() *sip.Response) *sip.Response {
	user, err := r.auth.Verify(req, false)
	switch {
	case errors.Is(err, sipauth.ErrNoCredentials):
		return r.auth.Challenge(req, sip.StatusUnauthorized, false)
	case err != nil || user != "trunkuser":
		return sip.NewResponseFromRequest(req, sip.StatusForbidden, "Forbidden", nil)
	}
	return then()
}

// client is the PBX's side: a sipgo client on loopback.
func client(t *testing.T) *sipgo.Client {
	t.Helper()
	ua, err := sipgo.NewUA()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ua.Close() })
	c, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var contact = sip.Uri{Scheme: "sip", User: "trunkuser", Host: "127.0.0.1", Port: 5099}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// run keeps g registered until stop is called, which waits for the
// withdrawal.
func run(t *testing.T, g *Gateway) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		g.KeepRegistered(ctx, client(t), contact, quiet())
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Error("KeepRegistered did not return after its context ended")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func waitStatus(t *testing.T, g *Gateway, what string, cond func(Status) bool) Status {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := g.Status()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited for %s; status %+v", what, s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The carrier challenges, grants one second, is refreshed in time (the
// refresh challenged again and granted, by the Expires header, five
// minutes), and the registration is withdrawn, challenged too, when the
// context ends.
func TestKeepRegistered(t *testing.T) {
	r := newRegistrar(t, func(r *registrar, n int, req *sip.Request) *sip.Response {
		return r.verified(req, func() *sip.Response {
			if exp := req.GetHeader("Expires"); exp != nil && exp.Value() == "0" {
				return ok(req, "")
			}
			if n <= 2 {
				return ok(req, "1")
			}
			res := ok(req, "")
			res.AppendHeader(sip.NewHeader("Expires", "300"))
			return res
		})
	})
	g, err := New(Config{Name: "carrier", Address: r.addr, Username: "trunkuser", Password: "trunk-secret", Register: true})
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, g)
	first := waitStatus(t, g, "a registration", func(s Status) bool { return s.Registered })
	if until := time.Until(*first.ExpiresAt); until > time.Second || first.LastError != "" || first.Since.IsZero() {
		t.Errorf("first registration: %+v", first)
	}
	refreshed := waitStatus(t, g, "the refresh", func(s Status) bool { return s.Registered && time.Until(*s.ExpiresAt) > time.Minute })
	if !refreshed.Since.Equal(first.Since) {
		t.Errorf("a refresh moved Since from %s to %s", first.Since, refreshed.Since)
	}
	stop()
	if s := g.Status(); s.Registered || s.ExpiresAt != nil || !strings.Contains(s.LastError, "unregistered") {
		t.Errorf("after the withdrawal: %+v", s)
	}

	reqs := r.requests()
	if len(reqs) != 6 {
		t.Fatalf("%d REGISTERs, want each of the registration, the refresh and the withdrawal challenged and sent again", len(reqs))
	}
	var cseq uint32
	for i, req := range reqs {
		want := "3600"
		if i >= 4 {
			want = "0"
		}
		if got := req.GetHeader("Expires").Value(); got != want {
			t.Errorf("REGISTER %d: Expires %s, want %s", i+1, got, want)
		}
		if req.CallID().Value() != reqs[0].CallID().Value() || req.CSeq().SeqNo <= cseq {
			t.Errorf("REGISTER %d: Call-ID %s CSeq %d; want one Call-ID and a growing CSeq", i+1, req.CallID().Value(), req.CSeq().SeqNo)
		}
		cseq = req.CSeq().SeqNo
		if want := contact; req.Contact().Address.String() != want.String() || req.From().Address.User != "trunkuser" || req.Recipient.Host != "127.0.0.1" {
			t.Errorf("REGISTER %d: %s", i+1, req.String())
		}
	}
}

// A carrier that wants a longer registration says so with 423; the PBX asks
// again for its Min-Expires.
func TestRegisterIntervalTooBrief(t *testing.T) {
	r := newRegistrar(t, func(r *registrar, n int, req *sip.Request) *sip.Response {
		return r.verified(req, func() *sip.Response {
			if exp, _ := strconv.Atoi(req.GetHeader("Expires").Value()); exp != 0 && exp < 7200 {
				res := sip.NewResponseFromRequest(req, sip.StatusIntervalToBrief, "Interval Too Brief", nil)
				res.AppendHeader(sip.NewHeader("Min-Expires", "7200"))
				return res
			}
			return ok(req, req.GetHeader("Expires").Value())
		})
	})
	g, _ := New(Config{Name: "carrier", Address: r.addr, Username: "trunkuser", Password: "trunk-secret", Register: true})
	run(t, g)
	s := waitStatus(t, g, "a registration", func(s Status) bool { return s.Registered })
	if until := time.Until(*s.ExpiresAt); until < time.Hour || until > 2*time.Hour {
		t.Errorf("granted %s, want 2h", until)
	}
}

// Refusals show in the status: the wrong password, and a carrier that
// forbids.
func TestRegisterRefused(t *testing.T) {
	r := newRegistrar(t, func(r *registrar, n int, req *sip.Request) *sip.Response {
		return r.verified(req, func() *sip.Response { return ok(req, "60") })
	})
	g, _ := New(Config{Name: "carrier", Address: r.addr, Username: "trunkuser", Password: "wrong", Register: true})
	run(t, g)
	s := waitStatus(t, g, "a failure", func(s Status) bool { return s.LastError != "" })
	if s.Registered || s.Since.IsZero() || !strings.Contains(s.LastError, "403 Forbidden") {
		t.Errorf("wrong password: %+v", s)
	}

	r401 := newRegistrar(t, func(r *registrar, n int, req *sip.Request) *sip.Response {
		return r.auth.Challenge(req, sip.StatusUnauthorized, false)
	})
	g, _ = New(Config{Name: "carrier", Address: r401.addr, Username: "trunkuser", Password: "trunk-secret", Register: true})
	run(t, g)
	s = waitStatus(t, g, "a failure", func(s Status) bool { return s.LastError != "" })
	if !strings.Contains(s.LastError, `credentials of "trunkuser" refused (401 Unauthorized)`) {
		t.Errorf("challenged again: %+v", s)
	}
}

// A gateway that does not register sends nothing.
func TestNoRegistration(t *testing.T) {
	r := newRegistrar(t, func(r *registrar, n int, req *sip.Request) *sip.Response { return ok(req, "60") })
	g, _ := New(Config{Name: "carrier", Address: r.addr})
	stop := run(t, g)
	stop()
	if n := len(r.requests()); n != 0 {
		t.Errorf("%d REGISTERs from a gateway that does not register", n)
	}
}

func TestRefreshAfter(t *testing.T) {
	for d, want := range map[time.Duration]time.Duration{
		time.Hour:        time.Hour - 30*time.Second,
		time.Minute:      30 * time.Second,
		2 * time.Second:  time.Second,
		10 * time.Second: 5 * time.Second,
	} {
		if got := refreshAfter(d); got != want {
			t.Errorf("refreshAfter(%s) = %s, want %s", d, got, want)
		}
	}
}
