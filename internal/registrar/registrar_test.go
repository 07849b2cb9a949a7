package registrar

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func register(callID string, cseq int, expires string, contacts ...string) *sip.Request {
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: "pbx.test"})
	req.AppendHeader(sip.NewHeader("Via", "SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK"+callID))
	req.AppendHeader(sip.NewHeader("From", "<sip:1001@pbx.test>;tag=a"))
	req.AppendHeader(sip.NewHeader("To", "<sip:1001@pbx.test>"))
	req.AppendHeader(sip.NewHeader("Call-ID", callID))
	req.AppendHeader(sip.NewHeader("CSeq", strconv.Itoa(cseq)+" REGISTER"))
	if expires != "" {
		req.AppendHeader(sip.NewHeader("Expires", expires))
	}
	for _, c := range contacts {
		req.AppendHeader(sip.NewHeader("Contact", c))
	}
	req.SetSource("127.0.0.1:5061")
	req.SetTransport("UDP")
	return req
}

func contacts(r *Registrar, ext string) []string {
	var out []string
	for _, b := range r.Lookup(ext) {
		out = append(out, b.Contact.String())
	}
	return out
}

func TestRegister(t *testing.T) {
	c := &clock{time.Unix(1700000000, 0)}
	r := New(Config{Now: c.now})

	res := r.Register(register("a", 1, "600", "<sip:1001@127.0.0.1:5061>"), "1001")
	if res.StatusCode != 200 {
		t.Fatalf("register = %s", res.String())
	}
	if h := res.GetHeader("Contact"); h == nil || !strings.Contains(h.Value(), "expires=600") {
		t.Errorf("200 contact = %v", h)
	}
	// A second phone on the same extension; both ring.
	r.Register(register("b", 1, "", `"Desk" <sip:1001@127.0.0.1:5062;transport=tcp>;expires=120, <sip:1001@127.0.0.1:5063>;expires=300`), "1001")
	if got := contacts(r, "1001"); len(got) != 3 {
		t.Fatalf("contacts = %v", got)
	}
	b := r.Lookup("1001")[0]
	if b.Source != "127.0.0.1:5061" || b.Transport != "UDP" || !b.Expires.Equal(c.t.Add(600*time.Second)) {
		t.Errorf("binding = %+v", b)
	}

	// Expiry: after 2 minutes the 120 s contact is gone.
	c.t = c.t.Add(121 * time.Second)
	if got := contacts(r, "1001"); len(got) != 2 {
		t.Errorf("after expiry contacts = %v", got)
	}
	// Refresh with a retransmitted CSeq changes nothing; a higher one does.
	r.Register(register("a", 1, "60", "<sip:1001@127.0.0.1:5061>"), "1001")
	if b := r.Lookup("1001")[0]; !b.Expires.Equal(c.t.Add(479 * time.Second)) {
		t.Errorf("retransmission refreshed the binding: %v", b.Expires)
	}
	// Unregister one contact.
	r.Register(register("a", 2, "0", "<sip:1001@127.0.0.1:5061>"), "1001")
	if got := contacts(r, "1001"); len(got) != 1 || !strings.Contains(got[0], "5063") {
		t.Errorf("after unregister contacts = %v", got)
	}
	// Unregister all.
	if res := r.Register(register("c", 1, "0", "*"), "1001"); res.StatusCode != 200 || res.GetHeader("Contact") != nil {
		t.Errorf("wildcard = %s", res.String())
	}
	if got := r.All(); len(got) != 0 {
		t.Errorf("after * bindings = %v", got)
	}
}

func TestRegisterLimits(t *testing.T) {
	r := New(Config{MinExpires: time.Minute, MaxExpires: time.Hour})
	res := r.Register(register("a", 1, "30", "<sip:1001@127.0.0.1:5061>"), "1001")
	if res.StatusCode != 423 || res.GetHeader("Min-Expires").Value() != "60" {
		t.Errorf("too brief = %s", res.String())
	}
	r.Register(register("a", 2, "86400", "<sip:1001@127.0.0.1:5061>"), "1001")
	if b := r.Lookup("1001"); len(b) != 1 || time.Until(b[0].Expires) > time.Hour {
		t.Errorf("expiry not capped: %+v", b)
	}
	// A query (no Contact) lists the bindings.
	if res := r.Register(register("a", 3, ""), "1001"); res.StatusCode != 200 || res.GetHeader("Contact") == nil {
		t.Errorf("query = %s", res.String())
	}
}

func TestRegisterBadRequest(t *testing.T) {
	r := New(Config{})
	for name, req := range map[string]*sip.Request{
		"bad expires":         register("a", 1, "soon", "<sip:1001@127.0.0.1:5061>"),
		"bad contact expires": register("a", 1, "", "<sip:1001@127.0.0.1:5061>;expires=x"),
		"wildcard expires":    register("a", 1, "60", "*"),
		"wildcard and more":   register("a", 1, "0", "*, <sip:1001@127.0.0.1:5061>"),
		"empty address":       register("a", 1, "", "<sip:1001@127.0.0.1:5061>,,"),
	} {
		res := r.Register(req, "1001")
		if res.StatusCode != 400 || res.GetHeader("Warning") == nil {
			t.Errorf("%s: %s", name, res.String())
		}
	}
	if len(r.All()) != 0 {
		t.Errorf("bad requests left bindings: %v", r.All())
	}
}

func TestParseContacts(t *testing.T) {
	got, err := ParseContacts(`"A, B" <sip:1@h;lr>;q=0.5, <sip:2@h:5070>;expires=10,sip:3@h`)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].DisplayName != "A, B" || got[1].URI.Port != 5070 || got[2].URI.User != "3" {
		t.Errorf("ParseContacts = %+v", got)
	}
	if v, _ := got[1].Params.Get("expires"); v != "10" {
		t.Errorf("expires param = %q", v)
	}
	for _, bad := range []string{"", "<sip:1@h>,", "<>", "no uri here"} {
		if _, err := ParseContacts(bad); err == nil {
			t.Errorf("ParseContacts(%q) accepted", bad)
		}
	}
}

func FuzzParseContacts(f *testing.F) {
	f.Add(`"A" <sip:1@h;transport=tcp>;expires=60, sip:2@h:5060`)
	f.Add("*")
	f.Fuzz(func(t *testing.T, v string) {
		addrs, err := ParseContacts(v)
		if err != nil {
			return
		}
		for _, a := range addrs {
			_ = a.URI.String()
		}
	})
}

// failing is a Bindings whose store is down.
type failing struct{ *Memory }

func (failing) PutBinding(context.Context, Binding) error { return errors.New("database is locked") }

// A REGISTER is answered 200 only once its binding is stored: a phone told
// it is registered must be reachable after a restart.
func TestRegisterNotStored(t *testing.T) {
	t.Parallel()
	var heard []error
	r := New(Config{Bindings: failing{NewMemory()}, OnError: func(err error) { heard = append(heard, err) }})
	res := r.Register(register("a", 1, "600", "<sip:1001@127.0.0.1:5061>"), "1001")
	if res.StatusCode != 500 {
		t.Fatalf("register with the store down = %s", res.String())
	}
	if w := res.GetHeader("Warning"); w == nil || !strings.Contains(w.Value(), "database is locked") {
		t.Errorf("Warning = %v", w)
	}
	if got := contacts(r, "1001"); len(got) != 0 {
		t.Errorf("contacts = %v", got)
	}
}
