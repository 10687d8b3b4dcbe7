//go:build !race

package engine

const snapshotAllocRace = false
