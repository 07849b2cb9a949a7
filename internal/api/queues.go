package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/switchhook/switchhook/internal/api/apitypes"
	"github.com/switchhook/switchhook/internal/queue"
)

// Queues is the call queues' manager (queue.Manager), as the API uses it.
type Queues interface {
	// Status returns every queue, or the one of number if it is not empty.
	Status(ctx context.Context, number string) ([]apitypes.Queue, error)
	// Pause pauses or unpauses an agent in a queue, stored before it
	// takes effect.
	Pause(ctx context.Context, number, agent string, paused bool) error
}

func (a *API) listQueues(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	qs := []apitypes.Queue{}
	if a.queues != nil {
		var err error
		if qs, err = a.queues.Status(r.Context(), ""); err != nil {
			return queueError(err)
		}
	}
	writeJSON(w, http.StatusOK, qs)
	return nil
}

func (a *API) getQueue(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	return a.writeQueue(w, r)
}

func (a *API) writeQueue(w http.ResponseWriter, r *http.Request) error {
	number := r.PathValue("number")
	if a.queues == nil {
		return notFound("number", "no queue %s: no queues are configured", number)
	}
	qs, err := a.queues.Status(r.Context(), number)
	if err != nil {
		return queueError(err)
	}
	writeJSON(w, http.StatusOK, qs[0])
	return nil
}

// pauseAgent serves .../pause (paused true) and .../unpause and answers
// with the queue as it is then.
func (a *API) pauseAgent(paused bool) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if _, err := query(r); err != nil {
			return err
		}
		number, ext := r.PathValue("number"), r.PathValue("ext")
		if a.queues == nil {
			return notFound("number", "no queue %s: no queues are configured", number)
		}
		if err := a.queues.Pause(r.Context(), number, ext, paused); err != nil {
			return queueError(err)
		}
		a.log.Info("queue agent paused", "queue", number, "agent", ext, "paused", paused)
		return a.writeQueue(w, r)
	}
}

// queueError names the path parameter a queue error is about.
func queueError(err error) error {
	switch {
	case errors.Is(err, queue.ErrUnknownQueue):
		return notFound("number", "%v", err)
	case errors.Is(err, queue.ErrNotAgent):
		return notFound("ext", "%v", err)
	case errors.Is(err, queue.ErrStopped):
		return errorf(http.StatusServiceUnavailable, "", "%v", err)
	}
	return err
}
