// Package soak holds the soak test: a child syncd under steady push load
// over many workspaces with SSE watchers and periodic snapshots, watched
// for goroutine and memory growth, errors and latency drift.
package soak
