package admin

//lint:file-ignore U1000 the _msgpack fields are msgpack's as_array markers, read by reflection

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/syncerr"
)

// Actions lists the maintenance actions of POST /v1/admin/actions/{id}.
var Actions = []string{"sync.gc-change-log", "sync.gc-tombstones", "storage.gc", "log.compact", "state.verify", "backup"}

// ActionParams is the optional JSON body of an action.
type ActionParams struct {
	WorkspaceID      string `json:"workspaceId,omitempty"`      // GC: one workspace (default: all)
	RetentionSeconds int64  `json:"retentionSeconds,omitempty"` // GC: default the configured retention
	Limit            int    `json:"limit,omitempty"`            // storage.gc: per workspace
	Dir              string `json:"dir,omitempty"`              // backup: a directory on the server's host, or s3://bucket/prefix?endpoint=host:port[&secure=false]
}

// maxActionBody bounds an action's body.
const maxActionBody = 64 << 10

// DecodeActionParams decodes an action body (empty is {}); unknown keys
// are refused so a misspelt parameter is not silently ignored.
func DecodeActionParams(body []byte) (ActionParams, error) {
	var p ActionParams
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return p, nil
	}
	if len(body) > maxActionBody {
		return p, syncerr.Oversized("action body over %d bytes", maxActionBody)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, syncerr.Validation("invalid action parameters: %v", err)
	}
	if dec.More() {
		return p, syncerr.Validation("invalid action parameters: trailing data")
	}
	if p.RetentionSeconds < 0 || p.Limit < 0 || len(p.WorkspaceID) > 256 || len(p.Dir) > 4096 {
		return p, syncerr.Validation("invalid action parameters: negative or oversized value")
	}
	return p, nil
}

// GCSummary answers the GC actions.
type GCSummary struct {
	Workspaces int   `json:"workspaces"`
	Purged     int   `json:"purged"`
	Scanned    int   `json:"scanned,omitempty"`
	DurationMs int64 `json:"durationMs"`
}

// RunAction runs one maintenance action and records it in the audit log.
// progress, if set, receives progress of long actions.
func (s *Service) RunAction(ctx context.Context, actor Actor, id string, p ActionParams, progress Progress) (any, error) {
	if progress == nil {
		progress = func(string, int64, int64) {}
	}
	var res any
	var err error
	switch id {
	case "sync.gc-change-log", "sync.gc-tombstones":
		res, err = s.syncGC(ctx, p, id == "sync.gc-tombstones", progress)
	case "storage.gc":
		res, err = s.storageGC(ctx, p, progress)
	case "log.compact":
		res, err = s.compact(ctx, p, progress)
	case "state.verify":
		return s.verifyAction(ctx, actor, progress)
	case "backup":
		if p.Dir == "" {
			return nil, syncerr.Validation("backup needs {\"dir\": ...}")
		}
		return s.Backup(ctx, actor, p.Dir, progress)
	default:
		return nil, syncerr.NotFound("unknown admin action %.64q (known: sync.gc-change-log, sync.gc-tombstones, storage.gc, log.compact, state.verify, backup)", id)
	}
	rec := map[string]any{"result": res}
	if err != nil {
		rec["error"] = err.Error()
	}
	if aerr := s.RecordAction(context.WithoutCancel(ctx), actor, id, p, rec); aerr != nil && err == nil {
		err = aerr
	}
	return res, err
}

func (s *Service) verifyAction(ctx context.Context, actor Actor, progress Progress) (any, error) {
	rep, err := s.VerifyOnline(ctx, func(done, total int64) { progress("verify", done, total) })
	rec := map[string]any{"ok": rep.OK, "mode": rep.Mode, "problems": rep.Problems}
	if err != nil {
		rec["error"] = err.Error()
	}
	if aerr := s.RecordAction(context.WithoutCancel(ctx), actor, "state.verify", nil, rec); aerr != nil && err == nil {
		err = aerr
	}
	return rep, err
}

func (s *Service) workspaces(ctx context.Context, p ActionParams) ([]string, error) {
	if p.WorkspaceID != "" {
		return []string{p.WorkspaceID}, nil
	}
	if s.cfg.Engine == nil {
		return nil, errUnavailable("the sync engine is not configured")
	}
	return s.cfg.Engine.WorkspaceIDs(ctx)
}

func (s *Service) syncGC(ctx context.Context, p ActionParams, tombstones bool, progress Progress) (GCSummary, error) {
	start := time.Now()
	if s.cfg.Engine == nil {
		return GCSummary{}, errUnavailable("the sync engine is not configured")
	}
	retention := s.cfg.Engine.Retention()
	if p.RetentionSeconds > 0 {
		retention = time.Duration(p.RetentionSeconds) * time.Second
	}
	ids, err := s.workspaces(ctx, p)
	if err != nil {
		return GCSummary{}, err
	}
	s.opMu.Lock()
	defer s.opMu.Unlock()
	var sum GCSummary
	for i, ws := range ids {
		r, err := s.cfg.Engine.AdminGC(ctx, ws, retention, tombstones)
		sum.Purged += r.Purged
		sum.Workspaces++
		progress("gc", int64(i+1), int64(len(ids)))
		if err != nil {
			sum.DurationMs = time.Since(start).Milliseconds()
			return sum, err
		}
	}
	sum.DurationMs = time.Since(start).Milliseconds()
	return sum, nil
}

func (s *Service) storageGC(ctx context.Context, p ActionParams, progress Progress) (GCSummary, error) {
	start := time.Now()
	if s.cfg.Storage == nil {
		return GCSummary{}, errUnavailable("blob storage is not configured")
	}
	retention := int64(30 * 24 * 3600)
	if s.cfg.Engine != nil {
		retention = int64(s.cfg.Engine.Retention() / time.Second)
	}
	if p.RetentionSeconds > 0 {
		retention = p.RetentionSeconds
	}
	ids, err := s.workspaces(ctx, p)
	if err != nil {
		return GCSummary{}, err
	}
	s.opMu.Lock()
	defer s.opMu.Unlock()
	var sum GCSummary
	for i, ws := range ids {
		del, scanned, err := s.cfg.Storage.AdminGC(ctx, ws, retention, p.Limit)
		sum.Purged += del
		sum.Scanned += scanned
		sum.Workspaces++
		progress("storage-gc", int64(i+1), int64(len(ids)))
		if err != nil {
			sum.DurationMs = time.Since(start).Milliseconds()
			return sum, err
		}
	}
	sum.DurationMs = time.Since(start).Milliseconds()
	return sum, nil
}

// CompactResult answers log.compact.
type CompactResult struct {
	CursorEventsCollected int    `json:"cursorEventsCollected"`
	DiskBytesBefore       uint64 `json:"diskBytesBefore"`
	DiskBytesAfter        uint64 `json:"diskBytesAfter"`
	DurationMs            int64  `json:"durationMs"`
}

// compactBatch bounds the events one compaction commit deletes.
const compactBatch = 10000

// cursorSetBody mirrors the engine's cursor.set body.
type cursorSetBody struct {
	_msgpack  struct{} `msgpack:",as_array"`
	Workspace string
	Device    string
	Owner     string
	Version   uint64
}

// compact collects device-cursor events older than the retention
// (model.md §4 log.compact): of each device's cursor.set events it keeps
// the newest, whose fold alone yields the cursor (the fold overwrites), so
// replay still equals live; then it runs a full Pebble compaction so the
// space freed by GC, job compaction and this returns to the filesystem.
// History is collected by the GC actions, job chunks when a job
// finishes, webhook logs by their purge. The run is audited by RunAction.
func (s *Service) compact(ctx context.Context, p ActionParams, progress Progress) (CompactResult, error) {
	start := time.Now()
	pdb := s.db.Pebble()
	if pdb == nil {
		return CompactResult{}, errUnavailable("store recovering")
	}
	s.opMu.Lock()
	defer s.opMu.Unlock()
	res := CompactResult{DiskBytesBefore: pdb.Metrics().DiskSpaceUsage()}
	retention := 30 * 24 * time.Hour
	if s.cfg.Engine != nil {
		retention = s.cfg.Engine.Retention()
	}
	if p.RetentionSeconds > 0 {
		retention = time.Duration(p.RetentionSeconds) * time.Second
	}
	n, err := s.compactCursorEvents(ctx, s.cfg.Now().Add(-retention).UnixMilli(), progress)
	res.CursorEventsCollected = n
	if err != nil {
		return res, err
	}
	if err := pdb.Compact(ctx, []byte{0x00}, []byte{0xff}, true); err != nil {
		return res, syncerr.Internal(err, "compaction failed")
	}
	res.DiskBytesAfter = pdb.Metrics().DiskSpaceUsage()
	res.DurationMs = time.Since(start).Milliseconds()
	return res, nil
}

// compactCursorEvents deletes old cursor.set events that a newer
// cursor.set of the same device supersedes. Decisions come from one
// durable view; events are immutable, so deleting them races nothing.
func (s *Service) compactCursorEvents(ctx context.Context, cutoffMs int64, progress Progress) (int, error) {
	v := s.db.View()
	if v == nil {
		return 0, errUnavailable("store recovering")
	}
	defer v.Release()
	type dev struct{ ws, device string }
	newest := map[dev]uint64{}
	var old []struct {
		seq uint64
		d   dev
	}
	err := scan(v, synclog.PrefixSystem, func(k, val []byte) error {
		var ev synclog.SystemEvent
		if err := synclog.Decode(k, val, &ev); err != nil {
			return err
		}
		if ev.Type != "cursor.set" {
			return nil
		}
		var body cursorSetBody
		if synclog.Decode(k, ev.Body, &body) != nil {
			return nil // a body this build does not know: never collect what it cannot read
		}
		seq := synclog.ReadKey(k).U64()
		d := dev{body.Workspace, body.Device}
		if prev, ok := newest[d]; !ok || seq > prev {
			newest[d] = seq
		}
		if ev.AtMs < cutoffMs {
			old = append(old, struct {
				seq uint64
				d   dev
			}{seq, d})
		}
		return ctx.Err()
	})
	if err != nil {
		return 0, err
	}
	n := 0
	b := s.db.NewBatch()
	defer func() { b.Close() }()
	pending := 0
	flush := func() error {
		if pending == 0 {
			return nil
		}
		if err := s.db.Commit(ctx, b); err != nil {
			return storeErr(err)
		}
		b.Close()
		b = s.db.NewBatch()
		n += pending
		pending = 0
		progress("compact", int64(n), int64(len(old)))
		return nil
	}
	for _, e := range old {
		if newest[e.d] == e.seq {
			continue // the device's newest set: it alone yields the cursor
		}
		if err := b.Delete(synclog.SystemKey(e.seq)); err != nil {
			return n, err
		}
		if pending++; pending == compactBatch {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	err = flush()
	return n, err
}
