package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/api"
	"github.com/switchhook/switchhook/internal/connector"
	"github.com/switchhook/switchhook/internal/gateway"
	"github.com/switchhook/switchhook/internal/pbx"
)

// GET /v1/sources answers with the statuses the PBX, its gateways and the
// connectors report, and the OpenAPI document describes each exactly (the
// test server checks every answer against it).
func TestSources(t *testing.T) {
	t.Parallel()
	since := time.Date(2026, 12, 6, 21, 0, 0, 0, time.UTC)
	exp := since.Add(time.Hour)
	e := newEnv(t, func(o *api.Options) {
		o.Sources = func() any {
			return []any{
				pbx.Status{Name: "pbx", Kind: "pbx", Listen: []string{"udp://127.0.0.1:5060", "tcp://127.0.0.1:5060"}, Connected: true, Since: since},
				gateway.Status{Name: "carrier", Kind: "gateway", Address: "203.0.113.10:5060", Transport: "udp", Register: true, Registered: true, Since: since, ExpiresAt: &exp},
				connector.Status{Name: "fs1", Kind: "freeswitch", Address: "127.0.0.1:8021", Since: since, LastError: "dial: connection refused", Reconnects: 2},
				connector.Status{Name: "ast1", Kind: "asterisk", Address: "http://127.0.0.1:8088", Connected: true, Since: since},
			}
		}
	})
	var got []map[string]any
	e.do("GET", "/v1/sources", "").want(t, http.StatusOK, &got)
	if len(got) != 4 || got[0]["kind"] != "pbx" || len(got[0]["listen"].([]any)) != 2 || got[3]["kind"] != "asterisk" {
		t.Errorf("sources = %v", got)
	}
}
