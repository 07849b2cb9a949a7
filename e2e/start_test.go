package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serveConfig writes cfg (a whole config file) into a new directory and
// returns its path.
func serveConfig(t *testing.T, cfg string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "switchhook.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// serveFails runs switchhook serve on config, which must not start: it
// fails the test unless the process exits by itself, with a code other
// than 0, within 30s, having never said it is up nor answered /healthz on
// httpPort. It returns the exit code and the last line of the output.
func serveFails(t *testing.T, config string, httpPort int) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "serve", "--config", config)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// The port may be held by a listener that never answers (the test's
	// own, when the port is taken): every probe has a deadline.
	probe := &http.Client{Timeout: 500 * time.Millisecond}
	var err error
	for waiting := true; waiting; {
		select {
		case err = <-done:
			waiting = false
		case <-time.After(20 * time.Millisecond):
			if resp, herr := probe.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", httpPort)); herr == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					t.Errorf("/healthz answered 200 by a process that cannot start")
				}
			}
		}
	}
	if ctx.Err() != nil {
		t.Fatalf("switchhook did not exit within 30s:\n%s", out.String())
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("switchhook exited with %v, want an exit code other than 0:\n%s", err, out.String())
	}
	if strings.Contains(out.String(), "switchhook is up") {
		t.Errorf("a process that cannot start said it is up:\n%s", out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	return exit.ExitCode(), lines[len(lines)-1]
}

// busy holds a loopback port of network ("udp" or "tcp") until the test
// ends and returns it.
func busy(t *testing.T, network string) int {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.Addr().(*net.TCPAddr).Port
}

// TestStartFailuresNameThePart starts switchhook where one part cannot
// start and checks that the process exits with code 1 and one line naming
// the part and the address or path.
func TestStartFailuresNameThePart(t *testing.T) {
	t.Parallel()
	base := func(t *testing.T, httpPort int, dataDir, extra string) string {
		return fmt.Sprintf("http: {listen: \"127.0.0.1:%d\", admin_token: %s}\ndata_dir: %q\nnode: e2e\nlog: {level: info}\n%s", httpPort, testToken, dataDir, extra)
	}
	for _, tc := range []struct {
		name string
		// config returns the config and the HTTP port and the line wanted.
		config func(t *testing.T) (cfg string, httpPort int, want string)
	}{
		{"sip udp port taken", func(t *testing.T) (string, int, string) {
			udp, tcp, port := busy(t, "udp"), freePort(t), freePort(t)
			sip := fmt.Sprintf("sip: {listen: [\"udp://127.0.0.1:%d\", \"tcp://127.0.0.1:%d\"]}\n", udp, tcp)
			return base(t, port, t.TempDir(), sip), port, fmt.Sprintf("Error: sip: listen udp 127.0.0.1:%d: bind: address already in use", udp)
		}},
		{"sip tcp port taken", func(t *testing.T) (string, int, string) {
			udp, tcp, port := freeUDPPort(t), busy(t, "tcp"), freePort(t)
			sip := fmt.Sprintf("sip: {listen: [\"udp://127.0.0.1:%d\", \"tcp://127.0.0.1:%d\"]}\n", udp, tcp)
			return base(t, port, t.TempDir(), sip), port, fmt.Sprintf("Error: sip: listen tcp 127.0.0.1:%d: bind: address already in use", tcp)
		}},
		{"http port taken", func(t *testing.T) (string, int, string) {
			port := busy(t, "tcp")
			return base(t, port, t.TempDir(), "sip: {enabled: false}\n"), port, fmt.Sprintf("Error: http: listen tcp 127.0.0.1:%d: bind: address already in use", port)
		}},
		{"data dir cannot be made", func(t *testing.T) (string, int, string) {
			file := filepath.Join(t.TempDir(), "a-file")
			if err := os.WriteFile(file, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			port := freePort(t)
			return base(t, port, filepath.Join(file, "data"), "sip: {enabled: false}\n"), port, fmt.Sprintf("Error: data_dir: mkdir %s: not a directory", file)
		}},
		{"sqlite directory cannot be made", func(t *testing.T) (string, int, string) {
			file := filepath.Join(t.TempDir(), "a-file")
			if err := os.WriteFile(file, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			port := freePort(t)
			db := filepath.Join(file, "db", "switchhook.db")
			store := fmt.Sprintf("store: {dsn: \"sqlite://%s\"}\nsip: {enabled: false}\n", db)
			return base(t, port, t.TempDir(), store), port, fmt.Sprintf("Error: store: open sqlite %s: create its directory: mkdir %s: not a directory", db, file)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, port, want := tc.config(t)
			code, last := serveFails(t, serveConfig(t, cfg), port)
			if code != 1 || last != want {
				t.Errorf("exit code %d, last line\n  %s\nwant exit code 1 and\n  %s", code, last, want)
			}
		})
	}
}

// TestMissingSQLiteDirectoryIsMade starts switchhook on a SQLite file whose
// directory does not exist yet: it is made, readable by switchhook alone.
func TestMissingSQLiteDirectoryIsMade(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "not", "yet")
	srv := StartServer(t, fmt.Sprintf("store: {dsn: \"sqlite://%s/switchhook.db\"}\n", dir))
	srv.API("GET", "/v1/endpoints", nil, http.StatusOK, nil)
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("%s made with mode %v, want 0700", dir, fi.Mode().Perm())
	}
}
