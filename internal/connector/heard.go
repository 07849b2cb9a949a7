package connector

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// heardEvery is how often, at most, the time the engine was last heard is
// written down while it talks.
const heardEvery = 5 * time.Second

// heardState is the file HeardPath names.
type heardState struct {
	LastHeard time.Time `json:"last_heard"`
}

// LastHeard reads when the engine was last heard by a previous run of the
// process (HeardPath), zero when it is not known: until then, every call
// the engine carried was as its events say, so a call that ended while
// switchhook was away is stamped no earlier.
func (l *Link) LastHeard() time.Time {
	if l.HeardPath == "" {
		return time.Time{}
	}
	b, err := os.ReadFile(l.HeardPath)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			l.Log.Warn("last contact with the engine unknown", "err", err)
		}
		return time.Time{}
	}
	var st heardState
	if err := json.Unmarshal(b, &st); err != nil {
		l.Log.Warn("last contact with the engine unreadable", "path", l.HeardPath, "err", err)
		return time.Time{}
	}
	return st.LastHeard
}

// KeepHeard writes at, when the engine was last heard, to HeardPath: at
// most every 5 s unless force (the connection's end).
func (l *Link) KeepHeard(at time.Time, force bool) {
	if l.HeardPath == "" || at.IsZero() || !force && at.Sub(l.heardSaved) < heardEvery || !at.After(l.heardSaved) {
		return
	}
	if err := writeHeard(l.HeardPath, at); err != nil {
		l.Log.Warn("last contact with the engine not kept", "err", err)
		return
	}
	l.heardSaved = at
}

// writeHeard replaces path's content atomically (a rename), so that a
// crash leaves the old time or the new, never half of one.
func writeHeard(path string, at time.Time) error {
	b, _ := json.Marshal(heardState{LastHeard: at.UTC()})
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("keep last contact: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("keep last contact: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("keep last contact: %w", err)
	}
	return nil
}
