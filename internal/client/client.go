package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/switchhook/switchhook/internal/api/apitypes"
	"github.com/switchhook/switchhook/internal/events"
)

// maxErrorBody bounds how much of a failed answer is read.
const maxErrorBody = 64 << 10

// Client talks to one switchhook server. It is safe for concurrent use.
type Client struct {
	server string
	token  string
	// HTTPClient sends the requests; http.DefaultClient when nil.
	HTTPClient *http.Client
}

// New returns a client of the server at base URL server (such as
// "http://127.0.0.1:8080"), authenticating with the admin token.
func New(server, token string) *Client {
	return &Client{server: strings.TrimRight(server, "/"), token: token}
}

// Error is an answer of the API other than success.
type Error struct {
	StatusCode int
	Message    string
	// Field names the request field or parameter at fault, if any.
	Field string
}

// Error returns the API's message and the HTTP status.
func (e *Error) Error() string {
	return fmt.Sprintf("%s (HTTP %d)", e.Message, e.StatusCode)
}

// IsNotFound reports whether err is the API's 404.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.StatusCode == http.StatusNotFound
}

// do sends a request with in as its JSON body (none when nil) and decodes a
// 2xx answer into out (skipped when nil).
func (c *Client) do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	resp, err := c.send(ctx, method, path, q, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode answer of %s %s: %w", method, path, err)
	}
	return nil
}

// send makes the request and returns a 2xx answer; any other is an *Error.
func (c *Client) send(ctx context.Context, method, path string, q url.Values, in any) (*http.Response, error) {
	u, err := url.Parse(c.server)
	if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("server %q is not an http:// or https:// URL", c.server)
	}
	target := c.server + path
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, fmt.Errorf("make request %s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err // *url.Error names the method and URL already
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		return nil, answerError(resp)
	}
	return resp, nil
}

// answerError reads the API's error body, or says what came instead.
func answerError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := &Error{StatusCode: resp.StatusCode}
	var body apitypes.Error
	if json.Unmarshal(b, &body) == nil && body.Error != "" {
		e.Message, e.Field = body.Error, body.Field
		return e
	}
	e.Message = strings.TrimSpace(resp.Status + ": " + strings.TrimSpace(string(b)))
	return e
}

// Health reads /healthz. An unavailable server is an *Error with status 503.
func (c *Client) Health(ctx context.Context) (*apitypes.Health, error) {
	var h apitypes.Health
	return &h, c.do(ctx, http.MethodGet, "/healthz", nil, nil, &h)
}

// Metrics returns the Prometheus text of /metrics.
func (c *Client) Metrics(ctx context.Context) (string, error) {
	var sb strings.Builder
	err := c.doRaw(ctx, "/metrics", &sb)
	return sb.String(), err
}

// OpenAPI returns the API's OpenAPI 3.1 document.
func (c *Client) OpenAPI(ctx context.Context) (json.RawMessage, error) {
	var doc json.RawMessage
	return doc, c.do(ctx, http.MethodGet, "/v1/openapi.json", nil, nil, &doc)
}

// doRaw copies the body of a GET's 2xx answer to w.
func (c *Client) doRaw(ctx context.Context, path string, w io.Writer) error {
	resp, err := c.send(ctx, http.MethodGet, path, nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("read answer of GET %s: %w", path, err)
	}
	return nil
}

func endpointPath(id string, rest ...string) string {
	return "/v1/endpoints/" + strings.Join(append([]string{url.PathEscape(id)}, rest...), "/")
}

// CreateEndpoint creates an endpoint; the answer carries its secret.
func (c *Client) CreateEndpoint(ctx context.Context, in apitypes.NewEndpoint) (*apitypes.Endpoint, error) {
	var ep apitypes.Endpoint
	return &ep, c.do(ctx, http.MethodPost, "/v1/endpoints", nil, in, &ep)
}

// ListEndpoints lists the endpoints, without their secrets.
func (c *Client) ListEndpoints(ctx context.Context) ([]apitypes.Endpoint, error) {
	var eps []apitypes.Endpoint
	return eps, c.do(ctx, http.MethodGet, "/v1/endpoints", nil, nil, &eps)
}

// GetEndpoint reads one endpoint with its secrets.
func (c *Client) GetEndpoint(ctx context.Context, id string) (*apitypes.Endpoint, error) {
	var ep apitypes.Endpoint
	return &ep, c.do(ctx, http.MethodGet, endpointPath(id), nil, nil, &ep)
}

// UpdateEndpoint changes the fields p sets.
func (c *Client) UpdateEndpoint(ctx context.Context, id string, p apitypes.EndpointPatch) (*apitypes.Endpoint, error) {
	var ep apitypes.Endpoint
	return &ep, c.do(ctx, http.MethodPatch, endpointPath(id), nil, p, &ep)
}

// DeleteEndpoint removes an endpoint and its pending deliveries.
func (c *Client) DeleteEndpoint(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, endpointPath(id), nil, nil, nil)
}

// RotateSecret gives the endpoint a new secret; the answer carries it.
func (c *Client) RotateSecret(ctx context.Context, id string, in apitypes.RotateSecret) (*apitypes.Endpoint, error) {
	var ep apitypes.Endpoint
	return &ep, c.do(ctx, http.MethodPost, endpointPath(id, "rotate-secret"), nil, in, &ep)
}

// TestEndpoint sends a synthetic event of kind (empty for the server's
// choice) to the endpoint only.
func (c *Client) TestEndpoint(ctx context.Context, id string, kind events.Kind) (*apitypes.TestEventResult, error) {
	var res apitypes.TestEventResult
	return &res, c.do(ctx, http.MethodPost, endpointPath(id, "test"), nil, apitypes.TestEvent{Event: kind}, &res)
}

// Replay sends the stored events of a time range to the endpoint again and
// returns how many deliveries it made.
func (c *Client) Replay(ctx context.Context, id string, in apitypes.Replay) (int, error) {
	var res apitypes.ReplayResult
	err := c.do(ctx, http.MethodPost, endpointPath(id, "replay"), nil, in, &res)
	return res.Deliveries, err
}

// EventFilter selects events; zero fields match all.
type EventFilter struct {
	CallUUID     string
	Event        events.Kind
	Since, Until time.Time
	Limit        int // 0: the server's default
}

// ListEvents lists recorded events, oldest first, in the extended profile.
func (c *Client) ListEvents(ctx context.Context, f EventFilter) ([]apitypes.Event, error) {
	q := url.Values{}
	set(q, "call_uuid", f.CallUUID)
	set(q, "event", string(f.Event))
	setTimes(q, f.Since, f.Until)
	setLimit(q, f.Limit)
	var evs []apitypes.Event
	return evs, c.do(ctx, http.MethodGet, "/v1/events", q, nil, &evs)
}

// CallFilter selects calls; zero fields match all.
type CallFilter struct {
	Number       string // caller or destination, exactly
	Session      string // call_session_uuid
	Event        events.Kind
	Since, Until time.Time
	Limit        int
}

// ListCalls lists calls, newest first.
func (c *Client) ListCalls(ctx context.Context, f CallFilter) ([]apitypes.Call, error) {
	q := url.Values{}
	set(q, "number", f.Number)
	set(q, "session", f.Session)
	set(q, "event", string(f.Event))
	setTimes(q, f.Since, f.Until)
	setLimit(q, f.Limit)
	var calls []apitypes.Call
	return calls, c.do(ctx, http.MethodGet, "/v1/calls", q, nil, &calls)
}

// GetCall reads a call, its events and their deliveries.
func (c *Client) GetCall(ctx context.Context, callUUID string) (*apitypes.CallDetail, error) {
	var d apitypes.CallDetail
	return &d, c.do(ctx, http.MethodGet, "/v1/calls/"+url.PathEscape(callUUID), nil, nil, &d)
}

// DeliveryFilter selects deliveries; zero fields match all.
type DeliveryFilter struct {
	EndpointID string
	Status     string // pending, succeeded or failed
	CallUUID   string
	EventID    string
	Limit      int
}

// ListDeliveries lists deliveries, newest first, without their attempts.
func (c *Client) ListDeliveries(ctx context.Context, f DeliveryFilter) ([]apitypes.Delivery, error) {
	q := url.Values{}
	set(q, "endpoint_id", f.EndpointID)
	set(q, "status", f.Status)
	set(q, "call_uuid", f.CallUUID)
	set(q, "event_id", f.EventID)
	setLimit(q, f.Limit)
	var ds []apitypes.Delivery
	return ds, c.do(ctx, http.MethodGet, "/v1/deliveries", q, nil, &ds)
}

// GetDelivery reads a delivery with its attempts.
func (c *Client) GetDelivery(ctx context.Context, id int64) (*apitypes.Delivery, error) {
	var d apitypes.Delivery
	return &d, c.do(ctx, http.MethodGet, "/v1/deliveries/"+strconv.FormatInt(id, 10), nil, nil, &d)
}

// RetryDelivery makes a delivery pending and due now.
func (c *Client) RetryDelivery(ctx context.Context, id int64) (*apitypes.Delivery, error) {
	var d apitypes.Delivery
	return &d, c.do(ctx, http.MethodPost, "/v1/deliveries/"+strconv.FormatInt(id, 10)+"/retry", nil, nil, &d)
}

func forwardPath(number string) string {
	return "/v1/extensions/" + url.PathEscape(number) + "/forward"
}

// ListForwards reads every extension's call forwarding in effect.
func (c *Client) ListForwards(ctx context.Context) ([]apitypes.Forward, error) {
	var out []apitypes.Forward
	return out, c.do(ctx, http.MethodGet, "/v1/forwards", nil, nil, &out)
}

// GetForward reads an extension's call forwarding in effect.
func (c *Client) GetForward(ctx context.Context, number string) (*apitypes.Forward, error) {
	var f apitypes.Forward
	return &f, c.do(ctx, http.MethodGet, forwardPath(number), nil, nil, &f)
}

// SetForward replaces an extension's call forwarding; it is kept across
// restarts and wins over the config file's.
func (c *Client) SetForward(ctx context.Context, number string, in apitypes.ForwardInput) (*apitypes.Forward, error) {
	var f apitypes.Forward
	return &f, c.do(ctx, http.MethodPut, forwardPath(number), nil, in, &f)
}

// ResetForward drops the forwarding set through the API, so that the
// config file's applies again, and returns it.
func (c *Client) ResetForward(ctx context.Context, number string) (*apitypes.Forward, error) {
	var f apitypes.Forward
	return &f, c.do(ctx, http.MethodDelete, forwardPath(number), nil, nil, &f)
}

// Registrations lists the built-in PBX's SIP registrations.
func (c *Client) Registrations(ctx context.Context) ([]json.RawMessage, error) {
	return c.rawList(ctx, "/v1/registrations")
}

// Channels lists the live channels.
func (c *Client) Channels(ctx context.Context) ([]json.RawMessage, error) {
	return c.rawList(ctx, "/v1/channels")
}

// Sources lists the call sources and their state.
func (c *Client) Sources(ctx context.Context) ([]json.RawMessage, error) {
	return c.rawList(ctx, "/v1/sources")
}

func (c *Client) rawList(ctx context.Context, path string) ([]json.RawMessage, error) {
	var l []json.RawMessage
	return l, c.do(ctx, http.MethodGet, path, nil, nil, &l)
}

func set(q url.Values, name, v string) {
	if v != "" {
		q.Set(name, v)
	}
}

func setTimes(q url.Values, since, until time.Time) {
	if !since.IsZero() {
		q.Set("since", since.Format(time.RFC3339Nano))
	}
	if !until.IsZero() {
		q.Set("until", until.Format(time.RFC3339Nano))
	}
}

func setLimit(q url.Values, n int) {
	if n != 0 {
		q.Set("limit", strconv.Itoa(n))
	}
}

// EndpointHealth reads how an endpoint's deliveries went over the last hour.
func (c *Client) EndpointHealth(ctx context.Context, id string) (*apitypes.EndpointHealth, error) {
	var h apitypes.EndpointHealth
	return &h, c.do(ctx, http.MethodGet, endpointPath(id, "health"), nil, nil, &h)
}

// Overview reads the last hour of the whole system.
func (c *Client) Overview(ctx context.Context) (*apitypes.Overview, error) {
	var o apitypes.Overview
	return &o, c.do(ctx, http.MethodGet, "/v1/overview", nil, nil, &o)
}

// maxStreamLine bounds one line of the event stream; an event is far less.
const maxStreamLine = 1 << 20

// Stream follows the events as the server commits them, calling fn with
// each, until ctx is done (it then returns nil), the stream ends (an error
// wrapping ErrStreamEnded that says why) or fn returns an error (returned).
func (c *Client) Stream(ctx context.Context, fn func(apitypes.StreamEvent) error) error {
	resp, err := c.send(ctx, http.MethodGet, "/v1/stream", nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), maxStreamLine)
	// Server-Sent Events: "data:" lines make up a message, a blank line
	// ends it; comments (":") and the id and retry fields are not needed.
	var data []byte
	why := "the connection ended without a word from the server"
	for sc.Scan() {
		line := sc.Bytes()
		if v, ok := bytes.CutPrefix(line, []byte(": closing: ")); ok {
			why = string(v)
			continue
		}
		if v, ok := bytes.CutPrefix(line, []byte("data:")); ok {
			data = append(data, bytes.TrimPrefix(v, []byte(" "))...)
			continue
		}
		if len(line) > 0 || len(data) == 0 {
			continue
		}
		var ev apitypes.StreamEvent
		if err := json.Unmarshal(data, &ev); err != nil {
			return fmt.Errorf("decode stream message %.100q: %w", data, err)
		}
		data = data[:0]
		if err := fn(ev); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%w: read event stream: %v", ErrStreamEnded, err)
	}
	return fmt.Errorf("%w: %s", ErrStreamEnded, why)
}

// ErrStreamEnded is returned (wrapped, with the reason) by Stream when the
// stream ends without its context being done: the server shut down or the
// connection broke. Events recorded until a new Stream are not replayed.
var ErrStreamEnded = errors.New("the event stream ended")

// Reload makes the server re-read its config file and apply what can
// change without a restart.
func (c *Client) Reload(ctx context.Context) (*apitypes.ReloadResult, error) {
	var r apitypes.ReloadResult
	return &r, c.do(ctx, http.MethodPost, "/v1/config/reload", nil, nil, &r)
}

// Extensions lists the built-in PBX's extensions with their phones, state
// and forwarding.
func (c *Client) Extensions(ctx context.Context) ([]apitypes.Extension, error) {
	var l []apitypes.Extension
	return l, c.do(ctx, http.MethodGet, "/v1/extensions", nil, nil, &l)
}
