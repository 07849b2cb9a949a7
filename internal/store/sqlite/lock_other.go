//go:build !(linux || darwin || dragonfly || freebsd || netbsd || openbsd)

package sqlite

import "os"

// lock does nothing where flock(2) is missing: there, keeping to one process
// per database file is up to the operator.
func lock(string) (*os.File, error) { return nil, nil }
