package signature

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Header names of the Standard Webhooks specification.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Prefix starts every secret.
const Prefix = "whsec_"

// Errors returned by Verify, wrapped with details.
var (
	ErrNoSignature   = errors.New("no valid signature")
	ErrBadTimestamp  = errors.New("bad webhook-timestamp")
	ErrStale         = errors.New("webhook-timestamp outside tolerance")
	ErrMissingHeader = errors.New("missing header")
)

// NewSecret returns a fresh secret: "whsec_" and 24 random bytes in base64.
func NewSecret() string {
	b := make([]byte, 24)
	rand.Read(b) // never fails: crypto/rand panics rather than return an error
	return Prefix + base64.StdEncoding.EncodeToString(b)
}

// Key decodes the HMAC key of a secret. A secret without the "whsec_" prefix
// is taken as base64 all the same, as other Standard Webhooks libraries do.
func Key(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, Prefix))
	if err != nil {
		return nil, fmt.Errorf("secret is not %s followed by base64: %w", Prefix, err)
	}
	if len(key) == 0 {
		return nil, fmt.Errorf("secret is empty")
	}
	return key, nil
}

// Sign returns one "v1,<base64>" signature of body, made with key.
func Sign(key []byte, id string, ts time.Time, body []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(mac(key, id, ts.Unix(), body))
}

// Header returns the webhook-signature value for body: one signature per key,
// space-separated.
func Header(keys [][]byte, id string, ts time.Time, body []byte) string {
	var sb strings.Builder
	for i, k := range keys {
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(Sign(k, id, ts, body))
	}
	return sb.String()
}

func mac(key []byte, id string, unix int64, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(id))
	h.Write([]byte{'.'})
	h.Write(strconv.AppendInt(nil, unix, 10))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Verify checks that signatureHeader holds at least one valid v1 signature of
// body by key, and that timestamp is within tolerance of now.
func Verify(key []byte, id, timestamp, signatureHeader string, body []byte, now time.Time, tolerance time.Duration) error {
	if id == "" {
		return fmt.Errorf("%w: %s", ErrMissingHeader, HeaderID)
	}
	if timestamp == "" {
		return fmt.Errorf("%w: %s", ErrMissingHeader, HeaderTimestamp)
	}
	if signatureHeader == "" {
		return fmt.Errorf("%w: %s", ErrMissingHeader, HeaderSignature)
	}
	unix, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %q", ErrBadTimestamp, timestamp)
	}
	if d := now.Sub(time.Unix(unix, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: %s is %v away from now", ErrStale, timestamp, d.Round(time.Second))
	}
	want := mac(key, id, unix, body)
	for _, sig := range strings.Fields(signatureHeader) {
		version, b64, ok := strings.Cut(sig, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrNoSignature
}
