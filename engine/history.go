package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/syncerr"
)

// Retention bounds of sync-contract §3.10.
const (
	MinRetentionSeconds = 3600
	MaxRetentionSeconds = 31_536_000
	// GCBatch bounds the entries (or tombstones) one GC commit collects, so
	// a push to the same workspace waits at most one such commit. The spec
	// allows 1,000; 250 measured a quarter of the push p99 during GC
	// (BenchmarkGCChangeLog) at the same total rate.
	GCBatch = 250
	// gcBatchesPerCall bounds one gc-change-log / gc-tombstones call; the
	// answer says hasMore when it stopped there.
	gcBatchesPerCall = 100
)

// HistoryConfig configures snapshot sessions, history GC and the
// background maintenance loop.
type HistoryConfig struct {
	// MaxSnapshotSessions bounds the open snapshot sessions (each pins a
	// durable view). Default DefaultMaxSnapshotSessions.
	MaxSnapshotSessions int
	// MaintenanceInterval is how often the maintenance loop runs GC over
	// every workspace. Default 1 h. Negative disables the loop (GC still
	// runs on request).
	MaintenanceInterval time.Duration
	// Retention is the window the maintenance loop keeps. Default 30 days;
	// it must lie within 3,600 s .. 365 days.
	Retention time.Duration
	// SweepInterval is how often expired snapshot sessions are released.
	// Default 1 min.
	SweepInterval time.Duration
}

func (c *HistoryConfig) validate() error {
	if c.MaxSnapshotSessions <= 0 {
		c.MaxSnapshotSessions = DefaultMaxSnapshotSessions
	}
	if c.MaintenanceInterval == 0 {
		c.MaintenanceInterval = time.Hour
	}
	if c.Retention == 0 {
		c.Retention = 30 * 24 * time.Hour
	}
	if c.Retention < MinRetentionSeconds*time.Second || c.Retention > MaxRetentionSeconds*time.Second {
		return errors.New("engine: Config.History.Retention must be between 1 h and 365 days")
	}
	if c.SweepInterval <= 0 {
		c.SweepInterval = time.Minute
	}
	return nil
}

// GCRequest is the body of gc-change-log and gc-tombstones.
type GCRequest struct {
	Scope            Scope `json:"scope"`
	RetentionSeconds int64 `json:"retentionSeconds"`
}

// GCResult answers a GC call.
type GCResult struct {
	Purged  int  `json:"purged"`
	HasMore bool `json:"hasMore"`
}

// System event types of history GC. Each collecting commit logs one; its
// fold does the collecting, so replaying the retained log reproduces it.
const (
	evCursorExpire  = "cursor.expire"
	evGCChangeLog   = "gc.changelog"
	evGCTombstones  = "gc.tombstones"
	noCursorMinimum = math.MaxUint64
)

// cursorExpireBody names the device cursors silent for a whole window.
type cursorExpireBody struct {
	_msgpack  struct{} `msgpack:",as_array"`
	Workspace string
	Devices   []string
}

// gcBody collects ws's history up to and including UpTo: log entries (and
// their op_id index entries) for gc.changelog, tombstones (and their
// by-version index) for gc.tombstones.
type gcBody struct {
	_msgpack  struct{} `msgpack:",as_array"`
	Workspace string
	UpTo      uint64
	// From and OpIDs (gc.changelog): the entries From..UpTo go with one
	// range deletion, and OpIDs are the op_id index entries that pointed
	// at them when GC decided (read outside the workspace lock), so the
	// fold reads nothing but the counter.
	From  uint64
	OpIDs []string
}

// GCChangeLog collects ws's change log entries older than the retention
// window and acknowledged by every live device cursor (owner role;
// sync-contract §3.10).
func (e *Engine) GCChangeLog(ctx context.Context, user string, req GCRequest) (GCResult, error) {
	return e.gcCall(ctx, user, req, e.gcChangeLogBatch)
}

// GCTombstones collects ws's tombstones under the same rules. Soft-deleted
// rows stay, so resurrection stays blocked (§4.5).
func (e *Engine) GCTombstones(ctx context.Context, user string, req GCRequest) (GCResult, error) {
	return e.gcCall(ctx, user, req, e.gcTombstonesBatch)
}

type gcBatchFunc func(ctx context.Context, ws string, retention time.Duration) (int, bool, error)

func (e *Engine) gcCall(ctx context.Context, user string, req GCRequest, batch gcBatchFunc) (GCResult, error) {
	ws, err := NormalizeScope(req.Scope)
	if err != nil {
		return GCResult{}, err
	}
	if req.RetentionSeconds < MinRetentionSeconds || req.RetentionSeconds > MaxRetentionSeconds {
		return GCResult{}, syncerr.Validation("Invalid sync retention window: retentionSeconds must be an integer between %d and %d", MinRetentionSeconds, MaxRetentionSeconds)
	}
	role, err := e.authorize(ctx, ws, user, true)
	if err != nil {
		return GCResult{}, err
	}
	if role != "owner" {
		return GCResult{}, syncerr.Forbidden("GC needs the owner role")
	}
	return e.gcLoop(ctx, ws, time.Duration(req.RetentionSeconds)*time.Second, batch, gcBatchesPerCall)
}

// gcLoop runs batch until nothing is left or maxBatches ran. The
// workspace lock is taken per batch, so pushes interleave.
func (e *Engine) gcLoop(ctx context.Context, ws string, retention time.Duration, batch gcBatchFunc, maxBatches int) (GCResult, error) {
	var res GCResult
	for i := 0; i < maxBatches; i++ {
		n, more, err := batch(ctx, ws, retention)
		res.Purged += n
		res.HasMore = more
		if err != nil || !more {
			return res, err
		}
		if err := ctx.Err(); err != nil {
			return res, syncerr.Unavailable(err, "GC interrupted")
		}
	}
	return res, nil
}

// gcPrepare expires ws's stale device cursors into b (a logged event) and
// returns the minimum live cursor (noCursorMinimum when none is left).
func (e *Engine) gcPrepare(b *synclog.Batch, ws string, cutoffMs int64, atMs int64) (uint64, bool, error) {
	prefix := synclog.NewKey(synclog.PrefixCursor).Str(ws)
	it, err := b.NewIter(prefix, synclog.PrefixEnd(prefix))
	if err != nil {
		return 0, false, err
	}
	minimum := uint64(noCursorMinimum)
	var stale []string
	for ok := it.First(); ok; ok = it.Next() {
		var cur synclog.CursorRecord
		if err := synclog.Decode(it.Key(), it.Value(), &cur); err != nil {
			it.Close()
			return 0, false, err
		}
		if cur.UpdatedAtMs < cutoffMs {
			stale = append(stale, string(it.Key()[len(prefix):]))
			continue
		}
		minimum = min(minimum, cur.LastSeen)
	}
	if err := it.Close(); err != nil {
		return 0, false, err
	}
	if len(stale) == 0 {
		return minimum, false, nil
	}
	ev := &synclog.SystemEvent{Type: evCursorExpire, AtMs: atMs, Actor: "gc",
		Body: synclog.MustEncode(&cursorExpireBody{Workspace: ws, Devices: stale})}
	if err := e.appendSystem(b, ev); err != nil {
		return 0, false, err
	}
	return minimum, true, nil
}

func (e *Engine) appendSystem(b *synclog.Batch, ev *synclog.SystemEvent) error {
	seq := e.db.NextSystemSeq()
	if err := b.AppendEvent(synclog.SystemKey(seq), ev); err != nil {
		return err
	}
	return FoldSystem(b, seq, ev)
}

// gcChangeLogBatch collects at most GCBatch entries of ws in one commit:
// the oldest ones, while they are older than the window and at or below
// the minimum live device cursor (with no cursor, every old entry:
// snapshot-v1 makes that safe). Collected entries are always a prefix, so
// the counter's Floor says exactly what is gone.
//
// The candidates are read from the durable view outside the workspace
// lock (retained entries are immutable, and GC of one workspace is
// serialized by its own lock); under the workspace lock the batch only
// re-reads the cursors, clamps, and writes one range deletion plus the
// op_id index deletions, so a push to the workspace waits for little more
// than one commit.
func (e *Engine) gcChangeLogBatch(ctx context.Context, ws string, retention time.Duration) (int, bool, error) {
	unlockGC := e.maint.gcLocks.lock(ws)
	defer unlockGC()
	now := e.cfg.Now()
	cutoffMs := now.Add(-retention).UnixMilli()
	v, err := e.view()
	if err != nil {
		return 0, false, err
	}
	planned, err := planChangeLogGC(v, ws, cutoffMs)
	v.Release()
	if err != nil {
		return 0, false, readErr(err)
	}

	unlock := e.locks.lock(ws)
	defer unlock()
	b := e.db.NewBatch()
	defer b.Close()
	minCursor, changed, err := e.gcPrepare(b, ws, cutoffMs, now.UnixMilli())
	if err != nil {
		return 0, false, readErr(err)
	}
	ctr, err := readCounter(b, ws)
	if err != nil {
		return 0, false, err
	}
	if ctr.Floor != planned.from-1 {
		// Only GC moves the floor, and GC of ws is serialized: the view
		// predates a GC commit of ours. Plan again next time.
		planned.opIDs = nil
	}
	n := len(planned.opIDs)
	if minCursor != noCursorMinimum && planned.from+uint64(n)-1 > minCursor {
		n = int(max(0, int64(minCursor)-int64(planned.from)+1))
	}
	more := planned.more
	if n > 0 {
		body := &gcBody{Workspace: ws, UpTo: planned.from + uint64(n) - 1, From: planned.from}
		for _, i := range planned.indexed {
			if i < n {
				body.OpIDs = append(body.OpIDs, planned.opIDs[i])
			}
		}
		ev := &synclog.SystemEvent{Type: evGCChangeLog, AtMs: now.UnixMilli(), Actor: "gc", Body: synclog.MustEncode(body)}
		if err := e.appendSystem(b, ev); err != nil {
			return 0, false, readErr(err)
		}
	}
	if n < len(planned.opIDs) {
		more = false // a cursor holds the rest
	}
	if n == 0 && !changed {
		return 0, false, nil
	}
	if err := e.db.Commit(ctx, b); err != nil {
		return 0, false, commitErr(err)
	}
	return n, more, nil
}

// changeLogPlan is what a change-log GC batch may collect, read from a
// view: the op ids of versions from, from+1, … in order.
type changeLogPlan struct {
	from  uint64
	opIDs []string
	more  bool // more eligible entries follow
	// indexed lists the positions (in opIDs) whose op_id index entry
	// points at this entry: the ones the fold deletes.
	indexed []int
}

// planChangeLogGC reads up to GCBatch entries above the floor that are
// older than cutoffMs and at or below the minimum cursor fresh at cutoff.
func planChangeLogGC(v *synclog.View, ws string, cutoffMs int64) (changeLogPlan, error) {
	ctr, err := readCounter(v, ws)
	if err != nil {
		return changeLogPlan{}, err
	}
	minCursor := uint64(noCursorMinimum)
	prefix := synclog.NewKey(synclog.PrefixCursor).Str(ws)
	it, err := v.NewIter(prefix, synclog.PrefixEnd(prefix))
	if err != nil {
		return changeLogPlan{}, err
	}
	for ok := it.First(); ok; ok = it.Next() {
		var cur synclog.CursorRecord
		if err := synclog.Decode(it.Key(), it.Value(), &cur); err != nil {
			it.Close()
			return changeLogPlan{}, err
		}
		if cur.UpdatedAtMs >= cutoffMs {
			minCursor = min(minCursor, cur.LastSeen)
		}
	}
	if err := it.Close(); err != nil {
		return changeLogPlan{}, err
	}
	plan := changeLogPlan{from: ctr.Floor + 1}
	it, err = v.NewIter(synclog.ChangeKey(ws, ctr.Floor+1), synclog.PrefixEnd(synclog.ChangePrefix(ws)))
	if err != nil {
		return changeLogPlan{}, err
	}
	defer it.Close()
	want := plan.from
	for ok := it.First(); ok; ok = it.Next() {
		r := synclog.ReadKey(it.Key())
		r.Str()
		ver := r.U64()
		// The record aliases the iterator's memory: keep a copy of the op id.
		var rec synclog.ChangeRecord
		if err := synclog.DecodeChangeAliased(it.Key(), it.Value(), &rec); err != nil {
			return changeLogPlan{}, err
		}
		if ver != want || ver > minCursor || rec.CreatedAtMs >= cutoffMs {
			break
		}
		if len(plan.opIDs) == GCBatch {
			plan.more = true
			break
		}
		plan.opIDs = append(plan.opIDs, strings.Clone(rec.OpID))
		want++
	}
	if err := it.Error(); err != nil {
		return changeLogPlan{}, err
	}
	// The op_id index entries that point at these entries. Only GC
	// deletes such an entry (and GC of ws is serialized), so what the view
	// says still holds when the batch commits.
	for i, opID := range plan.opIDs {
		var idx synclog.OpIndexRecord
		found, err := synclog.GetRecord(v, synclog.OpIndexKey(opID), &idx)
		if err != nil {
			return changeLogPlan{}, err
		}
		if found && idx.Workspace == ws && idx.Version == plan.from+uint64(i) {
			plan.indexed = append(plan.indexed, i)
		}
	}
	return plan, nil
}

// gcTombstonesBatch collects at most GCBatch tombstones of ws in one
// commit, oldest version first, while they are older than the window
// (by server_deleted_at) and at or below the minimum live cursor. The
// candidates are read from the durable view outside the workspace lock;
// the fold re-checks each tombstone against current state.
func (e *Engine) gcTombstonesBatch(ctx context.Context, ws string, retention time.Duration) (int, bool, error) {
	unlockGC := e.maint.gcLocks.lock(ws)
	defer unlockGC()
	now := e.cfg.Now()
	cutoffMs := now.Add(-retention).UnixMilli()
	v, err := e.view()
	if err != nil {
		return 0, false, err
	}
	vers, more, err := planTombstoneGC(v, ws, cutoffMs)
	v.Release()
	if err != nil {
		return 0, false, readErr(err)
	}

	unlock := e.locks.lock(ws)
	defer unlock()
	b := e.db.NewBatch()
	defer b.Close()
	minCursor, changed, err := e.gcPrepare(b, ws, cutoffMs, now.UnixMilli())
	if err != nil {
		return 0, false, readErr(err)
	}
	n := len(vers)
	for n > 0 && vers[n-1] > minCursor {
		n, more = n-1, false
	}
	if n > 0 {
		ev := &synclog.SystemEvent{Type: evGCTombstones, AtMs: now.UnixMilli(), Actor: "gc",
			Body: synclog.MustEncode(&gcBody{Workspace: ws, UpTo: vers[n-1]})}
		if err := e.appendSystem(b, ev); err != nil {
			return 0, false, readErr(err)
		}
	}
	if n == 0 && !changed {
		return 0, false, nil
	}
	if err := e.db.Commit(ctx, b); err != nil {
		return 0, false, commitErr(err)
	}
	return n, more, nil
}

// planTombstoneGC lists the versions of up to GCBatch tombstones, oldest
// first, older than cutoffMs and at or below the minimum fresh cursor.
func planTombstoneGC(v *synclog.View, ws string, cutoffMs int64) ([]uint64, bool, error) {
	minCursor := uint64(noCursorMinimum)
	cprefix := synclog.NewKey(synclog.PrefixCursor).Str(ws)
	cit, err := v.NewIter(cprefix, synclog.PrefixEnd(cprefix))
	if err != nil {
		return nil, false, err
	}
	for ok := cit.First(); ok; ok = cit.Next() {
		var cur synclog.CursorRecord
		if synclog.Decode(cit.Key(), cit.Value(), &cur) == nil && cur.UpdatedAtMs >= cutoffMs {
			minCursor = min(minCursor, cur.LastSeen)
		}
	}
	if err := cit.Close(); err != nil {
		return nil, false, err
	}
	prefix := synclog.NewKey(synclog.PrefixTombByVersion).Str(ws)
	it, err := v.NewIter(prefix, synclog.PrefixEnd(prefix))
	if err != nil {
		return nil, false, err
	}
	defer it.Close()
	var vers []uint64
	for ok := it.First(); ok; ok = it.Next() {
		r := synclog.ReadKey(it.Key())
		r.Str()
		ver := r.U64()
		table, pk, err := synclog.SplitEntityID(string(it.Value()))
		if err != nil || r.Err() != nil {
			return nil, false, &synclog.CorruptionError{Key: append([]byte(nil), it.Key()...), Err: synclog.ErrBadKey}
		}
		var tomb synclog.TombRecord
		if _, err := synclog.GetRecord(v, synclog.TombKey(ws, table, pk), &tomb); err != nil {
			return nil, false, err
		}
		if ver > minCursor || tomb.DeletedAtMs >= cutoffMs {
			break
		}
		if len(vers) == GCBatch {
			return vers, true, nil
		}
		vers = append(vers, ver)
	}
	return vers, false, it.Error()
}

// foldCursorExpire deletes the named device cursors.
func foldCursorExpire(b *synclog.Batch, body *cursorExpireBody) error {
	for _, d := range body.Devices {
		if err := b.Delete(synclog.CursorKey(body.Workspace, d)); err != nil {
			return err
		}
	}
	return nil
}

// foldGCChangeLog deletes ws's log entries above the old floor up to
// body.UpTo with the op_id index entries that point at them (model.md §4:
// the index lives as long as its entries), and raises the floor. It
// deletes event keys: that is what collecting history means; the run
// itself stays in the system log.
func foldGCChangeLog(b *synclog.Batch, body *gcBody) error {
	ws := body.Workspace
	var ctr synclog.CounterRecord
	ckey := synclog.CounterKey(ws)
	if _, err := synclog.GetRecord(b, ckey, &ctr); err != nil {
		return err
	}
	if body.UpTo <= ctr.Floor {
		return nil
	}
	if body.From == 0 || body.From > body.UpTo {
		return fmt.Errorf("engine: gc.changelog of %s with range %d..%d: %w", ws, body.From, body.UpTo, synclog.ErrCorrupt)
	}
	for _, opID := range body.OpIDs {
		if err := b.Delete(synclog.OpIndexKey(opID)); err != nil {
			return err
		}
	}
	if err := b.DeleteRange(synclog.ChangeKey(ws, ctr.Floor+1), synclog.ChangeKey(ws, body.UpTo+1)); err != nil {
		return err
	}
	ctr.Floor = body.UpTo
	ctr.Counter = max(ctr.Counter, body.UpTo)
	return b.SetRecord(ckey, &ctr)
}

// foldGCTombstones deletes ws's tombstones installed at versions up to
// body.UpTo and their by-version index. Rows are untouched: a soft-deleted
// row keeps its register (with its greatest delete), which blocks a stale
// put after its tombstone is gone.
func foldGCTombstones(b *synclog.Batch, body *gcBody) error {
	ws := body.Workspace
	prefix := synclog.NewKey(synclog.PrefixTombByVersion).Str(ws)
	it, err := b.NewIter(prefix, synclog.TombByVersionKey(ws, body.UpTo+1))
	if err != nil {
		return err
	}
	var keys [][]byte
	var ids []string
	for ok := it.First(); ok; ok = it.Next() {
		keys = append(keys, append([]byte(nil), it.Key()...))
		ids = append(ids, string(it.Value()))
	}
	if err := it.Close(); err != nil {
		return err
	}
	for i, k := range keys {
		r := synclog.ReadKey(k)
		r.Str()
		v := r.U64()
		if err := b.Delete(k); err != nil {
			return err
		}
		table, pk, err := synclog.SplitEntityID(ids[i])
		if err != nil {
			return err
		}
		tkey := synclog.TombKey(ws, table, pk)
		var tomb synclog.TombRecord
		found, err := synclog.GetRecord(b, tkey, &tomb)
		if err != nil {
			return err
		}
		if found && tomb.ServerVersion == v {
			if err := b.Delete(tkey); err != nil {
				return err
			}
		}
	}
	return nil
}

// WorkspaceIDs lists every workspace that has sync state (a counter), in
// key order.
func (e *Engine) WorkspaceIDs(ctx context.Context) ([]string, error) {
	v, err := e.view()
	if err != nil {
		return nil, err
	}
	defer v.Release()
	prefix := []byte{synclog.PrefixCounter}
	it, err := v.NewIter(prefix, synclog.PrefixEnd(prefix))
	if err != nil {
		return nil, readErr(err)
	}
	defer it.Close()
	ids := []string{}
	for ok := it.First(); ok; ok = it.Next() {
		r := synclog.ReadKey(it.Key())
		ws := r.Str()
		if r.Err() == nil {
			ids = append(ids, ws)
		}
	}
	if err := it.Error(); err != nil {
		return nil, readErr(err)
	}
	return ids, nil
}

// MaintenanceState is GET /v1/sync/maintenance (host-integration §1.2's
// getMaintenanceState). Times are epoch milliseconds.
type MaintenanceState struct {
	Enabled   bool   `json:"enabled"`
	State     string `json:"state"` // idle | running | failed
	LastRun   *int64 `json:"lastRun,omitempty"`
	Backlog   *int64 `json:"backlog,omitempty"`
	LastError string `json:"lastError,omitempty"`
}

// maintenance is the background loop's state.
type maintenance struct {
	cfg HistoryConfig

	mu        sync.Mutex
	state     string
	lastRun   int64
	lastError string
	backlog   int64
	backlogAt time.Time
	hasBack   bool

	runMu   sync.Mutex // one run at a time
	gcLocks wsLocks    // one GC per workspace at a time
	stop    chan struct{}
	done    chan struct{}
	closed  bool
}

func (m *maintenance) init(cfg HistoryConfig) {
	m.cfg = cfg
	m.gcLocks.m = map[string]*wsLock{}
	m.state = "idle"
}

// Start runs the maintenance loop in the background: every
// MaintenanceInterval it collects history older than Retention in every
// workspace; every SweepInterval it releases expired snapshot sessions.
// Close stops it.
func (e *Engine) Start() {
	m := &e.maint
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stop != nil || m.closed {
		return
	}
	m.stop, m.done = make(chan struct{}), make(chan struct{})
	go e.maintenanceLoop(m.stop, m.done)
}

func (e *Engine) maintenanceLoop(stop, done chan struct{}) {
	defer close(done)
	sweep := time.NewTicker(e.cfg.History.SweepInterval)
	defer sweep.Stop()
	var gcC <-chan time.Time
	if e.cfg.History.MaintenanceInterval > 0 {
		gc := time.NewTicker(e.cfg.History.MaintenanceInterval)
		defer gc.Stop()
		gcC = gc.C
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-stop
		cancel()
	}()
	for {
		select {
		case <-stop:
			return
		case <-sweep.C:
			e.snaps.sweep(e.cfg.Now())
		case <-gcC:
			if err := e.RunMaintenance(ctx); err != nil && ctx.Err() == nil {
				e.log.Warn("maintenance run failed", "err", err)
			}
		}
	}
}

// RunMaintenance collects history older than the configured retention in
// every workspace (change log, then tombstones), batch by batch, and
// releases expired snapshot sessions. The loop calls it; tests call it
// directly.
func (e *Engine) RunMaintenance(ctx context.Context) error {
	m := &e.maint
	m.runMu.Lock()
	defer m.runMu.Unlock()
	m.setState("running", "")
	e.snaps.sweep(e.cfg.Now())
	err := e.runGCAll(ctx)
	m.mu.Lock()
	m.lastRun = e.cfg.Now().UnixMilli()
	m.hasBack = false
	if err != nil {
		m.state, m.lastError = "failed", err.Error()
	} else {
		m.state, m.lastError = "idle", ""
	}
	m.mu.Unlock()
	return err
}

func (e *Engine) runGCAll(ctx context.Context) error {
	ids, err := e.WorkspaceIDs(ctx)
	if err != nil {
		return err
	}
	var first error
	for _, ws := range ids {
		for _, batch := range []gcBatchFunc{e.gcChangeLogBatch, e.gcTombstonesBatch} {
			if _, err := e.gcLoop(ctx, ws, e.cfg.History.Retention, batch, math.MaxInt); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if first == nil {
					first = err
				}
			}
		}
	}
	return first
}

func (m *maintenance) setState(state, lastErr string) {
	m.mu.Lock()
	m.state, m.lastError = state, lastErr
	m.mu.Unlock()
}

// backlogTTL is how long a computed backlog is reused.
const backlogTTL = 60 * time.Second

// Maintenance reports the maintenance loop's state. backlog is the number
// of change-log entries GC would collect now under the configured
// retention (computed at most once a minute).
func (e *Engine) Maintenance(ctx context.Context) (MaintenanceState, error) {
	m := &e.maint
	now := e.cfg.Now()
	m.mu.Lock()
	st := MaintenanceState{Enabled: e.cfg.History.MaintenanceInterval > 0, State: m.state, LastError: m.lastError}
	if m.lastRun != 0 {
		lr := m.lastRun
		st.LastRun = &lr
	}
	fresh := m.hasBack && now.Sub(m.backlogAt) < backlogTTL
	back := m.backlog
	m.mu.Unlock()
	if !fresh {
		n, err := e.backlog(ctx, now)
		if err != nil {
			return st, err
		}
		back = n
		m.mu.Lock()
		m.backlog, m.backlogAt, m.hasBack = n, now, true
		m.mu.Unlock()
	}
	st.Backlog = &back
	return st, nil
}

// backlog counts the entries the change-log GC would collect now, from
// the durable view (cursors that would expire are left out of the
// minimum, as GC leaves them out).
func (e *Engine) backlog(ctx context.Context, now time.Time) (int64, error) {
	ids, err := e.WorkspaceIDs(ctx)
	if err != nil {
		return 0, err
	}
	v, err := e.view()
	if err != nil {
		return 0, err
	}
	defer v.Release()
	cutoffMs := now.Add(-e.cfg.History.Retention).UnixMilli()
	var total int64
	for _, ws := range ids {
		minimum := uint64(noCursorMinimum)
		prefix := synclog.NewKey(synclog.PrefixCursor).Str(ws)
		it, err := v.NewIter(prefix, synclog.PrefixEnd(prefix))
		if err != nil {
			return 0, readErr(err)
		}
		for ok := it.First(); ok; ok = it.Next() {
			var cur synclog.CursorRecord
			if synclog.Decode(it.Key(), it.Value(), &cur) == nil && cur.UpdatedAtMs >= cutoffMs {
				minimum = min(minimum, cur.LastSeen)
			}
		}
		it.Close()
		ctr, err := readCounter(v, ws)
		if err != nil {
			return 0, err
		}
		it, err = v.NewIter(synclog.ChangeKey(ws, ctr.Floor+1), synclog.PrefixEnd(synclog.ChangePrefix(ws)))
		if err != nil {
			return 0, readErr(err)
		}
		for ok := it.First(); ok; ok = it.Next() {
			r := synclog.ReadKey(it.Key())
			r.Str()
			ver := r.U64()
			var rec synclog.ChangeRecord
			if synclog.Decode(it.Key(), it.Value(), &rec) != nil || ver > minimum || rec.CreatedAtMs >= cutoffMs {
				break
			}
			total++
		}
		it.Close()
	}
	return total, nil
}

// Close stops the maintenance loop and releases every snapshot session
// (their pinned views), so the log can close. Call it before closing the
// log; the engine refuses new snapshot chains afterwards.
func (e *Engine) Close() {
	m := &e.maint
	m.mu.Lock()
	m.closed = true
	stop, done := m.stop, m.done
	m.stop = nil
	m.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
	e.snaps.closeAll()
}

// CollectHistory runs change-log GC and then tombstone GC of ws under
// retention to completion, batch by batch, for admin actions that act with
// the service token (no acting user, so no role check). The retention
// window must lie within 3,600 s .. 365 days.
func (e *Engine) CollectHistory(ctx context.Context, ws string, retention time.Duration) (changes, tombstones GCResult, err error) {
	if retention < MinRetentionSeconds*time.Second || retention > MaxRetentionSeconds*time.Second || retention%time.Second != 0 {
		return changes, tombstones, syncerr.Validation("Invalid sync retention window: between %d and %d whole seconds", MinRetentionSeconds, MaxRetentionSeconds)
	}
	if changes, err = e.gcLoop(ctx, ws, retention, e.gcChangeLogBatch, math.MaxInt); err != nil {
		return changes, tombstones, err
	}
	tombstones, err = e.gcLoop(ctx, ws, retention, e.gcTombstonesBatch, math.MaxInt)
	return changes, tombstones, err
}
