package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/switchhook/switchhook/internal/api/apitypes"
)

// FuzzEndpointJSON sends arbitrary bodies to endpoint create and patch: the
// API must never panic, and must answer 2xx or 4xx with a JSON body, an
// error message on 4xx, and a valid endpoint on 2xx.
func FuzzEndpointJSON(f *testing.F) {
	for _, seed := range []string{
		`{"url": "http://127.0.0.1:9/hook"}`,
		`{"url": "https://x.example/h", "events": ["CALL_INPUT"], "payload": "extended", "headers": {"X-A": "b"}, "timeout": "5s", "retry_schedule": ["0s", "1m"], "max_in_flight": 3}`,
		`{"url": "http://x/", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}`,
		`{"description": "\u0000", "disabled": true}`,
		`{"headers": {"webhook-id": "x"}}`,
		`{"retry_schedule": ["-1s"]}`,
		`{"url": 7}`,
		`{"events": [null]}`,
		`null`,
		`[]`,
		`{`,
		``,
	} {
		f.Add([]byte(seed))
	}
	e := newEnv(f)
	h := e.srv.Config.Handler
	ep := e.create(`{"url": "http://127.0.0.1:9/hook"}`)
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, req := range []*http.Request{
			httptest.NewRequest("POST", "/v1/endpoints", strings.NewReader(string(body))),
			httptest.NewRequest("PATCH", "/v1/endpoints/"+ep.ID, strings.NewReader(string(body))),
		} {
			req.Header.Set("Authorization", "Bearer "+token)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			switch {
			case w.Code >= 200 && w.Code < 300:
				var got apitypes.Endpoint
				if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || got.ID == "" ||
					!strings.HasPrefix(got.URL, "http://") && !strings.HasPrefix(got.URL, "https://") {
					t.Fatalf("%s %q: %d %s (%v)", req.Method, body, w.Code, w.Body, err)
				}
			case w.Code >= 400 && w.Code < 500:
				var got apitypes.Error
				if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || got.Error == "" {
					t.Fatalf("%s %q: %d %s (%v)", req.Method, body, w.Code, w.Body, err)
				}
			default:
				t.Fatalf("%s %q: status %d: %s", req.Method, body, w.Code, w.Body)
			}
		}
	})
}
