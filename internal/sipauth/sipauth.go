package sipauth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// Reasons a request is not authenticated. Verify wraps them with details.
var (
	// ErrNoCredentials means the request carries no digest credentials for
	// this realm: the client has not been challenged yet.
	ErrNoCredentials = errors.New("no credentials")
	// ErrStale means the credentials use a nonce that has expired: the
	// client should retry with a fresh one (stale=true).
	ErrStale = errors.New("stale nonce")
	// ErrRejected means the credentials are wrong: unknown user, wrong
	// password, a nonce the PBX did not issue, or malformed fields.
	ErrRejected = errors.New("credentials rejected")
)

// Algorithms are the digest algorithms an Authenticator can offer.
var Algorithms = []string{"SHA-256", "MD5"}

// DefaultAlgorithms are offered when none are configured: MD5 alone. Many
// deployed clients (baresip 1.0, desk phones, SIPp) fail on a SHA-256
// challenge instead of skipping it, so SHA-256 is offered only on request.
var DefaultAlgorithms = []string{"MD5"}

// PasswordFunc returns the password of user, or ok=false if there is no
// such user.
type PasswordFunc func(user string) (password string, ok bool)

// Authenticator checks digest credentials against a realm, which may depend
// on the request (the address the client used).
type Authenticator struct {
	realm      string
	realmOf    func(*sip.Request) string
	algorithms []string
	password   PasswordFunc
	key        []byte
	nonceTTL   time.Duration
	now        func() time.Time
	macs       sync.Pool // of *signer
}

// Option changes an Authenticator.
type Option func(*Authenticator)

// WithNonceTTL sets how long a nonce is accepted (default 5 minutes).
func WithNonceTTL(d time.Duration) Option { return func(a *Authenticator) { a.nonceTTL = d } }

// WithRealmFunc makes the realm of each request realm(req), falling back to
// the realm given to New when it returns "".
func WithRealmFunc(realm func(*sip.Request) string) Option {
	return func(a *Authenticator) { a.realmOf = realm }
}

// WithAlgorithms sets the algorithms offered and accepted, from Algorithms;
// SHA-256 is offered first whatever the order given (RFC 8760 §2.4).
// Unknown names are refused by ParseAlgorithms; none means DefaultAlgorithms.
func WithAlgorithms(algs []string) Option {
	return func(a *Authenticator) {
		if out, err := ParseAlgorithms(algs); err == nil && len(out) > 0 {
			a.algorithms = out
		}
	}
}

// ParseAlgorithms checks names against Algorithms (case-insensitively) and
// returns them in the order they are offered, strongest first.
func ParseAlgorithms(names []string) ([]string, error) {
	want := map[string]bool{}
	for _, n := range names {
		u := strings.ToUpper(strings.TrimSpace(n))
		if !slices.Contains(Algorithms, u) {
			return nil, fmt.Errorf("algorithm %q is not one of %s", n, strings.Join(Algorithms, ", "))
		}
		want[u] = true
	}
	var out []string
	for _, alg := range Algorithms {
		if want[alg] {
			out = append(out, alg)
		}
	}
	return out, nil
}

// WithClock sets the clock (for tests).
func WithClock(now func() time.Time) Option { return func(a *Authenticator) { a.now = now } }

// New makes an Authenticator for realm. Nonces are signed with a key made
// here, so they do not survive a restart: clients get stale=true and retry.
func New(realm string, password PasswordFunc, opts ...Option) (*Authenticator, error) {
	if realm == "" {
		return nil, errors.New("sipauth: realm is empty")
	}
	a := &Authenticator{realm: realm, algorithms: DefaultAlgorithms, password: password, key: make([]byte, 32), nonceTTL: 5 * time.Minute, now: time.Now}
	if _, err := rand.Read(a.key); err != nil {
		return nil, fmt.Errorf("sipauth: make nonce key: %w", err)
	}
	for _, o := range opts {
		o(a)
	}
	return a, nil
}

// Realm returns the realm of req.
func (a *Authenticator) Realm(req *sip.Request) string {
	if a.realmOf != nil {
		if r := a.realmOf(req); r != "" {
			return r
		}
	}
	return a.realm
}

// Challenge answers req with code (401 for REGISTER, 407 for other
// requests) and one challenge per configured algorithm, SHA-256 first.
// stale tells the client its password was right but the nonce expired.
func (a *Authenticator) Challenge(req *sip.Request, code int, stale bool) *sip.Response {
	reason, header := "Unauthorized", "WWW-Authenticate"
	if code == sip.StatusProxyAuthRequired {
		reason, header = "Proxy Authentication Required", "Proxy-Authenticate"
	}
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	nonce := a.nonce()
	realm := a.Realm(req)
	for _, alg := range a.algorithms {
		res.AppendHeader(sip.NewHeader(header, challenge(realm, nonce, alg, stale)))
	}
	return res
}

// challenge is digest.Challenge{Realm: realm, Nonce: nonce, Algorithm: alg,
// QOP: []string{"auth"}, Stale: stale}.String(), written in one buffer.
func challenge(realm, nonce, alg string, stale bool) string {
	b := make([]byte, 0, 64+len(realm)+len(nonce))
	b = append(b, digest.Prefix+"realm="...)
	b = strconv.AppendQuote(b, realm)
	b = append(b, ", nonce="...)
	b = strconv.AppendQuote(b, nonce)
	if stale {
		b = append(b, ", stale=true"...)
	}
	b = append(b, ", algorithm="...)
	b = append(b, alg...)
	b = append(b, `, qop="auth"`...)
	return string(b)
}

// Verify checks the digest credentials of req in its Authorization header
// (proxy=false, for REGISTER) or Proxy-Authorization header (proxy=true) and
// returns the authenticated user. The error wraps ErrNoCredentials,
// ErrStale or ErrRejected.
func (a *Authenticator) Verify(req *sip.Request, proxy bool) (string, error) {
	name := "Authorization"
	if proxy {
		name = "Proxy-Authorization"
	}
	realm := a.Realm(req)
	var (
		cred  digest.Credentials
		found bool
	)
	// The headers in order, matched by name as GetHeaders does, without
	// its copy of each name in lower case.
	for _, h := range req.Headers() {
		if !asciiEqualFold(h.Name(), name) {
			continue
		}
		c, err := parseCredentials(h.Value())
		if err != nil {
			return "", fmt.Errorf("%w: %s header: %v", ErrRejected, name, err)
		}
		if c.Realm == realm {
			cred, found = c, true
			break
		}
	}
	if !found {
		return "", ErrNoCredentials
	}
	user := cred.Username
	alg := strings.ToUpper(cred.Algorithm)
	if alg == "" {
		alg = "MD5" // RFC 2617 §3.2.1
	}
	if !slices.Contains(a.algorithms, alg) {
		return user, fmt.Errorf("%w: algorithm %q (offered: %s)", ErrRejected, cred.Algorithm, strings.Join(a.algorithms, ", "))
	}
	if err := a.checkNonce(cred.Nonce); err != nil {
		return user, err
	}
	if cred.QOP != "" && cred.QOP != "auth" {
		return user, fmt.Errorf("%w: qop %q (want auth)", ErrRejected, cred.QOP)
	}
	if cred.Userhash {
		return user, fmt.Errorf("%w: userhash is not supported", ErrRejected)
	}
	password, ok := a.password(user)
	if !ok {
		return user, fmt.Errorf("%w: unknown user %q", ErrRejected, user)
	}
	var want, got [2 * sha256.Size]byte
	resp, ok := response(want[:0], &cred, realm, req.Method.String(), password)
	if !ok || subtle.ConstantTimeCompare(lowerHex(got[:0], cred.Response), resp) != 1 {
		return user, fmt.Errorf("%w: wrong password for user %q", ErrRejected, user)
	}
	return user, nil
}

// lowerHex appends s lower-cased in ASCII to dst: strings.ToLower as far
// as a match with a response in lower-case hex goes.
func lowerHex(dst []byte, s string) []byte {
	for i := range len(s) {
		b := s[i]
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		dst = append(dst, b)
	}
	return dst
}

// asciiEqualFold is sipgo's header name match: equal once lower-cased in
// ASCII.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// nonce is the issue time and an HMAC of it, so the PBX keeps no state per
// challenge yet recognises its own nonces and their age.
func (a *Authenticator) nonce() string {
	s := a.signer()
	defer a.macs.Put(s)
	binary.BigEndian.PutUint64(s.ts[:], uint64(a.now().UnixNano()))
	var out [2 * (8 + 16)]byte
	hex.Encode(out[:16], s.ts[:])
	hex.Encode(out[16:], s.sign())
	return string(out[:])
}

// signer is an HMAC-SHA-256 with the nonce key and the buffers it reads and
// writes: kept in a pool, since making one hashes the key twice and
// allocates, and buffers handed to a hash.Hash escape.
type signer struct {
	mac hash.Hash
	ts  [8]byte
	sum [sha256.Size]byte
}

func (a *Authenticator) signer() *signer {
	if s, ok := a.macs.Get().(*signer); ok {
		return s
	}
	return &signer{mac: hmac.New(sha256.New, a.key)}
}

// sign is the first 16 bytes of the HMAC of s.ts.
func (s *signer) sign() []byte {
	s.mac.Reset()
	s.mac.Write(s.ts[:])
	return s.mac.Sum(s.sum[:0])[:16]
}

func (a *Authenticator) checkNonce(nonce string) error {
	var raw [8 + 16]byte
	if !decodeHex(raw[:], nonce) {
		return fmt.Errorf("%w: nonce %q was not issued here", ErrRejected, nonce)
	}
	s := a.signer()
	defer a.macs.Put(s)
	copy(s.ts[:], raw[:8])
	if !hmac.Equal(raw[8:], s.sign()) {
		// Most likely issued before a restart, with the key of then: a
		// phone that authenticates ahead of a challenge, with the last
		// nonce it got, is told to take a fresh one rather than refused.
		return fmt.Errorf("%w: nonce %q was not issued by this process", ErrStale, nonce)
	}
	issued := time.Unix(0, int64(binary.BigEndian.Uint64(raw[:8])))
	if age := a.now().Sub(issued); age > a.nonceTTL || age < -time.Minute {
		return fmt.Errorf("%w: nonce issued %s ago", ErrStale, age.Round(time.Second))
	}
	return nil
}

// decodeHex fills dst from the hex digits of s, which must be exactly
// enough for it.
func decodeHex(dst []byte, s string) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	for i := range dst {
		hi, ok1 := fromHex(s[2*i])
		lo, ok2 := fromHex(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func fromHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
