package registrar

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Binding is one contact an extension is registered at.
type Binding struct {
	Extension string
	Contact   sip.Uri   // where the phone asked to be reached
	Source    string    // host:port the REGISTER came from
	Transport string    // UDP or TCP, as the REGISTER arrived
	Expires   time.Time // when the binding lapses
	UserAgent string
	CallID    string
	CSeq      uint32
	Created   time.Time
}

// Config sets the expiry limits; zero fields take the defaults.
type Config struct {
	DefaultExpires time.Duration // when the phone asks none (default 1h)
	MinExpires     time.Duration // shorter asks get 423 (default 60s)
	MaxExpires     time.Duration // longer asks are cut down (default 2h)
	Now            func() time.Time
	// Bindings keeps the bindings; nil keeps them in memory only.
	Bindings Bindings
	// OnError hears the errors of Bindings that Lookup and All cannot
	// return (nil: dropped).
	OnError func(error)
}

// Bindings keeps the bindings of all extensions: in memory, or in the
// store so that they survive a restart and are shared by the nodes.
type Bindings interface {
	// Bindings returns the unexpired bindings of ext (all when ""), by
	// extension then age.
	Bindings(ctx context.Context, ext string, now time.Time) ([]Binding, error)
	// PutBinding stores b, replacing b.Extension's binding at the same
	// contact URI.
	PutBinding(ctx context.Context, b Binding) error
	// DeleteBinding removes ext's binding at contact.
	DeleteBinding(ctx context.Context, ext string, contact sip.Uri) error
}

// storeTimeout bounds one call to Bindings.
const storeTimeout = 5 * time.Second

// Registrar applies REGISTER requests to the bindings. It is safe for
// concurrent use.
type Registrar struct {
	def, min, max time.Duration
	now           func() time.Time
	store         Bindings
	onError       func(error)

	// mu serialises REGISTERs, so that two of one extension do not read
	// the same bindings and each write its own change over the other's.
	mu sync.Mutex
}

// New makes a Registrar.
func New(c Config) *Registrar {
	r := &Registrar{def: c.DefaultExpires, min: c.MinExpires, max: c.MaxExpires, now: c.Now, store: c.Bindings, onError: c.OnError}
	if r.def <= 0 {
		r.def = time.Hour
	}
	if r.min <= 0 {
		r.min = time.Minute
	}
	if r.max <= 0 {
		r.max = 2 * time.Hour
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.store == nil {
		r.store = NewMemory()
	}
	if r.onError == nil {
		r.onError = func(error) {}
	}
	return r
}

// contact is one requested binding change.
type contact struct {
	uri     sip.Uri
	expires time.Duration
}

// Register applies req, a REGISTER already authenticated as extension ext,
// and returns the response to send: 200 with the extension's bindings once
// they are stored, 423 when an expiry is below the minimum, 400 naming what
// is malformed, or 500 when the bindings cannot be stored.
func (r *Registrar) Register(req *sip.Request, ext string) *sip.Response {
	changes, wildcard, err := r.parse(req)
	if err != nil {
		var brief errTooBrief
		if errors.As(err, &brief) {
			res := sip.NewResponseFromRequest(req, sip.StatusIntervalToBrief, "Interval Too Brief", nil)
			res.AppendHeader(sip.NewHeader("Min-Expires", strconv.Itoa(int(r.min.Seconds()))))
			return res
		}
		res := sip.NewResponseFromRequest(req, sip.StatusBadRequest, "Bad Request", nil)
		res.AppendHeader(warning(err.Error()))
		return res
	}
	callID, cseq := "", uint32(0)
	if h := req.CallID(); h != nil {
		callID = h.Value()
	}
	if h := req.CSeq(); h != nil {
		cseq = h.SeqNo
	}
	ua := ""
	if h := req.GetHeader("User-Agent"); h != nil {
		ua = h.Value()
	}

	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	r.mu.Lock()
	list, err := r.apply(ctx, ext, changes, wildcard, req, ua, callID, cseq)
	r.mu.Unlock()
	if err != nil {
		res := sip.NewResponseFromRequest(req, sip.StatusInternalServerError, "Server Internal Error", nil)
		res.AppendHeader(warning("registration not stored: " + err.Error()))
		return res
	}
	now := r.now()
	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
	for _, b := range list {
		h := &sip.ContactHeader{Address: b.Contact, Params: sip.NewParams()}
		h.Params.Add("expires", strconv.Itoa(max(0, int(b.Expires.Sub(now).Round(time.Second).Seconds()))))
		res.AppendHeader(h)
	}
	res.AppendHeader(sip.NewHeader("Date", now.UTC().Format(time.RFC1123)))
	return res
}

// apply stores the changes of one REGISTER and returns ext's bindings
// after them. r.mu must be held.
func (r *Registrar) apply(ctx context.Context, ext string, changes []contact, wildcard bool, req *sip.Request, ua, callID string, cseq uint32) ([]Binding, error) {
	now := r.now()
	list, err := r.store.Bindings(ctx, ext, now)
	if err != nil {
		return nil, err
	}
	if wildcard {
		for _, b := range list {
			if err := r.store.DeleteBinding(ctx, ext, b.Contact); err != nil {
				return nil, err
			}
		}
		return nil, nil
	}
	for _, c := range changes {
		i := slices.IndexFunc(list, func(b Binding) bool { return sameContact(b.Contact, c.uri) })
		if i >= 0 && list[i].CallID == callID && list[i].CSeq >= cseq {
			// An older or repeated request of the same registration.
			continue
		}
		if i >= 0 {
			if err := r.store.DeleteBinding(ctx, ext, list[i].Contact); err != nil {
				return nil, err
			}
			list = slices.Delete(list, i, i+1)
		}
		if c.expires == 0 {
			continue
		}
		b := Binding{
			Extension: ext, Contact: c.uri, Source: req.Source(), Transport: req.Transport(),
			Expires: now.Add(c.expires), UserAgent: ua, CallID: callID, CSeq: cseq, Created: now,
		}
		if err := r.store.PutBinding(ctx, b); err != nil {
			return nil, err
		}
		list = append(list, b)
	}
	return list, nil
}

type errTooBrief struct{ asked time.Duration }

func (e errTooBrief) Error() string { return fmt.Sprintf("expires %s is below the minimum", e.asked) }

// parse reads the Contact headers and expiries of a REGISTER.
func (r *Registrar) parse(req *sip.Request) ([]contact, bool, error) {
	def := r.def
	if h := req.GetHeader("Expires"); h != nil {
		n, err := strconv.ParseUint(strings.TrimSpace(h.Value()), 10, 32)
		if err != nil {
			return nil, false, fmt.Errorf("Expires %q is not a number of seconds", h.Value())
		}
		def = time.Duration(n) * time.Second
	}
	var raw []string
	for _, h := range req.GetHeaders("Contact") {
		raw = append(raw, h.Value())
	}
	for _, h := range req.GetHeaders("m") {
		raw = append(raw, h.Value())
	}
	var out []contact
	wildcard := false
	for _, v := range raw {
		addrs, err := ParseContacts(v)
		if err != nil {
			return nil, false, err
		}
		for _, a := range addrs {
			if a.URI.Wildcard {
				wildcard = true
				continue
			}
			exp := def
			if v, ok := a.Params.Get("expires"); ok {
				n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
				if err != nil {
					return nil, false, fmt.Errorf("contact expires %q is not a number of seconds", v)
				}
				exp = time.Duration(n) * time.Second
			}
			if exp != 0 && exp < r.min {
				return nil, false, errTooBrief{exp}
			}
			out = append(out, contact{uri: a.URI, expires: min(exp, r.max)})
		}
	}
	if wildcard && (len(out) > 0 || def != 0) {
		return nil, false, errors.New(`contact "*" needs Expires: 0 and no other contact`)
	}
	return out, wildcard, nil
}

// Lookup returns the unexpired bindings of ext, oldest first.
func (r *Registrar) Lookup(ext string) []Binding {
	return r.list(ext)
}

// All returns every unexpired binding, by extension then age.
func (r *Registrar) All() []Binding {
	return r.list("")
}

func (r *Registrar) list(ext string) []Binding {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	list, err := r.store.Bindings(ctx, ext, r.now())
	if err != nil {
		r.onError(fmt.Errorf("read registrations: %w", err))
		return nil
	}
	return list
}

// Memory keeps bindings in memory: they are lost when the process ends.
type Memory struct {
	mu       sync.Mutex
	bindings map[string][]Binding
}

// NewMemory makes an empty Memory.
func NewMemory() *Memory { return &Memory{bindings: make(map[string][]Binding)} }

// Bindings returns the unexpired bindings of ext (all when ""), dropping
// the expired ones.
func (m *Memory) Bindings(_ context.Context, ext string, now time.Time) ([]Binding, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	exts := []string{ext}
	if ext == "" {
		exts = exts[:0]
		for e := range m.bindings {
			exts = append(exts, e)
		}
		slices.Sort(exts)
	}
	var out []Binding
	for _, e := range exts {
		list := slices.DeleteFunc(m.bindings[e], func(b Binding) bool { return !now.Before(b.Expires) })
		if len(list) == 0 {
			delete(m.bindings, e)
		} else {
			m.bindings[e] = list
		}
		out = append(out, list...)
	}
	return out, nil
}

// PutBinding stores b.
func (m *Memory) PutBinding(_ context.Context, b Binding) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	list := slices.DeleteFunc(m.bindings[b.Extension], func(o Binding) bool { return o.Contact.String() == b.Contact.String() })
	m.bindings[b.Extension] = append(list, b)
	return nil
}

// DeleteBinding removes ext's binding at contact.
func (m *Memory) DeleteBinding(_ context.Context, ext string, contact sip.Uri) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	list := slices.DeleteFunc(m.bindings[ext], func(o Binding) bool { return o.Contact.String() == contact.String() })
	if len(list) == 0 {
		delete(m.bindings, ext)
	} else {
		m.bindings[ext] = list
	}
	return nil
}

// sameContact compares contact URIs the way RFC 3261 §19.1.4 matters here:
// user, host, port and transport.
func sameContact(a, b sip.Uri) bool {
	ta, _ := a.UriParams.Get("transport")
	tb, _ := b.UriParams.Get("transport")
	return a.User == b.User && strings.EqualFold(a.Host, b.Host) && a.Port == b.Port && strings.EqualFold(ta, tb)
}

// warning makes a Warning header (RFC 3261 §20.43, code 399: miscellaneous)
// that tells the client in words what was wrong with its request.
func warning(text string) sip.Header {
	text = strings.Map(func(r rune) rune {
		if r < 0x20 || r == '"' || r == '\\' || r == 0x7f {
			return ' '
		}
		return r
	}, text)
	return sip.NewHeader("Warning", `399 switchhook "`+text+`"`)
}

// Address is one parsed name-addr of a Contact header.
type Address struct {
	DisplayName string
	URI         sip.Uri
	Params      sip.HeaderParams
}

// ParseContacts parses a Contact header value that may list several
// addresses separated by commas (RFC 3261 §20.10), using sipgo's address
// parser for each. sipgo parses only the first address of a header lazily,
// and a registrar must see them all.
func ParseContacts(v string) ([]Address, error) {
	var out []Address
	for _, part := range splitList(v) {
		part = strings.TrimSpace(part)
		if part == "" {
			return nil, fmt.Errorf("contact %q has an empty address", v)
		}
		a := Address{Params: sip.NewParams()}
		name, err := sip.ParseAddressValue(part, &a.URI, &a.Params)
		if err != nil {
			return nil, fmt.Errorf("contact %q: %w", part, err)
		}
		if !a.URI.Wildcard && a.URI.Host == "" {
			return nil, fmt.Errorf("contact %q has no host", part)
		}
		a.DisplayName = name
		out = append(out, a)
	}
	return out, nil
}

// splitList splits on commas outside quotes and angle brackets.
func splitList(v string) []string {
	var out []string
	quoted, bracket, start := false, false, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case c == '<' && !quoted:
			bracket = true
		case c == '>' && !quoted:
			bracket = false
		case c == ',' && !quoted && !bracket:
			out = append(out, v[start:i])
			start = i + 1
		}
	}
	return append(out, v[start:])
}
