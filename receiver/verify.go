package receiver

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/switchhook/switchhook/internal/signature"
)

// DefaultTolerance is how far a webhook-timestamp may be from the receiver's
// clock, either way, when no tolerance is given. It bounds how long a captured
// request can be replayed, and allows for clock skew.
const DefaultTolerance = 5 * time.Minute

// Header names of the Standard Webhooks specification.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Errors of Verify, wrapped with details; test them with errors.Is.
var (
	// ErrMissingHeader: one of the three webhook-* headers is absent.
	ErrMissingHeader = signature.ErrMissingHeader
	// ErrBadTimestamp: webhook-timestamp is not Unix seconds.
	ErrBadTimestamp = signature.ErrBadTimestamp
	// ErrStale: webhook-timestamp is further from now than the tolerance.
	ErrStale = signature.ErrStale
	// ErrNoSignature: no signature in webhook-signature matches the secret.
	ErrNoSignature = signature.ErrNoSignature
	// ErrBadSecret: the secret is not "whsec_" followed by base64.
	ErrBadSecret = errors.New("bad secret")
)

// Verify checks that header carries a valid signature of body made with
// secret ("whsec_…", as shown when the endpoint was created) and a
// webhook-timestamp within tolerance of now (DefaultTolerance when tolerance
// is zero or negative). While the sender's secret is being rotated a request
// carries several signatures; one valid signature is enough.
func Verify(secret string, header http.Header, body []byte, tolerance time.Duration) error {
	return verifyAt(secret, header, body, tolerance, time.Now())
}

func verifyAt(secret string, header http.Header, body []byte, tolerance time.Duration, now time.Time) error {
	key, err := signature.Key(secret)
	if err != nil {
		return fmt.Errorf("receiver: %w: %w", ErrBadSecret, err)
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	err = signature.Verify(key, header.Get(HeaderID), header.Get(HeaderTimestamp), header.Get(HeaderSignature), body, now, tolerance)
	if err != nil {
		return fmt.Errorf("receiver: verify webhook: %w", err)
	}
	return nil
}

// Sign returns the three webhook-* headers switchhook would send for body,
// signed with secret at ts. It lets a receiver's own tests build requests
// that Verify accepts.
func Sign(secret, id string, ts time.Time, body []byte) (http.Header, error) {
	key, err := signature.Key(secret)
	if err != nil {
		return nil, fmt.Errorf("receiver: %w: %w", ErrBadSecret, err)
	}
	h := http.Header{}
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, fmt.Sprint(ts.Unix()))
	h.Set(HeaderSignature, signature.Sign(key, id, ts, body))
	return h, nil
}
