package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/api"
	"github.com/switchhook/switchhook/internal/api/apitest"
	"github.com/switchhook/switchhook/internal/api/apitypes"
)

// streamEnv is an API with the event stream fed by the real recorder; the
// *api.API is kept so that the test can close its streams.
type streamEnv struct {
	*env
	api *api.API
}

func newStreamEnv(t *testing.T) *streamEnv {
	var opts api.Options
	e := newEnv(t, func(o *api.Options) { opts = *o })
	opts.Watch = e.rec.Watch
	a := api.New(opts)
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	e.srv = srv
	return &streamEnv{env: e, api: a}
}

// openStream GETs /v1/stream and returns its lines, read on a goroutine.
func (e *streamEnv) openStream(ctx context.Context) (*http.Response, <-chan string) {
	e.t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/v1/stream", nil)
	req.Header.Set("Authorization", "Bearer "+apitest.Token)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return resp, lines
}

func TestStreamSendsCommittedEvents(t *testing.T) {
	e := newStreamEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp, lines := e.openStream(ctx)
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("status %d, Content-Type %q", resp.StatusCode, ct)
	}
	if l := <-lines; l != "retry: 2000" {
		t.Fatalf("first line %q, want the retry delay", l)
	}
	ep := e.create(`{"url": "` + receiverURL + `"}`)
	var sent apitypes.TestEventResult
	e.do("POST", "/v1/endpoints/"+ep.ID+"/test", `{"event": "CALL_HOLD"}`).want(t, http.StatusAccepted, &sent)

	var id string
	var got apitypes.StreamEvent
	timeout := time.After(10 * time.Second)
	for got.Event == nil {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("stream ended")
			}
			if v, ok := strings.CutPrefix(l, "id: "); ok {
				id = v
			}
			if v, ok := strings.CutPrefix(l, "data: "); ok {
				if err := json.Unmarshal([]byte(v), &got); err != nil {
					t.Fatalf("data %s: %v", v, err)
				}
			}
		case <-timeout:
			t.Fatal("no event on the stream")
		}
	}
	var ev apitypes.Event
	if err := json.Unmarshal(got.Event, &ev); err != nil {
		t.Fatal(err)
	}
	if id != sent.EventID || ev.EventID != sent.EventID || ev.Event != "CALL_HOLD" || ev.CallUUID != sent.CallUUID || ev.Sequence != 1 {
		t.Errorf("id %q, event %+v; want %+v", id, ev, sent)
	}
	if got.Source != "test" || got.EndpointID != ep.ID {
		t.Errorf("source %q, endpoint %q; want test, %s", got.Source, got.EndpointID, ep.ID)
	}
}

func TestCloseStreamsEndsThem(t *testing.T) {
	e := newStreamEnv(t)
	resp, lines := e.openStream(context.Background())
	defer resp.Body.Close()
	<-lines
	e.api.CloseStreams()
	for {
		select {
		case _, ok := <-lines:
			if !ok {
				return
			}
		case <-time.After(10 * time.Second):
			t.Fatal("stream still open after CloseStreams")
		}
	}
}

func TestStreamNeedsARecorderAndTheToken(t *testing.T) {
	e := newEnv(t)
	e.do("GET", "/v1/stream", "").wantError(t, http.StatusNotFound, "", "not available")
	e.doAuth("GET", "/v1/stream", "", "").wantError(t, http.StatusUnauthorized, "Authorization", "Bearer")
	e.do("GET", "/v1/stream?since=x", "").wantError(t, http.StatusBadRequest, "since", "unknown query parameter")
}
