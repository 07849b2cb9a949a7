package api_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/switchhook/switchhook/internal/api"
	"github.com/switchhook/switchhook/internal/api/apitest"
	"github.com/switchhook/switchhook/internal/ingest"
	"github.com/switchhook/switchhook/internal/store"
	"github.com/switchhook/switchhook/internal/store/sqlite"
)

const token = apitest.Token

// receiverURL is where the tests' endpoints point. No engine runs in most
// tests, so nothing is sent there; the ones that deliver start a receiver.
const receiverURL = "http://127.0.0.1:9/hook"

// env is an apitest.Server and the test using it.
type env struct {
	t      testing.TB
	api    *apitest.Server
	st     *sqlite.Store
	rec    *ingest.Recorder
	engine *apitest.Engine
	srv    *httptest.Server
}

func newEnv(t testing.TB, edit ...func(*api.Options)) *env {
	t.Helper()
	s := apitest.New(t, edit...)
	return &env{t: t, api: s, st: s.Store, rec: s.Recorder, engine: s.Engine, srv: s.Server}
}

// answer is an HTTP answer of the API.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// do sends body (none when empty) with the admin token.
func (e *env) do(method, path, body string) answer {
	e.t.Helper()
	return e.doAuth(method, path, body, "Bearer "+token)
}

func (e *env) doAuth(method, path, body, auth string) answer {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

// want fails the test unless the answer has status, and decodes it into v.
func (a answer) want(t testing.TB, status int, v any) {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d; body: %s", a.status, status, a.body)
	}
	if v != nil {
		dec := json.NewDecoder(strings.NewReader(string(a.body)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			t.Fatalf("decode %s: %v", a.body, err)
		}
	}
}

// wantError checks a 4xx names field (and mentions text, if given).
func (a answer) wantError(t testing.TB, status int, field, text string) {
	t.Helper()
	var body struct {
		Error string `json:"error"`
		Field string `json:"field"`
	}
	a.want(t, status, &body)
	if body.Field != field {
		t.Errorf("field %q, want %q (error %q)", body.Field, field, body.Error)
	}
	if body.Error == "" || !strings.Contains(body.Error, text) {
		t.Errorf("error %q does not mention %q", body.Error, text)
	}
}

func eventually(t testing.TB, what string, cond func() bool) { apitest.Eventually(t, what, cond) }

func (e *env) call(caller, callee string, at time.Time) string { return e.api.Call(caller, callee, at) }

func (e *env) attempt(status store.DeliveryStatus, code int, msg string) int {
	return e.api.Attempt(status, code, msg)
}

func newUUID() string { return uuid.NewString() }

func discard() *slog.Logger { return apitest.Discard() }
