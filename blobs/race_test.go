//go:build race

package blobs_test

const raceEnabled = true
