package daemon

import (
	"github.com/or3/syncd/admin"
	"github.com/or3/syncd/blobs"
	"github.com/or3/syncd/engine"
	"github.com/or3/syncd/identity"
	"github.com/or3/syncd/intents"
	"github.com/or3/syncd/jobs"
	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/webhooks"
)

// NewFolder returns a FolderMux with every module's fold registered, for
// replay and verification of a stopped data dir (syncd admin verify,
// restore). It must route exactly what Daemon.Folder routes.
func NewFolder() *synclog.FolderMux {
	m := &synclog.FolderMux{Change: engine.FoldChange}
	m.Handle("cursor", engine.FoldSystem)
	m.Handle("gc", engine.FoldSystem)
	intents.Register(m)
	for _, d := range identity.Domains {
		m.Handle(d, identity.Fold)
	}
	m.Handle("job", jobs.Fold)
	m.Handle(blobs.Domain, blobs.Fold)
	webhooks.Register(m)
	admin.Register(m)
	return m
}
