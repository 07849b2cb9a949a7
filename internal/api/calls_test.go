package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/api"
	"github.com/switchhook/switchhook/internal/api/apitypes"
	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/store"
)

func TestTestEvent(t *testing.T) {
	e := newEnv(t)
	ep := e.create(`{"url": "` + receiverURL + `", "payload": "extended"}`)
	other := e.create(`{"url": "` + receiverURL + `other"}`)
	for _, kind := range events.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			var res apitypes.TestEventResult
			e.do("POST", "/v1/endpoints/"+ep.ID+"/test", `{"event": "`+string(kind)+`"}`).want(t, http.StatusAccepted, &res)
			if !strings.HasPrefix(res.EventID, "evt_") || res.CallUUID == "" {
				t.Fatalf("result %+v", res)
			}
			var evs []apitypes.Event
			eventually(t, "the test event to be stored", func() bool {
				evs = nil
				e.do("GET", "/v1/events?call_uuid="+res.CallUUID, "").want(t, http.StatusOK, &evs)
				return len(evs) == 1
			})
			ev := evs[0]
			if ev.Event != kind || ev.EventID != res.EventID || ev.CallerIDNumber != "1001" || ev.DestinationNumber != "1002" ||
				ev.CallSessionUUID != res.CallUUID || ev.Sequence != 1 {
				t.Errorf("event %+v", ev)
			}
			switch kind {
			case events.CallInput:
				if ev.Digit != "1" || ev.DigitDuration == nil || *ev.DigitDuration != 250 || ev.Party != events.Caller {
					t.Errorf("CALL_INPUT fields: %+v", ev)
				}
			case events.CallRouted:
				if ev.RoutedTo == nil || ev.RoutedTo.Target != "1002" {
					t.Errorf("routed_to: %+v", ev.RoutedTo)
				}
			case events.CallHangup:
				if ev.HangupCause != events.CauseNormalClearing || ev.SIPCode != 200 {
					t.Errorf("hangup fields: %+v", ev)
				}
			}
			// It goes to this endpoint only, and opens no call.
			var ds []apitypes.Delivery
			e.do("GET", "/v1/deliveries?call_uuid="+res.CallUUID, "").want(t, http.StatusOK, &ds)
			if len(ds) != 1 || ds[0].EndpointID != ep.ID || ds[0].EventID != res.EventID || ds[0].Status != "pending" {
				t.Errorf("deliveries %+v", ds)
			}
			var calls []apitypes.Call
			e.do("GET", "/v1/calls", "").want(t, http.StatusOK, &calls)
			if len(calls) != 0 {
				t.Errorf("a test event opened a call: %+v", calls)
			}
			// Its call can be looked at all the same.
			var d apitypes.CallDetail
			e.do("GET", "/v1/calls/"+res.CallUUID, "").want(t, http.StatusOK, &d)
			if d.Call != nil || len(d.Events) != 1 || len(d.Endpoints) != 1 || d.Endpoints[0].EndpointID != ep.ID {
				t.Errorf("call detail %+v", d)
			}
		})
	}
	var ds []apitypes.Delivery
	e.do("GET", "/v1/deliveries?endpoint_id="+other.ID, "").want(t, http.StatusOK, &ds)
	if len(ds) != 0 {
		t.Errorf("the other endpoint got %d deliveries", len(ds))
	}
}

func TestTestEventDefaultsAndRefusals(t *testing.T) {
	e := newEnv(t)
	ep := e.create(`{"url": "` + receiverURL + `", "events": ["CALL_HANGUP"]}`)
	var res apitypes.TestEventResult
	e.do("POST", "/v1/endpoints/"+ep.ID+"/test", "").want(t, http.StatusAccepted, &res)
	var evs []apitypes.Event
	eventually(t, "the test event", func() bool {
		evs = nil
		e.do("GET", "/v1/events?call_uuid="+res.CallUUID, "").want(t, http.StatusOK, &evs)
		return len(evs) == 1
	})
	if evs[0].Event != events.CallHangup {
		t.Errorf("default kind %s, want the endpoint's first, CALL_HANGUP", evs[0].Event)
	}
	path := "/v1/endpoints/" + ep.ID + "/test"
	e.do("POST", path, `{"event": "CALL_DIAL"}`).wantError(t, http.StatusBadRequest, "event", "CALL_DIAL")
	e.do("POST", path, `{"kind": "CALL_ROUTED"}`).wantError(t, http.StatusBadRequest, "kind", "unknown field")
	e.do("POST", "/v1/endpoints/ep_nope/test", "").wantError(t, http.StatusNotFound, "id", "ep_nope")
	e.do("PATCH", "/v1/endpoints/"+ep.ID, `{"disabled": true}`).want(t, http.StatusOK, nil)
	e.do("POST", path, "").wantError(t, http.StatusConflict, "id", "disabled")

	noSink := newEnv(t, func(o *api.Options) { o.Sink = nil })
	ep = noSink.create(`{"url": "` + receiverURL + `"}`)
	noSink.do("POST", "/v1/endpoints/"+ep.ID+"/test", "").wantError(t, http.StatusServiceUnavailable, "", "not available")
}

func TestReplay(t *testing.T) {
	e := newEnv(t)
	start := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	first := e.call("1001", "1002", start)
	e.call("1003", "1004", start.Add(10*time.Minute))
	// Created after the calls, so it has no deliveries of them yet.
	ep := e.create(`{"url": "` + receiverURL + `", "events": ["CALL_ROUTED", "CALL_HANGUP"]}`)
	path := "/v1/endpoints/" + ep.ID + "/replay"
	var res apitypes.ReplayResult
	e.do("POST", path, `{"since": "`+start.Format(time.RFC3339)+`"}`).want(t, http.StatusAccepted, &res)
	if res.Deliveries != 4 {
		t.Errorf("replayed %d deliveries, want 4 (routed and hangup of two calls)", res.Deliveries)
	}
	if n := e.engine.Wakes.Load(); n == 0 {
		t.Errorf("the engine was not woken")
	}
	// A narrower window and kind.
	until := start.Add(5 * time.Minute).Format(time.RFC3339)
	e.do("POST", path, `{"since": "`+start.Format(time.RFC3339)+`", "until": "`+until+`", "events": ["CALL_HANGUP"]}`).
		want(t, http.StatusAccepted, &res)
	if res.Deliveries != 1 {
		t.Errorf("replayed %d deliveries, want 1", res.Deliveries)
	}
	var ds []apitypes.Delivery
	e.do("GET", "/v1/deliveries?endpoint_id="+ep.ID+"&call_uuid="+first, "").want(t, http.StatusOK, &ds)
	if len(ds) != 3 {
		t.Errorf("deliveries of the first call: %d, want 3", len(ds))
	}

	since := `"since": "` + start.Format(time.RFC3339) + `"`
	for _, c := range []struct{ body, field, text string }{
		{`{}`, "since", "required"},
		{`{"since": "yesterday"}`, "since", "yesterday"},
		{`{` + since + `, "until": "2026-13-01T00:00:00Z"}`, "until", "2026-13-01"},
		{`{` + since + `, "until": "` + start.Add(-time.Hour).Format(time.RFC3339) + `"}`, "until", "not after"},
		{`{` + since + `, "events": ["CALL_ROUTED", "HANGUP"]}`, "events[1]", "HANGUP"},
		{`{` + since + `, "from": "x"}`, "from", "unknown field"},
		{``, "", "empty"},
	} {
		e.do("POST", path, c.body).wantError(t, http.StatusBadRequest, c.field, c.text)
	}
	e.do("POST", "/v1/endpoints/ep_gone/replay", `{`+since+`}`).wantError(t, http.StatusNotFound, "id", "ep_gone")
}

func TestEventsAndCalls(t *testing.T) {
	e := newEnv(t, func(o *api.Options) { o.Location = time.FixedZone("UTC+2", 2*3600) })
	ep := e.create(`{"url": "` + receiverURL + `"}`)
	start := time.Date(2026, 1, 27, 10, 0, 0, 0, time.UTC)
	a := e.call("1001", "1002", start)
	b := e.call("1003", "1001", start.Add(time.Hour))

	var evs []apitypes.Event
	e.do("GET", "/v1/events", "").want(t, http.StatusOK, &evs)
	if len(evs) != 10 {
		t.Fatalf("%d events, want 10", len(evs))
	}
	if evs[0].Event != events.CallRouted || evs[0].CallUUID != a || evs[0].Timestamp != "2026-01-27 12:00:00" ||
		evs[0].OccurredAt != "2026-01-27T10:00:00.000Z" || evs[0].Sequence != 1 || evs[0].EventID == "" {
		t.Errorf("first event %+v", evs[0])
	}
	if h := evs[4]; h.Event != events.CallHangup || h.Duration != 4 || h.Billsec != 2 || h.AnsweredBy != "1002" || h.HangupBy != events.Callee {
		t.Errorf("hangup %+v", h)
	}
	for q, want := range map[string]int{
		"call_uuid=" + b:   5,
		"event=CALL_INPUT": 2,
		"limit=3":          3,
		"since=" + url.QueryEscape(start.Add(30*time.Minute).Format(time.RFC3339)): 5,
		"until=" + url.QueryEscape(start.Add(2*time.Second).Format(time.RFC3339)):  2,
	} {
		evs = nil
		e.do("GET", "/v1/events?"+q, "").want(t, http.StatusOK, &evs)
		if len(evs) != want {
			t.Errorf("events?%s: %d, want %d", q, len(evs), want)
		}
	}

	var calls []apitypes.Call
	e.do("GET", "/v1/calls", "").want(t, http.StatusOK, &calls)
	if len(calls) != 2 || calls[0].CallUUID != b || calls[1].CallUUID != a {
		t.Fatalf("calls, newest first: %+v", calls)
	}
	c := calls[1]
	if c.CallerIDNumber != "1001" || c.DestinationNumber != "1002" || !c.StartedAt.Equal(start) || c.AnsweredAt == nil ||
		c.EndedAt == nil || c.AnsweredBy != "1002" || c.HangupCause != events.CauseNormalClearing || c.LastSequence != 5 || c.Node != "test" {
		t.Errorf("call %+v", c)
	}
	for q, want := range map[string]int{"number=1001": 2, "number=1002": 1, "number=9": 0, "limit=1": 1, "event=CALL_HOLD": 0,
		"since=" + url.QueryEscape(start.Add(time.Minute).Format(time.RFC3339)): 1} {
		calls = nil
		e.do("GET", "/v1/calls?"+q, "").want(t, http.StatusOK, &calls)
		if len(calls) != want {
			t.Errorf("calls?%s: %d, want %d", q, len(calls), want)
		}
	}

	// Attempts of the first delivery of each call's chain.
	if n := e.attempt(store.Failed, 500, "HTTP 500"); n != 2 {
		t.Fatalf("claimed %d, want the two chain heads", n)
	}
	var d apitypes.CallDetail
	e.do("GET", "/v1/calls/"+a, "").want(t, http.StatusOK, &d)
	if d.Call == nil || d.Call.CallUUID != a || len(d.Events) != 5 || len(d.Endpoints) != 1 {
		t.Fatalf("detail %+v", d)
	}
	dels := d.Endpoints[0].Deliveries
	if d.Endpoints[0].EndpointID != ep.ID || len(dels) != 5 {
		t.Fatalf("deliveries %+v", d.Endpoints)
	}
	if dels[0].Event != events.CallRouted || dels[0].Status != "failed" || len(dels[0].Attempts) != 1 ||
		dels[0].Attempts[0].StatusCode != 500 || dels[0].Attempts[0].LatencyMS != 1.5 || dels[1].Status != "pending" ||
		dels[1].Attempts == nil || len(dels[1].Attempts) != 0 {
		t.Errorf("deliveries oldest first with attempts: %+v", dels[:2])
	}
	e.do("GET", "/v1/calls/"+newUUID(), "").wantError(t, http.StatusNotFound, "call_uuid", "not found")
}

func TestQueryValidation(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct{ path, field, text string }{
		{"/v1/events?limit=0", "limit", "1 to 1000"},
		{"/v1/events?limit=1001", "limit", "1 to 1000"},
		{"/v1/calls?limit=ten", "limit", "ten"},
		{"/v1/events?event=CALL_DIAL", "event", "CALL_DIAL"},
		{"/v1/calls?event=call_routed", "event", "call_routed"},
		{"/v1/events?since=yesterday", "since", "RFC 3339"},
		{"/v1/calls?until=2026-01-27", "until", "RFC 3339"},
		{"/v1/calls?since=2026-01-27T10:00:00Z&until=2026-01-27T09:00:00Z", "until", "not after"},
		{"/v1/events?callid=x", "callid", "unknown query parameter"},
		{"/v1/deliveries?endpoint=ep_x", "endpoint", "endpoint_id"},
		{"/v1/deliveries?status=done", "status", "done"},
		{"/v1/deliveries?limit=1&limit=2", "limit", "2 times"},
		{"/v1/endpoints?all=1", "all", "unknown query parameter"},
		{"/v1/sources?x=1", "x", "unknown query parameter"},
		{"/v1/events?%zz", "", "query string"},
		{"/v1/endpoints/ep_x?fields=url", "fields", "takes none"},
		{"/v1/calls/c?events=1", "events", "takes none"},
		{"/v1/deliveries/1?attempts=0", "attempts", "takes none"},
		{"/v1/openapi.json?v=2", "v", "takes none"},
	} {
		t.Run(c.path, func(t *testing.T) {
			e.do("GET", c.path, "").wantError(t, http.StatusBadRequest, c.field, c.text)
		})
	}
}

func TestDeliveries(t *testing.T) {
	e := newEnv(t)
	ep := e.create(`{"url": "` + receiverURL + `"}`)
	other := e.create(`{"url": "` + receiverURL + `other", "events": ["CALL_HANGUP"]}`)
	id := e.call("1001", "1002", time.Now().Add(-time.Minute))
	e.attempt(store.Failed, 0, "dial tcp: connection refused")

	var ds []apitypes.Delivery
	e.do("GET", "/v1/deliveries", "").want(t, http.StatusOK, &ds)
	if len(ds) != 6 {
		t.Fatalf("%d deliveries, want 6", len(ds))
	}
	if ds[0].ID < ds[len(ds)-1].ID {
		t.Errorf("not newest first")
	}
	for q, want := range map[string]int{
		"endpoint_id=" + ep.ID: 5, "endpoint_id=" + other.ID: 1, "status=failed": 2, "status=pending": 4,
		"status=succeeded": 0, "call_uuid=" + id: 6, "limit=2": 2, "event_id=" + ds[len(ds)-1].EventID: 1,
	} {
		var got []apitypes.Delivery
		e.do("GET", "/v1/deliveries?"+q, "").want(t, http.StatusOK, &got)
		if len(got) != want {
			t.Errorf("deliveries?%s: %d, want %d", q, len(got), want)
		}
		for _, d := range got {
			if d.Attempts != nil {
				t.Errorf("a list shows attempts")
			}
		}
	}
	var failed []apitypes.Delivery
	e.do("GET", "/v1/deliveries?status=failed&endpoint_id="+ep.ID, "").want(t, http.StatusOK, &failed)
	if len(failed) != 1 {
		t.Fatalf("failed: %+v", failed)
	}
	path := fmt.Sprintf("/v1/deliveries/%d", failed[0].ID)
	var d apitypes.Delivery
	e.do("GET", path, "").want(t, http.StatusOK, &d)
	if d.Status != "failed" || d.AttemptCount != 1 || len(d.Attempts) != 1 || d.Attempts[0].Error != "dial tcp: connection refused" ||
		d.Attempts[0].StatusCode != 0 || d.CompletedAt == nil || d.NextAttemptAt != nil || d.LastError == "" {
		t.Errorf("delivery %+v", d)
	}
	wakes := e.engine.Wakes.Load()
	var retried apitypes.Delivery
	e.do("POST", path+"/retry", "").want(t, http.StatusAccepted, &retried)
	if retried.Status != "pending" || retried.AttemptCount != 1 || retried.NextAttemptAt == nil || len(retried.Attempts) != 1 {
		t.Errorf("retried %+v", retried)
	}
	if e.engine.Wakes.Load() == wakes {
		t.Errorf("retry did not wake the engine")
	}
	stored, err := e.st.GetDelivery(context.Background(), failed[0].ID)
	if err != nil || stored.Status != store.Pending {
		t.Errorf("stored %+v, %v", stored, err)
	}
	e.do("GET", "/v1/deliveries/abc", "").wantError(t, http.StatusBadRequest, "id", "abc")
	e.do("GET", "/v1/deliveries/0", "").wantError(t, http.StatusBadRequest, "id", "0")
	e.do("GET", "/v1/deliveries/999999", "").wantError(t, http.StatusNotFound, "id", "999999")
	e.do("POST", "/v1/deliveries/999999/retry", "").wantError(t, http.StatusNotFound, "id", "999999")
}

func TestLiveLists(t *testing.T) {
	type reg struct {
		User    string `json:"user"`
		Contact string `json:"contact"`
	}
	e := newEnv(t, func(o *api.Options) {
		o.Registrations = func() any { return []reg{{User: "1001", Contact: "sip:1001@127.0.0.1:5070"}} }
		o.Channels = func() any { return []reg(nil) }
	})
	var regs []reg
	e.do("GET", "/v1/registrations", "").want(t, http.StatusOK, &regs)
	if len(regs) != 1 || regs[0].User != "1001" {
		t.Errorf("registrations %+v", regs)
	}
	for _, path := range []string{"/v1/channels", "/v1/sources"} {
		if a := e.do("GET", path, ""); a.status != http.StatusOK || strings.TrimSpace(string(a.body)) != "[]" {
			t.Errorf("%s: %d %s, want []", path, a.status, a.body)
		}
	}
}

func TestEmptyListsAreArrays(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/v1/endpoints", "/v1/events", "/v1/calls", "/v1/deliveries", "/v1/registrations"} {
		if a := e.do("GET", path, ""); a.status != http.StatusOK || strings.TrimSpace(string(a.body)) != "[]" {
			t.Errorf("%s: %d %s, want []", path, a.status, a.body)
		}
	}
}

func TestHealthzAndMetrics(t *testing.T) {
	e := newEnv(t)
	var h apitypes.Health
	e.doAuth("GET", "/healthz", "", "").want(t, http.StatusOK, &h)
	if h.Status != "ok" || h.Version != "v-test" {
		t.Errorf("health %+v", h)
	}
	a := e.doAuth("GET", "/metrics", "", "")
	if a.status != http.StatusOK || !strings.Contains(string(a.body), "switchhook_queue_depth") {
		t.Errorf("metrics: %d %.200s", a.status, a.body)
	}
	e.st.Close()
	h = apitypes.Health{}
	e.doAuth("GET", "/healthz", "", "").want(t, http.StatusServiceUnavailable, &h)
	if h.Status != "unavailable" || h.Error == "" || h.Version != "v-test" {
		t.Errorf("health of a closed store %+v", h)
	}
	degraded := newEnv(t, func(o *api.Options) { o.SourcesDown = func() []string { return []string{"freeswitch/fs1"} } })
	h = apitypes.Health{}
	degraded.doAuth("GET", "/healthz", "", "").want(t, http.StatusOK, &h)
	if h.Status != "degraded" || len(h.SourcesDown) != 1 || h.SourcesDown[0] != "freeswitch/fs1" || !strings.Contains(h.Error, "freeswitch/fs1") {
		t.Errorf("health with a source down %+v", h)
	}
	noMetrics := newEnv(t, func(o *api.Options) { o.Metrics = nil })
	noMetrics.doAuth("GET", "/metrics", "", "").wantError(t, http.StatusNotFound, "", "not enabled")
}

func TestAuth(t *testing.T) {
	e := newEnv(t)
	for _, auth := range []string{"", "Bearer", "Bearer wrong", "bearer " + token + "x", "Token " + token} {
		a := e.doAuth("GET", "/v1/endpoints", "", auth)
		a.wantError(t, http.StatusUnauthorized, "Authorization", "token")
		if a.header.Get("WWW-Authenticate") == "" {
			t.Errorf("%q: no WWW-Authenticate", auth)
		}
	}
	e.doAuth("GET", "/v1/endpoints", "", "bearer "+token).want(t, http.StatusOK, nil)
	// Without the token, even a route that does not exist says 401, not
	// which routes exist.
	e.doAuth("GET", "/v1/nothing", "", "").wantError(t, http.StatusUnauthorized, "Authorization", "token")
}

func TestUnknownRoutes(t *testing.T) {
	e := newEnv(t)
	e.do("GET", "/v1/nothing", "").wantError(t, http.StatusNotFound, "", "no route")
	e.do("GET", "/elsewhere", "").wantError(t, http.StatusNotFound, "", "no route")
	a := e.do("PUT", "/v1/endpoints/ep_x", "{}")
	a.wantError(t, http.StatusMethodNotAllowed, "", "PUT")
	if got := a.header.Get("Allow"); got != "GET, PATCH, DELETE" {
		t.Errorf("Allow %q", got)
	}
}

func TestOpenAPIServed(t *testing.T) {
	e := newEnv(t)
	a := e.do("GET", "/v1/openapi.json", "")
	var doc map[string]any
	if a.status != http.StatusOK || a.header.Get("Content-Type") != "application/json" || json.Unmarshal(a.body, &doc) != nil || doc["openapi"] != "3.1.0" {
		t.Errorf("openapi.json: %d %s %.100s", a.status, a.header.Get("Content-Type"), a.body)
	}
}
