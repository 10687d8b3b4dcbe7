package blobs

import (
	"context"

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
	return g.runGC(ctx, "admin", ws, retentionSeconds, limit)
}
