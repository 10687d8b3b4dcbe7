package engine

import (
	"context"
	"math"
	"time"

	"github.com/or3/syncd/syncerr"
)

// AdminGC collects ws's history older than retention for an operator (the
// admin actions sync.gc-change-log and sync.gc-tombstones): the same
// batches, rules and logged events as GCChangeLog and GCTombstones, with
// no acting user (the service token is the authority) and no cap on the
// number of batches. Pushes interleave between batches.
func (e *Engine) AdminGC(ctx context.Context, ws string, retention time.Duration, tombstones bool) (GCResult, error) {
	if retention < MinRetentionSeconds*time.Second || retention > MaxRetentionSeconds*time.Second {
		return GCResult{}, syncerr.Validation("retentionSeconds must be between %d and %d", MinRetentionSeconds, MaxRetentionSeconds)
	}
	batch := e.gcChangeLogBatch
	if tombstones {
		batch = e.gcTombstonesBatch
	}
	return e.gcLoop(ctx, ws, retention, batch, math.MaxInt)
}

// Retention is the history window the maintenance loop keeps.
func (e *Engine) Retention() time.Duration { return e.cfg.History.Retention }
