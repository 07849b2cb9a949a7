package simulator

import (
	"context"
	"fmt"
	"sync"
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
	// Step is the pause between a call's events; with it, calls overlap
	// and each runs on its own goroutine. Zero emits a call at once.
	Step time.Duration
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

// Run starts Calls calls at Rate and returns when all have ended or ctx is
// done; a call cut short by ctx is left without its CALL_HANGUP, as a crash
// would leave it.
func (s *Simulator) Run(ctx context.Context, sink events.Sink) error {
	interval := time.Duration(float64(time.Second) / s.cfg.Rate)
	start := time.Now()
	var wg sync.WaitGroup
	defer wg.Wait()
	errs := make(chan error, 1)
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
		if s.cfg.Step > 0 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := s.call(ctx, sink); err != nil && ctx.Err() == nil {
					select {
					case errs <- fmt.Errorf("simulated call %d: %w", i+1, err):
					default:
					}
				}
			}()
			continue
		}
		if err := s.call(ctx, sink); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("simulated call %d: %w", i+1, err)
		}
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
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
	for i, step := range steps {
		if i > 0 && s.cfg.Step > 0 {
			select {
			case <-time.After(s.cfg.Step):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		e := base
		step(&e)
		e.OccurredAt = time.Now()
		if err := sink.Emit(ctx, e); err != nil {
			return err
		}
	}
	return nil
}
