//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package sqlite

import (
	"errors"
	"os"
	"syscall"
)

// lock takes an exclusive advisory lock on a file beside the database, held
// until the returned file is closed or the process ends, however it ends.
// The lock is on a file of its own because closing any descriptor of the
// database file would drop the locks SQLite holds on it.
func lock(path string) (*os.File, error) {
	f, err := os.OpenFile(path+"-lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errInUse
		}
		return nil, err
	}
	return f, nil
}
