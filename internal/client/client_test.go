package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/api"
	"github.com/switchhook/switchhook/internal/api/apitest"
	"github.com/switchhook/switchhook/internal/api/apitypes"
	"github.com/switchhook/switchhook/internal/client"
	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/pbx"
	"github.com/switchhook/switchhook/internal/store"
)

const hook = "http://127.0.0.1:9/hook"

func TestEndpointMethods(t *testing.T) {
	s := apitest.New(t)
	c := client.New(s.URL+"/", apitest.Token)
	ctx := context.Background()

	ep, err := c.CreateEndpoint(ctx, apitypes.NewEndpoint{URL: hook, Events: []events.Kind{events.CallAnswer}, Headers: map[string]string{"X-A": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	if ep.ID == "" || ep.Secret == "" || ep.Headers["X-A"] != "1" {
		t.Fatalf("created %+v", ep)
	}
	eps, err := c.ListEndpoints(ctx)
	if err != nil || len(eps) != 1 || eps[0].ID != ep.ID {
		t.Fatalf("list %+v, %v", eps, err)
	}
	got, err := c.GetEndpoint(ctx, ep.ID)
	if err != nil || got.Secret != ep.Secret {
		t.Fatalf("get %+v, %v", got, err)
	}
	desc, all := "CRM", []events.Kind{}
	got, err = c.UpdateEndpoint(ctx, ep.ID, apitypes.EndpointPatch{Description: &desc, Events: &all})
	if err != nil || got.Description != "CRM" || len(got.Events) != 0 || got.Headers["X-A"] != "1" {
		t.Fatalf("update %+v, %v", got, err)
	}
	rot, err := c.RotateSecret(ctx, ep.ID, apitypes.RotateSecret{Grace: "1h"})
	if err != nil || rot.Secret == ep.Secret || len(rot.PreviousSecrets) != 1 {
		t.Fatalf("rotate %+v, %v", rot, err)
	}
	res, err := c.TestEndpoint(ctx, ep.ID, events.CallInput)
	if err != nil || res.EventID == "" {
		t.Fatalf("test %+v, %v", res, err)
	}
	apitest.Eventually(t, "the test event", func() bool {
		evs, err := c.ListEvents(ctx, client.EventFilter{CallUUID: res.CallUUID})
		return err == nil && len(evs) == 1 && evs[0].Digit == "1"
	})
	if err := c.DeleteEndpoint(ctx, ep.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetEndpoint(ctx, ep.ID); !client.IsNotFound(err) {
		t.Fatalf("after delete: %v", err)
	}
}

func TestCallAndDeliveryMethods(t *testing.T) {
	s := apitest.New(t)
	c := client.New(s.URL, apitest.Token)
	ctx := context.Background()
	ep, err := c.CreateEndpoint(ctx, apitypes.NewEndpoint{URL: hook})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-time.Hour).Truncate(time.Second)
	id := s.Call("1001", "1002", start)
	s.Attempt(store.Failed, 503, "HTTP 503")

	evs, err := c.ListEvents(ctx, client.EventFilter{CallUUID: id, Event: events.CallHangup, Since: start, Until: time.Now(), Limit: 10})
	if err != nil || len(evs) != 1 || evs[0].HangupCause != events.CauseNormalClearing {
		t.Fatalf("events %+v, %v", evs, err)
	}
	calls, err := c.ListCalls(ctx, client.CallFilter{Number: "1002", Event: events.CallInput, Since: start.Add(-time.Second), Limit: 5})
	if err != nil || len(calls) != 1 || calls[0].CallUUID != id {
		t.Fatalf("calls %+v, %v", calls, err)
	}
	d, err := c.GetCall(ctx, id)
	if err != nil || d.Call.CallUUID != id || len(d.Events) != 5 || len(d.Endpoints) != 1 || len(d.Endpoints[0].Deliveries) != 5 {
		t.Fatalf("call %+v, %v", d, err)
	}
	ds, err := c.ListDeliveries(ctx, client.DeliveryFilter{EndpointID: ep.ID, Status: "failed", CallUUID: id, Limit: 10})
	if err != nil || len(ds) != 1 {
		t.Fatalf("deliveries %+v, %v", ds, err)
	}
	del, err := c.GetDelivery(ctx, ds[0].ID)
	if err != nil || len(del.Attempts) != 1 || del.Attempts[0].StatusCode != 503 {
		t.Fatalf("delivery %+v, %v", del, err)
	}
	if d, err := c.ListDeliveries(ctx, client.DeliveryFilter{EventID: del.EventID}); err != nil || len(d) != 1 {
		t.Fatalf("by event id %+v, %v", d, err)
	}
	del, err = c.RetryDelivery(ctx, del.ID)
	if err != nil || del.Status != "pending" {
		t.Fatalf("retry %+v, %v", del, err)
	}
	n, err := c.Replay(ctx, ep.ID, apitypes.Replay{Since: start, Events: []events.Kind{events.CallRouted}})
	if err != nil || n != 1 {
		t.Fatalf("replay %d, %v", n, err)
	}
}

func TestOperationsAndLists(t *testing.T) {
	s := apitest.New(t, func(o *api.Options) {
		o.Sources = func() any {
			return []pbx.Status{{Name: "pbx", Kind: "pbx", Listen: []string{"udp://127.0.0.1:5060"}, Connected: true, Since: time.Now().UTC()}}
		}
	})
	c := client.New(s.URL, apitest.Token)
	ctx := context.Background()
	h, err := c.Health(ctx)
	if err != nil || h.Status != "ok" || h.Version != "v-test" {
		t.Fatalf("health %+v, %v", h, err)
	}
	m, err := c.Metrics(ctx)
	if err != nil || !strings.Contains(m, "switchhook_queue_depth") {
		t.Fatalf("metrics %.100q, %v", m, err)
	}
	doc, err := c.OpenAPI(ctx)
	var v struct{ OpenAPI string }
	if err != nil || json.Unmarshal(doc, &v) != nil || v.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %.100s, %v", doc, err)
	}
	srcs, err := c.Sources(ctx)
	if err != nil || len(srcs) != 1 || !strings.Contains(string(srcs[0]), `"pbx"`) {
		t.Fatalf("sources %s, %v", srcs, err)
	}
	for name, f := range map[string]func(context.Context) ([]json.RawMessage, error){"registrations": c.Registrations, "channels": c.Channels} {
		l, err := f(ctx)
		if err != nil || l == nil || len(l) != 0 {
			t.Errorf("%s: %s, %v", name, l, err)
		}
	}
}

func TestErrorsCarryTheAPIsMessage(t *testing.T) {
	s := apitest.New(t)
	ctx := context.Background()
	c := client.New(s.URL, apitest.Token)
	_, err := c.CreateEndpoint(ctx, apitypes.NewEndpoint{URL: "ftp://x/"})
	var e *client.Error
	if !errors.As(err, &e) || e.StatusCode != http.StatusBadRequest || e.Field != "url" || !strings.Contains(e.Message, "ftp://x/") {
		t.Fatalf("error %#v", err)
	}
	if !strings.Contains(err.Error(), "ftp://x/") || !strings.Contains(err.Error(), "400") {
		t.Errorf("Error() = %q", err)
	}
	_, err = c.GetDelivery(ctx, 12345)
	if !client.IsNotFound(err) || !strings.Contains(err.Error(), "12345") {
		t.Errorf("missing delivery: %v", err)
	}
	_, err = client.New(s.URL, "wrong").ListEndpoints(ctx)
	if !errors.As(err, &e) || e.StatusCode != http.StatusUnauthorized || !strings.Contains(e.Message, "invalid admin token") {
		t.Errorf("wrong token: %v", err)
	}
	// An id with a slash stays one path segment.
	_, err = c.GetCall(ctx, "x/../../v1/endpoints")
	if !client.IsNotFound(err) || !strings.Contains(err.Error(), "x/../../v1/endpoints") {
		t.Errorf("escaped path: %v", err)
	}
	// A proxy in the way, not switchhook: its status and body say so.
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream down", http.StatusBadGateway)
	}))
	defer proxy.Close()
	_, err = client.New(proxy.URL, "t").ListCalls(ctx, client.CallFilter{})
	if !errors.As(err, &e) || e.StatusCode != http.StatusBadGateway || !strings.Contains(e.Message, "upstream down") {
		t.Errorf("proxy: %v", err)
	}
}

func TestBadServer(t *testing.T) {
	ctx := context.Background()
	for _, server := range []string{"127.0.0.1:8080", "ftp://x", "http://"} {
		if _, err := client.New(server, "t").ListEndpoints(ctx); err == nil || !strings.Contains(err.Error(), "not an http") {
			t.Errorf("%q: %v", server, err)
		}
	}
	// A port nobody listens on: the dial error comes through.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = client.New("http://"+addr, "t").ListEndpoints(ctx)
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" {
		t.Errorf("unreachable: %v", err)
	}
}

func TestHealthAndOverview(t *testing.T) {
	s := apitest.New(t)
	c := client.New(s.URL, apitest.Token)
	ctx := context.Background()
	ep, err := c.CreateEndpoint(ctx, apitypes.NewEndpoint{URL: hook})
	if err != nil {
		t.Fatal(err)
	}
	h, err := c.EndpointHealth(ctx, ep.ID)
	if err != nil || h.EndpointID != ep.ID || h.Attempts != 0 || len(h.Minutes) == 0 {
		t.Fatalf("health %+v, %v", h, err)
	}
	if _, err := c.EndpointHealth(ctx, "ep_nope"); !client.IsNotFound(err) {
		t.Errorf("health of a missing endpoint: %v", err)
	}
	o, err := c.Overview(ctx)
	if err != nil || len(o.Endpoints) != 1 || o.Endpoints[0].EndpointID != ep.ID {
		t.Fatalf("overview %+v, %v", o, err)
	}
}

func TestStream(t *testing.T) {
	s := apitest.New(t, apitest.Streaming)
	c := client.New(s.URL, apitest.Token)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan apitypes.StreamEvent, 10)
	done := make(chan error, 1)
	go func() {
		done <- c.Stream(ctx, func(e apitypes.StreamEvent) error {
			got <- e
			return nil
		})
	}()
	ep, err := c.CreateEndpoint(ctx, apitypes.NewEndpoint{URL: hook})
	if err != nil {
		t.Fatal(err)
	}
	// The stream may open after the first test event: send until one shows.
	var ev apitypes.StreamEvent
	for i := 0; i < 50 && ev.EndpointID == ""; i++ {
		if _, err := c.TestEndpoint(ctx, ep.ID, events.CallRinging); err != nil {
			t.Fatal(err)
		}
		select {
		case ev = <-got:
		case <-time.After(100 * time.Millisecond):
		}
	}
	var body apitypes.Event
	if err := json.Unmarshal(ev.Event, &body); err != nil || ev.Source != "test" || ev.EndpointID != ep.ID || body.Event != events.CallRinging {
		t.Fatalf("stream event %+v (%v)", ev, err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Stream after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Stream did not return after cancel")
	}

	// An error of fn ends the stream and comes back.
	stop := errors.New("enough")
	go func() { done <- c.Stream(context.Background(), func(apitypes.StreamEvent) error { return stop }) }()
	for range 50 {
		if _, err := c.TestEndpoint(context.Background(), ep.ID, events.CallRinging); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if !errors.Is(err, stop) {
				t.Errorf("Stream returned %v, want fn's error", err)
			}
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatal("Stream did not return fn's error")
}

func TestForwardMethods(t *testing.T) {
	s := apitest.New(t, apitest.Forwarding)
	c := client.New(s.URL, apitest.Token)
	ctx := context.Background()
	f, err := c.SetForward(ctx, "1001", apitypes.ForwardInput{UserBusy: "1002", NoAnswer: "9004930", NoAnswerAfter: "15s"})
	if err != nil || f.Source != "api" || f.NoAnswerAfter != "15s" {
		t.Fatalf("set %+v, %v", f, err)
	}
	if f, err = c.GetForward(ctx, "1001"); err != nil || f.UserBusy != "1002" {
		t.Fatalf("get %+v, %v", f, err)
	}
	list, err := c.ListForwards(ctx)
	if err != nil || len(list) != 3 || list[0].Source != "api" {
		t.Fatalf("list %+v, %v", list, err)
	}
	if f, err = c.ResetForward(ctx, "1001"); err != nil || f.Source != "config" || f.UserBusy != "" {
		t.Fatalf("reset %+v, %v", f, err)
	}
	_, err = c.SetForward(ctx, "1001", apitypes.ForwardInput{UserBusy: "555"})
	var ae *client.Error
	if !errors.As(err, &ae) || ae.StatusCode != 400 || ae.Field != "user_busy" {
		t.Fatalf("refused: %v", err)
	}
	if _, err := c.GetForward(ctx, "4242"); !client.IsNotFound(err) {
		t.Fatalf("unknown extension: %v", err)
	}
}

func TestQueueMethods(t *testing.T) {
	s := apitest.New(t, apitest.Queues(t))
	ctx := t.Context()
	c := client.New(s.URL, apitest.Token)
	qs, err := c.ListQueues(ctx)
	if err != nil || len(qs) != 2 || qs[0].Agents[0].State != apitypes.AgentIdle {
		t.Fatalf("list %+v, %v", qs, err)
	}
	q, err := c.PauseAgent(ctx, "600", "1001", true)
	if err != nil || !q.Agents[0].Paused {
		t.Fatalf("pause %+v, %v", q, err)
	}
	if q, err = c.GetQueue(ctx, "600"); err != nil || q.Agents[0].State != apitypes.AgentPaused {
		t.Fatalf("get %+v, %v", q, err)
	}
	if q, err = c.PauseAgent(ctx, "600", "1001", false); err != nil || q.Agents[0].Paused {
		t.Fatalf("unpause %+v, %v", q, err)
	}
	if _, err := c.GetQueue(ctx, "602"); !client.IsNotFound(err) {
		t.Errorf("get of no queue: %v", err)
	}
}

// A stream the server ends says so, with the reason the server gave.
func TestStreamEnds(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "retry: 2000\n\ndata: {\"source\":\"pbx\",\"event\":{\"event\":\"CALL_ROUTED\"}}\n\n: closing: the server is shutting down\n\n")
	}))
	defer srv.Close()
	n := 0
	err := client.New(srv.URL, "t").Stream(context.Background(), func(apitypes.StreamEvent) error { n++; return nil })
	if !errors.Is(err, client.ErrStreamEnded) || !strings.Contains(err.Error(), "the server is shutting down") || n != 1 {
		t.Errorf("Stream = %v after %d events", err, n)
	}
}
