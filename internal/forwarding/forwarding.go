package forwarding

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/switchhook/switchhook/internal/dialplan"
	"github.com/switchhook/switchhook/internal/store"
)

// Where a forwarding in effect comes from.
const (
	FromConfig = "config" // the config file's, or none
	FromAPI    = "api"    // set at run time, kept in the store
)

// ErrUnknownExtension is returned (wrapped) for a number that is no
// extension of the PBX.
var ErrUnknownExtension = errors.New("not an extension")

// Setting is an extension's forwarding in effect.
type Setting struct {
	Number  string
	Forward dialplan.Forward
	Source  string    // FromConfig or FromAPI
	Updated time.Time // when the API set it; zero for the config's
}

// Store is the part of the store forwarding uses.
type Store interface {
	SetForward(ctx context.Context, f *store.Forward) error
	GetForward(ctx context.Context, number string) (*store.Forward, error)
	ListForwards(ctx context.Context) ([]*store.Forward, error)
	DeleteForward(ctx context.Context, number string) error
}

// Checker says whether an extension's forwarding can work; a
// *dialplan.Plan is one.
type Checker interface {
	CheckForward(ext string, f dialplan.Forward, ringTimeout time.Duration) error
}

// Config is what a Table serves.
type Config struct {
	// Extensions are the PBX's extension numbers, in the config's order,
	// with the forwarding the config file gives each (zero for none).
	Extensions []string
	Configured map[string]dialplan.Forward
	// Plan checks forwardings set at run time; RingTimeout is the PBX's.
	Plan        Checker
	RingTimeout time.Duration
}

// Table is the extensions' forwarding. It is safe for concurrent use: it
// keeps nothing of its own but the config, and reads the store each time.
type Table struct {
	st  Store
	cfg atomic.Pointer[Config]
	log *slog.Logger
}

// New makes a Table over st.
func New(st Store, cfg Config, log *slog.Logger) *Table {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &Table{st: st, log: log}
	t.cfg.Store(&cfg)
	return t
}

// Reconfigure serves cfg from now on: the config file was reloaded.
func (t *Table) Reconfigure(cfg Config) { t.cfg.Store(&cfg) }

func (t *Table) known(number string) error {
	if !slices.Contains(t.cfg.Load().Extensions, number) {
		return fmt.Errorf("%q: %w", number, ErrUnknownExtension)
	}
	return nil
}

func (t *Table) setting(number string, f *store.Forward) Setting {
	if f == nil {
		return Setting{Number: number, Forward: t.cfg.Load().Configured[number], Source: FromConfig}
	}
	return Setting{
		Number: number, Source: FromAPI, Updated: f.UpdatedAt,
		Forward: dialplan.Forward{
			Unconditional: f.Unconditional, UserBusy: f.UserBusy, NoAnswer: f.NoAnswer,
			NoAnswerAfter: f.NoAnswerAfter, Unavailable: f.Unavailable,
		},
	}
}

// Get returns number's forwarding in effect.
func (t *Table) Get(ctx context.Context, number string) (Setting, error) {
	if err := t.known(number); err != nil {
		return Setting{}, err
	}
	f, err := t.st.GetForward(ctx, number)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return t.setting(number, nil), nil
	case err != nil:
		return Setting{}, fmt.Errorf("forwarding of %s: %w", number, err)
	}
	return t.setting(number, f), nil
}

// List returns every extension's forwarding in effect, in the config's
// order.
func (t *Table) List(ctx context.Context) ([]Setting, error) {
	set, err := t.st.ListForwards(ctx)
	if err != nil {
		return nil, fmt.Errorf("forwarding: %w", err)
	}
	byNumber := make(map[string]*store.Forward, len(set))
	for _, f := range set {
		byNumber[f.Number] = f
	}
	exts := t.cfg.Load().Extensions
	out := make([]Setting, 0, len(exts))
	for _, n := range exts {
		out = append(out, t.setting(n, byNumber[n]))
	}
	return out, nil
}

// Set checks f against the dialplan and keeps it as number's forwarding.
// A refused f gives a *dialplan.FieldError naming the key at fault.
func (t *Table) Set(ctx context.Context, number string, f dialplan.Forward) (Setting, error) {
	if err := t.known(number); err != nil {
		return Setting{}, err
	}
	cfg := t.cfg.Load()
	if err := cfg.Plan.CheckForward(number, f, cfg.RingTimeout); err != nil {
		return Setting{}, err
	}
	row := &store.Forward{
		Number: number, Unconditional: f.Unconditional, UserBusy: f.UserBusy, NoAnswer: f.NoAnswer,
		NoAnswerAfter: f.NoAnswerAfter, Unavailable: f.Unavailable, UpdatedAt: time.Now().UTC(),
	}
	if err := t.st.SetForward(ctx, row); err != nil {
		return Setting{}, fmt.Errorf("forwarding of %s: %w", number, err)
	}
	return t.setting(number, row), nil
}

// Reset drops what the API set for number, so that the config's forwarding
// applies again, and returns it.
func (t *Table) Reset(ctx context.Context, number string) (Setting, error) {
	if err := t.known(number); err != nil {
		return Setting{}, err
	}
	if err := t.st.DeleteForward(ctx, number); err != nil && !errors.Is(err, store.ErrNotFound) {
		return Setting{}, fmt.Errorf("forwarding of %s: %w", number, err)
	}
	return t.setting(number, nil), nil
}

// Forward returns where calls to ext go, for the PBX routing a call. A
// store that does not answer does not stop the call: the config's
// forwarding applies, and the failure is logged.
func (t *Table) Forward(ctx context.Context, ext string) dialplan.Forward {
	s, err := t.Get(ctx, ext)
	if err != nil {
		if !errors.Is(err, ErrUnknownExtension) {
			t.log.Warn("forwarding: the store did not answer; the config's forwarding applies", "extension", ext, "err", err)
		}
		return t.cfg.Load().Configured[ext]
	}
	return s.Forward
}
