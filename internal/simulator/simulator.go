package simulator

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/switchhook/switchhook/internal/events"
)

// Config says how many calls to make, how fast.
type Config struct {
	// Calls is how many calls to make; 0 makes none.
	Calls int
	// Rate is calls started per second.
	Rate float64
	// Caller and Callee are the numbers of every call.
	Caller, Callee string
}

// Simulator is an events.Source of made-up calls.
type Simulator struct {
	cfg Config
}

// New returns a simulator; Rate defaults to 10 calls/s.
func New(cfg Config) *Simulator {
	if cfg.Rate <= 0 {
		cfg.Rate = 10
	}
	if cfg.Caller == "" {
		cfg.Caller = "1001"
	}
	if cfg.Callee == "" {
		cfg.Callee = "1002"
	}
	return &Simulator{cfg: cfg}
}

// Name is "simulator".
func (s *Simulator) Name() string { return "simulator" }

// CallEvents is how many events each simulated call emits.
const CallEvents = 7

// Run starts Calls calls at Rate, emitting each call's seven events in one
// go, and returns when all are emitted or ctx is done.
func (s *Simulator) Run(ctx context.Context, sink events.Sink) error {
	interval := time.Duration(float64(time.Second) / s.cfg.Rate)
	start := time.Now()
	for i := 0; i < s.cfg.Calls; i++ {
		// Pace against the start time, not the last call, so the rate holds
		// even when an Emit blocks for a moment.
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return nil
			}
		}
		if err := s.call(ctx, sink); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("simulated call %d: %w", i+1, err)
		}
	}
	return nil
}

func (s *Simulator) call(ctx context.Context, sink events.Sink) error {
	id := uuid.NewString()
	leg := uuid.NewString()
	base := events.Event{
		CallUUID: id, CallerIDNumber: s.cfg.Caller, DestinationNumber: s.cfg.Callee,
		Direction: events.Internal, LegUUID: leg, Source: "simulator",
	}
	steps := []func(e *events.Event){
		func(e *events.Event) {
			e.Kind, e.RoutedTo = events.CallRouted, &events.Target{Type: events.Extension, Target: s.cfg.Callee}
		},
		func(e *events.Event) { e.Kind = events.CallRinging },
		func(e *events.Event) { e.Kind = events.CallAnswer },
		func(e *events.Event) {
			e.Kind, e.Digit, e.DigitDuration, e.Party = events.CallInput, "1", 250*time.Millisecond, events.Caller
		},
		func(e *events.Event) { e.Kind, e.Party = events.CallHold, events.Caller },
		func(e *events.Event) { e.Kind, e.Party = events.CallUnhold, events.Caller },
		func(e *events.Event) {
			e.Kind = events.CallHangup
			e.Hangup = &events.Hangup{Cause: events.CauseNormalClearing, SIPCode: 200, By: events.Caller}
		},
	}
	for _, step := range steps {
		e := base
		step(&e)
		e.OccurredAt = time.Now()
		if err := sink.Emit(ctx, e); err != nil {
			return err
		}
	}
	return nil
}
