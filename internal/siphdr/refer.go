package siphdr

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// ReferTo is a parsed Refer-To header value (RFC 3515 §2.1).
type ReferTo struct {
	// URI is the target's URI without its header part.
	URI sip.Uri
	// Target is the user part of a SIP URI or the number of a tel URI: the
	// number the transfer goes to, dialled as the transferring phone would
	// dial it.
	Target string
	// Replaces is set when the URI embeds a Replaces header (RFC 3891 §7):
	// an attended transfer, naming the dialog the target is to take over.
	Replaces *Replaces
}

// ErrBadReferTo is wrapped by every refusal of ParseReferTo: the REFER is
// answered 400 Bad Request.
var ErrBadReferTo = errors.New("bad Refer-To")

// ParseReferTo reads a Refer-To value, a name-addr (`"Bob" <sip:1003@pbx>`)
// or an addr-spec (`sip:1003@pbx`), with optional header parameters. The
// URI must be sip, sips or tel and name a user: the PBX routes that number.
func ParseReferTo(value string) (ReferTo, error) {
	fail := func(format string, args ...any) (ReferTo, error) {
		return ReferTo{}, fmt.Errorf("%w: %s", ErrBadReferTo, fmt.Sprintf(format, args...))
	}
	v := strings.TrimSpace(value)
	if v == "" {
		return fail("empty")
	}
	var raw string
	if i := strings.IndexByte(v, '<'); i >= 0 {
		j := strings.IndexByte(v[i:], '>')
		if j < 0 {
			return fail("%q has no closing >", value)
		}
		raw = v[i+1 : i+j]
	} else {
		// In an addr-spec, a ';' starts the header's parameters (RFC 3261
		// §20: a URI with parameters or headers must be in angle brackets).
		raw, _, _ = strings.Cut(v, ";")
		if strings.ContainsAny(raw, "?,") {
			return fail("%q: a URI with headers must be in angle brackets", value)
		}
	}
	base, hdrs, _ := strings.Cut(raw, "?")
	var out ReferTo
	if err := sip.ParseUri(base, &out.URI); err != nil {
		return fail("%q is not a URI: %v", raw, err)
	}
	switch out.URI.Scheme {
	case "sip", "sips":
		out.Target = out.URI.User
	case "tel":
		out.Target, _, _ = strings.Cut(out.URI.Raw(), ";")
	default:
		return fail("scheme %q is not sip, sips or tel", out.URI.Scheme)
	}
	if !dialable(out.Target) {
		return fail("%q names no number to transfer to", raw)
	}
	if hdrs != "" {
		for _, h := range strings.Split(hdrs, "&") {
			name, val, _ := strings.Cut(h, "=")
			if !strings.EqualFold(name, "Replaces") {
				continue
			}
			if out.Replaces != nil {
				return fail("more than one Replaces")
			}
			dec, err := url.PathUnescape(val)
			if err != nil {
				return fail("Replaces %q is not percent-encoded right: %v", val, err)
			}
			r, err := ParseReplaces(dec)
			if err != nil {
				return fail("%v", err)
			}
			out.Replaces = &r
		}
	}
	return out, nil
}

// dialable reports whether s can be a dialled number: what phones put in a
// user part to dial (digits, * # +, and the letters and marks of a SIP user
// name), and nothing a Request-URI or a header could not hold.
func dialable(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case strings.ContainsRune("*#+._-", c):
		default:
			return false
		}
	}
	return true
}

// String renders r as a Refer-To value, with its Replaces percent-encoded in
// the URI's headers.
func (r ReferTo) String() string {
	u := r.URI
	u.Headers = nil
	s := "<" + u.String()
	if r.Replaces != nil {
		s += "?Replaces=" + escapeHeader(r.Replaces.String())
	}
	return s + ">"
}

// escapeHeader percent-encodes a URI header value (RFC 3261 §25.1 hvalue):
// what is not unreserved or one of the hnv-unreserved marks.
func escapeHeader(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z',
			strings.IndexByte("-_.!~*'()[]/?:+$", c) >= 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// ReferToOf returns the Refer-To of a REFER, which must carry exactly one
// (RFC 3515 §2.4.1), in its long or compact ("r") form.
func ReferToOf(req *sip.Request) (ReferTo, error) {
	hs := append(req.GetHeaders("refer-to"), req.GetHeaders("r")...)
	if len(hs) != 1 {
		return ReferTo{}, fmt.Errorf("%w: a REFER carries exactly one, this one %d", ErrBadReferTo, len(hs))
	}
	return ParseReferTo(hs[0].Value())
}

// Parser returns sipgo's message parser without its Refer-To grammar, so
// that a REFER whose Refer-To is malformed still reaches the PBX, which
// answers it 400 naming the fault: sipgo drops a message whose known
// headers do not parse, and the phone would retransmit into silence.
func Parser() *sip.Parser {
	m := maps.Clone(sip.DefaultHeadersParser())
	delete(m, "refer-to")
	return sip.NewParser(sip.WithHeadersParsers(m))
}
