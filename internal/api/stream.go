package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/switchhook/switchhook/internal/api/apitypes"
	"github.com/switchhook/switchhook/internal/events"
)

const (
	// streamBuffer is how many events may wait for a slow viewer before it
	// misses some; the store, not the stream, is the record.
	streamBuffer = 256
	// streamPing keeps idle streams open through proxies that close quiet
	// connections.
	streamPing = 15 * time.Second
	// streamRetry is how long a browser waits before it reconnects.
	streamRetry = 2 * time.Second
)

// stream serves committed events as Server-Sent Events until the client
// leaves or CloseStreams is called.
func (a *API) stream(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	if a.watch == nil {
		return notFound("", "the event stream is not available in this process")
	}
	ch, stop := a.watch(streamBuffer)
	defer stop()
	rc := http.NewResponseController(w)
	// A server write timeout would cut the stream; it has none of its own.
	rc.SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // tell nginx not to hold the stream back
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "retry: %d\n\n", streamRetry.Milliseconds())
	if err := rc.Flush(); err != nil {
		return nil // the client left
	}
	ping := time.NewTicker(streamPing)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-a.closing:
			// A comment before the end tells a reader why it ends.
			fmt.Fprint(w, ": closing: the server is shutting down\n\n")
			rc.Flush()
			return nil
		case <-ping.C:
			fmt.Fprint(w, ": ping\n\n")
		case e, ok := <-ch:
			if !ok {
				fmt.Fprint(w, ": closing: the server stopped recording events\n\n")
				rc.Flush()
				return nil
			}
			data, err := a.streamData(&e)
			if err != nil {
				a.log.Error("event stream: render event", "event_id", e.ID, "err", err)
				continue
			}
			fmt.Fprintf(w, "id: %s\ndata: %s\n\n", e.ID, data)
		}
		if err := rc.Flush(); err != nil {
			return nil
		}
	}
}

func (a *API) streamData(e *events.Event) ([]byte, error) {
	payload, err := e.Payload(events.Extended, a.loc)
	if err != nil {
		return nil, fmt.Errorf("render event %s: %w", e.ID, err)
	}
	return json.Marshal(apitypes.StreamEvent{Source: e.Source, EndpointID: e.Endpoint, Event: payload})
}

// CloseStreams ends the open event streams, and any opened after it at
// once: call it when the server shuts down (http.Server.RegisterOnShutdown),
// which otherwise waits for them.
func (a *API) CloseStreams() {
	a.closeOnce.Do(func() { close(a.closing) })
}
