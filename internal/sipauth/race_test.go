//go:build race

package sipauth

// raceEnabled: the race detector makes sync.Pool drop what is put in it at
// random, so counts of allocations mean nothing under it.
const raceEnabled = true
