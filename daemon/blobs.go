package daemon

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/or3/syncd/blobs"
	"github.com/or3/syncd/engine"
	"github.com/or3/syncd/intents"
	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/storage"
	"github.com/or3/syncd/storage/fs"
	"github.com/or3/syncd/storage/s3"
)

// s3OpenTimeout bounds connecting to the object store (and creating the
// bucket) at start-up.
const s3OpenTimeout = 30 * time.Second

// newBlobs opens the configured blob store and the storage gateway.
// home names a workspace's home region: with peers, its upload intents
// are reserved and consumed there (forward.go).
func newBlobs(cfg Config, db *synclog.DB, eng *engine.Engine, in *intents.Store, now func() time.Time, home func(context.Context, string) (string, error)) (*blobs.Gateway, error) {
	var store storage.Store
	var grantKey []byte
	switch b := cfg.Blob; {
	case b == "" || b == "fs":
		s, err := fs.Open(filepath.Join(cfg.DataDir, "blobs"))
		if err != nil {
			return nil, err
		}
		if grantKey, err = blobs.LoadGrantKey(cfg.DataDir); err != nil {
			return nil, err
		}
		store = s
	case strings.HasPrefix(b, "s3://"):
		sc, err := s3.ParseURL(b)
		if err != nil {
			return nil, err
		}
		sc.AccessKey, sc.SecretKey = cfg.S3AccessKey, cfg.S3SecretKey
		ctx, cancel := context.WithTimeout(context.Background(), s3OpenTimeout)
		defer cancel()
		if store, err = s3.Open(ctx, sc); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("daemon: blob backend %q: want fs or s3://bucket?endpoint=host:port", b)
	}
	return blobs.New(blobs.Config{
		DB:                 db,
		Store:              store,
		Auth:               eng,
		Sync:               engineWriter{eng},
		Intents:            newHomeIntents(cfg, intentsAdapter{in}, home),
		GrantKey:           grantKey,
		MaxFileBytes:       cfg.StorageMaxFileBytes,
		QuotaBytes:         cfg.StorageQuotaBytes,
		MimeAllow:          cfg.StorageMimeAllow,
		AbandonedUploadTTL: cfg.StorageUploadTTL,
		Now:                now,
		Logger:             cfg.Logger,
		Remote:             newRemote(cfg, cfg.Peers, peerClient()), // fs: files committed in other regions
	})
}

// engineWriter adapts engine.ServerWrite to blobs.SyncWriter.
type engineWriter struct{ e *engine.Engine }

func (w engineWriter) ServerWrite(ctx context.Context, ws, table, pk, op string, payload []byte) error {
	_, err := w.e.ServerWrite(ctx, engine.ServerOp{Workspace: ws, Table: table, PK: pk, Operation: op, Payload: payload})
	return err
}

// intentsAdapter adapts intents.Store (the one upload-intent
// implementation) to blobs.Intents.
type intentsAdapter struct{ s *intents.Store }

func (a intentsAdapter) Reserve(ctx context.Context, user string, r blobs.Reservation) (blobs.Intent, error) {
	exp := r.ExpiresAt
	in, err := a.s.Reserve(ctx, user, intents.ReserveRequest{
		IntentID: r.IntentID, WorkspaceID: r.WorkspaceID, Hash: r.Hash, MimeType: r.MimeType,
		SizeBytes: r.SizeBytes, ExpiresAt: &exp, WorkspaceQuotaBytes: r.WorkspaceQuotaBytes, Also: r.Also,
	})
	return intentOf(in), err
}

func (a intentsAdapter) Get(ctx context.Context, ws, id string) (blobs.Intent, error) {
	in, err := a.s.Get(ctx, ws, id)
	return intentOf(in), err
}

func (a intentsAdapter) Consume(ctx context.Context, user string, c blobs.Consumption) error {
	_, err := a.s.Consume(ctx, user, intents.ConsumeRequest{
		IntentID: c.IntentID, WorkspaceID: c.WorkspaceID, Hash: c.Hash, MimeType: c.MimeType,
		SizeBytes: c.SizeBytes, StorageID: c.StorageID, Also: c.Also,
	})
	return err
}

func intentOf(in intents.Intent) blobs.Intent {
	return blobs.Intent{IntentID: in.IntentID, WorkspaceID: in.WorkspaceID, UserID: in.UserID, Hash: in.Hash,
		MimeType: in.MimeType, SizeBytes: in.SizeBytes, ExpiresAt: in.ExpiresAt, Status: in.Status}
}
