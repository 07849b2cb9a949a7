package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/api"
	"github.com/switchhook/switchhook/internal/api/apitypes"
	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/signature"
	"github.com/switchhook/switchhook/internal/store"
)

// create makes an endpoint from a JSON body and returns it.
func (e *env) create(body string) apitypes.Endpoint {
	e.t.Helper()
	var ep apitypes.Endpoint
	e.do("POST", "/v1/endpoints", body).want(e.t, http.StatusCreated, &ep)
	return ep
}

func TestCreateEndpointDefaults(t *testing.T) {
	e := newEnv(t)
	a := e.do("POST", "/v1/endpoints", `{"url": "`+receiverURL+`"}`)
	var ep apitypes.Endpoint
	a.want(t, http.StatusCreated, &ep)
	if !strings.HasPrefix(ep.ID, "ep_") || len(ep.ID) < 20 {
		t.Errorf("id %q", ep.ID)
	}
	if got := a.header.Get("Location"); got != "/v1/endpoints/"+ep.ID {
		t.Errorf("Location %q", got)
	}
	if got := a.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("an answer with a secret has Cache-Control %q, want no-store", got)
	}
	if _, err := signature.Key(ep.Secret); err != nil || !strings.HasPrefix(ep.Secret, "whsec_") {
		t.Errorf("secret %q: %v", ep.Secret, err)
	}
	if ep.Payload != events.Standard || len(ep.Events) != 0 || ep.Timeout != store.DefaultTimeout.String() || ep.MaxInFlight != store.DefaultMaxInFlight ||
		len(ep.RetrySchedule) != len(store.DefaultRetrySchedule()) || ep.RetrySchedule[0] != "0s" || ep.Disabled || ep.Circuit.State != "closed" {
		t.Errorf("defaults not applied: %+v", ep)
	}
	if ep.Headers == nil || ep.Events == nil {
		t.Errorf("headers and events must be {} and [], not null: %s", a.body)
	}
	if n := e.engine.Changes.Load(); n != 1 {
		t.Errorf("EndpointsChanged called %d times, want 1", n)
	}
}

func TestCreateEndpointAllFields(t *testing.T) {
	e := newEnv(t, func(o *api.Options) {
		o.Defaults = api.EndpointDefaults{Timeout: 3 * time.Second, RetrySchedule: []time.Duration{0, time.Minute}, MaxInFlight: 2}
	})
	secret := signature.NewSecret()
	ep := e.create(`{"url": "https://crm.example.com/hooks?x=1", "events": ["CALL_ANSWER", "CALL_HANGUP", "CALL_ANSWER"],
		"payload": "extended", "secret": "` + secret + `", "headers": {"X-Api-Key": "k1"}, "description": "CRM",
		"disabled": true, "timeout": "5s", "retry_schedule": ["0s", "1s", "1m"], "max_in_flight": 8}`)
	if ep.URL != "https://crm.example.com/hooks?x=1" || ep.Secret != secret || ep.Payload != events.Extended ||
		fmt.Sprint(ep.Events) != "[CALL_ANSWER CALL_HANGUP]" || ep.Headers["X-Api-Key"] != "k1" || ep.Description != "CRM" ||
		!ep.Disabled || ep.Timeout != "5s" || strings.Join(ep.RetrySchedule, " ") != "0s 1s 1m0s" || ep.MaxInFlight != 8 {
		t.Errorf("fields not kept: %+v", ep)
	}
	// The configured defaults apply where the body is silent.
	ep = e.create(`{"url": "` + receiverURL + `"}`)
	if ep.Timeout != "3s" || strings.Join(ep.RetrySchedule, " ") != "0s 1m0s" || ep.MaxInFlight != 2 {
		t.Errorf("configured defaults not applied: %+v", ep)
	}
}

func TestEndpointSecretShownOnlyWhereSaid(t *testing.T) {
	e := newEnv(t)
	ep := e.create(`{"url": "` + receiverURL + `"}`)
	var list []apitypes.Endpoint
	e.do("GET", "/v1/endpoints", "").want(t, http.StatusOK, &list)
	if len(list) != 1 || list[0].ID != ep.ID || list[0].Secret != "" {
		t.Fatalf("list: %+v", list)
	}
	var got apitypes.Endpoint
	e.do("GET", "/v1/endpoints/"+ep.ID, "").want(t, http.StatusOK, &got)
	if got.Secret != ep.Secret {
		t.Errorf("get: secret %q, want %q", got.Secret, ep.Secret)
	}
	var patched apitypes.Endpoint
	e.do("PATCH", "/v1/endpoints/"+ep.ID, `{"description": "x"}`).want(t, http.StatusOK, &patched)
	if patched.Secret != "" {
		t.Errorf("patch answer shows the secret")
	}
}

func TestPatchChangesOnlyGivenFields(t *testing.T) {
	e := newEnv(t)
	ep := e.create(`{"url": "` + receiverURL + `", "events": ["CALL_ROUTED"], "headers": {"A": "1"}, "description": "before", "timeout": "7s"}`)
	var got apitypes.Endpoint
	e.do("PATCH", "/v1/endpoints/"+ep.ID, `{"description": "after", "payload": "extended"}`).want(t, http.StatusOK, &got)
	if got.Description != "after" || got.Payload != events.Extended {
		t.Errorf("given fields not changed: %+v", got)
	}
	if got.URL != ep.URL || fmt.Sprint(got.Events) != "[CALL_ROUTED]" || got.Headers["A"] != "1" || got.Timeout != "7s" ||
		got.MaxInFlight != ep.MaxInFlight || strings.Join(got.RetrySchedule, ",") != strings.Join(ep.RetrySchedule, ",") {
		t.Errorf("other fields changed: %+v", got)
	}
	if !got.UpdatedAt.After(ep.UpdatedAt) && !got.UpdatedAt.Equal(ep.UpdatedAt) {
		t.Errorf("updated_at went back")
	}
	// An empty events list subscribes to all again; disabled toggles.
	got = apitypes.Endpoint{}
	e.do("PATCH", "/v1/endpoints/"+ep.ID, `{"events": [], "disabled": true, "headers": {}}`).want(t, http.StatusOK, &got)
	if len(got.Events) != 0 || !got.Disabled || len(got.Headers) != 0 {
		t.Errorf("events/disabled/headers: %+v", got)
	}
	// The change is stored, not only answered.
	got = apitypes.Endpoint{}
	e.do("GET", "/v1/endpoints/"+ep.ID, "").want(t, http.StatusOK, &got)
	if got.Description != "after" || !got.Disabled || got.Secret != ep.Secret {
		t.Errorf("stored: %+v", got)
	}
	if n := e.engine.Changes.Load(); n != 3 {
		t.Errorf("EndpointsChanged called %d times, want 3", n)
	}
}

func TestReEnablingClearsTheReasonAndTheCircuit(t *testing.T) {
	e := newEnv(t)
	ep := e.create(`{"url": "` + receiverURL + `"}`)
	ctx := context.Background()
	if err := e.st.DisableEndpoint(ctx, ep.ID, "410 Gone"); err != nil {
		t.Fatal(err)
	}
	var got apitypes.Endpoint
	e.do("GET", "/v1/endpoints/"+ep.ID, "").want(t, http.StatusOK, &got)
	if !got.Disabled || got.DisabledReason != "410 Gone" {
		t.Fatalf("disabled by switchhook: %+v", got)
	}
	e.do("PATCH", "/v1/endpoints/"+ep.ID, `{"disabled": false}`).want(t, http.StatusOK, &got)
	if got.Disabled || got.DisabledReason != "" || got.Circuit.State != "closed" {
		t.Errorf("re-enabled: %+v", got)
	}
}

func TestDeleteEndpoint(t *testing.T) {
	e := newEnv(t)
	ep := e.create(`{"url": "` + receiverURL + `"}`)
	a := e.do("DELETE", "/v1/endpoints/"+ep.ID, "")
	if a.status != http.StatusNoContent || len(a.body) != 0 {
		t.Fatalf("delete: %d %s", a.status, a.body)
	}
	e.do("GET", "/v1/endpoints/"+ep.ID, "").wantError(t, http.StatusNotFound, "id", ep.ID)
	e.do("DELETE", "/v1/endpoints/"+ep.ID, "").wantError(t, http.StatusNotFound, "id", ep.ID)
	e.do("PATCH", "/v1/endpoints/"+ep.ID, `{}`).wantError(t, http.StatusNotFound, "id", ep.ID)
	if n := e.engine.Changes.Load(); n != 2 {
		t.Errorf("EndpointsChanged called %d times, want 2", n)
	}
}

func TestConfigEndpointsAreChangedInTheConfig(t *testing.T) {
	e := newEnv(t)
	ep := e.create(`{"url": "` + receiverURL + `"}`)
	ctx := context.Background()
	stored, err := e.st.GetEndpoint(ctx, ep.ID)
	if err != nil {
		t.Fatal(err)
	}
	stored.FromConfig = true
	if err := e.st.UpdateEndpoint(ctx, stored); err != nil {
		t.Fatal(err)
	}
	e.do("PATCH", "/v1/endpoints/"+ep.ID, `{"description": "x"}`).wantError(t, http.StatusConflict, "id", "config file")
	e.do("DELETE", "/v1/endpoints/"+ep.ID, "").wantError(t, http.StatusConflict, "id", "config file")
	// Rotation and tests are fine: the config does not own the secret.
	e.do("POST", "/v1/endpoints/"+ep.ID+"/rotate-secret", "").want(t, http.StatusOK, nil)
	e.do("POST", "/v1/endpoints/"+ep.ID+"/test", "").want(t, http.StatusAccepted, nil)
}

func TestEndpointValidation(t *testing.T) {
	e := newEnv(t)
	long := strings.Repeat("x", 1001)
	for _, c := range []struct {
		body, field, text string
	}{
		{`{}`, "url", "required"},
		{`{"url": ""}`, "url", "required"},
		{`{"url": "/hook"}`, "url", "absolute"},
		{`{"url": "ftp://example.com/x"}`, "url", "http"},
		{`{"url": "http://"}`, "url", "absolute"},
		{`{"url": "http://a b/"}`, "url", "parse"},
		{`{"url": "http://x/", "events": ["CALL_ROUTED", "CALL_RINGIN"]}`, "events[1]", "CALL_RINGIN"},
		{`{"url": "http://x/", "payload": "full"}`, "payload", "full"},
		{`{"url": "http://x/", "timeout": "500ms"}`, "timeout", "500ms"},
		{`{"url": "http://x/", "timeout": "61s"}`, "timeout", "61s"},
		{`{"url": "http://x/", "timeout": "ten"}`, "timeout", "ten"},
		{`{"url": "http://x/", "headers": {"Webhook-Id": "x"}}`, "headers.Webhook-Id", "cannot be overridden"},
		{`{"url": "http://x/", "headers": {"content-type": "text/plain"}}`, "headers.content-type", "cannot be overridden"},
		{`{"url": "http://x/", "headers": {"Bad Name": "x"}}`, "headers.Bad Name", "field name"},
		{`{"url": "http://x/", "headers": {"X-A": "a\nb"}}`, "headers.X-A", "control"},
		{`{"url": "http://x/", "secret": "abc"}`, "secret", "whsec_"},
		{`{"url": "http://x/", "secret": "whsec_!!!"}`, "secret", "base64"},
		{`{"url": "http://x/", "secret": "whsec_c2hvcnQ="}`, "secret", "5-byte key"},
		{`{"url": "http://x/", "retry_schedule": []}`, "retry_schedule", "0 delays"},
		{`{"url": "http://x/", "retry_schedule": ["0s", "-1s"]}`, "retry_schedule[1]", "-1s"},
		{`{"url": "http://x/", "retry_schedule": ["0s", "200h"]}`, "retry_schedule[1]", "200h"},
		{`{"url": "http://x/", "max_in_flight": -1}`, "max_in_flight", "-1"},
		{`{"url": "http://x/", "max_in_flight": 1000}`, "max_in_flight", "1000"},
		{`{"url": "http://x/", "max_in_flight": "4"}`, "max_in_flight", "integer"},
		{`{"url": "http://x/", "max_in_flight": 1.5}`, "max_in_flight", "integer"},
		{`{"url": "http://x/", "events": "CALL_ROUTED"}`, "events", "array"},
		{`{"url": "http://x/", "description": "` + long + `"}`, "description", "1000"},
		{`{"url": "http://x/", "urll": "x"}`, "urll", "unknown field"},
		{`{"url": "http://x/", "disabled": "yes"}`, "disabled", "true or false"},
		{`{"url": "http://x/"} {}`, "", "more after"},
		{`{"url": "http://x/"`, "", "middle"},
		{`{"url" "http://x/"}`, "", "not valid JSON"},
		{`[]`, "", "want a JSON object"},
		{``, "", "empty"},
	} {
		t.Run(c.body, func(t *testing.T) {
			e.do("POST", "/v1/endpoints", c.body).wantError(t, http.StatusBadRequest, c.field, c.text)
		})
	}
	var list []apitypes.Endpoint
	e.do("GET", "/v1/endpoints", "").want(t, http.StatusOK, &list)
	if len(list) != 0 {
		t.Errorf("a refused endpoint was stored: %+v", list)
	}
	if n := e.engine.Changes.Load(); n != 0 {
		t.Errorf("EndpointsChanged called %d times on refusals", n)
	}
}

func TestPatchValidation(t *testing.T) {
	e := newEnv(t)
	ep := e.create(`{"url": "` + receiverURL + `"}`)
	for _, c := range []struct {
		body, field, text string
	}{
		{`{"url": ""}`, "url", "required"},
		{`{"url": "mailto:x@example.com"}`, "url", "http"},
		{`{"timeout": "0s"}`, "timeout", "0s"},
		{`{"secret": "` + signature.NewSecret() + `"}`, "secret", "rotate-secret"},
		{`{"id": "ep_other"}`, "id", "unknown field"},
		{`{"headers": {"webhook-signature": "v1,x"}}`, "headers.webhook-signature", "cannot be overridden"},
		{`{"events": [7]}`, "events", "string"},
		{``, "", "empty"},
	} {
		t.Run(c.body, func(t *testing.T) {
			e.do("PATCH", "/v1/endpoints/"+ep.ID, c.body).wantError(t, http.StatusBadRequest, c.field, c.text)
		})
	}
	var got apitypes.Endpoint
	e.do("GET", "/v1/endpoints/"+ep.ID, "").want(t, http.StatusOK, &got)
	if got.URL != receiverURL || got.UpdatedAt != ep.UpdatedAt {
		t.Errorf("a refused patch changed the endpoint: %+v", got)
	}
}

func TestBodyTooLarge(t *testing.T) {
	e := newEnv(t)
	body := `{"url": "http://x/", "description": "` + strings.Repeat("x", 1<<20) + `"}`
	e.do("POST", "/v1/endpoints", body).wantError(t, http.StatusRequestEntityTooLarge, "", "larger than")
}

func TestRotateSecret(t *testing.T) {
	e := newEnv(t, func(o *api.Options) { o.SecretGrace = 2 * time.Hour })
	ep := e.create(`{"url": "` + receiverURL + `"}`)
	before := time.Now()
	var got apitypes.Endpoint
	e.do("POST", "/v1/endpoints/"+ep.ID+"/rotate-secret", "").want(t, http.StatusOK, &got)
	if got.Secret == "" || got.Secret == ep.Secret {
		t.Fatalf("secret not replaced: %q", got.Secret)
	}
	if len(got.PreviousSecrets) != 1 || got.PreviousSecrets[0].Secret != ep.Secret {
		t.Fatalf("previous secrets: %+v", got.PreviousSecrets)
	}
	if exp := got.PreviousSecrets[0].ExpiresAt; exp.Before(before.Add(2*time.Hour-time.Second)) || exp.After(time.Now().Add(2*time.Hour)) {
		t.Errorf("old secret expires at %v, want about 2h from now", exp)
	}
	// A second rotation with a given secret and grace keeps both older
	// secrets until their own expiry.
	mine := signature.NewSecret()
	e.do("POST", "/v1/endpoints/"+ep.ID+"/rotate-secret", `{"secret": "`+mine+`", "grace": "1h"}`).want(t, http.StatusOK, &got)
	if got.Secret != mine || len(got.PreviousSecrets) != 2 {
		t.Fatalf("second rotation: %+v", got)
	}
	stored, err := e.st.GetEndpoint(context.Background(), ep.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored.Secrets) != 3 || stored.Secrets[0].Value != mine || !stored.Secrets[0].ExpiresAt.IsZero() {
		t.Errorf("stored secrets: %+v", stored.Secrets)
	}
	// No grace: the old secrets stop at once, but ones still running stay.
	e.do("POST", "/v1/endpoints/"+ep.ID+"/rotate-secret", `{"grace": "0s"}`).want(t, http.StatusOK, &got)
	if len(got.PreviousSecrets) != 2 {
		t.Errorf("after a rotation without grace: %+v", got.PreviousSecrets)
	}
	for _, p := range got.PreviousSecrets {
		if p.Secret == mine {
			t.Errorf("the secret rotated out without grace still signs")
		}
	}
	path := "/v1/endpoints/" + ep.ID + "/rotate-secret"
	e.do("POST", path, `{"grace": "1 hour"}`).wantError(t, http.StatusBadRequest, "grace", "1 hour")
	e.do("POST", path, `{"grace": "-1h"}`).wantError(t, http.StatusBadRequest, "grace", "-1h")
	e.do("POST", path, `{"secret": "nope"}`).wantError(t, http.StatusBadRequest, "secret", "whsec_")
	e.do("POST", path, `{"secret": "`+got.Secret+`"}`).wantError(t, http.StatusBadRequest, "secret", "already")
	e.do("POST", path, `{"graze": "1h"}`).wantError(t, http.StatusBadRequest, "graze", "unknown field")
	e.do("POST", "/v1/endpoints/ep_missing/rotate-secret", "").wantError(t, http.StatusNotFound, "id", "ep_missing")
	if n := e.engine.Changes.Load(); n != 4 {
		t.Errorf("EndpointsChanged called %d times, want 4", n)
	}
}

// A URL with a port outside 1-65535 is refused, and so is a URL an enabled
// endpoint already has, naming it, unless allow_duplicate says otherwise.
func TestEndpointURLRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, port := range []string{"0", "99999", "65536"} {
		e.do("POST", "/v1/endpoints", `{"url": "http://127.0.0.1:`+port+`/hook"}`).wantError(t, http.StatusBadRequest, "url", "port "+port+" is not from 1 to 65535")
	}
	first := e.create(`{"url": "http://127.0.0.1:65535/hook"}`)
	e.do("POST", "/v1/endpoints", `{"url": "http://127.0.0.1:65535/hook"}`).wantError(t, http.StatusConflict, "url", first.ID)
	other := e.create(`{"url": "http://127.0.0.1:1/other"}`)
	e.do("PATCH", "/v1/endpoints/"+other.ID, `{"url": "http://127.0.0.1:65535/hook"}`).wantError(t, http.StatusConflict, "url", first.ID)
	// With two at the URL the refusal names both, oldest first, whatever
	// order their random IDs sort in.
	second := e.create(`{"url": "http://127.0.0.1:65535/hook", "allow_duplicate": true}`)
	both := "endpoints " + first.ID + ", " + second.ID + " already deliver to"
	e.do("POST", "/v1/endpoints", `{"url": "http://127.0.0.1:65535/hook"}`).wantError(t, http.StatusConflict, "url", both)
	e.do("PATCH", "/v1/endpoints/"+other.ID, `{"url": "http://127.0.0.1:65535/hook"}`).wantError(t, http.StatusConflict, "url", both)
	// A disabled endpoint does not count.
	e.do("PATCH", "/v1/endpoints/"+first.ID, `{"disabled": true}`).want(t, http.StatusOK, nil)
	e.do("PATCH", "/v1/endpoints/"+second.ID, `{"disabled": true}`).want(t, http.StatusOK, nil)
	e.do("PATCH", "/v1/endpoints/"+other.ID, `{"url": "http://127.0.0.1:65535/hook"}`).want(t, http.StatusOK, nil)
}
