//go:build race

package engine

// snapshotAllocRace: the race detector adds allocations of its own.
const snapshotAllocRace = true
