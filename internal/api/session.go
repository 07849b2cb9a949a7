package api

import (
	"errors"
	"net/http"
)

// Sessions authenticate the browser sessions of the dashboard, so that a
// signed-in browser can call the /v1 routes with its session cookie instead
// of the admin token.
type Sessions interface {
	// Check authenticates r by its session cookie and, when r's method
	// changes state (anything but GET, HEAD and OPTIONS), by its CSRF
	// token. The error wraps ErrNoSession when r carries no session cookie
	// and ErrCSRF when the CSRF token is missing or wrong; any other error
	// says why the session is refused (unknown, expired).
	Check(r *http.Request) error
}

// Errors of Sessions.Check.
var (
	ErrNoSession = errors.New("no dashboard session")
	ErrCSRF      = errors.New("CSRF token missing or wrong")
)

// bySession serves r to next if its session cookie lets it through, or
// refuses it if it carries a session that does not, and reports whether it
// did either. A request with an Authorization header is judged on that
// header alone.
func (a *API) bySession(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
	if a.sessions == nil || r.Header.Get("Authorization") != "" {
		return false
	}
	err := a.sessions.Check(r)
	switch {
	case err == nil:
		next.ServeHTTP(w, r)
	case errors.Is(err, ErrNoSession):
		return false
	case errors.Is(err, ErrCSRF):
		a.writeError(w, r, errorf(http.StatusForbidden, "X-CSRF-Token", "%v", err))
	default:
		a.writeError(w, r, errorf(http.StatusUnauthorized, "", "%v", err))
	}
	return true
}
