package blobs

import (
	"context"
	"errors"
	"strings"

	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/storage"
	"github.com/or3/syncd/syncerr"
)

// DeleteAnswer is delete's answer.
type DeleteAnswer struct {
	Deleted bool `json:"deleted"`
}

func commitErr(err error) error {
	switch {
	case errors.Is(err, synclog.ErrOverloaded):
		return syncerr.Unavailable(err, "server overloaded, retry later")
	case errors.Is(err, synclog.ErrUnhealthy), errors.Is(err, synclog.ErrClosed):
		return syncerr.Unavailable(err, "storage unavailable, retry later")
	}
	return syncerr.Internal(err, "commit failed")
}

// hashFromRequest is the normalized hash a delete names: its hash, or
// the one inside its storageId.
func hashFromRequest(ws, hash, storageID string) (string, error) {
	if strings.TrimSpace(hash) == "" {
		i := strings.LastIndexByte(storageID, '/')
		h, ok := NormalizeHash(storageID[i+1:])
		if !ok || StorageKey(ws, h) != storageID {
			return "", syncerr.Validation("hash is required (storageId does not name a file of this workspace)")
		}
		return h, nil
	}
	return sha256Of(hash)
}

// Delete removes an unreferenced file: its file_meta row (a server-
// authored delete: tombstone and change entry) and its object
// (side-modules §1.4 deleteObject). Nothing to delete → {deleted:false}.
func (g *Gateway) Delete(ctx context.Context, user string, req DeleteRequest) (DeleteAnswer, error) {
	ws, err := g.workspaceFor(ctx, req.WorkspaceID, user, true)
	if err != nil {
		return DeleteAnswer{}, err
	}
	if len(req.StorageID) > maxIDLen {
		return DeleteAnswer{}, syncerr.Validation("storageId must be at most %d characters", maxIDLen)
	}
	hash, err := hashFromRequest(ws, req.Hash, req.StorageID)
	if err != nil {
		return DeleteAnswer{}, err
	}
	key := StorageKey(ws, hash)

	wl := &g.wsLocks[stripe(ws)]
	wl.Lock()
	defer wl.Unlock()

	v, err := g.view()
	if err != nil {
		return DeleteAnswer{}, err
	}
	row, rowFound, err := findFileRow(v, ws, hash, strings.TrimSpace(req.Hash))
	var rec Record
	recFound := false
	if err == nil {
		recFound, err = synclog.GetRecord(v, recordKey(ws, hash), &rec)
	}
	if err != nil {
		v.Release()
		return DeleteAnswer{}, syncerr.Internal(err, "read")
	}
	if (!rowFound || row.Tombstoned) && !recFound {
		v.Release()
		return DeleteAnswer{}, nil // nothing left: an idempotent retry
	}
	if req.StorageID != "" && req.StorageID != key {
		v.Release()
		return DeleteAnswer{}, syncerr.Conflict("storage_id does not match workspace file metadata")
	}
	refs, err := referenced(v, ws, map[string]bool{hash: true})
	v.Release()
	if errors.Is(err, errUnprovable) {
		return DeleteAnswer{}, syncerr.Conflict("Unable to prove file is unreferenced")
	} else if err != nil {
		return DeleteAnswer{}, syncerr.Internal(err, "read references")
	}
	if refs[hash] {
		return DeleteAnswer{}, syncerr.Conflict("Cannot delete a referenced file")
	}
	// Reach the object store before changing anything: an outage is a
	// 503 with nothing done.
	if _, err := g.store.Stat(ctx, key); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return DeleteAnswer{}, storeErr(err)
	}
	if rowFound && !row.Tombstoned {
		if err := g.cfg.Sync.ServerWrite(ctx, ws, "file_meta", row.PK, "delete", nil); err != nil {
			return DeleteAnswer{}, err
		}
	}
	if err := g.store.Delete(ctx, key); err != nil {
		return DeleteAnswer{}, storeErr(err)
	}
	if recFound {
		if err := g.forget(ctx, user, ws, []string{hash}); err != nil {
			return DeleteAnswer{}, err
		}
	}
	return DeleteAnswer{Deleted: true}, nil
}

// forget records objects as deleted, in batches of at most MaxGCLimit.
func (g *Gateway) forget(ctx context.Context, user, ws string, hashes []string) error {
	for len(hashes) > 0 {
		n := min(len(hashes), MaxGCLimit)
		if err := g.forgetBatch(ctx, user, ws, hashes[:n]); err != nil {
			return err
		}
		hashes = hashes[n:]
	}
	return nil
}

func (g *Gateway) forgetBatch(ctx context.Context, user, ws string, hashes []string) error {
	b := g.db.NewBatch()
	defer b.Close()
	atMs := g.cfg.Now().UnixMilli()
	for _, h := range hashes {
		if err := g.appendEvent(b, evDeleted, user, atMs, &eventBody{Workspace: ws, Hash: h}); err != nil {
			return syncerr.Internal(err, "append")
		}
	}
	if err := g.db.Commit(ctx, b); err != nil {
		return commitErr(err)
	}
	return nil
}

// GC deletes the objects of files deleted longer than retention_seconds
// ago that no live message or post references, at most limit per call
// (side-modules §1.4 gcDeletedFiles). It pages through every object the
// gateway stored for the workspace and, per page of candidates, through
// every message and post: no row cap, so large workspaces collect too.
func (g *Gateway) GC(ctx context.Context, user string, req GCRequest) (GCAnswer, error) {
	ws, err := workspaceOf(req.WorkspaceID)
	if err != nil {
		return GCAnswer{}, syncerr.Validation("Invalid gc payload: %v", err)
	}
	if err := g.cfg.Auth.Authorize(ctx, ws, user, true); err != nil {
		return GCAnswer{}, err
	}
	if !req.RetentionSeconds.Set || req.RetentionSeconds.V < 0 {
		return GCAnswer{}, syncerr.Validation("Invalid retention window")
	}
	limit := int64(DefaultGCLimit)
	if req.Limit.Set {
		if req.Limit.V < 1 || req.Limit.V > MaxGCLimit {
			return GCAnswer{}, syncerr.Validation("GC limit must be between 1 and %d", MaxGCLimit)
		}
		limit = req.Limit.V
	}
	return g.runGC(ctx, user, ws, req.RetentionSeconds.V, int(limit))
}

// runGC is GC for ws once the call is validated and authorized; actor is
// recorded on the events (a user, or "admin" for the operator action).
func (g *Gateway) runGC(ctx context.Context, actor, ws string, retentionSeconds int64, limit int) (GCAnswer, error) {
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
			deleted, err := g.collect(ctx, actor, ws, cands, limit-ans.DeletedCount)
			ans.DeletedCount += deleted
			if errors.Is(err, errUnprovable) {
				return ans, nil // fail closed: nothing more is collected
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

// gcPage reads up to n stored objects of ws after key `after` and returns
// those whose file_meta row is deleted at or before cutoffMs (or gone),
// and the key to continue after (nil at the end).
func (g *Gateway) gcPage(ws string, after []byte, n int, cutoffMs int64) (map[string]Record, []byte, int, error) {
	v, err := g.view()
	if err != nil {
		return nil, nil, 0, err
	}
	defer v.Release()
	prefix := recordPrefix(ws)
	lower := prefix
	if after != nil {
		lower = append(append([]byte(nil), after...), 0)
	}
	it, err := v.NewIter(lower, synclog.PrefixEnd(prefix))
	if err != nil {
		return nil, nil, 0, syncerr.Internal(err, "read")
	}
	defer func() { _ = it.Close() }() // read-only
	cands := map[string]Record{}
	scanned := 0
	var last []byte
	for it.First(); it.Valid() && scanned < n; it.Next() {
		scanned++
		last = append(last[:0], it.Key()...)
		var rec Record
		if err := synclog.Decode(it.Key(), it.Value(), &rec); err != nil {
			return nil, nil, 0, syncerr.Internal(err, "read")
		}
		hash := string(it.Key()[len(prefix):])
		row, found, err := readFileRow(v, ws, rec.PK)
		if err != nil {
			return nil, nil, 0, syncerr.Internal(err, "read")
		}
		if !found || (!row.Live && row.DeletedAtMs > 0 && row.DeletedAtMs <= cutoffMs) {
			cands[hash] = rec
		}
	}
	if !it.Valid() {
		return cands, nil, scanned, nil
	}
	return cands, last, scanned, nil
}

// collect deletes up to max of the candidates that nothing references and
// records them gone. It answers how many it deleted.
func (g *Gateway) collect(ctx context.Context, user, ws string, cands map[string]Record, max int) (int, error) {
	v, err := g.view()
	if err != nil {
		return 0, err
	}
	want := make(map[string]bool, len(cands))
	for h := range cands {
		want[h] = true
	}
	refs, err := referenced(v, ws, want)
	v.Release()
	if err != nil {
		if errors.Is(err, errUnprovable) {
			return 0, err
		}
		return 0, syncerr.Internal(err, "read references")
	}
	var gone []string
	var storeFail error
	for h, rec := range cands {
		if len(gone) == max {
			break
		}
		if refs[h] {
			continue
		}
		if err := g.store.Delete(ctx, rec.StorageID); err != nil {
			storeFail = storeErr(err)
			break
		}
		gone = append(gone, h)
	}
	if err := g.forget(ctx, user, ws, gone); err != nil {
		return 0, err
	}
	return len(gone), storeFail
}
