package siphdr

import (
	"errors"
	"fmt"
	"strings"
)

// Replaces names a dialog another is to take over (RFC 3891 §6.1).
type Replaces struct {
	CallID  string
	ToTag   string
	FromTag string
	// EarlyOnly refuses to replace a dialog that is confirmed already.
	EarlyOnly bool
}

// ErrBadReplaces is wrapped by every refusal of ParseReplaces.
var ErrBadReplaces = errors.New("bad Replaces")

// ParseReplaces reads a Replaces header value:
// `callid;to-tag=x;from-tag=y[;early-only]`. Both tags are required.
func ParseReplaces(value string) (Replaces, error) {
	parts := strings.Split(strings.TrimSpace(value), ";")
	r := Replaces{CallID: strings.TrimSpace(parts[0])}
	if r.CallID == "" || strings.ContainsAny(r.CallID, " \t\r\n<>\"") {
		return Replaces{}, fmt.Errorf("%w: %q has no usable Call-ID", ErrBadReplaces, value)
	}
	var to, from bool
	for _, p := range parts[1:] {
		name, val, hasVal := strings.Cut(strings.TrimSpace(p), "=")
		name, val = strings.ToLower(strings.TrimSpace(name)), strings.TrimSpace(val)
		switch name {
		case "to-tag":
			if to || val == "" {
				return Replaces{}, fmt.Errorf("%w: %q: to-tag empty or twice", ErrBadReplaces, value)
			}
			r.ToTag, to = val, true
		case "from-tag":
			if from || val == "" {
				return Replaces{}, fmt.Errorf("%w: %q: from-tag empty or twice", ErrBadReplaces, value)
			}
			r.FromTag, from = val, true
		case "early-only":
			if hasVal {
				return Replaces{}, fmt.Errorf("%w: %q: early-only takes no value", ErrBadReplaces, value)
			}
			r.EarlyOnly = true
		}
	}
	if !to || !from {
		return Replaces{}, fmt.Errorf("%w: %q needs both to-tag and from-tag", ErrBadReplaces, value)
	}
	return r, nil
}

// String renders r as a Replaces header value.
func (r Replaces) String() string {
	s := r.CallID + ";to-tag=" + r.ToTag + ";from-tag=" + r.FromTag
	if r.EarlyOnly {
		s += ";early-only"
	}
	return s
}

// Matches reports whether r names the dialog with callID whose tags, as the
// PBX sees it, are local (the PBX's) and remote (the phone's). RFC 3891 §3
// compares to-tag with the local tag and from-tag with the remote one; the
// tags are also accepted the other way round, as phones that send a
// Replaces in a REFER differ in which way they put them, and a Call-ID with
// both tags of one dialog names that dialog alone.
func (r Replaces) Matches(callID, local, remote string) bool {
	if r.CallID != callID {
		return false
	}
	return r.ToTag == local && r.FromTag == remote || r.ToTag == remote && r.FromTag == local
}
