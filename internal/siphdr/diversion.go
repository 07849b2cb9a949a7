package siphdr

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/switchhook/switchhook/internal/events"
)

// diversionReasons maps the reasons a call moves to RFC 5806's.
var diversionReasons = map[events.DiversionReason]string{
	events.DivertUnconditional: "unconditional",
	events.DivertUserBusy:      "user-busy",
	events.DivertNoAnswer:      "no-answer",
	events.DivertUnavailable:   "unavailable",
	events.DivertTransfer:      "deflection",
}

// Diversion returns a Diversion header value (RFC 5806 §4) saying a call
// for number at host moved on for reason, its counter-th diversion:
// `<sip:1002@pbx.example>;reason=user-busy;counter=1`. Reasons RFC 5806
// has no name for are "unknown".
func Diversion(number, host string, reason events.DiversionReason, counter int) string {
	r, ok := diversionReasons[reason]
	if !ok {
		r = "unknown"
	}
	u := sip.Uri{Scheme: "sip", User: number, Host: host}
	return "<" + u.String() + ">;reason=" + r + ";counter=" + strconv.Itoa(counter)
}

// DiversionInfo is a parsed Diversion header value.
type DiversionInfo struct {
	Number  string // the user part of the diverting party's URI
	Reason  string // as RFC 5806 spells it, e.g. user-busy
	Counter int    // 1 when absent
}

// ErrBadDiversion is wrapped by every refusal of ParseDiversion.
var ErrBadDiversion = errors.New("bad Diversion")

// ParseDiversion reads the first entry of a Diversion header value; a
// carrier reads it to know which number the call was for.
func ParseDiversion(value string) (DiversionInfo, error) {
	v := strings.TrimSpace(value)
	i, j := strings.IndexByte(v, '<'), strings.IndexByte(v, '>')
	if i < 0 || j < i {
		return DiversionInfo{}, fmt.Errorf("%w: %q has no <URI>", ErrBadDiversion, value)
	}
	var u sip.Uri
	if err := sip.ParseUri(v[i+1:j], &u); err != nil {
		return DiversionInfo{}, fmt.Errorf("%w: %q: %v", ErrBadDiversion, value, err)
	}
	out := DiversionInfo{Number: u.User, Counter: 1}
	params, _, _ := strings.Cut(v[j+1:], ",")
	for _, p := range strings.Split(params, ";") {
		name, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch strings.ToLower(name) {
		case "reason":
			out.Reason = strings.Trim(val, `"`)
		case "counter":
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 {
				return DiversionInfo{}, fmt.Errorf("%w: %q: counter %q", ErrBadDiversion, value, val)
			}
			out.Counter = n
		}
	}
	if out.Number == "" || out.Reason == "" {
		return DiversionInfo{}, fmt.Errorf("%w: %q needs a user in its URI and a reason", ErrBadDiversion, value)
	}
	return out, nil
}
