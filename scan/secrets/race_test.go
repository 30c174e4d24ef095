//go:build race

package secrets

// raceEnabled: the race detector slows expressions about tenfold; long tests shrink.
const raceEnabled = true
