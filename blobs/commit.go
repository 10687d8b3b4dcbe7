package blobs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"strings"

	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/storage"
	"github.com/or3/syncd/syncerr"
)

// CommitAnswer is commit's answer.
type CommitAnswer struct {
	OK        bool   `json:"ok"`
	StorageID string `json:"storageId"`
}

// Commit checks the uploaded object against its intent (size, type and
// SHA-256), writes the file_meta row as a server-authored sync op, records
// the object and consumes the intent (side-modules §1.4 commitUpload).
func (g *Gateway) Commit(ctx context.Context, user string, req CommitRequest) (CommitAnswer, error) {
	ws, err := workspaceOf(req.WorkspaceID)
	if err != nil {
		return CommitAnswer{}, syncerr.Validation("Invalid commit payload: %v", err)
	}
	id := strings.TrimSpace(req.IntentID)
	name := strings.TrimSpace(req.Name)
	switch {
	case id == "" || len(id) > maxIDLen:
		return CommitAnswer{}, syncerr.Validation("Invalid commit payload: intent_id must be 1..256 characters")
	case len(req.Hash) == 0 || len(req.Hash) > maxHashLen:
		return CommitAnswer{}, syncerr.Validation("Invalid commit payload: hash must be 1..256 characters")
	case len(req.StorageID) > maxIDLen || len(req.StorageProviderID) > maxIDLen || len(req.MimeType) > maxMimeLen:
		return CommitAnswer{}, syncerr.Validation("Invalid commit payload: field too long")
	case !req.SizeBytes.Set || req.SizeBytes.V < 0:
		return CommitAnswer{}, syncerr.Validation("Invalid commit payload: size_bytes must be an integer >= 0")
	case name == "" || len(req.Name) > maxNameLen:
		return CommitAnswer{}, syncerr.Validation("Invalid commit payload: name must be 1..%d characters", maxNameLen)
	case req.Kind != "image" && req.Kind != "pdf":
		return CommitAnswer{}, syncerr.Validation("Invalid commit payload: kind must be image or pdf")
	}
	for _, d := range []optInt{req.Width, req.Height, req.PageCount} {
		if d.Set && d.V < 1 {
			return CommitAnswer{}, syncerr.Validation("Invalid commit payload: width, height and page_count must be positive integers")
		}
	}
	if err := g.cfg.Auth.Authorize(ctx, ws, user, true); err != nil {
		return CommitAnswer{}, err
	}

	mu := &g.commitLocks[stripe(id)]
	mu.Lock()
	defer mu.Unlock()

	in, err := g.cfg.Intents.Get(ctx, ws, id)
	if err != nil {
		return CommitAnswer{}, err
	}
	now := g.cfg.Now()
	hash, _ := NormalizeHash(req.Hash)
	key := StorageKey(ws, in.Hash)
	switch {
	case in.UserID != user:
		return CommitAnswer{}, syncerr.NotFound("Upload intent not found")
	case in.Status != "active":
		return CommitAnswer{}, syncerr.Conflict("Upload intent already consumed or cancelled")
	case in.ExpiresAt <= now.Unix():
		return CommitAnswer{}, syncerr.Conflict("Upload intent expired")
	case hash != in.Hash || req.SizeBytes.V != in.SizeBytes || NormalizeMime(req.MimeType) != in.MimeType:
		return CommitAnswer{}, syncerr.Conflict("Upload metadata does not match intent")
	case req.StorageID != "" && req.StorageID != key:
		return CommitAnswer{}, syncerr.Conflict("storage_id does not match the upload intent")
	}

	wl := &g.wsLocks[stripe(ws)]
	wl.RLock()
	defer wl.RUnlock()

	// The object, as the store has it.
	obj, err := g.store.Stat(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return CommitAnswer{}, syncerr.Conflict("Uploaded storage object not found")
	} else if err != nil {
		return CommitAnswer{}, storeErr(err)
	}
	if obj.Size != in.SizeBytes || NormalizeMime(obj.ContentType) != in.MimeType {
		g.removeStray(ctx, ws, in.Hash, key)
		return CommitAnswer{}, syncerr.Conflict("Uploaded object metadata does not match intent")
	}
	sum := obj.SHA256
	if sum == nil {
		if sum, err = g.hashObject(ctx, key); err != nil {
			return CommitAnswer{}, err
		}
	}
	if !bytes.Equal(sum, digestOf(in.Hash)) {
		g.removeStray(ctx, ws, in.Hash, key)
		return CommitAnswer{}, syncerr.Conflict("Uploaded object digest does not match intent")
	}

	// file_meta, through the engine (fresh op_id, one version, device
	// "server").
	v, err := g.view()
	if err != nil {
		return CommitAnswer{}, err
	}
	row, found, err := findFileRow(v, ws, in.Hash, strings.TrimSpace(req.Hash))
	v.Release()
	if err != nil {
		return CommitAnswer{}, syncerr.Internal(err, "read file_meta")
	}
	provider := req.StorageProviderID
	if provider == "" {
		provider = "syncd"
	}
	nowSec := now.Unix()
	pk := strings.TrimSpace(req.Hash)
	var payload map[string]any
	if found && row.Payload != nil {
		// An existing row (perhaps soft-deleted) keeps its metadata and
		// gets the new object (scenario 20).
		pk, payload = row.PK, row.Payload
		delete(payload, "deleted_at")
		delete(payload, "workspace_id")
	} else {
		payload = map[string]any{
			"name": name, "mime_type": in.MimeType, "kind": req.Kind,
			"size_bytes": in.SizeBytes, "created_at": nowSec,
		}
		if req.Width.Set {
			payload["width"] = req.Width.V
		}
		if req.Height.Set {
			payload["height"] = req.Height.V
		}
		if req.PageCount.Set {
			payload["page_count"] = req.PageCount.V
		}
	}
	payload["hash"] = pk
	payload["storage_id"] = key
	payload["storage_provider_id"] = provider
	payload["deleted"] = false
	payload["updated_at"] = nowSec
	body, err := json.Marshal(payload)
	if err != nil {
		return CommitAnswer{}, syncerr.Internal(err, "encode file_meta")
	}
	// file_meta first; then the intent is consumed, and the gateway's
	// record of the object commits in the consumption's batch. A failure
	// before the consumption leaves the intent active, so a retry
	// completes the commit (a row without its record only keeps GC from
	// collecting the object; the record is the gateway's, not the user's).
	rec := Record{PK: pk, StorageID: key, Size: in.SizeBytes, Mime: in.MimeType, StoredAtMs: now.UnixMilli()}
	if err := g.cfg.Sync.ServerWrite(ctx, ws, "file_meta", pk, "put", body); err != nil {
		return CommitAnswer{}, err
	}
	recorded := false
	err = g.cfg.Intents.Consume(ctx, user, Consumption{
		IntentID: id, WorkspaceID: ws, Hash: in.Hash, MimeType: in.MimeType, SizeBytes: in.SizeBytes, StorageID: key,
		Also: func(b *synclog.Batch) error {
			recorded = true
			return g.appendEvent(b, evStored, user, now.UnixMilli(), &eventBody{Workspace: ws, Hash: in.Hash, Rec: rec})
		},
	})
	if !recorded {
		// The intents live elsewhere (another region's), or refused the
		// consumption after file_meta was written: record the object here
		// all the same, so GC can collect it once the row is gone.
		if rerr := g.record(ctx, user, ws, in.Hash, rec, now.UnixMilli()); rerr != nil {
			g.log.Warn("could not record a committed object; GC will not collect it", "key", key, "err", rerr)
		}
	}
	if err != nil {
		return CommitAnswer{}, err
	}
	return CommitAnswer{OK: true, StorageID: key}, nil
}

// record commits a blob.stored event.
func (g *Gateway) record(ctx context.Context, user, ws, hash string, rec Record, atMs int64) error {
	b := g.db.NewBatch()
	defer b.Close()
	if err := g.appendEvent(b, evStored, user, atMs, &eventBody{Workspace: ws, Hash: hash, Rec: rec}); err != nil {
		return syncerr.Internal(err, "append")
	}
	if err := g.db.Commit(ctx, b); err != nil {
		return commitErr(err)
	}
	return nil
}

// hashObject streams the object through SHA-256 (stores that keep no
// digest).
func (g *Gateway) hashObject(ctx context.Context, key string) ([]byte, error) {
	rc, _, err := g.store.Get(ctx, key, 0, -1)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, syncerr.Conflict("Uploaded storage object not found")
	} else if err != nil {
		return nil, storeErr(err)
	}
	defer func() { _ = rc.Close() }() // read-only
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		return nil, storeErr(err)
	}
	return h.Sum(nil), nil
}

// removeStray deletes an object that failed its commit, unless the
// gateway stored it for an earlier commit (then it is good content that a
// file_meta row may use, and GC owns it).
func (g *Gateway) removeStray(ctx context.Context, ws, hash, key string) {
	v, err := g.view()
	if err != nil {
		return
	}
	raw, err := v.Get(recordKey(ws, hash))
	v.Release()
	if err != nil || raw != nil {
		return
	}
	if err := g.store.Delete(ctx, key); err != nil {
		g.log.Warn("could not remove a stray upload; it stays until a later commit or delete of the hash removes it", "key", key, "err", err)
	}
}
