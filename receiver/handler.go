package receiver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// MaxBodyBytes is the largest body ParseRequest reads. switchhook's bodies
// are well under a kilobyte.
const MaxBodyBytes = 1 << 20

// ErrTooLarge is returned (wrapped) by ParseRequest for a body over
// MaxBodyBytes.
var ErrTooLarge = errors.New("body too large")

// ParseRequest reads r's body, verifies its signature with secret (see
// Verify; tolerance zero means DefaultTolerance) and parses it. The returned
// event's WebhookID is the request's webhook-id.
func ParseRequest(r *http.Request, secret string, tolerance time.Duration) (*Event, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("receiver: read webhook body: %w", err)
	}
	if len(body) > MaxBodyBytes {
		return nil, fmt.Errorf("receiver: read webhook body: %w (over %d bytes)", ErrTooLarge, MaxBodyBytes)
	}
	if err := Verify(secret, r.Header, body, tolerance); err != nil {
		return nil, err
	}
	e, err := Parse(body)
	if err != nil {
		return nil, err
	}
	e.WebhookID = r.Header.Get(HeaderID)
	return e, nil
}

// Handler is an http.Handler that receives switchhook's webhooks: it verifies
// and parses each request and calls Handle. It answers 204 when Handle
// returns nil, and otherwise a status that tells switchhook what to do:
//
//   - 401 for a missing, stale or invalid signature, 400 for a body that is
//     not a call event, 413 for an oversized one, 405 for a method other than
//     POST (switchhook retries all of these on its schedule, so a receiver
//     deployed with the wrong secret loses nothing once it is fixed);
//   - 500 when Handle returns an error: switchhook tries again later, with
//     the same WebhookID.
//
// The error text goes into the response body, which switchhook keeps with
// the delivery attempt.
type Handler struct {
	// Secret is the endpoint's signing secret, "whsec_…".
	Secret string
	// Tolerance bounds the age of a request's timestamp; zero means
	// DefaultTolerance.
	Tolerance time.Duration
	// Handle processes one verified event. It runs on the request's
	// goroutine, with the request's context.
	Handle func(ctx context.Context, e *Event) error
	// Refused, when set, hears each request answered with an error: its
	// status and why, so that a receiver can say it (a wrong secret shows
	// as 401 with ErrNoSignature).
	Refused func(r *http.Request, status int, err error)
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.refuse(w, r, http.StatusMethodNotAllowed, errors.New("receiver: webhooks are POSTed"))
		return
	}
	e, err := ParseRequest(r, h.Secret, h.Tolerance)
	if err != nil {
		h.refuse(w, r, statusOf(err), err)
		return
	}
	if err := h.Handle(r.Context(), e); err != nil {
		h.refuse(w, r, http.StatusInternalServerError, fmt.Errorf("receiver: handle %s %s: %w", e.Kind, e.WebhookID, err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, status int, err error) {
	if h.Refused != nil {
		h.Refused(r, status, err)
	}
	http.Error(w, err.Error(), status)
}

func statusOf(err error) int {
	switch {
	case errors.Is(err, ErrBadSecret):
		return http.StatusInternalServerError // the receiver is misconfigured, not the request
	case errors.Is(err, ErrMissingHeader), errors.Is(err, ErrBadTimestamp), errors.Is(err, ErrStale), errors.Is(err, ErrNoSignature):
		return http.StatusUnauthorized
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}
