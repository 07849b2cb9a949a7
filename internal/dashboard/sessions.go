package dashboard

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/switchhook/switchhook/internal/api"
)

// Session cookie and CSRF header names.
const (
	CookieName = "switchhook_session"
	CSRFHeader = "X-CSRF-Token"
)

// Defaults of NewSessions.
const (
	DefaultSessionTTL  = 12 * time.Hour
	DefaultMaxSessions = 1000
)

// Sessions are the signed-in browsers, kept in memory: a restart signs
// everyone out, which for an admin console is a fair price for having no
// session table. Sessions implements api.Sessions. It is safe for
// concurrent use.
type Sessions struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu sync.Mutex
	// byHash keys sessions by the SHA-256 of their id, so that a lookup
	// takes the same time however much of an id a guesser got right.
	byHash map[[sha256.Size]byte]*session
}

type session struct {
	csrf    string
	created time.Time
	expires time.Time
}

// NewSessions returns an empty set of sessions that each last ttl
// (DefaultSessionTTL if 0) after sign-in; at most max (DefaultMaxSessions
// if 0) are kept, the oldest giving way.
func NewSessions(ttl time.Duration, max int) *Sessions {
	if ttl <= 0 {
		ttl = DefaultSessionTTL
	}
	if max <= 0 {
		max = DefaultMaxSessions
	}
	return &Sessions{ttl: ttl, max: max, now: time.Now, byHash: map[[sha256.Size]byte]*session{}}
}

// create starts a session and returns its id (the cookie's value).
func (s *Sessions) create() (id string, sess session) {
	id = rand.Text() + rand.Text() // 256 bits
	now := s.now()
	sess = session{csrf: rand.Text() + rand.Text(), created: now, expires: now.Add(s.ttl)}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prune(now)
	for len(s.byHash) >= s.max {
		s.dropOldest()
	}
	s.byHash[sha256.Sum256([]byte(id))] = &sess
	return id, sess
}

// prune drops expired sessions; s.mu is held.
func (s *Sessions) prune(now time.Time) {
	for h, sess := range s.byHash {
		if !now.Before(sess.expires) {
			delete(s.byHash, h)
		}
	}
}

// dropOldest drops the session signed in longest ago; s.mu is held.
func (s *Sessions) dropOldest() {
	var oldest [sha256.Size]byte
	var at time.Time
	for h, sess := range s.byHash {
		if at.IsZero() || sess.created.Before(at) {
			oldest, at = h, sess.created
		}
	}
	delete(s.byHash, oldest)
}

// lookup returns r's session. The error wraps api.ErrNoSession when r has
// no session cookie, and says why otherwise.
func (s *Sessions) lookup(r *http.Request) (session, error) {
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" {
		return session{}, api.ErrNoSession
	}
	h := sha256.Sum256([]byte(c.Value))
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.byHash[h]
	if !ok {
		return session{}, fmt.Errorf("dashboard session unknown (the server restarted, or you signed out): sign in again")
	}
	if !s.now().Before(sess.expires) {
		delete(s.byHash, h)
		return session{}, fmt.Errorf("dashboard session expired at %s: sign in again", sess.expires.UTC().Format(time.RFC3339))
	}
	return *sess, nil
}

// Check authenticates r by its session cookie and, unless r only reads
// (GET, HEAD, OPTIONS), by its X-CSRF-Token header: see api.Sessions.
func (s *Sessions) Check(r *http.Request) error {
	sess, err := s.lookup(r)
	if err != nil {
		return err
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	return checkCSRF(sess, r.Header.Get(CSRFHeader))
}

func checkCSRF(sess session, token string) error {
	if token == "" {
		return fmt.Errorf("%w: a signed-in browser must send its session's token in the %s header", api.ErrCSRF, CSRFHeader)
	}
	if subtle.ConstantTimeCompare([]byte(token), []byte(sess.csrf)) != 1 {
		return fmt.Errorf("%w: the %s header does not match the session", api.ErrCSRF, CSRFHeader)
	}
	return nil
}

// end signs r's session out, if it has one.
func (s *Sessions) end(r *http.Request) {
	c, err := r.Cookie(CookieName)
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byHash, sha256.Sum256([]byte(c.Value)))
}
