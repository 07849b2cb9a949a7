package api

import (
	"context"
	"net/http"

	"github.com/switchhook/switchhook/internal/api/apitypes"
	"github.com/switchhook/switchhook/internal/forwarding"
)

// Extensions lists the built-in PBX's extensions with their phones, state
// and forwarding.
type Extensions func(ctx context.Context) ([]apitypes.Extension, error)

// ForwardView is a forwarding setting as the API shows it.
func ForwardView(s forwarding.Setting) apitypes.Forward { return forwardView(s) }

// listExtensions serves GET /v1/extensions.
func (a *API) listExtensions(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	out := []apitypes.Extension{}
	if a.extensions != nil {
		l, err := a.extensions(r.Context())
		if err != nil {
			return err
		}
		out = append(out, l...)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
