package freeswitch

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
)

// Limits of one event-socket frame. FreeSWITCH's largest channel events
// (CHANNEL_HANGUP_COMPLETE with every variable and both SDPs) are tens of
// KiB; anything far beyond that is a broken or hostile peer, not an event.
const (
	maxHeaderBytes = 64 << 10
	maxBodyBytes   = 4 << 20
)

// Content types of the frames FreeSWITCH sends.
const (
	typeAuthRequest = "auth/request"
	typeReply       = "command/reply"
	typeAPIResponse = "api/response"
	typeEventPlain  = "text/event-plain"
	typeEventJSON   = "text/event-json"
	typeDisconnect  = "text/disconnect-notice"
)

var (
	errMalformed = errors.New("malformed frame")
	errOversized = errors.New("oversized frame")
)

// frame is one event-socket message: a header block and an optional body
// whose length the Content-Length header gives.
type frame struct {
	header textproto.MIMEHeader
	body   []byte
}

func (f frame) contentType() string { return f.header.Get("Content-Type") }

// readFrame reads one frame. bufio does the buffering, so a frame split over
// many TCP reads or many frames in one read come out the same.
func readFrame(r *bufio.Reader) (frame, error) {
	h := textproto.MIMEHeader{}
	budget := maxHeaderBytes
	for {
		line, err := readLine(r, &budget)
		if err != nil {
			return frame{}, err
		}
		if line == "" {
			if len(h) == 0 {
				continue // stray blank lines between frames are harmless
			}
			break
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return frame{}, fmt.Errorf("%w: header line %q is not \"Name: value\"", errMalformed, clip(line))
		}
		h.Add(textproto.CanonicalMIMEHeaderKey(k), strings.TrimLeft(v, " \t"))
	}
	f := frame{header: h}
	if f.contentType() == "" {
		return frame{}, fmt.Errorf("%w: no Content-Type in header %v", errMalformed, h)
	}
	if cl := h.Get("Content-Length"); cl != "" {
		n, err := strconv.Atoi(cl)
		if err != nil || n < 0 {
			return frame{}, fmt.Errorf("%w: Content-Length %q is not a length", errMalformed, clip(cl))
		}
		if n > maxBodyBytes {
			return frame{}, fmt.Errorf("%w: %s body of %d bytes exceeds the %d-byte limit", errOversized, f.contentType(), n, maxBodyBytes)
		}
		f.body = make([]byte, n)
		if _, err := io.ReadFull(r, f.body); err != nil {
			return frame{}, fmt.Errorf("read %d-byte body: %w", n, err)
		}
	}
	return f, nil
}

// readLine reads one LF-terminated line (CRLF tolerated) without its
// terminator, charging its length to *budget.
func readLine(r *bufio.Reader, budget *int) (string, error) {
	var buf []byte
	for {
		chunk, err := r.ReadSlice('\n')
		*budget -= len(chunk)
		if *budget < 0 {
			return "", fmt.Errorf("%w: header block exceeds %d bytes", errOversized, maxHeaderBytes)
		}
		buf = append(buf, chunk...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF && len(buf) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
		buf = bytes.TrimSuffix(buf[:len(buf)-1], []byte("\r"))
		return string(buf), nil
	}
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// eventHeaders are a channel event's headers, keyed by lower-case name (the
// names' case differs between FreeSWITCH versions, e.g.
// Event-Date-timestamp), with values decoded.
type eventHeaders map[string]string

func (e eventHeaders) get(name string) string { return e[strings.ToLower(name)] }

// parsePlainEvent decodes a text/event-plain body: "Name: url-encoded value"
// lines, a blank line, and, when the event has a Content-Length header, the
// event's own body.
func parsePlainEvent(body []byte) (eventHeaders, error) {
	ev := eventHeaders{}
	rest := body
	for len(rest) > 0 {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			break
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok || len(k) == 0 {
			return nil, fmt.Errorf("event line %q is not \"Name: value\"", clip(string(line)))
		}
		val := string(bytes.TrimLeft(v, " "))
		// FreeSWITCH URL-encodes plain header values; a value that does not
		// decode (older versions sent some raw) is kept as sent.
		if d, err := url.PathUnescape(val); err == nil {
			val = d
		}
		ev[strings.ToLower(string(k))] = val
	}
	if n, err := strconv.Atoi(ev["content-length"]); err == nil && n >= 0 && n <= len(rest) {
		ev["_body"] = string(rest[:n])
	}
	if ev["event-name"] == "" {
		return nil, errors.New("event has no Event-Name")
	}
	return ev, nil
}

// parseJSONEvent decodes a text/event-json body: one object of header names
// to string values (array headers, which no mapped event needs, are skipped).
func parseJSONEvent(body []byte) (eventHeaders, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("event JSON: %w", err)
	}
	ev := make(eventHeaders, len(raw))
	for k, v := range raw {
		var s string
		if json.Unmarshal(v, &s) == nil {
			ev[strings.ToLower(k)] = s
		}
	}
	if ev["event-name"] == "" {
		return nil, errors.New("event has no Event-Name")
	}
	return ev, nil
}
