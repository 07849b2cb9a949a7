package api_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/api"
	"github.com/switchhook/switchhook/internal/api/apitest"
	"github.com/switchhook/switchhook/internal/api/apitypes"
	"github.com/switchhook/switchhook/internal/delivery"
	"github.com/switchhook/switchhook/internal/ingest"
	"github.com/switchhook/switchhook/internal/signature"
	"github.com/switchhook/switchhook/internal/store/sqlite"
)

// received is one webhook request as a receiver saw it.
type received struct {
	header http.Header
	body   []byte
}

// A test event takes the real path: the recorder stores it, the delivery
// engine signs and sends it, and the receiver verifies it with the secret
// the API gave; after a rotation, with either secret.
func TestTestEventIsDeliveredSigned(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "switchhook.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	got := make(chan received, 10)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- received{header: r.Header.Clone(), body: b}
	}))
	engine := delivery.New(st, delivery.Options{Node: "test", Logger: discard(), PollInterval: 50 * time.Millisecond})
	rec := ingest.New(st, ingest.Options{Node: "test", Wake: engine.Wake, Logger: discard()})
	engineDone, recDone := make(chan error, 1), make(chan error, 1)
	go func() { engineDone <- engine.Run(ctx) }()
	go func() { recDone <- rec.Run(ctx) }()
	e := &env{t: t, st: st, rec: rec, engine: &apitest.Engine{}}
	e.srv = httptest.NewServer(api.New(api.Options{Store: st, Sink: rec, Engine: engine, AdminToken: token, Logger: discard()}).Handler())
	t.Cleanup(func() {
		e.srv.Close()
		cancel()
		<-recDone
		<-engineDone
		receiver.Close()
		st.Close()
	})

	ep := e.create(`{"url": "` + receiver.URL + `/hook", "payload": "extended"}`)
	wait := func() received {
		t.Helper()
		select {
		case r := <-got:
			return r
		case <-time.After(10 * time.Second):
			t.Fatal("no webhook arrived")
		}
		return received{}
	}
	verify := func(r received, secret string) error {
		key, err := signature.Key(secret)
		if err != nil {
			t.Fatal(err)
		}
		return signature.Verify(key, r.header.Get(signature.HeaderID), r.header.Get(signature.HeaderTimestamp),
			r.header.Get(signature.HeaderSignature), r.body, time.Now(), 5*time.Minute)
	}

	var res apitypes.TestEventResult
	e.do("POST", "/v1/endpoints/"+ep.ID+"/test", `{"event": "CALL_ANSWER"}`).want(t, http.StatusAccepted, &res)
	r := wait()
	if r.header.Get(signature.HeaderID) != res.EventID {
		t.Errorf("webhook-id %q, want %q", r.header.Get(signature.HeaderID), res.EventID)
	}
	if err := verify(r, ep.Secret); err != nil {
		t.Errorf("signature: %v", err)
	}

	// The engine learns of the rotation asynchronously (EndpointsChanged),
	// so a webhook sent right after it may still carry the old signature
	// only; the old secret is valid through its grace, and the new one
	// signs as soon as the engine has reloaded.
	var rotated apitypes.Endpoint
	e.do("POST", "/v1/endpoints/"+ep.ID+"/rotate-secret", `{"grace": "1h"}`).want(t, http.StatusOK, &rotated)
	sent := 1
	for ; sent < 10; sent++ {
		e.do("POST", "/v1/endpoints/"+ep.ID+"/test", `{"event": "CALL_HANGUP"}`).want(t, http.StatusAccepted, &res)
		r = wait()
		if err := verify(r, ep.Secret); err != nil {
			t.Fatalf("signature with the old secret during its grace: %v", err)
		}
		if verify(r, rotated.Secret) == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if sent == 10 {
		t.Fatal("the new secret never signed")
	}
	eventually(t, "the deliveries to be recorded as succeeded", func() bool {
		var ds []apitypes.Delivery
		e.do("GET", "/v1/deliveries?status=succeeded&endpoint_id="+ep.ID, "").want(t, http.StatusOK, &ds)
		return len(ds) == sent+1
	})
}
