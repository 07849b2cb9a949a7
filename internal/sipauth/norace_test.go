//go:build !race

package sipauth

const raceEnabled = false
