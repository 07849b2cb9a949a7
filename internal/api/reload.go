package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/switchhook/switchhook/internal/api/apitypes"
)

// Reloader re-reads the config file and applies what can change without a
// restart (SIGHUP does the same).
type Reloader func(ctx context.Context) (*apitypes.ReloadResult, error)

// InvalidConfig is a Reloader's error for a file that does not check;
// nothing was changed. Key names the config key at fault, when known.
type InvalidConfig struct {
	Key string
	Err error
}

func (e *InvalidConfig) Error() string { return e.Err.Error() }
func (e *InvalidConfig) Unwrap() error { return e.Err }

// reload serves POST /v1/config/reload.
func (a *API) reload(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	if a.reloader == nil {
		return errorf(http.StatusNotFound, "", "this process has no config file to reload")
	}
	res, err := a.reloader(r.Context())
	var bad *InvalidConfig
	switch {
	case errors.As(err, &bad):
		return errorf(http.StatusUnprocessableEntity, bad.Key, "%v; nothing was changed", bad.Err)
	case err != nil:
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}
