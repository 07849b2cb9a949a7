package dashboard_test

import (
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/api"
	"github.com/switchhook/switchhook/internal/api/apitest"
	"github.com/switchhook/switchhook/internal/dashboard"
)

// server is the API and the dashboard on one mux, as switchhook serve runs
// them, on a real SQLite store.
type server struct {
	*httptest.Server
	t *testing.T
}

// token is the admin token of the servers; newServer's dashboardToken is
// what signing in takes (the same but where a test says otherwise).
const token = apitest.Token

func newServer(t *testing.T, dashboardToken string) *server {
	t.Helper()
	sessions := dashboard.NewSessions(0, 0)
	var opts api.Options
	apitest.New(t, func(o *api.Options) {
		o.Sessions = sessions
		opts = *o
	})
	mux := http.NewServeMux()
	api.New(opts).Mount(mux)
	mux.Handle("/", dashboard.New(dashboard.Options{
		Sessions: sessions, AdminToken: dashboardToken, Location: time.UTC, Version: "v-test", Logger: apitest.Discard(),
	}))
	s := &server{Server: httptest.NewServer(mux), t: t}
	t.Cleanup(s.Close)
	return s
}

// answer is an HTTP answer, read whole.
type answer struct {
	status int
	header http.Header
	body   string
}

// do sends a request without following redirects.
func (s *server) do(method, path, body string, header map[string]string, cookies ...*http.Cookie) answer {
	s.t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

var form = map[string]string{"Content-Type": "application/x-www-form-urlencoded"}

// signIn signs in and returns the session cookie and its CSRF token.
func (s *server) signIn() (*http.Cookie, string) {
	s.t.Helper()
	a := s.do("POST", "/signin", url.Values{"token": {token}, "next": {"/"}}.Encode(), form)
	if a.status != http.StatusSeeOther {
		s.t.Fatalf("sign in: %d %s", a.status, a.body)
	}
	var cookie *http.Cookie
	for _, c := range (&http.Response{Header: a.header}).Cookies() {
		if c.Name == dashboard.CookieName {
			cookie = c
		}
	}
	if cookie == nil {
		s.t.Fatal("sign in set no session cookie")
	}
	info := s.do("GET", "/session", "", nil, cookie)
	var body struct {
		CSRFToken string `json:"csrf_token"`
		Timezone  string `json:"timezone"`
	}
	if err := json.Unmarshal([]byte(info.body), &body); err != nil || body.CSRFToken == "" || body.Timezone != "UTC" {
		s.t.Fatalf("GET /session: %d %s", info.status, info.body)
	}
	return cookie, body.CSRFToken
}

func TestPagesSendASignedOutBrowserToSignIn(t *testing.T) {
	s := newServer(t, token)
	for _, p := range []string{"/", "/calls", "/calls/abc", "/endpoints", "/endpoints/ep_x", "/overview", "/calls?number=1001"} {
		a := s.do("GET", p, "", nil)
		if a.status != http.StatusSeeOther || a.header.Get("Location") != "/signin?next="+url.QueryEscape(p) {
			t.Errorf("GET %s: %d to %q", p, a.status, a.header.Get("Location"))
		}
	}
	if a := s.do("GET", "/nope", "", nil); a.status != http.StatusNotFound {
		t.Errorf("GET /nope: %d", a.status)
	}
	a := s.do("GET", "/signin?next=%2Fcalls", "", nil)
	if a.status != 200 || !strings.Contains(a.body, `name="next" value="/calls"`) || !strings.Contains(a.body, `<label for="token">`) {
		t.Errorf("sign-in page: %d\n%s", a.status, a.body)
	}
	if csp := a.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
}

func TestSignIn(t *testing.T) {
	s := newServer(t, token)
	for tried, want := range map[string]string{"wrong": "That admin token is wrong", "": "Enter the admin token", token[1:]: "wrong"} {
		a := s.do("POST", "/signin", url.Values{"token": {tried}}.Encode(), form)
		if a.status != http.StatusUnauthorized || !strings.Contains(a.body, want) || a.header.Get("Set-Cookie") != "" {
			t.Errorf("token %q: %d, cookie %q, body lacks %q", tried, a.status, a.header.Get("Set-Cookie"), want)
		}
	}
	a := s.do("POST", "/signin", url.Values{"token": {token}, "next": {"/calls?number=1001"}}.Encode(), form)
	if a.status != http.StatusSeeOther || a.header.Get("Location") != "/calls?number=1001" {
		t.Fatalf("sign in: %d to %q", a.status, a.header.Get("Location"))
	}
	c := a.header.Get("Set-Cookie")
	for _, want := range []string{dashboard.CookieName + "=", "Path=/", "HttpOnly", "SameSite=Strict", "Max-Age="} {
		if !strings.Contains(c, want) {
			t.Errorf("cookie %q lacks %s", c, want)
		}
	}
	if strings.Contains(c, "Secure") {
		t.Errorf("cookie %q is Secure over plain HTTP: the browser would not send it back", c)
	}
	// A next pointing elsewhere lands on the dashboard instead.
	a = s.do("POST", "/signin", url.Values{"token": {token}, "next": {"//evil.example/"}}.Encode(), form)
	if a.header.Get("Location") != "/" {
		t.Errorf("next //evil.example/ redirected to %q", a.header.Get("Location"))
	}
}

func TestSecureCookieBehindTLS(t *testing.T) {
	s := newServer(t, token)
	a := s.do("POST", "/signin", "token="+token, map[string]string{"Content-Type": form["Content-Type"], "X-Forwarded-Proto": "https"})
	if c := a.header.Get("Set-Cookie"); !strings.Contains(c, "Secure") {
		t.Errorf("cookie %q is not Secure behind a TLS proxy", c)
	}
}

func TestSignInFromAnotherSiteIsRefused(t *testing.T) {
	s := newServer(t, token)
	for name, h := range map[string]map[string]string{
		"Origin":         {"Origin": "http://evil.example"},
		"Sec-Fetch-Site": {"Sec-Fetch-Site": "cross-site"},
	} {
		h["Content-Type"] = form["Content-Type"]
		a := s.do("POST", "/signin", "token="+token, h)
		if a.status != http.StatusForbidden || a.header.Get("Set-Cookie") != "" || !strings.Contains(a.body, "another site") {
			t.Errorf("%s: %d, cookie %q", name, a.status, a.header.Get("Set-Cookie"))
		}
	}
	h := map[string]string{"Content-Type": form["Content-Type"], "Origin": s.URL, "Sec-Fetch-Site": "same-origin"}
	if a := s.do("POST", "/signin", "token="+token, h); a.status != http.StatusSeeOther {
		t.Errorf("same origin: %d", a.status)
	}
}

func TestNoTokenNoSignIn(t *testing.T) {
	s := newServer(t, "")
	a := s.do("POST", "/signin", "token=anything", form)
	if a.status != http.StatusUnauthorized || !strings.Contains(a.body, "No admin token is configured") {
		t.Errorf("%d %s", a.status, a.body)
	}
}

func TestSessionOpensTheAPI(t *testing.T) {
	s := newServer(t, token)
	cookie, csrf := s.signIn()
	if a := s.do("GET", "/", "", nil, cookie); a.status != 200 || !strings.Contains(a.body, `src="/assets/app.js"`) {
		t.Errorf("GET / signed in: %d", a.status)
	}
	if a := s.do("GET", "/v1/endpoints", "", nil, cookie); a.status != 200 {
		t.Errorf("GET /v1/endpoints with the cookie: %d %s", a.status, a.body)
	}
	body := `{"url": "http://127.0.0.1:9/hook"}`
	a := s.do("POST", "/v1/endpoints", body, nil, cookie)
	if a.status != http.StatusForbidden || !strings.Contains(a.body, `"field":"X-CSRF-Token"`) || !strings.Contains(a.body, "X-CSRF-Token header") {
		t.Errorf("POST without the CSRF token: %d %s", a.status, a.body)
	}
	a = s.do("POST", "/v1/endpoints", body, map[string]string{dashboard.CSRFHeader: "guess"}, cookie)
	if a.status != http.StatusForbidden || !strings.Contains(a.body, "does not match") {
		t.Errorf("POST with a wrong CSRF token: %d %s", a.status, a.body)
	}
	if a := s.do("POST", "/v1/endpoints", body, map[string]string{dashboard.CSRFHeader: csrf}, cookie); a.status != http.StatusCreated {
		t.Errorf("POST with the CSRF token: %d %s", a.status, a.body)
	}
	// The bearer token still works, and a request with one is judged on it
	// alone.
	if a := s.do("GET", "/v1/endpoints", "", map[string]string{"Authorization": "Bearer " + token}); a.status != 200 {
		t.Errorf("bearer: %d", a.status)
	}
	if a := s.do("GET", "/v1/endpoints", "", map[string]string{"Authorization": "Bearer wrong"}, cookie); a.status != http.StatusUnauthorized {
		t.Errorf("wrong bearer with a good cookie: %d", a.status)
	}
	stale := &http.Cookie{Name: dashboard.CookieName, Value: "made-up"}
	if a := s.do("GET", "/v1/endpoints", "", nil, stale); a.status != http.StatusUnauthorized || !strings.Contains(a.body, "sign in again") {
		t.Errorf("made-up session: %d %s", a.status, a.body)
	}
}

func TestSignOut(t *testing.T) {
	s := newServer(t, token)
	cookie, csrf := s.signIn()
	if a := s.do("POST", "/signout", "", nil, cookie); a.status != http.StatusForbidden {
		t.Errorf("sign out without the CSRF token: %d", a.status)
	}
	a := s.do("POST", "/signout", "", map[string]string{dashboard.CSRFHeader: csrf}, cookie)
	if a.status != http.StatusSeeOther || a.header.Get("Location") != "/signin" || !strings.Contains(a.header.Get("Set-Cookie"), "Max-Age=0") {
		t.Errorf("sign out: %d to %q, cookie %q", a.status, a.header.Get("Location"), a.header.Get("Set-Cookie"))
	}
	if a := s.do("GET", "/v1/endpoints", "", nil, cookie); a.status != http.StatusUnauthorized {
		t.Errorf("API after sign-out: %d", a.status)
	}
	if a := s.do("GET", "/session", "", nil, cookie); a.status != http.StatusUnauthorized {
		t.Errorf("GET /session after sign-out: %d", a.status)
	}
}

func TestAssets(t *testing.T) {
	s := newServer(t, token)
	a := s.do("GET", "/assets/app.js", "", nil)
	if a.status != 200 || !strings.HasPrefix(a.header.Get("Content-Type"), "text/javascript") || a.header.Get("ETag") == "" {
		t.Fatalf("app.js: %d %q etag %q", a.status, a.header.Get("Content-Type"), a.header.Get("ETag"))
	}
	if again := s.do("GET", "/assets/app.js", "", map[string]string{"If-None-Match": a.header.Get("ETag")}); again.status != http.StatusNotModified {
		t.Errorf("revalidation: %d, want 304", again.status)
	}
	for _, p := range []string{"/assets/nope.js", "/assets/index.html", "/assets/signin.html"} {
		if a := s.do("GET", p, "", nil); a.status != http.StatusNotFound {
			t.Errorf("GET %s: %d", p, a.status)
		}
	}
}

// Everything the pages load comes from the binary: no file names another
// host (the SVG namespace is a name, not a request).
func TestAssetsNameNoOtherHost(t *testing.T) {
	url := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	err := fs.WalkDir(os.DirFS("."), ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || !(strings.HasPrefix(p, "static/") || strings.HasPrefix(p, "templates/")) {
			return err
		}
		b, err := os.ReadFile(filepath.FromSlash(p))
		if err != nil {
			return err
		}
		for _, m := range url.FindAllString(string(b), -1) {
			if m != "http://www.w3.org" {
				t.Errorf("%s names another host: %s", p, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
