package store

import (
	"errors"
	"fmt"

	"github.com/switchhook/switchhook/internal/events"
)

// Validate checks what every store relies on before writing ep; the config
// and the API check the rest (URL syntax, secret format) with friendlier
// messages.
func (ep *Endpoint) Validate() error {
	if ep.ID == "" {
		return errors.New("endpoint ID is empty")
	}
	if ep.URL == "" {
		return fmt.Errorf("endpoint %s: URL is empty", ep.ID)
	}
	if ep.MaxInFlight < 1 {
		return fmt.Errorf("endpoint %s: max in flight is %d, want at least 1", ep.ID, ep.MaxInFlight)
	}
	for _, k := range ep.Events {
		if !k.Valid() {
			return fmt.Errorf("endpoint %s: unknown event %q", ep.ID, k)
		}
	}
	if _, err := events.ParseProfile(string(ep.Profile)); err != nil {
		return fmt.Errorf("endpoint %s: %w", ep.ID, err)
	}
	return ep.Circuit.Validate()
}

// Validate checks that c's state is one the stores know; the empty state
// stands for CircuitClosed.
func (c Circuit) Validate() error {
	switch c.State {
	case "", CircuitClosed, CircuitOpen, CircuitHalfOpen:
		return nil
	}
	return fmt.Errorf("unknown circuit state %q (want closed, open or half_open)", c.State)
}

// Validate checks that p asks for a claim a store can make: an owner, at
// least one delivery, and a lease that ends after p.Now.
func (p ClaimParams) Validate() error {
	switch {
	case p.Owner == "":
		return errors.New("owner is empty")
	case p.Limit < 1:
		return fmt.Errorf("limit is %d, want at least 1", p.Limit)
	case !p.LeaseUntil.After(p.Now):
		return fmt.Errorf("lease ends at %v, not after now (%v)", p.LeaseUntil, p.Now)
	}
	return nil
}

// ValidateEvent checks what every store relies on before recording e: an
// ID, and what events.Event.Validate checks.
func ValidateEvent(e *events.Event) error {
	if e.ID == "" {
		return fmt.Errorf("%s of call %q: event ID is empty", e.Kind, e.CallUUID)
	}
	if err := e.Validate(); err != nil {
		return fmt.Errorf("event %s: %w", e.ID, err)
	}
	return nil
}

// Validate reports the first field of f a store must not keep.
func (f *Forward) Validate() error {
	if f.Number == "" {
		return errors.New("forward: number is empty")
	}
	if f.NoAnswerAfter < 0 {
		return fmt.Errorf("forward %s: no_answer_after %v is negative", f.Number, f.NoAnswerAfter)
	}
	return nil
}
