package app

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"
)

// journal records the order parts stop in.
type journal struct {
	mu      sync.Mutex
	stopped []string
}

func (j *journal) add(name string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.stopped = append(j.stopped, name)
}

// runs until ctx is done, then notes its stop.
func (j *journal) runs(name string) func(context.Context) error {
	return func(ctx context.Context) error {
		<-ctx.Done()
		j.add(name)
		return nil
	}
}

var quiet = slog.New(slog.DiscardHandler)

func TestAPartThatCannotStartStopsThoseStarted(t *testing.T) {
	t.Parallel()
	j := &journal{}
	ps := &parts{log: quiet}
	ctx := context.Background()
	for _, name := range []string{"store", "recorder"} {
		if err := ps.start(ctx, newPart(name, j.runs(name), nil)); err != nil {
			t.Fatal(err)
		}
	}
	never := make(chan struct{})
	err := ps.start(ctx, newPart("sip", func(context.Context) error {
		return errors.New("listen udp 127.0.0.1:5060: bind: address already in use")
	}, never))
	if err == nil || err.Error() != "sip: listen udp 127.0.0.1:5060: bind: address already in use" {
		t.Errorf("start = %v", err)
	}
	if want := []string{"recorder", "store"}; !slices.Equal(j.stopped, want) {
		t.Errorf("stopped %v, want %v", j.stopped, want)
	}
}

func TestAPartThatDiesStopsTheOthers(t *testing.T) {
	t.Parallel()
	j := &journal{}
	ps := &parts{log: quiet}
	ctx := context.Background()
	die := make(chan struct{})
	for _, p := range []*part{
		newPart("delivery", j.runs("delivery"), nil),
		newPart("sip", func(ctx context.Context) error {
			select {
			case <-die:
				j.add("sip")
				return errors.New("serve: use of closed network connection")
			case <-ctx.Done():
				return nil
			}
		}, nil),
		newPart("simulator", func(context.Context) error { return nil }, nil), // done with its calls
		newPart("http", j.runs("http"), nil),
	} {
		if err := ps.start(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- ps.wait(ctx) }()
	select {
	case err := <-done:
		t.Fatalf("wait returned %v while every part ran", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(die)
	err := <-done
	if err == nil || err.Error() != "sip: serve: use of closed network connection" {
		t.Errorf("wait = %v", err)
	}
	if want := []string{"sip", "http", "delivery"}; !slices.Equal(j.stopped, want) {
		t.Errorf("stopped %v, want %v", j.stopped, want)
	}
}

func TestPartsStopInReverseWhenAsked(t *testing.T) {
	t.Parallel()
	j := &journal{}
	ps := &parts{log: quiet}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	close(ready)
	for _, name := range []string{"delivery", "recorder", "http"} {
		if err := ps.start(ctx, newPart(name, j.runs(name), ready)); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	if err := ps.wait(ctx); err != nil {
		t.Errorf("wait = %v", err)
	}
	if want := []string{"http", "recorder", "delivery"}; !slices.Equal(j.stopped, want) {
		t.Errorf("stopped %v, want %v", j.stopped, want)
	}
}
