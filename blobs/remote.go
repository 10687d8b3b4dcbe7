package blobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/storage"
	"github.com/or3/syncd/syncerr"
)

// Remote fetches, on the fs backend, a file committed in another region:
// file_meta replicates, the bytes do not (model.md §6). On the first
// presign-download here of a live file whose object is missing, the
// gateway asks the region that committed it (the origin of the file_meta
// row's winning op; then the other peers) for a download grant through
// its presign-download, with the service token and the acting user,
// streams the bytes into the local store checked against the file's
// SHA-256 (a copy that does not match is refused and nothing is stored),
// records it as stored here, and serves it as usual.
type Remote struct {
	// Region is this region (sent as the forwarded-from header).
	Region string
	// Peers maps a region to the base URL of its syncd.
	Peers map[string]string
	// Token is the service token the peers accept.
	Token string
	// Client. Default: http.DefaultClient (each peer call is bounded by
	// Timeout, each transfer by TransferTimeout).
	Client *http.Client
	// Timeout bounds the presign call to a peer. Default 10 s.
	Timeout time.Duration
	// TransferTimeout bounds one transfer. Default 1 h.
	TransferTimeout time.Duration

	// fetching serializes fetches of one key (striped), so concurrent
	// first downloads fetch once.
	fetching [64]sync.Mutex
}

// forwardedHeader is api.ForwardedHeader (blobs cannot import api).
const forwardedHeader = "X-Syncd-Forwarded-From"

type localOnlyKey struct{}

// LocalOnly marks ctx so that the gateway never fetches a missing object
// from a peer while serving it: a peer's own fetch asks the origin, which
// must answer from what it has (no fetch loops between regions).
func LocalOnly(ctx context.Context) context.Context {
	return context.WithValue(ctx, localOnlyKey{}, true)
}

func isLocalOnly(ctx context.Context) bool { v, _ := ctx.Value(localOnlyKey{}).(bool); return v }

// errMismatch: a peer's bytes did not hash to the file's SHA-256.
var errMismatch = errors.New("blobs: fetched bytes do not match the file's SHA-256")

// fetchRemote brings the object of ws's live file (hash, file_meta pk) here
// from a peer. storage.ErrNotFound when no peer has it (or fetching is
// off); a *syncerr.Error 503 when no peer could be reached.
func (g *Gateway) fetchRemote(ctx context.Context, rm *Remote, user, ws, hash, pk string) (storage.Object, error) {
	if rm == nil || len(rm.Peers) == 0 || isLocalOnly(ctx) {
		return storage.Object{}, storage.ErrNotFound
	}
	key := StorageKey(ws, hash)
	mu := &rm.fetching[stripe(key)]
	mu.Lock()
	defer mu.Unlock()
	// GC of the workspace must not run between the store and the record.
	wl := &g.wsLocks[stripe(ws)]
	wl.RLock()
	defer wl.RUnlock()
	if obj, err := g.store.Stat(ctx, key); !errors.Is(err, storage.ErrNotFound) {
		return obj, err // fetched by a concurrent download meanwhile (or a store failure)
	}

	v, err := g.view()
	if err != nil {
		return storage.Object{}, err
	}
	origin, size, mime := originOf(v, ws, pk)
	v.Release()
	peers := make([]string, 0, len(rm.Peers))
	for r := range rm.Peers {
		if r != origin && r != rm.Region {
			peers = append(peers, r)
		}
	}
	slices.Sort(peers)
	if _, ok := rm.Peers[origin]; ok && origin != rm.Region {
		peers = slices.Insert(peers, 0, origin)
	}

	var unreachable, mismatch error
	for _, peer := range peers {
		obj, err := g.fetchFrom(ctx, rm, peer, user, ws, hash, pk, key, size, mime)
		switch {
		case err == nil:
			rec := Record{PK: pk, StorageID: key, Size: obj.Size, Mime: NormalizeMime(obj.ContentType), StoredAtMs: g.cfg.Now().UnixMilli()}
			if err := g.record(ctx, user, ws, hash, rec, rec.StoredAtMs); err != nil {
				// The object is good and stays; only GC will not know it.
				g.log.Warn("fetched blob not recorded", "key", key, "err", err)
			}
			g.log.Info("fetched blob from peer region", "peer", peer, "key", key, "bytes", obj.Size)
			return obj, nil
		case errors.Is(err, storage.ErrNotFound):
		case errors.Is(err, errMismatch):
			g.log.Error("peer region served bytes that do not match the file's hash; refused", "peer", peer, "key", key, "err", err)
			mismatch = err
		default:
			g.log.Warn("peer region unreachable for a blob fetch", "peer", peer, "key", key, "err", err)
			unreachable = err
		}
	}
	if unreachable != nil {
		e := syncerr.Unavailable(unreachable, "the file is stored in another region, which cannot be reached; retry later")
		e.RetryAfterSeconds = 5
		return storage.Object{}, e
	}
	if mismatch != nil {
		return storage.Object{}, syncerr.NotFound("File not found: the copy in its origin region does not match its hash")
	}
	return storage.Object{}, storage.ErrNotFound
}

// originOf reads the region that accepted the winning op of ws's
// file_meta row pk ("" when this region did, or it is not known any
// more), and the size and MIME type the row records (0, "" if absent).
func originOf(r synclog.Reader, ws, pk string) (origin string, size int64, mime string) {
	var row synclog.RowRecord
	if found, err := synclog.GetRecord(r, synclog.RowKey(ws, "file_meta", pk), &row); err != nil || !found {
		return "", 0, ""
	}
	var p struct {
		SizeBytes json.Number `json:"size_bytes"`
		MimeType  string      `json:"mime_type"`
	}
	if json.Unmarshal(row.Payload, &p) == nil {
		size, _ = p.SizeBytes.Int64()
		mime = p.MimeType
	}
	var ch synclog.ChangeRecord
	if found, err := synclog.GetRecord(r, synclog.ChangeKey(ws, row.ServerVersion), &ch); err == nil && found {
		origin = ch.OriginRegion
	}
	return origin, size, mime
}

// fetchFrom asks peer for a download grant and streams the object into
// the local store, checked against hash.
func (g *Gateway) fetchFrom(ctx context.Context, rm *Remote, peer, user, ws, hash, pk, key string, size int64, mime string) (storage.Object, error) {
	base := strings.TrimRight(rm.Peers[peer], "/")
	client := rm.Client
	if client == nil {
		client = http.DefaultClient
	}
	timeout := rm.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	body, _ := json.Marshal(map[string]any{"workspaceId": ws, "hash": pk, "expiresInMs": int64(MaxGrantTTL / time.Millisecond)})
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(pctx, http.MethodPost, base+"/v1/storage/presign-download", bytes.NewReader(body))
	if err != nil {
		return storage.Object{}, err
	}
	req.Header.Set("Authorization", "Bearer "+rm.Token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Syncd-User", user)
	req.Header.Set(forwardedHeader, rm.Region)
	resp, err := client.Do(req)
	if err != nil {
		return storage.Object{}, err
	}
	var ans PresignAnswer
	err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&ans)
	_ = resp.Body.Close() // read-only
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return storage.Object{}, storage.ErrNotFound
	case resp.StatusCode != http.StatusOK:
		return storage.Object{}, fmt.Errorf("presign-download at %s: status %d", peer, resp.StatusCode)
	case err != nil || ans.URL == "":
		return storage.Object{}, fmt.Errorf("presign-download at %s: bad answer: %v", peer, err)
	}
	u := ans.URL
	if strings.HasPrefix(u, "/") {
		u = base + u
	}

	tt := rm.TransferTimeout
	if tt <= 0 {
		tt = time.Hour
	}
	tctx, tcancel := context.WithTimeout(ctx, tt)
	defer tcancel()
	greq, err := http.NewRequestWithContext(tctx, http.MethodGet, u, nil)
	if err != nil {
		return storage.Object{}, err
	}
	gresp, err := client.Do(greq)
	if err != nil {
		return storage.Object{}, err
	}
	defer func() { _ = gresp.Body.Close() }() // read-only
	switch {
	case gresp.StatusCode == http.StatusNotFound:
		return storage.Object{}, storage.ErrNotFound
	case gresp.StatusCode != http.StatusOK:
		return storage.Object{}, fmt.Errorf("download from %s: status %d", peer, gresp.StatusCode)
	}
	n := gresp.ContentLength
	if size > 0 {
		n = size // the committed size; a copy of another length is refused by Put
	}
	if n < 0 || n > g.cfg.MaxFileBytes {
		return storage.Object{}, fmt.Errorf("download from %s: size %d not acceptable", peer, n)
	}
	if mime == "" {
		mime = gresp.Header.Get("Content-Type")
	}
	obj, err := g.store.Put(tctx, key, gresp.Body, storage.PutOptions{Size: n, ContentType: mime, SHA256: digestOf(hash)})
	if errors.Is(err, storage.ErrDigestMismatch) || errors.Is(err, storage.ErrSizeMismatch) {
		return storage.Object{}, fmt.Errorf("%w (from %s: %v)", errMismatch, peer, err)
	}
	if err != nil {
		return storage.Object{}, fmt.Errorf("store fetched blob: %w", err)
	}
	return obj, nil
}
