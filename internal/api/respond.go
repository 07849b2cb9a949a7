package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/switchhook/switchhook/internal/api/apitypes"
	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/store"
)

// httpError is an answer other than success: its status and what
// apitypes.Error says.
type httpError struct {
	status int
	msg    string
	field  string
}

func (e *httpError) Error() string { return e.msg }

func errorf(status int, field, format string, args ...any) *httpError {
	return &httpError{status: status, msg: fmt.Sprintf(format, args...), field: field}
}

// invalid is a 400 naming the field at fault.
func invalid(field, format string, args ...any) *httpError {
	return errorf(http.StatusBadRequest, field, format, args...)
}

func notFound(field, format string, args ...any) *httpError {
	return errorf(http.StatusNotFound, field, format, args...)
}

// serve adapts a handler that returns its failure.
func (a *API) serve(h func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			a.writeError(w, r, err)
		}
	})
}

// writeError answers err: an httpError as it says, a store.ErrNotFound that
// slipped through as 404, anything else as 500, logged. The admin is the
// only reader, so a 500 carries the cause rather than hiding it.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var he *httpError
	switch {
	case errors.As(err, &he):
	case errors.Is(err, store.ErrNotFound):
		he = errorf(http.StatusNotFound, "", "%v", err)
	default:
		a.log.Error("api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		he = errorf(http.StatusInternalServerError, "", "%v", err)
	}
	writeJSON(w, he.status, apitypes.Error{Error: he.msg, Field: he.field})
}

// writeJSON answers v. Answers may carry secrets and change with every
// delivery, so nothing on the way may keep them.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) // a write error means the client left; nothing to tell it
}

// decodeBody reads one JSON object into v, refusing unknown fields, bodies
// over maxBodyBytes and trailing data. An empty body is refused unless
// optional, in which case v is left as it is.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, optional bool) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) && optional {
			return nil
		}
		return bodyError(err)
	}
	if err := dec.Decode(new(json.RawMessage)); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return bodyError(err)
		}
		return invalid("", "request body has more after its JSON object")
	}
	return nil
}

// bodyError turns a JSON decoding failure into a 4xx naming the field.
func bodyError(err error) *httpError {
	var (
		mbe *http.MaxBytesError
		se  *json.SyntaxError
		te  *json.UnmarshalTypeError
	)
	switch {
	case errors.Is(err, io.EOF):
		return invalid("", "request body is empty; want a JSON object")
	case errors.As(err, &mbe):
		return errorf(http.StatusRequestEntityTooLarge, "", "request body is larger than %d bytes", mbe.Limit)
	case errors.As(err, &se):
		return invalid("", "request body is not valid JSON: %v (at byte %d)", se, se.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalid("", "request body ends in the middle of its JSON")
	case errors.As(err, &te):
		if te.Field == "" {
			return invalid("", "request body is a JSON %s; want a JSON object", te.Value)
		}
		return invalid(te.Field, "%s: want %s, got a JSON %s", te.Field, jsonType(te.Type), te.Value)
	}
	// encoding/json has no type for this one; its message is stable.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name, _ = strconv.Unquote(name)
		return invalid(name, "unknown field %q", name)
	}
	return invalid("", "request body: %v", err)
}

// jsonType names the JSON type a Go type decodes from.
func jsonType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Pointer:
		return jsonType(t.Elem())
	}
	return t.String()
}

// query reads a request's query parameters, refusing any not in allowed or
// given twice, so a misspelt filter is reported instead of ignored.
func query(r *http.Request, allowed ...string) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, invalid("", "query string: %v", err)
	}
	for name, vs := range q {
		known := false
		for _, a := range allowed {
			known = known || a == name
		}
		switch {
		case !known && len(allowed) == 0:
			return nil, invalid(name, "unknown query parameter %q: %s takes none", name, r.URL.Path)
		case !known:
			return nil, invalid(name, "unknown query parameter %q (want one of %s)", name, strings.Join(allowed, ", "))
		}
		if len(vs) > 1 {
			return nil, invalid(name, "query parameter %q is given %d times", name, len(vs))
		}
	}
	return q, nil
}

// timedFilter is the part of a list route's query that the event and call
// lists share.
type timedFilter struct {
	kind         events.Kind
	since, until time.Time
	limit        int
}

// timedQuery reads the query of a list route of events or calls: its own
// filter parameter (left to the caller in the values), then event, since,
// until and limit.
func timedQuery(r *http.Request, own ...string) (url.Values, timedFilter, error) {
	var f timedFilter
	q, err := query(r, append(own, "event", "since", "until", "limit")...)
	if err != nil {
		return nil, f, err
	}
	if f.kind, err = kindParam(q, "event"); err != nil {
		return nil, f, err
	}
	if f.since, err = timeParam(q, "since"); err != nil {
		return nil, f, err
	}
	if f.until, err = timeParam(q, "until"); err != nil {
		return nil, f, err
	}
	if err := timeRange(f.since, f.until); err != nil {
		return nil, f, err
	}
	if f.limit, err = limitParam(q); err != nil {
		return nil, f, err
	}
	return q, f, nil
}

// limitParam reads "limit": 1 to maxLimit, defaultLimit when absent.
func limitParam(q url.Values) (int, error) {
	s := q.Get("limit")
	if s == "" {
		return defaultLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxLimit {
		return 0, invalid("limit", "limit %q is not a whole number from 1 to %d", s, maxLimit)
	}
	return n, nil
}

// timeParam reads an RFC 3339 time; zero when absent.
func timeParam(q url.Values, name string) (time.Time, error) {
	s := q.Get(name)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, invalid(name, "%s %q is not an RFC 3339 time like 2026-01-27T12:02:30Z", name, s)
	}
	return t, nil
}

// kindParam reads an event kind; empty when absent.
func kindParam(q url.Values, name string) (events.Kind, error) {
	s := q.Get(name)
	if s == "" {
		return "", nil
	}
	k, err := events.ParseKind(s)
	if err != nil {
		return "", invalid(name, "%s: %v", name, err)
	}
	return k, nil
}

// timeRange checks that since comes before until when both are set.
func timeRange(since, until time.Time) error {
	if !since.IsZero() && !until.IsZero() && !since.Before(until) {
		return invalid("until", "until %s is not after since %s", until.Format(time.RFC3339), since.Format(time.RFC3339))
	}
	return nil
}

// optTime is nil for the zero time, so it shows as null.
func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}
