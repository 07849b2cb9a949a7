package delivery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/switchhook/switchhook/internal/signature"
	"github.com/switchhook/switchhook/internal/store"
)

// responseKept is how much of a response body an attempt keeps.
const responseKept = 1024

// drainLimit is how much more of a response body is read, and thrown away,
// so that its connection can carry the next request. A receiver that sends
// more loses its connection instead.
const drainLimit = 64 << 10

// verdict is what an attempt's response means for its delivery.
type verdict int

const (
	accepted verdict = iota // 2xx
	retry                   // try again on the schedule, or at Retry-After
	gone                    // 410: disable the endpoint, keep the delivery
)

// result is a finished request, handed from its goroutine to the runner.
type result struct {
	job     *store.Job
	ep      *endpoint
	attempt store.Attempt
	verdict verdict
	// retryAfter is the receiver's Retry-After, when it sent one with 429
	// or 503.
	retryAfter    time.Duration
	hasRetryAfter bool
	// abandoned requests were cut short by the shutdown timeout; they are
	// not recorded.
	abandoned bool
}

// attempt makes one request for job and says what came of it.
func (e *Engine) attempt(ctx context.Context, ep *endpoint, job *store.Job) result {
	now := e.o.Now()
	res := result{job: job, ep: ep, verdict: retry}
	res.attempt.DeliveryID = job.Delivery.ID
	res.attempt.At = now

	req, err := e.request(ctx, ep, job, now)
	if err != nil {
		res.attempt.Error = err.Error()
		return res
	}
	defer req.cancel()
	start := time.Now()
	resp, err := e.client.Do(req.Request)
	if err != nil {
		res.attempt.Latency = time.Since(start)
		res.abandoned = ctx.Err() != nil
		res.attempt.Error = requestError(err, ep.timeout)
		return res
	}
	if resp.Body != http.NoBody { // a 204's: nothing to read
		kept, _ := io.ReadAll(io.LimitReader(resp.Body, responseKept))
		io.Copy(io.Discard, io.LimitReader(resp.Body, drainLimit)) // an error here only costs the connection
		res.attempt.Response = strings.ToValidUTF8(string(kept), "\uFFFD")
	}
	resp.Body.Close()
	res.attempt.Latency = time.Since(start)
	res.attempt.StatusCode = resp.StatusCode

	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		res.verdict = accepted
	case code == http.StatusGone:
		res.verdict = gone
		res.attempt.Error = "410 Gone: the receiver asked to stop; endpoint disabled"
	case code >= 300 && code < 400:
		res.attempt.Error = fmt.Sprintf("HTTP %d redirect to %q not followed: register the final URL", code, resp.Header.Get("Location"))
	default:
		res.attempt.Error = "HTTP " + resp.Status + saying(res.attempt.Response)
		if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
			res.retryAfter, res.hasRetryAfter = retryAfter(resp.Header.Get("Retry-After"), now)
		}
	}
	return res
}

type request struct {
	*http.Request
	cancel context.CancelFunc
}

// request renders and signs job's event for ep.
func (e *Engine) request(ctx context.Context, ep *endpoint, job *store.Job, now time.Time) (request, error) {
	if job.Event == nil {
		return request{}, errors.New("the delivery's event is missing from the store")
	}
	keys := ep.keysAt(now)
	if len(keys) == 0 {
		return request{}, fmt.Errorf("endpoint %s has no valid signing secret: set or rotate one", ep.ep.ID)
	}
	body, err := job.Event.Payload(ep.ep.Profile, e.o.Location)
	if err != nil {
		return request{}, fmt.Errorf("render %s payload: %w", ep.ep.Profile, err)
	}
	ctx, cancel := context.WithTimeout(ctx, ep.timeout)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.ep.URL, bytes.NewReader(body))
	if err != nil {
		cancel()
		return request{}, fmt.Errorf("endpoint URL %q: %w", ep.ep.URL, err)
	}
	// The header is built with its keys already canonical (the endpoint's
	// at load, shared read-only by its requests) and our values in one
	// slice, as net/http does for the headers it reads: Header.Set would
	// canonicalise and allocate each.
	h := make(http.Header, len(ep.headers)+len(ownHeaders))
	for k, v := range ep.headers {
		h[k] = v
	}
	// Set after the endpoint's own headers, so they cannot be overridden.
	vals := [...]string{"application/json", e.userAgent, job.Event.ID,
		strconv.FormatInt(now.Unix(), 10), signature.Header(keys, job.Event.ID, now, body)}
	own := vals[:]
	for i, k := range ownHeaders {
		h[k] = own[i : i+1 : i+1]
	}
	req.Header = h
	return request{req, cancel}, nil
}

// ownHeaders are the headers every request carries, canonical, in the order
// of the values request sets them to.
var ownHeaders = [...]string{
	"Content-Type",
	"User-Agent",
	http.CanonicalHeaderKey(signature.HeaderID),
	http.CanonicalHeaderKey(signature.HeaderTimestamp),
	http.CanonicalHeaderKey(signature.HeaderSignature),
}

// saying is what a refusal's body says, as ": first line", so that the
// error reads why the receiver refused (a receiver built on the receiver
// package answers "no valid signature" to a wrong secret).
func saying(body string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(body), "\n")
	line = strings.TrimSpace(line)
	if line == "" || strings.HasPrefix(line, "<") { // an HTML error page says nothing readable
		return ""
	}
	if r := []rune(line); len(r) > 200 {
		line = string(r[:200]) + "…"
	}
	return ": " + line
}

// requestError says why a request got no response, without the
// `Post "url":` prefix the attempt log does not need.
func requestError(err error, timeout time.Duration) string {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Sprintf("no response within the endpoint's timeout (%v)", timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}
