package dialplan

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/switchhook/switchhook/internal/events"
)

// DefaultNoAnswerAfter is how long an extension with a no-answer forward
// rings before the call moves on, when its Forward does not say.
const DefaultNoAnswerAfter = 20 * time.Second

// Forward is an extension's call forwarding: the number each condition
// sends a call to, dialled as the extension would dial it; empty for none.
type Forward struct {
	Unconditional string
	UserBusy      string
	NoAnswer      string
	// NoAnswerAfter is how long the extension rings before a no-answer
	// forward; 0 means DefaultNoAnswerAfter.
	NoAnswerAfter time.Duration
	// Unavailable applies when no phone of the extension is registered.
	Unavailable string
}

// To returns the number a call moves to for reason (one of the forwarding
// reasons: unconditional, user_busy, no_answer, unavailable), or "".
func (f Forward) To(reason events.DiversionReason) string {
	switch reason {
	case events.DivertUnconditional:
		return f.Unconditional
	case events.DivertUserBusy:
		return f.UserBusy
	case events.DivertNoAnswer:
		return f.NoAnswer
	case events.DivertUnavailable:
		return f.Unavailable
	}
	return ""
}

// RingFor returns how long the extension rings before its no-answer forward
// applies, 0 when it has none.
func (f Forward) RingFor() time.Duration {
	switch {
	case f.NoAnswer == "":
		return 0
	case f.NoAnswerAfter == 0:
		return DefaultNoAnswerAfter
	}
	return f.NoAnswerAfter
}

// IsZero reports whether f forwards nothing.
func (f Forward) IsZero() bool { return f == Forward{} }

// CheckForward reports the first target of ext's forwarding f that cannot
// work: a number the plan does not route, the extension itself, or a
// no-answer delay that is not shorter than ringTimeout (the call would end
// unanswered first). The error's Field names the key.
func (p *Plan) CheckForward(ext string, f Forward, ringTimeout time.Duration) error {
	if r, ok := p.local[ext]; !ok || r.Target.Type != events.Extension {
		return &FieldError{Field: "number", Msg: fmt.Sprintf("%q is not an extension", ext)}
	}
	for _, t := range []struct{ key, to string }{
		{"unconditional", f.Unconditional}, {"user_busy", f.UserBusy},
		{"no_answer", f.NoAnswer}, {"unavailable", f.Unavailable},
	} {
		if t.to == "" {
			continue
		}
		if t.to == ext {
			return &FieldError{Field: t.key, Msg: fmt.Sprintf("forwards extension %s to itself", ext)}
		}
		if _, ok := p.Route(t.to); !ok {
			return &FieldError{Field: t.key, Msg: fmt.Sprintf("%q is no extension, ring group or IVR and matches no route", t.to)}
		}
	}
	if f.NoAnswerAfter < 0 {
		return &FieldError{Field: "no_answer_after", Msg: "must not be negative"}
	}
	if d := f.RingFor(); d > 0 && ringTimeout > 0 && d >= ringTimeout {
		return &FieldError{Field: "no_answer_after", Msg: fmt.Sprintf("%v is not shorter than the ring timeout %v: the call would end unanswered before it is forwarded", d, ringTimeout)}
	}
	return nil
}

// FieldError is a value refused, with the key it was given under.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// MaxHops is how many times forwarding may move one call.
const MaxHops = 5

// ErrForwardLoop is why a call that forwarding would move back to a number
// it was at already, or more than MaxHops times, ends with
// NO_ROUTE_DESTINATION.
var ErrForwardLoop = errors.New("forwarding loops")

// Path is the numbers a call was at, in order, the dialled number first.
type Path []string

// Divert returns the path of a call moved by forwarding to to, or
// ErrForwardLoop, wrapped with the path, when to is in the path already or
// the move would be hop MaxHops+1.
func (p Path) Divert(to string) (Path, error) {
	if slices.Contains(p, to) || len(p) > MaxHops {
		return p, fmt.Errorf("forward %s → %s: %w", strings.Join(p, " → "), to, ErrForwardLoop)
	}
	return append(slices.Clip(p), to), nil
}

// PickupCodes are what an extension dials to answer a call ringing
// elsewhere.
type PickupCodes struct {
	Group    string // answers a call ringing a member of the dialler's pickup group
	Directed string // followed by an extension number: answers that extension's call
}

// Pickup is what a dialled pickup code asks for.
type Pickup struct {
	// Extension is the ringing extension asked for by a directed pickup;
	// empty for a group pickup.
	Extension string
}

// Pickup reports whether an extension dialling number asks to pick up a
// call, and which. The codes are looked at before any route, so they win
// over a route whose pattern would match them.
func (p *Plan) Pickup(number string) (Pickup, bool) {
	c := p.pickup
	switch {
	case c.Group != "" && number == c.Group:
		return Pickup{}, true
	case c.Directed != "" && len(number) > len(c.Directed) && strings.HasPrefix(number, c.Directed):
		return Pickup{Extension: number[len(c.Directed):]}, true
	}
	return Pickup{}, false
}

// RingingCall is a call ringing extensions, as pickup sees it.
type RingingCall struct {
	ID      string
	Caller  string   // the calling party's number
	Ringing []string // the extensions it rings now
	Since   time.Time
}

// PickupTarget returns the call picker picks up by want among calls, and
// the extension it rang there: the one ringing the wanted extension
// (directed), or one ringing a member of picker's pickup group (group). The
// oldest wins, and a call the picker placed itself is never picked. ok is
// false when there is none.
func (p *Plan) PickupTarget(picker string, want Pickup, calls []RingingCall) (id, ext string, ok bool) {
	group := p.pickupGroup[picker]
	match := func(ext string) bool {
		if want.Extension != "" {
			return ext == want.Extension
		}
		return group != "" && p.pickupGroup[ext] == group && ext != picker
	}
	best := -1
	for i, c := range calls {
		if c.Caller == picker || !slices.ContainsFunc(c.Ringing, match) {
			continue
		}
		if best < 0 || c.Since.Before(calls[best].Since) {
			best = i
		}
	}
	if best < 0 {
		return "", "", false
	}
	c := calls[best]
	return c.ID, c.Ringing[slices.IndexFunc(c.Ringing, match)], true
}

// HeldCall is an answered call that an extension has put on hold.
type HeldCall struct {
	SessionUUID string
	HeldAt      time.Time
}

// ConsultationSession returns the call_session_uuid of a call placed by an
// extension that holds the calls held: that of the one it put on hold most
// recently, or "" when it holds none, so that the new call is a session of
// its own (EVENTS.md: a consultation call).
func ConsultationSession(held []HeldCall) string {
	var out HeldCall
	for _, h := range held {
		if out.SessionUUID == "" || h.HeldAt.After(out.HeldAt) {
			out = h
		}
	}
	return out.SessionUUID
}
