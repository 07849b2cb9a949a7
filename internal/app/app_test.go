package app

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// A SIGTERM that arrives while switchhook starts stops it without an
// error: the supervisor asked for it.
func TestStopWhileStartingIsNoFailure(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "switchhook.yaml")
	yaml := fmt.Sprintf("http: {listen: \"127.0.0.1:0\", admin_token: test-token}\ndata_dir: %q\nsip: {listen: [\"udp://127.0.0.1:0\", \"tcp://127.0.0.1:0\"]}\nlog: {level: error}\n", dir)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Serve(ctx, Options{ConfigPath: cfg, Logger: quiet, Stdout: io.Discard}); err != nil {
		t.Errorf("Serve stopped at start = %v, want nil", err)
	}
}
