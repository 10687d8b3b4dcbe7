package admin

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/or3/syncd/engine"
	"github.com/or3/syncd/identity"
	synclog "github.com/or3/syncd/log"
)

// Engine is what the admin actions and status need of the sync engine.
type Engine interface {
	AdminGC(ctx context.Context, ws string, retention time.Duration, tombstones bool) (engine.GCResult, error)
	WorkspaceIDs(ctx context.Context) ([]string, error)
	Maintenance(ctx context.Context) (engine.MaintenanceState, error)
	Retention() time.Duration
}

// StorageGC collects unreferenced blobs of one workspace (blobs.Gateway).
type StorageGC interface {
	AdminGC(ctx context.Context, ws string, retentionSeconds int64, limit int) (deleted, scanned int, err error)
}

// Config configures a Service.
type Config struct {
	// DB is the region's log. Required.
	DB *synclog.DB
	// Identity is the identity store the access store builds on. Required.
	Identity *identity.Store
	// Engine runs sync GC and reports maintenance; nil disables those.
	Engine Engine
	// Storage runs blob GC; nil answers storage.gc with 503.
	Storage StorageGC
	// Folder folds every event type (the daemon's FolderMux); state.verify
	// replays through it. nil disables verify.
	Folder *synclog.FolderMux
	// DataDir is the data directory (backup copies its secrets and fs
	// blobs). "" disables online backup.
	DataDir string
	// S3AccessKey and S3SecretKey are the credentials of backups to
	// s3://… (SYNCD_S3_ACCESS_KEY / SYNCD_S3_SECRET_KEY).
	S3AccessKey, S3SecretKey string
	// S3Transport, if set, replaces the HTTP transport of S3 backups
	// (tests inject faults).
	S3Transport http.RoundTripper
	// BridgeSecret is OR3_ADMIN_JWT_SECRET of the bridge grant (§5.3);
	// empty refuses the bridge ("not configured").
	BridgeSecret []byte
	// Version is the build version status reports.
	Version string
	// Region names this region.
	Region string
	// Replication, when set, reports the replication state for status:
	// "ok" or "disconnected", the worst lag over the remote origins (nil
	// when none), and per-origin detail (replica.Status). nil: "n/a".
	Replication func() (state string, lagMs *int64, detail any)
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger. Default slog.Default().
	Logger *slog.Logger
}

func (c *Config) validate() error {
	if c.DB == nil {
		return errors.New("admin: Config.DB is required")
	}
	if c.Identity == nil {
		return errors.New("admin: Config.Identity is required")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.Region == "" {
		c.Region = "local"
	}
	return nil
}
