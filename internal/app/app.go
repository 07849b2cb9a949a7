package app

import (
	"context"
	"errors"
	"io"
	"log/slog"
)

// Options say how to run a process.
type Options struct {
	ConfigPath string       // empty: built-in defaults
	Version    string       // reported by /healthz and the User-Agent
	Stdout     io.Writer    // where first-start facts (generated token, demo passwords) are printed
	Logger     *slog.Logger // nil: text logs on stderr
}

// Serve runs switchhook until ctx is done.
func Serve(ctx context.Context, o Options) error {
	return errors.New("serve: not assembled yet")
}

// Migrate applies the store's migrations and returns.
func Migrate(ctx context.Context, o Options) error {
	return errors.New("migrate: not assembled yet")
}
