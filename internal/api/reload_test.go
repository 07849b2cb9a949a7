package api_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

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
