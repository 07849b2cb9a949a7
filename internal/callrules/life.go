package callrules

import (
	"errors"
	"fmt"
	"time"

	"github.com/switchhook/switchhook/internal/events"
)

// ErrRefused is wrapped by every refusal of Apply: the event breaks the
// rules of its call's life and must not be recorded.
var ErrRefused = errors.New("refused by the rules of a call's life")

// Life is what the rules know of one call so far. The zero value is a call
// not routed yet. It is used by one goroutine at a time.
type Life struct {
	seq        int64
	routed     bool
	over       bool
	callerName string // CALL_ROUTED's caller_id_name
	startedAt  time.Time
	lastAt     time.Time
	answered   bool
	answeredAt time.Time
	answeredBy string
	held       bool
	rang       map[string]bool // legs that rang
	answers    map[string]bool // legs that answered
}

// Apply checks e against the call's life so far and, when the rules admit
// it, records it: e gets its Sequence, the caller's name of its CALL_ROUTED
// when it has none (a call's caller_id_name is on every event, also those
// made after a restart), and, for CALL_HANGUP, the Duration, Billsec and
// AnsweredBy worked out from the call's own events (a missing Hangup is
// NORMAL_UNSPECIFIED by the system). A refused event changes
// nothing; the error wraps ErrRefused and says which rule.
func (l *Life) Apply(e *events.Event) error {
	if why := l.check(e); why != "" {
		return fmt.Errorf("%w: %s: %s", ErrRefused, e.Kind, why)
	}
	switch e.Kind {
	case events.CallRouted:
		l.routed, l.startedAt, l.callerName = true, e.OccurredAt, e.CallerIDName
	case events.CallRinging:
		if e.LegUUID != "" {
			l.rang = mark(l.rang, e.LegUUID)
		}
	case events.CallAnswer:
		if e.LegUUID != "" {
			l.answers = mark(l.answers, e.LegUUID)
		}
		if !l.answered {
			l.answered, l.answeredAt, l.answeredBy = true, e.OccurredAt, e.DestinationNumber
		}
	case events.CallHold:
		l.held = true
	case events.CallUnhold:
		l.held = false
	case events.CallHangup:
		h := events.Hangup{Cause: events.CauseNormalUnspecified, By: events.System}
		if e.Hangup != nil {
			h = *e.Hangup
		}
		h.Duration = wholeSeconds(e.OccurredAt.Sub(l.startedAt))
		h.AnsweredBy, h.Billsec = l.answeredBy, 0
		if l.answered {
			h.Billsec = wholeSeconds(e.OccurredAt.Sub(l.answeredAt))
		}
		e.Hangup = &h
		l.over = true
	}
	if e.CallerIDName == "" {
		e.CallerIDName = l.callerName
	}
	if e.OccurredAt.After(l.lastAt) {
		l.lastAt = e.OccurredAt
	}
	l.seq++
	e.Sequence = l.seq
	return nil
}

func (l *Life) check(e *events.Event) string {
	switch {
	case l.over:
		return "the call hung up already"
	case e.Kind == events.CallRouted && l.routed:
		return "the call was routed already"
	case e.Kind != events.CallRouted && !l.routed:
		return "the call was not routed"
	}
	switch e.Kind {
	case events.CallRinging:
		if l.rang[e.LegUUID] {
			return "this leg rang already"
		}
	case events.CallAnswer:
		if l.answers[e.LegUUID] {
			return "this leg answered already"
		}
	case events.CallHold:
		if !l.answered {
			return "hold before an answer"
		}
		if l.held {
			return "held already"
		}
	case events.CallUnhold:
		if !l.held {
			return "unhold while not held"
		}
	}
	return ""
}

func mark(m map[string]bool, k string) map[string]bool {
	if m == nil {
		m = map[string]bool{}
	}
	m[k] = true
	return m
}

// Routed reports whether CALL_ROUTED is out.
func (l *Life) Routed() bool { return l.routed }

// Over reports whether CALL_HANGUP is out.
func (l *Life) Over() bool { return l.over }

// Answered reports whether the call has had a CALL_ANSWER.
func (l *Life) Answered() bool { return l.answered }

// AnsweredBy is the number that answered first, or empty.
func (l *Life) AnsweredBy() string { return l.answeredBy }

// Held reports whether the call is held now.
func (l *Life) Held() bool { return l.held }

// Rang reports whether leg rang already.
func (l *Life) Rang(leg string) bool { return l.rang[leg] }

// LegAnswered reports whether leg answered already.
func (l *Life) LegAnswered(leg string) bool { return l.answers[leg] }

// Sequence is the number of the last event applied.
func (l *Life) Sequence() int64 { return l.seq }

// StartedAt is when the call was routed.
func (l *Life) StartedAt() time.Time { return l.startedAt }

// LastAt is when the latest event applied occurred: the last time the call
// was known to be as its events say.
func (l *Life) LastAt() time.Time { return l.lastAt }

// Replay rebuilds a call's life from its recorded events, oldest first.
// Events the rules refuse are skipped, as they were when first recorded.
func Replay(evs []events.Event) *Life {
	l := &Life{}
	for i := range evs {
		e := evs[i]
		seq := e.Sequence
		if l.Apply(&e) == nil && seq > l.seq {
			l.seq = seq
		}
	}
	return l
}

func wholeSeconds(d time.Duration) int64 {
	if d < 0 {
		return 0
	}
	return int64(d / time.Second)
}

// Holds says whether a call is held: while either party holds, per
// EVENTS.md. The zero value is a call nobody holds.
type Holds struct {
	caller, callee bool
}

// Set records that party p holds (on) or no longer holds the call and
// returns the event that change gives: CALL_HOLD when the call becomes
// held, CALL_UNHOLD when nobody holds it any more, "" when the call as a
// whole did not change.
func (h *Holds) Set(p events.Party, on bool) events.Kind {
	before := h.Held()
	if p == events.Caller {
		h.caller = on
	} else {
		h.callee = on
	}
	switch after := h.Held(); {
	case after && !before:
		return events.CallHold
	case before && !after:
		return events.CallUnhold
	}
	return ""
}

// Held reports whether either party holds the call.
func (h *Holds) Held() bool { return h.caller || h.callee }

// By reports whether party p holds the call.
func (h *Holds) By(p events.Party) bool {
	if p == events.Caller {
		return h.caller
	}
	return h.callee
}

// Clear forgets both parties' holds (a call that moves to a new party).
func (h *Holds) Clear() { *h = Holds{} }
