package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
)

// A part is one piece of a running process, with the contract of River's
// startstop services: Start returns once the part is up (its listeners
// bound, its state recovered) or with the reason it cannot be; Done is
// closed when it has stopped, by itself or by Stop, and Err then says why
// (nil for a clean stop); Stop asks it to stop and waits until it has.
type part struct {
	name string
	run  func(ctx context.Context) error
	// ready is closed once run has started the part; nil means the part is
	// up as soon as run is called.
	ready <-chan struct{}

	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

func newPart(name string, run func(context.Context) error, ready <-chan struct{}) *part {
	return &part{name: name, run: run, ready: ready, done: make(chan struct{})}
}

// Start runs the part until Stop and waits until it is up. ctx bounds the
// wait only: the part runs on after Start has returned.
func (p *part) Start(ctx context.Context) error {
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.cancel = cancel
	go func() {
		defer close(p.done)
		p.err = p.run(runCtx)
		if errors.Is(p.err, context.Canceled) && runCtx.Err() != nil {
			p.err = nil
		}
	}()
	if p.ready == nil {
		return nil
	}
	select {
	case <-p.ready:
		return nil
	case <-p.done:
		if p.err == nil {
			return fmt.Errorf("%s: stopped before it started", p.name)
		}
		return fmt.Errorf("%s: %w", p.name, p.err)
	case <-ctx.Done():
		p.Stop()
		return fmt.Errorf("%s: start: %w", p.name, ctx.Err())
	}
}

// Done is closed once the part has stopped.
func (p *part) Done() <-chan struct{} { return p.done }

// Err is why the part stopped; read it once Done is closed.
func (p *part) Err() error { return p.err }

// Stop stops the part and waits until it has stopped.
func (p *part) Stop() {
	p.cancel()
	<-p.done
}

// parts runs the parts of a process: started in order, each only once the
// one before is up, and stopped in the reverse order.
type parts struct {
	log     *slog.Logger
	started []*part
}

// start starts p; when it cannot start, the parts started before it are
// stopped and the error names p.
func (ps *parts) start(ctx context.Context, p *part) error {
	if err := p.Start(ctx); err != nil {
		ps.stop()
		return err
	}
	ps.started = append(ps.started, p)
	return nil
}

// wait waits until ctx is done or a part fails, stops every part (the one
// that failed first named in the log) and returns the failure, if any. A
// part that ends without an error (the simulator, its calls made) leaves
// the others running.
func (ps *parts) wait(ctx context.Context) error {
	failed := make(chan *part, len(ps.started))
	for _, p := range ps.started {
		go func() {
			select {
			case <-p.Done():
				if p.Err() != nil {
					failed <- p
				} else if ctx.Err() == nil {
					ps.log.Info("finished", "part", p.name)
				}
			case <-ctx.Done():
			}
		}()
	}
	var err error
	select {
	case <-ctx.Done():
		ps.log.Info("shutting down")
	case p := <-failed:
		err = fmt.Errorf("%s: %w", p.name, p.Err())
		ps.log.Error("a part stopped; shutting down the others", "part", p.name, "err", p.Err())
	}
	ps.stop()
	return err
}

// stop stops the started parts, the last started first.
func (ps *parts) stop() {
	for i := len(ps.started) - 1; i >= 0; i-- {
		ps.started[i].Stop()
	}
	ps.started = nil
}
