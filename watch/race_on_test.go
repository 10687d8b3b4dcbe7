//go:build race

package watch

// raceEnabled: the race detector multiplies memory per goroutine, so
// memory figures are only checked without it.
const raceEnabled = true
