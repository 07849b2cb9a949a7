package dashboard

import (
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

//go:embed static
var staticFS embed.FS

//go:embed templates/signin.html
var signinHTML string

var signinPage = template.Must(template.New("signin").Parse(signinHTML))

// pages are the paths the single-page app answers with its shell; the
// script picks the page from the path.
var pages = []string{"/{$}", "/calls", "/calls/{uuid}", "/endpoints", "/endpoints/{id}", "/extensions", "/forwarding", "/queues", "/overview"}

// contentSecurityPolicy lets a page load and connect to its own origin
// only: no inline script, no other host.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; manifest-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// maxSignInBody bounds a sign-in form.
const maxSignInBody = 8 << 10

// Options configure a Dashboard.
type Options struct {
	// Sessions are the signed-in browsers; pass the same to api.Options so
	// the API accepts them. Required.
	Sessions *Sessions
	// AdminToken is what signing in takes; empty refuses everyone.
	AdminToken string
	// Location is the zone times are shown in; nil is UTC.
	Location *time.Location
	// Version is shown to the pages (GET /session).
	Version string
	Logger  *slog.Logger // nil: no logs
}

// Dashboard serves the dashboard's pages, its assets, and signing in and
// out. Mount it at "/" beside the API (api.API.Mount).
type Dashboard struct {
	sessions *Sessions
	tokenSum [sha256.Size]byte
	hasToken bool
	zone     string
	version  string
	log      *slog.Logger
	shell    []byte
	assets   fs.FS
	etags    map[string]string // by asset path
	mux      *http.ServeMux
}

// New returns a Dashboard; it panics if o.Sessions is nil.
func New(o Options) *Dashboard {
	if o.Sessions == nil {
		panic("dashboard: Options.Sessions is nil")
	}
	d := &Dashboard{sessions: o.Sessions, version: o.Version, log: o.Logger, zone: "UTC"}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if o.AdminToken != "" {
		d.tokenSum, d.hasToken = sha256.Sum256([]byte(o.AdminToken)), true
	}
	if o.Location != nil {
		d.zone = o.Location.String()
	}
	var err error
	if d.assets, err = fs.Sub(staticFS, "static"); err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	if d.shell, err = fs.ReadFile(d.assets, "index.html"); err != nil {
		panic(err)
	}
	d.etags = assetTags(d.assets)

	d.mux = http.NewServeMux()
	d.mux.HandleFunc("GET /signin", d.signinForm)
	d.mux.HandleFunc("POST /signin", d.signin)
	d.mux.HandleFunc("POST /signout", d.signout)
	d.mux.HandleFunc("GET /session", d.session)
	d.mux.HandleFunc("GET /assets/", d.asset)
	for _, p := range pages {
		d.mux.HandleFunc("GET "+p, d.page)
	}
	d.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "404 page not found: "+r.URL.Path, http.StatusNotFound)
	})
	return d
}

// ServeHTTP serves a dashboard route, with headers that keep its pages to
// their own origin (Content-Security-Policy) and out of frames.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	d.mux.ServeHTTP(w, r)
}

// page answers with the app's shell, or sends a browser without a session
// to sign in first.
func (d *Dashboard) page(w http.ResponseWriter, r *http.Request) {
	if _, err := d.sessions.lookup(r); err != nil {
		http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(d.shell)
}

// signinData fills the sign-in template.
type signinData struct {
	Next  string
	Error string
}

func (d *Dashboard) signinForm(w http.ResponseWriter, r *http.Request) {
	d.renderSignin(w, http.StatusOK, signinData{Next: localPath(r.URL.Query().Get("next"))})
}

func (d *Dashboard) renderSignin(w http.ResponseWriter, status int, data signinData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := signinPage.Execute(w, data); err != nil {
		d.log.Error("render the sign-in page", "err", err)
	}
}

func (d *Dashboard) signin(w http.ResponseWriter, r *http.Request) {
	if err := sameOrigin(r); err != "" {
		d.renderSignin(w, http.StatusForbidden, signinData{Next: "/", Error: err})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxSignInBody)
	if err := r.ParseForm(); err != nil {
		d.renderSignin(w, http.StatusBadRequest, signinData{Next: "/", Error: "The sign-in form could not be read: " + err.Error()})
		return
	}
	data := signinData{Next: localPath(r.PostForm.Get("next"))}
	token := strings.TrimSpace(r.PostForm.Get("token"))
	sum := sha256.Sum256([]byte(token))
	switch {
	case !d.hasToken:
		data.Error = "No admin token is configured on this server (http.admin_token), so nobody can sign in."
	case token == "":
		data.Error = "Enter the admin token."
	case subtle.ConstantTimeCompare(sum[:], d.tokenSum[:]) != 1:
		data.Error = "That admin token is wrong. Use the http.admin_token of the config file, or the token printed at first start."
	}
	if data.Error != "" {
		d.log.Warn("dashboard sign-in refused", "remote", r.RemoteAddr)
		d.renderSignin(w, http.StatusUnauthorized, data)
		return
	}
	id, sess := d.sessions.create()
	http.SetCookie(w, &http.Cookie{
		Name:     CookieName,
		Value:    id,
		Path:     "/",
		Expires:  sess.expires,
		MaxAge:   int(time.Until(sess.expires).Seconds()),
		HttpOnly: true,
		Secure:   overTLS(r),
		SameSite: http.SameSiteStrictMode,
	})
	d.log.Info("dashboard sign-in", "remote", r.RemoteAddr)
	http.Redirect(w, r, data.Next, http.StatusSeeOther)
}

func (d *Dashboard) signout(w http.ResponseWriter, r *http.Request) {
	if err := sameOrigin(r); err != "" {
		http.Error(w, err, http.StatusForbidden)
		return
	}
	sess, err := d.sessions.lookup(r)
	if err == nil {
		err = checkCSRF(sess, r.Header.Get(CSRFHeader))
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	d.sessions.end(r)
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: overTLS(r), SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

// sessionInfo is the body of GET /session: what the pages need to know
// about their session and the server.
type sessionInfo struct {
	CSRFToken string    `json:"csrf_token"`
	ExpiresAt time.Time `json:"expires_at"`
	Timezone  string    `json:"timezone"`
	Version   string    `json:"version"`
}

func (d *Dashboard) session(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	sess, err := d.sessions.lookup(r)
	if err != nil {
		w.WriteHeader(http.StatusUnauthorized)
		json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
		return
	}
	json.NewEncoder(w).Encode(sessionInfo{CSRFToken: sess.csrf, ExpiresAt: sess.expires.UTC(), Timezone: d.zone, Version: d.version})
}

// asset serves an embedded file. Each has an ETag of its content, so a
// browser revalidates with a cheap 304 instead of fetching it again.
func (d *Dashboard) asset(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/assets/")
	tag, ok := d.etags[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("ETag", tag)
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeFileFS(w, r, d.assets, name)
}

// assetTags hashes every embedded file but the shell (served as a page).
func assetTags(assets fs.FS) map[string]string {
	tags := map[string]string{}
	fs.WalkDir(assets, ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || p == "index.html" {
			return err
		}
		b, err := fs.ReadFile(assets, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		tags[p] = `"` + hex.EncodeToString(sum[:8]) + `"`
		return nil
	})
	return tags
}

// localPath returns p if it is a path on this server, "/" otherwise, so
// that the sign-in's next cannot send a browser to another site.
func localPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n") {
		return "/"
	}
	u, err := url.Parse(p)
	if err != nil || u.Host != "" || u.Scheme != "" {
		return "/"
	}
	if clean := path.Clean(u.Path); clean != u.Path && clean+"/" != u.Path {
		return "/"
	}
	return p
}

// sameOrigin refuses a form posted from another site (a browser says where
// a request comes from in Origin and Sec-Fetch-Site); it returns why, or "".
func sameOrigin(r *http.Request) string {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return "Refused: this form was posted from another site."
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return ""
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host != r.Host {
		return "Refused: this form was posted from another site (" + origin + ")."
	}
	return ""
}

// overTLS reports whether the browser reached us over HTTPS, directly or
// through a proxy that says so; the cookie is then marked Secure.
func overTLS(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}
