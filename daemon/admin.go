package daemon

import (
	"context"

	"github.com/or3/syncd/admin"
	"github.com/or3/syncd/blobs"
)

// newAdmin builds the admin module (admin RPC stores, audit, status,
// actions, verify, backup) on the other modules.
func newAdmin(cfg Config, d *Daemon) (*admin.Service, error) {
	var st admin.StorageGC
	if d.Blobs != nil {
		st = storageGC{d.Blobs}
	}
	return admin.New(admin.Config{
		DB:           d.DB,
		Identity:     d.Identity,
		Engine:       d.Engine,
		Storage:      st,
		Folder:       d.Folder,
		DataDir:      cfg.DataDir,
		S3AccessKey:  cfg.S3AccessKey, // backups to s3://…
		S3SecretKey:  cfg.S3SecretKey,
		BridgeSecret: []byte(cfg.AdminBridgeSecret),
		Version:      cfg.Version,
		Region:       cfg.Region,
		Replication:  d.replicationStatus,
		Now:          d.Clock.Now,
		Logger:       cfg.Logger,
	})
}

// storageGC adapts blobs.Gateway to admin.StorageGC.
type storageGC struct{ g *blobs.Gateway }

func (s storageGC) AdminGC(ctx context.Context, ws string, retentionSeconds int64, limit int) (int, int, error) {
	a, err := s.g.AdminGC(ctx, ws, retentionSeconds, limit)
	return a.DeletedCount, a.ScannedCount, err
}
