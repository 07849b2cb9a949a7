package dashboard

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/api"
)

// clock is a time the test moves by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func requestWith(method, session, csrf string) *http.Request {
	r := httptest.NewRequest(method, "/v1/endpoints", nil)
	if session != "" {
		r.AddCookie(&http.Cookie{Name: CookieName, Value: session})
	}
	if csrf != "" {
		r.Header.Set(CSRFHeader, csrf)
	}
	return r
}

func TestSessionLifecycle(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 27, 12, 0, 0, 0, time.UTC)}
	s := NewSessions(time.Hour, 0)
	s.now = c.now
	id, sess := s.create()
	if len(id) < 40 || len(sess.csrf) < 40 || id == sess.csrf {
		t.Fatalf("session id %q, csrf %q: want two long random values", id, sess.csrf)
	}

	if err := s.Check(requestWith("GET", "", "")); !errors.Is(err, api.ErrNoSession) {
		t.Errorf("no cookie: %v, want ErrNoSession", err)
	}
	if err := s.Check(requestWith("GET", "forged", "")); err == nil || errors.Is(err, api.ErrNoSession) || !strings.Contains(err.Error(), "sign in again") {
		t.Errorf("unknown session: %v", err)
	}
	if err := s.Check(requestWith("GET", id, "")); err != nil {
		t.Errorf("GET with the session: %v", err)
	}
	for _, m := range []string{"POST", "PATCH", "DELETE"} {
		if err := s.Check(requestWith(m, id, "")); !errors.Is(err, api.ErrCSRF) || !strings.Contains(err.Error(), CSRFHeader) {
			t.Errorf("%s without the CSRF token: %v", m, err)
		}
		if err := s.Check(requestWith(m, id, sess.csrf+"x")); !errors.Is(err, api.ErrCSRF) {
			t.Errorf("%s with a wrong CSRF token: %v", m, err)
		}
		if err := s.Check(requestWith(m, id, sess.csrf)); err != nil {
			t.Errorf("%s with the CSRF token: %v", m, err)
		}
	}

	c.t = c.t.Add(time.Hour)
	err := s.Check(requestWith("GET", id, ""))
	if err == nil || !strings.Contains(err.Error(), "expired at 2026-01-27T13:00:00Z") {
		t.Errorf("an hour later: %v, want expired", err)
	}
	if len(s.byHash) != 0 {
		t.Errorf("%d sessions kept after expiry", len(s.byHash))
	}
}

func TestSignOutEndsTheSession(t *testing.T) {
	s := NewSessions(0, 0)
	id, _ := s.create()
	s.end(requestWith("POST", id, ""))
	if err := s.Check(requestWith("GET", id, "")); err == nil {
		t.Error("session still valid after end")
	}
}

func TestOldestSessionGivesWay(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 27, 12, 0, 0, 0, time.UTC)}
	s := NewSessions(time.Hour, 2)
	s.now = c.now
	first, _ := s.create()
	c.t = c.t.Add(time.Second)
	second, _ := s.create()
	c.t = c.t.Add(time.Second)
	third, _ := s.create()
	if err := s.Check(requestWith("GET", first, "")); err == nil {
		t.Error("the oldest session survived a third sign-in over the limit of 2")
	}
	for _, id := range []string{second, third} {
		if err := s.Check(requestWith("GET", id, "")); err != nil {
			t.Errorf("newer session refused: %v", err)
		}
	}
}

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"":                           "/",
		"/":                          "/",
		"/calls":                     "/calls",
		"/calls?number=1001&event=x": "/calls?number=1001&event=x",
		"/endpoints/":                "/endpoints/",
		"//evil.example/x":           "/",
		"/\\evil.example":            "/",
		"https://evil.example/":      "/",
		"evil":                       "/",
		"/../etc":                    "/",
		"/calls\r\nSet-Cookie: x=1":  "/",
	} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}
