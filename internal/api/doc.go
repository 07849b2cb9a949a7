// Package api is switchhook's management HTTP API: endpoints (create, change,
// rotate their secret, send a test event, replay), the recorded events and
// calls, deliveries and their attempts, the live state of the PBX and its
// connectors, the last hour's delivery health and a live event stream, all
// as JSON under /v1 behind the admin token (or a dashboard session); /healthz
// and /metrics beside them for probes and Prometheus; and the OpenAPI 3.1
// document that describes every route, at /v1/openapi.json. The resources on
// the wire are defined in package apitypes.
package api
