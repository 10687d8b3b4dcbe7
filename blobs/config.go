package blobs

import (
	"context"
	"errors"
	"log/slog"
	"time"

	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/storage"
)

// Limits of side-modules §1.2 and api.md Decisions 8.
const (
	// DefaultMaxFileBytes is the per-file cap: 100 MiB.
	DefaultMaxFileBytes = 100 << 20
	// IntentTTL is how long an upload intent stays active.
	IntentTTL = 900 * time.Second
	// DefaultGrantTTL is a presigned URL's lifetime when the call names
	// none; MaxGrantTTL caps it.
	DefaultGrantTTL = 15 * time.Minute
	MaxGrantTTL     = time.Hour
	// GC limits.
	DefaultGCLimit = 25
	MaxGCLimit     = 100
)

// DefaultMimeAllow is OR3's default allowlist (side-modules §1.3 step 4):
// images, PDF, plain text and markdown.
var DefaultMimeAllow = []string{
	"image/png", "image/jpeg", "image/gif", "image/webp", "image/avif", "image/heic", "image/heif", "image/svg+xml", "image/bmp",
	"application/pdf", "text/plain", "text/markdown",
}

// Authorizer checks workspace roles (the engine implements it).
type Authorizer interface {
	// Authorize fails with 401/403 *syncerr.Error unless user may read
	// (write=false) or write ws.
	Authorize(ctx context.Context, ws, user string, write bool) error
}

// SyncWriter writes a server-authored sync op (engine.ServerWrite): a
// fresh UUID op_id, one version, device "server".
type SyncWriter interface {
	ServerWrite(ctx context.Context, ws, table, pk, op string, payload []byte) error
}

// Intents is the upload-intent implementation (package intents, the one
// implementation the sync endpoints use too: api.md Overrides). Times are
// epoch seconds.
type Intents interface {
	// Reserve creates an active intent and reserves its bytes against the
	// quota (413 over quota).
	Reserve(ctx context.Context, user string, r Reservation) (Intent, error)
	// Get returns an intent of ws (404 when unknown or another
	// workspace's).
	Get(ctx context.Context, ws, id string) (Intent, error)
	// Consume marks an active, matching intent of user consumed, once
	// (404 unknown or another user's, 409 not active or not matching).
	Consume(ctx context.Context, user string, c Consumption) error
}

// Reservation is what presign-upload asks Intents to reserve.
type Reservation struct {
	IntentID            string // empty: minted
	WorkspaceID         string
	Hash                string // normalized
	MimeType            string // normalized
	SizeBytes           int64
	ExpiresAt           int64  // epoch seconds
	WorkspaceQuotaBytes *int64 // nil: the configured default
	// Also appends and folds the gateway's own events into the
	// reservation's batch, so they commit together. An implementation
	// that reserves elsewhere (another region) does not call it; the
	// gateway then commits them itself.
	Also func(*synclog.Batch) error
}

// Intent is an upload intent as Intents answers it.
type Intent struct {
	IntentID    string
	WorkspaceID string
	UserID      string
	Hash        string // normalized
	MimeType    string // normalized
	SizeBytes   int64
	ExpiresAt   int64 // epoch seconds
	Status      string
}

// Consumption is what commit asks Intents to consume.
type Consumption struct {
	IntentID, WorkspaceID, Hash, MimeType string
	SizeBytes                             int64
	StorageID                             string
	// Also: as Reservation.Also.
	Also func(*synclog.Batch) error
}

// Config configures a Gateway.
type Config struct {
	// DB is the log (file_meta, messages and posts are read from its
	// durable view; the gateway's blob records are written to it).
	// Required.
	DB *synclog.DB
	// Store is the blob store. Required. When it implements
	// storage.Presigner, clients transfer straight to it; otherwise
	// through PUT/GET /v1/blobs/{grant} (BlobPath).
	Store storage.Store
	// Auth, Sync and Intents: see their types. Required.
	Auth    Authorizer
	Sync    SyncWriter
	Intents Intents
	// GrantKey signs /v1/blobs grants (≥ 32 bytes; LoadGrantKey keeps it
	// in the data dir). Required when Store is not a Presigner.
	GrantKey []byte
	// BlobPath is the path prefix of the fs transfers. Default "/v1/blobs/".
	BlobPath string
	// MaxFileBytes caps a file. Default 100 MiB.
	MaxFileBytes int64
	// QuotaBytes is the default workspace quota (0: none). It is passed
	// to Intents only when a call names its own quota; otherwise Intents
	// applies its configured default, which the daemon sets to the same
	// value.
	QuotaBytes int64
	// MimeAllow is the MIME allowlist (normalized types); nil means
	// DefaultMimeAllow, a single "*" allows any type.
	MimeAllow []string
	// AbandonedUploadTTL: an uploaded object no commit claimed is removed
	// this long after its upload URL and its intent expire, and a partial
	// transfer this long after the longest URL could have expired. Keep it
	// above the longest transfer the HTTP server allows (an hour for
	// /v1/blobs): an upload still arriving after its sweep would leave an
	// object nothing tracks. Default DefaultAbandonedUploadTTL (1 h).
	AbandonedUploadTTL time.Duration
	// SweepEvery is the abandoned-upload sweep's schedule (Start).
	// Default DefaultSweepEvery (10 min); negative: no scheduled sweep.
	SweepEvery time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger. Default slog.Default().
	Logger *slog.Logger
	// Remote, when set (fs backend with peer regions), fetches a missing
	// object of a live file from the region that committed it (remote.go).
	Remote *Remote
}

func (c *Config) validate() error {
	switch {
	case c.DB == nil:
		return errors.New("blobs: Config.DB is required")
	case c.Store == nil:
		return errors.New("blobs: Config.Store is required")
	case c.Auth == nil || c.Sync == nil || c.Intents == nil:
		return errors.New("blobs: Config.Auth, Sync and Intents are required")
	}
	if _, ok := c.Store.(storage.Presigner); !ok && len(c.GrantKey) < 32 {
		return errors.New("blobs: Config.GrantKey (32 bytes or more) is required for a store without presigned URLs")
	}
	if c.BlobPath == "" {
		c.BlobPath = "/v1/blobs/"
	}
	if c.MaxFileBytes <= 0 {
		c.MaxFileBytes = DefaultMaxFileBytes
	}
	if c.QuotaBytes < 0 {
		return errors.New("blobs: Config.QuotaBytes must be >= 0")
	}
	if c.MimeAllow == nil {
		c.MimeAllow = DefaultMimeAllow
	}
	if c.AbandonedUploadTTL < 0 {
		return errors.New("blobs: Config.AbandonedUploadTTL must be >= 0")
	}
	if c.AbandonedUploadTTL == 0 {
		c.AbandonedUploadTTL = DefaultAbandonedUploadTTL
	}
	if c.SweepEvery == 0 {
		c.SweepEvery = DefaultSweepEvery
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}
