package blobs

import (
	"context"
	"encoding/json"
	"errors"
	"hash/fnv"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/storage"
	"github.com/or3/syncd/syncerr"
)

// Gateway is the storage gateway.
type Gateway struct {
	cfg       Config
	db        *synclog.DB
	store     storage.Store
	presigner storage.Presigner // nil for fs
	log       *slog.Logger
	allowAny  bool

	// commitLocks serialize commits of one intent (striped by id), so two
	// concurrent commits of it cannot both write file_meta.
	commitLocks [64]sync.Mutex
	// wsLocks: delete and GC of a workspace hold the write side, commits
	// the read side (striped), so GC never removes an object a commit is
	// reviving.
	wsLocks [64]sync.RWMutex

	// The abandoned-upload sweep (sweep.go). presignLocks: presign-upload
	// holds the read side (striped by workspace) while it records a URL,
	// the sweep the write side while it decides on an object, so a sweep
	// never removes content a presign is handing out a URL for (and GC,
	// which holds wsLocks, never delays a presign).
	presignLocks        [64]sync.RWMutex
	sweepMu             sync.Mutex // one sweep at a time
	sweeps              sweepCounters
	loopOnce, closeOnce sync.Once
	loopStop, loopDone  chan struct{}
	ticker              func(time.Duration) (<-chan time.Time, func()) // tests tick by hand
}

// New returns a gateway.
func New(cfg Config) (*Gateway, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	g := &Gateway{cfg: cfg, db: cfg.DB, store: cfg.Store, log: cfg.Logger.With("component", "blobs"),
		loopStop: make(chan struct{}), loopDone: make(chan struct{}), ticker: realTicker}
	g.presigner, _ = cfg.Store.(storage.Presigner)
	g.allowAny = slices.Contains(cfg.MimeAllow, "*")
	return g, nil
}

func stripe(s string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(s))
	return int(h.Sum32() % 64)
}

// Call runs one storage operation ("presign-upload", "presign-download",
// "commit", "delete", "gc") for user with the JSON body. The answer is
// marshalled as the response; errors are *syncerr.Error.
func (g *Gateway) Call(ctx context.Context, user, op string, body json.RawMessage) (any, error) {
	if user == "" {
		return nil, syncerr.Unauthorized("the X-Syncd-User header naming the acting user is required")
	}
	switch op {
	case "presign-upload":
		return run(body, "", func(r PresignUploadRequest) (any, error) { return g.PresignUpload(ctx, user, r) })
	case "presign-download":
		return run(body, "", func(r PresignDownloadRequest) (any, error) { return g.PresignDownload(ctx, user, r) })
	case "commit":
		return run(body, "Invalid commit payload", func(r CommitRequest) (any, error) { return g.Commit(ctx, user, r) })
	case "delete":
		return run(body, "", func(r DeleteRequest) (any, error) { return g.Delete(ctx, user, r) })
	case "gc":
		return run(body, "Invalid gc payload", func(r GCRequest) (any, error) { return g.GC(ctx, user, r) })
	}
	return nil, syncerr.NotFound("unknown storage operation %q", op)
}

// workspaceFor is the workspace a call names, once user may read it
// (write=false) or write it.
func (g *Gateway) workspaceFor(ctx context.Context, raw, user string, write bool) (string, error) {
	ws, err := workspaceOf(raw)
	if err != nil {
		return "", err
	}
	return ws, g.cfg.Auth.Authorize(ctx, ws, user, write)
}

// sha256Of is a request's SHA-256 digest, normalized (400 unless it is
// one).
func sha256Of(h string) (string, error) {
	if len(h) > maxHashLen {
		return "", syncerr.Validation("Invalid SHA-256 digest")
	}
	norm, ok := NormalizeHash(h)
	if !ok {
		return "", syncerr.Validation("Invalid SHA-256 digest")
	}
	return norm, nil
}

// run decodes body into an R and calls op with it. A body that does not
// decode is a 400; with a non-empty prefix its message is the spec's
// ("Invalid commit payload: …").
func run[R any](body json.RawMessage, prefix string, op func(R) (any, error)) (any, error) {
	var req R
	if err := decode(body, &req); err != nil {
		if prefix != "" {
			return nil, syncerr.Validation("%s: %v", prefix, err)
		}
		return nil, err
	}
	return op(req)
}

// storeErr maps a blob-store failure: a store that cannot be reached is
// 503 (the client retries; nothing was changed).
func storeErr(err error) error {
	if _, ok := syncerr.As(err); ok {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return syncerr.Unavailable(err, "object store did not answer in time")
	}
	return syncerr.Unavailable(err, "object store unavailable, retry later")
}

func (g *Gateway) view() (*synclog.View, error) {
	v := g.db.View()
	if v == nil {
		return nil, syncerr.Unavailable(synclog.ErrUnhealthy, "storage unavailable, retry later")
	}
	return v, nil
}

// mimeAllowed reports whether the allowlist has mime, its "type/*" or "*".
func (g *Gateway) mimeAllowed(mime string) bool {
	if g.allowAny || slices.Contains(g.cfg.MimeAllow, mime) {
		return true
	}
	if i := strings.IndexByte(mime, '/'); i > 0 {
		return slices.Contains(g.cfg.MimeAllow, mime[:i]+"/*")
	}
	return false
}

func grantTTL(o optInt) (time.Duration, error) {
	if !o.Set {
		return DefaultGrantTTL, nil
	}
	if o.V < 1 {
		return 0, syncerr.Validation("expiresInMs must be a positive integer")
	}
	return min(time.Duration(o.V)*time.Millisecond, MaxGrantTTL), nil
}

func dispositionOf(d string) (string, error) {
	switch d {
	case "", "inline", "attachment":
		return d, nil
	}
	return "", syncerr.Validation("disposition must be inline or attachment")
}

// grantOptions validates a presign call's URL lifetime and disposition.
func grantOptions(expiresInMs optInt, disposition string) (time.Duration, string, error) {
	ttl, err := grantTTL(expiresInMs)
	if err != nil {
		return 0, "", err
	}
	disp, err := dispositionOf(disposition)
	return ttl, disp, err
}

// PresignUpload validates an upload, reserves its intent (or adopts one
// reserved through the sync endpoints) and returns where to PUT the bytes.
func (g *Gateway) PresignUpload(ctx context.Context, user string, req PresignUploadRequest) (PresignAnswer, error) {
	ws, err := g.workspaceFor(ctx, req.WorkspaceID, user, true)
	if err != nil {
		return PresignAnswer{}, err
	}
	if !req.SizeBytes.Set || req.SizeBytes.V < 1 {
		return PresignAnswer{}, syncerr.Validation("File size must be a positive integer")
	}
	size := req.SizeBytes.V
	if size > g.cfg.MaxFileBytes {
		return PresignAnswer{}, syncerr.Oversized("File size %d exceeds maximum allowed size of %d bytes", size, g.cfg.MaxFileBytes)
	}
	hash, err := sha256Of(req.Hash)
	if err != nil {
		return PresignAnswer{}, err
	}
	mime := NormalizeMime(req.MimeType)
	if mime == "" || len(mime) > maxMimeLen {
		return PresignAnswer{}, syncerr.Validation("Invalid MIME type")
	}
	if !g.mimeAllowed(mime) {
		return PresignAnswer{}, syncerr.UnsupportedMedia("MIME type %s not allowed", mime)
	}
	var quota *int64
	if req.WorkspaceQuotaBytes.Set {
		if req.WorkspaceQuotaBytes.V < 1 {
			return PresignAnswer{}, syncerr.Validation("Invalid workspace quota")
		}
		quota = &req.WorkspaceQuotaBytes.V
	}
	ttl, disp, err := grantOptions(req.ExpiresInMs, req.Disposition)
	if err != nil {
		return PresignAnswer{}, err
	}
	now := g.cfg.Now()
	key := StorageKey(ws, hash)
	// The URL first: if the object store cannot presign, no intent is
	// left reserved.
	ans, err := g.uploadURL(ctx, key, size, mime, hash, ttl, now)
	if err != nil {
		return PresignAnswer{}, err
	}
	// The URL is recorded for the abandoned-upload sweep before it is
	// handed out; the read lock keeps a sweep from deciding on this
	// workspace's content meanwhile.
	pl := &g.presignLocks[stripe(ws)]
	pl.RLock()
	defer pl.RUnlock()
	urlExp := time.UnixMilli(ans.ExpiresAt)
	var in Intent
	if id := strings.TrimSpace(req.IntentID); id != "" {
		if in, err = g.cfg.Intents.Get(ctx, ws, id); err != nil {
			return PresignAnswer{}, err
		}
		switch {
		case in.UserID != user:
			return PresignAnswer{}, syncerr.NotFound("Upload intent not found")
		case in.Status != "active" || in.ExpiresAt <= now.Unix():
			return PresignAnswer{}, syncerr.Conflict("Upload intent is not active")
		case in.Hash != hash || in.MimeType != mime || in.SizeBytes != size:
			return PresignAnswer{}, syncerr.Conflict("Upload metadata does not match intent")
		}
		if err := g.notePending(ctx, user, ws, hash, key, g.sweepAt(urlExp, time.Unix(in.ExpiresAt, 0))); err != nil {
			return PresignAnswer{}, err
		}
	} else {
		// The record of the URL commits in the reservation's batch (both
		// or neither); an Intents that reserves elsewhere leaves it to us.
		intentExp := now.Add(IntentTTL)
		pend := pendingBody{Workspace: ws, Hash: hash, P: Pending{StorageID: key, SweepAtMs: g.sweepAt(urlExp, intentExp).UnixMilli()}}
		noted := false
		in, err = g.cfg.Intents.Reserve(ctx, user, Reservation{
			WorkspaceID: ws, Hash: hash, MimeType: mime, SizeBytes: size,
			ExpiresAt: intentExp.Unix(), WorkspaceQuotaBytes: quota,
			Also: func(b *synclog.Batch) error {
				noted = true
				return g.appendPending(b, evPending, user, now, &pend)
			},
		})
		if err == nil && !noted {
			err = g.commitPending(ctx, evPending, user, now, []pendingBody{pend})
		}
		if err != nil {
			return PresignAnswer{}, err
		}
	}
	ans.IntentID = in.IntentID
	ans.IntentExpiresAt = in.ExpiresAt * 1000
	ans.Disposition = disp
	return ans, nil
}

func (g *Gateway) uploadURL(ctx context.Context, key string, size int64, mime, hash string, ttl time.Duration, now time.Time) (PresignAnswer, error) {
	exp := now.Add(ttl)
	ans := PresignAnswer{Method: http.MethodPut, StorageID: key, ExpiresAt: exp.UnixMilli(), Headers: map[string]string{"Content-Type": mime}}
	if g.presigner != nil {
		u, h, err := g.presigner.PresignPut(ctx, key, storage.PutOptions{Size: size, ContentType: mime, SHA256: digestOf(hash)}, ttl)
		if err != nil {
			return PresignAnswer{}, storeErr(err)
		}
		ans.URL = u
		for k := range h {
			ans.Headers[k] = h.Get(k)
		}
		return ans, nil
	}
	gr := Grant{Op: OpPut, ExpiresAtMs: exp.UnixMilli(), Size: size, Key: key, ContentType: mime}
	copy(gr.SHA256[:], digestOf(hash))
	tok, err := EncodeGrant(g.cfg.GrantKey, gr)
	if err != nil {
		return PresignAnswer{}, syncerr.Internal(err, "grant")
	}
	ans.URL = g.cfg.BlobPath + tok
	return ans, nil
}

// PresignDownload returns where to GET a live file of the workspace (read
// role); 404 when its metadata or its object is missing.
func (g *Gateway) PresignDownload(ctx context.Context, user string, req PresignDownloadRequest) (PresignAnswer, error) {
	ws, err := g.workspaceFor(ctx, req.WorkspaceID, user, false)
	if err != nil {
		return PresignAnswer{}, err
	}
	hash, err := sha256Of(req.Hash)
	if err != nil {
		return PresignAnswer{}, err
	}
	ttl, disp, err := grantOptions(req.ExpiresInMs, req.Disposition)
	if err != nil {
		return PresignAnswer{}, err
	}
	key := StorageKey(ws, hash)
	if req.StorageID != "" && req.StorageID != key {
		return PresignAnswer{}, syncerr.NotFound("File not found")
	}
	v, err := g.view()
	if err != nil {
		return PresignAnswer{}, err
	}
	row, found, err := findFileRow(v, ws, hash, strings.TrimSpace(req.Hash))
	v.Release()
	if err != nil {
		return PresignAnswer{}, syncerr.Internal(err, "read file_meta")
	}
	if !found || !row.Live {
		return PresignAnswer{}, syncerr.NotFound("File not found")
	}
	obj, err := g.store.Stat(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		obj, err = g.fetchRemote(ctx, g.cfg.Remote, user, ws, hash, row.PK) // committed in another region (remote.go)
	}
	if errors.Is(err, storage.ErrNotFound) {
		return PresignAnswer{}, syncerr.NotFound("File not found")
	} else if err != nil {
		return PresignAnswer{}, storeErr(err)
	}
	now := g.cfg.Now()
	exp := now.Add(ttl)
	ans := PresignAnswer{Method: http.MethodGet, StorageID: key, ExpiresAt: exp.UnixMilli(), Disposition: disp}
	if g.presigner != nil {
		if ans.URL, err = g.presigner.PresignGet(ctx, key, ttl, disp); err != nil {
			return PresignAnswer{}, storeErr(err)
		}
		return ans, nil
	}
	gr := Grant{Op: OpGet, ExpiresAtMs: exp.UnixMilli(), Size: obj.Size, Key: key, ContentType: obj.ContentType, Disposition: disp}
	tok, err := EncodeGrant(g.cfg.GrantKey, gr)
	if err != nil {
		return PresignAnswer{}, syncerr.Internal(err, "grant")
	}
	ans.URL = g.cfg.BlobPath + tok
	return ans, nil
}
