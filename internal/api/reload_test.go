package api_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/api"
	"github.com/switchhook/switchhook/internal/api/apitypes"
)

func TestReload(t *testing.T) {
	t.Parallel()
	var fail error
	e := newEnv(t, func(o *api.Options) {
		o.Reload = func(context.Context) (*apitypes.ReloadResult, error) {
			if fail != nil {
				return nil, fail
			}
			return &apitypes.ReloadResult{Applied: []string{"extensions"}, RestartRequired: []string{}, NotLive: []string{"store"}}, nil
		}
	})
	var res apitypes.ReloadResult
	e.do("POST", "/v1/config/reload", "").want(t, http.StatusOK, &res)
	if len(res.Applied) != 1 || res.Applied[0] != "extensions" {
		t.Errorf("reload = %+v", res)
	}
	fail = &api.InvalidConfig{Key: "extensions[1].password", Err: errors.New("extensions[1].password: must be at least 8 characters (line 9)")}
	e.do("POST", "/v1/config/reload", "").wantError(t, http.StatusUnprocessableEntity, "extensions[1].password", "(line 9); nothing was changed")

	none := newEnv(t)
	none.do("POST", "/v1/config/reload", "").wantError(t, http.StatusNotFound, "", "no config file")
}

// GET /v1/extensions answers what the PBX reports, as the OpenAPI document
// describes it (the test server checks).
func TestExtensions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *api.Options) {
		o.Extensions = func(context.Context) ([]apitypes.Extension, error) {
			return []apitypes.Extension{
				{Number: "1001", Name: "Alice", State: "idle", Contacts: []apitypes.ExtensionContact{{Contact: "sip:1001@127.0.0.1:5062", Source: "127.0.0.1:5062", Transport: "UDP", UserAgent: "baresip", ExpiresAt: time.Now().UTC()}},
					Forward: apitypes.Forward{Number: "1001", NoAnswer: "1002", NoAnswerAfter: "20s", Source: "config"}},
				{Number: "1002", Name: "Bob", State: "unregistered", Contacts: []apitypes.ExtensionContact{}, Forward: apitypes.Forward{Number: "1002", Source: "config"}},
			}, nil
		}
	})
	var got []apitypes.Extension
	e.do("GET", "/v1/extensions", "").want(t, http.StatusOK, &got)
	if len(got) != 2 || got[0].Contacts[0].UserAgent != "baresip" || got[1].State != "unregistered" {
		t.Errorf("extensions = %+v", got)
	}
	none := newEnv(t)
	if a := none.do("GET", "/v1/extensions", ""); a.status != http.StatusOK || strings.TrimSpace(string(a.body)) != "[]" {
		t.Errorf("without a PBX: %d %s", a.status, a.body)
	}
}
