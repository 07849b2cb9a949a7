package api

import (
	"context"
	_ "embed"
	"net/http"
	"reflect"
	"strings"

	"github.com/switchhook/switchhook/internal/api/apitypes"
)

// openAPIDoc describes every route of the API; a test keeps it and the
// route table in step.
//
//go:embed openapi.json
var openAPIDoc []byte

func (a *API) openAPI(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(openAPIDoc)
	return nil
}

// healthz answers 200 while the store answers, 503 otherwise. A call source
// that is not connected to its engine makes the status "degraded", naming
// it: the process is up and the connector keeps reconnecting, but that
// engine's calls are not seen.
func (a *API) healthz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), healthzTimeout)
	defer cancel()
	if _, err := a.store.PendingCount(ctx); err != nil {
		a.log.Warn("health check: store unreachable", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, apitypes.Health{Status: "unavailable", Version: a.version, Error: "store: " + err.Error()})
		return nil
	}
	h := apitypes.Health{Status: "ok", Version: a.version}
	if a.down != nil {
		if down := a.down(); len(down) > 0 {
			h.Status, h.SourcesDown = "degraded", down
			h.Error = "not connected: " + strings.Join(down, ", ")
		}
	}
	writeJSON(w, http.StatusOK, h)
	return nil
}

func (a *API) serveMetrics(w http.ResponseWriter, r *http.Request) error {
	if a.metrics == nil {
		return notFound("", "metrics are not enabled in this process")
	}
	a.metrics.Handler().ServeHTTP(w, r)
	return nil
}

// list serves one of the live lists, [] when there is none.
func (a *API) list(name string) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if _, err := query(r); err != nil {
			return err
		}
		var v any
		if f := a.lists[name]; f != nil {
			v = f()
		}
		if rv := reflect.ValueOf(v); !rv.IsValid() || rv.Kind() == reflect.Slice && rv.IsNil() {
			v = []struct{}{}
		}
		writeJSON(w, http.StatusOK, v)
		return nil
	}
}
