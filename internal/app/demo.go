package app

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/switchhook/switchhook/internal/config"
)

// demoExtensions returns extensions 1001-1003 with passwords generated on
// first start and kept in the data dir, so a phone set up once keeps working.
func demoExtensions(dataDir string) ([]config.Extension, error) {
	path := filepath.Join(dataDir, "demo-extensions")
	kept := map[string]string{}
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read demo extensions: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if num, pw, ok := strings.Cut(strings.TrimSpace(line), " "); ok {
			kept[num] = pw
		}
	}
	var exts []config.Extension
	var file strings.Builder
	for _, ext := range []config.Extension{{Number: "1001", Name: "Alice"}, {Number: "1002", Name: "Bob"}, {Number: "1003", Name: "Carol"}} {
		ext.Password = kept[ext.Number]
		if ext.Password == "" {
			ext.Password = randomToken(9)
		}
		exts = append(exts, ext)
		fmt.Fprintf(&file, "%s %s\n", ext.Number, ext.Password)
	}
	if err := os.WriteFile(path, []byte(file.String()), 0o600); err != nil {
		return nil, fmt.Errorf("keep demo extensions: %w", err)
	}
	return exts, nil
}
