package blobs

import (
	"context"
	"errors"

	"github.com/or3/syncd/syncerr"
)

// AdminGC is GC for an operator (the admin action storage.gc): the same
// pages, reference checks and logged events, for workspace ws, with no
// acting user to authorize (the service token is the authority; events
// record actor "admin"). limit ≤ 0 takes DefaultGCLimit.
func (g *Gateway) AdminGC(ctx context.Context, ws string, retentionSeconds int64, limit int) (GCAnswer, error) {
	if ws == "" || retentionSeconds < 0 {
		return GCAnswer{}, syncerr.Validation("storage.gc needs a workspace and a retention ≥ 0")
	}
	if limit <= 0 {
		limit = DefaultGCLimit
	}
	cutoffMs := g.cfg.Now().UnixMilli() - retentionSeconds*1000
	page := max(4*limit, 100)
	wl := &g.wsLocks[stripe(ws)]
	wl.Lock()
	defer wl.Unlock()
	var ans GCAnswer
	var after []byte
	for ans.DeletedCount < limit {
		cands, next, scanned, err := g.gcPage(ws, after, page, cutoffMs)
		if err != nil {
			return ans, err
		}
		ans.ScannedCount += scanned
		if len(cands) > 0 {
			deleted, err := g.collect(ctx, "admin", ws, cands, limit-ans.DeletedCount)
			ans.DeletedCount += deleted
			if errors.Is(err, errUnprovable) {
				return ans, nil
			} else if err != nil {
				return ans, err
			}
		}
		if next == nil {
			break
		}
		after = next
	}
	return ans, nil
}
