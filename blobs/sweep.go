package blobs

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/storage"
	"github.com/or3/syncd/syncerr"
)

// Abandoned uploads (side-modules §9, weakness 3: "a blob uploaded but
// never committed is never deleted").
//
// Every upload URL presign-upload hands out is first recorded in the log
// (event "blob.pending", state 0x53 | ws | hash → Pending) with the time
// after which nothing can legitimately still arrive or commit under it:
// the later of the grant's and the intent's expiry plus
// Config.AbandonedUploadTTL (a transfer that started just before its
// grant expired may run that long). Presigning the same content again
// only moves that time later. SweepAbandoned, run every Config.SweepEvery
// by Start, takes each due record and, under the workspace's lock (so no
// commit, delete or GC of the workspace runs meanwhile):
//
//   - keeps the object when the gateway recorded it (a commit happened: GC
//     and delete own it from then on) or a live file_meta row names the
//     hash;
//   - otherwise deletes it from the store (absent is fine);
//
// and logs "blob.swept", whose fold drops the record unless a later
// presign moved its time. Partial transfers that never became an object
// (fs temp files, S3 incomplete multipart uploads) are removed through
// storage.Sweeper once older than the longest grant plus the TTL.

const (
	evPending = "blob.pending"
	evSwept   = "blob.swept"

	// DefaultAbandonedUploadTTL is how long after an upload URL and its
	// intent expire an uncommitted object is removed.
	DefaultAbandonedUploadTTL = time.Hour
	// DefaultSweepEvery is the sweep schedule.
	DefaultSweepEvery = 10 * time.Minute
	// sweepBatch bounds the records one sweep commit retires.
	sweepBatch = 100
)

// Pending is an upload URL the gateway issued: the state under
// 0x53 | ws | hash.
type Pending struct {
	_msgpack struct{} `msgpack:",as_array"`

	StorageID string
	SweepAtMs int64 // the sweep checks the object from then on
}

// pendingBody is the body of blob.pending and blob.swept.
type pendingBody struct {
	_msgpack struct{} `msgpack:",as_array"`

	Workspace string
	Hash      string // normalized
	P         Pending
	Deleted   bool // blob.swept: the object was removed (else kept)
}

func pendingKey(ws, hash string) []byte {
	return synclog.NewKey(synclog.PrefixBlobUpload).Str(ws).Raw(hash)
}

// foldPending applies blob.pending and blob.swept (deterministic: reads
// only its own state through b).
func foldPending(b *synclog.Batch, ev *synclog.SystemEvent) error {
	var body pendingBody
	if err := synclog.Decode(nil, ev.Body, &body); err != nil {
		return err
	}
	key := pendingKey(body.Workspace, body.Hash)
	var cur Pending
	found, err := synclog.GetRecord(b, key, &cur)
	if err != nil {
		return err
	}
	switch ev.Type {
	case evPending:
		if found && cur.SweepAtMs >= body.P.SweepAtMs {
			return nil // an earlier presign already covers this one
		}
		return b.SetRecord(key, &body.P)
	default: // evSwept
		if !found || cur.SweepAtMs > body.P.SweepAtMs {
			return nil // presigned again since the sweep looked: keep waiting
		}
		return b.Delete(key)
	}
}

// notePending durably records an issued upload URL before it is handed
// out, so a crash right after cannot leave an untracked object.
func (g *Gateway) notePending(ctx context.Context, user, ws, hash, key string, sweepAt time.Time) error {
	body := pendingBody{Workspace: ws, Hash: hash, P: Pending{StorageID: key, SweepAtMs: sweepAt.UnixMilli()}}
	return g.commitPending(ctx, evPending, user, g.cfg.Now(), []pendingBody{body})
}

// commitPending appends and folds one event of type typ per body, in one
// batch.
func (g *Gateway) commitPending(ctx context.Context, typ, actor string, at time.Time, bodies []pendingBody) error {
	b := g.db.NewBatch()
	defer b.Close()
	for i := range bodies {
		if err := g.appendPending(b, typ, actor, at, &bodies[i]); err != nil {
			return err
		}
	}
	if err := g.db.Commit(ctx, b); err != nil {
		return commitErr(err)
	}
	return nil
}

// appendPending appends one event of type typ with body to b and folds it.
func (g *Gateway) appendPending(b *synclog.Batch, typ, actor string, at time.Time, body *pendingBody) error {
	ev := &synclog.SystemEvent{Type: typ, AtMs: at.UnixMilli(), Actor: actor, Body: synclog.MustEncode(body)}
	seq := g.db.NextSystemSeq()
	if err := b.AppendEvent(synclog.SystemKey(seq), ev); err != nil {
		return syncerr.Internal(err, "append")
	}
	if err := foldPending(b, ev); err != nil {
		return syncerr.Internal(err, "fold")
	}
	return nil
}

// sweepAt is when an upload URL expiring at urlExp, for an intent
// expiring at intentExp, becomes abandoned if nothing committed it.
func (g *Gateway) sweepAt(urlExp, intentExp time.Time) time.Time {
	t := urlExp
	if intentExp.After(t) {
		t = intentExp
	}
	return t.Add(g.cfg.AbandonedUploadTTL)
}

// SweepResult is what one sweep did.
type SweepResult struct {
	Due     int // issued uploads past their sweep time
	Deleted int // uncommitted objects removed from the store
	Kept    int // committed objects: only the record was retired
	Partial int // partial transfers the store removed
}

// SweepStats are the sweeps' cumulative counters (metrics).
type SweepStats struct {
	Runs, Failures, Deleted, Kept, Partial int64
}

type sweepCounters struct {
	runs, failures, deleted, kept, partial atomic.Int64
}

// SweepStats returns the cumulative counters of the sweeps so far.
func (g *Gateway) SweepStats() SweepStats {
	c := &g.sweeps
	return SweepStats{Runs: c.runs.Load(), Failures: c.failures.Load(), Deleted: c.deleted.Load(), Kept: c.kept.Load(), Partial: c.partial.Load()}
}

type dueUpload struct {
	ws, hash string
	p        Pending
}

// SweepAbandoned removes the uploads whose URLs were issued but whose
// objects no commit claimed in time, and the stores' partial transfers
// (see the package's "Abandoned uploads"). It stops at the first store
// failure (503); what it removed before is recorded, the rest waits for
// the next sweep.
func (g *Gateway) SweepAbandoned(ctx context.Context) (SweepResult, error) {
	g.sweepMu.Lock()
	defer g.sweepMu.Unlock()
	now := g.cfg.Now()
	res, err := g.sweep(ctx, now)
	c := &g.sweeps
	c.runs.Add(1)
	c.deleted.Add(int64(res.Deleted))
	c.kept.Add(int64(res.Kept))
	c.partial.Add(int64(res.Partial))
	if err != nil {
		c.failures.Add(1)
		g.log.Warn("abandoned-upload sweep stopped early; the rest waits for the next sweep",
			"due", res.Due, "deleted", res.Deleted, "kept", res.Kept, "partial", res.Partial, "err", err)
		return res, err
	}
	if res.Due > 0 || res.Partial > 0 {
		g.log.Info("abandoned-upload sweep", "due", res.Due, "deleted", res.Deleted, "kept", res.Kept, "partial", res.Partial)
	}
	return res, nil
}

func (g *Gateway) sweep(ctx context.Context, now time.Time) (SweepResult, error) {
	var res SweepResult
	nowMs := now.UnixMilli()
	var after []byte
	for {
		due, next, err := g.duePage(after, nowMs)
		if err != nil {
			return res, err
		}
		res.Due += len(due)
		done, serr := g.sweepPage(ctx, due, nowMs, &res)
		if err := g.retire(ctx, done, now); err != nil {
			return res, err
		}
		if serr != nil {
			return res, serr
		}
		if next == nil {
			break
		}
		after = next
	}
	if sw, ok := g.store.(storage.Sweeper); ok {
		n, err := sw.SweepPartial(ctx, now.Add(-(MaxGrantTTL + g.cfg.AbandonedUploadTTL)))
		res.Partial += n
		if err != nil {
			return res, storeErr(err)
		}
	}
	return res, nil
}

// duePage reads up to sweepBatch due records after key `after`, and the
// key to continue after (nil at the end).
func (g *Gateway) duePage(after []byte, nowMs int64) ([]dueUpload, []byte, error) {
	v, err := g.view()
	if err != nil {
		return nil, nil, err
	}
	defer v.Release()
	prefix := synclog.NewKey(synclog.PrefixBlobUpload)
	lower := []byte(prefix)
	if after != nil {
		lower = append(append([]byte(nil), after...), 0)
	}
	it, err := v.NewIter(lower, synclog.PrefixEnd(prefix))
	if err != nil {
		return nil, nil, syncerr.Internal(err, "read")
	}
	defer func() { _ = it.Close() }() // read-only
	var due []dueUpload
	for it.First(); it.Valid(); it.Next() {
		var p Pending
		if err := synclog.Decode(it.Key(), it.Value(), &p); err != nil {
			return nil, nil, syncerr.Internal(err, "read")
		}
		if p.SweepAtMs > nowMs {
			continue
		}
		ws, hash, err := parsePendingKey(it.Key())
		if err != nil {
			return nil, nil, syncerr.Internal(err, "read")
		}
		due = append(due, dueUpload{ws: ws, hash: hash, p: p})
		if len(due) == sweepBatch {
			return due, append([]byte(nil), it.Key()...), nil
		}
	}
	return due, nil, nil
}

func parsePendingKey(k []byte) (ws, hash string, err error) {
	if len(k) < 3 || k[0] != synclog.PrefixBlobUpload {
		return "", "", synclog.ErrBadKey
	}
	n := int(k[1])<<8 | int(k[2])
	if len(k) < 3+n {
		return "", "", synclog.ErrBadKey
	}
	return string(k[3 : 3+n]), string(k[3+n:]), nil
}

// sweepPage decides each due upload under its workspace's lock and
// answers the ones decided (with Deleted set); it stops at the first
// store failure.
func (g *Gateway) sweepPage(ctx context.Context, due []dueUpload, nowMs int64, res *SweepResult) ([]pendingBody, error) {
	done := make([]pendingBody, 0, len(due))
	for _, d := range due {
		deleted, decided, err := g.sweepOne(ctx, d, nowMs)
		if err != nil {
			return done, err
		}
		if !decided {
			continue
		}
		if deleted {
			res.Deleted++
		} else {
			res.Kept++
		}
		done = append(done, pendingBody{Workspace: d.ws, Hash: d.hash, P: d.p, Deleted: deleted})
	}
	return done, nil
}

func (g *Gateway) sweepOne(ctx context.Context, d dueUpload, nowMs int64) (deleted, decided bool, err error) {
	wl, pl := &g.wsLocks[stripe(d.ws)], &g.presignLocks[stripe(d.ws)]
	wl.Lock() // no commit, delete or GC of the workspace meanwhile
	defer wl.Unlock()
	pl.Lock() // no presign of the workspace meanwhile
	defer pl.Unlock()
	v, err := g.view()
	if err != nil {
		return false, false, err
	}
	var cur Pending
	found, err := synclog.GetRecord(v, pendingKey(d.ws, d.hash), &cur)
	var committed bool
	if err == nil && found {
		committed, err = g.claimed(v, d.ws, d.hash)
	}
	v.Release()
	if err != nil {
		return false, false, syncerr.Internal(err, "read")
	}
	if !found || cur.SweepAtMs > nowMs {
		return false, false, nil // presigned again meanwhile: not due any more
	}
	if committed {
		return false, true, nil
	}
	if err := g.store.Delete(ctx, cur.StorageID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return false, false, storeErr(err)
	}
	return true, true, nil
}

// claimed reports whether the object of (ws, hash) belongs to a commit:
// the gateway recorded it (GC and delete own it), or a live file_meta row
// names the hash (a commit whose record write failed). A soft-deleted row
// without a record claims nothing: GC, which walks records, would never
// collect that object either.
func (g *Gateway) claimed(v *synclog.View, ws, hash string) (bool, error) {
	raw, err := v.Get(recordKey(ws, hash))
	if err != nil || raw != nil {
		return raw != nil, err
	}
	row, found, err := findFileRow(v, ws, hash, "")
	return found && row.Live, err
}

// retire logs blob.swept for the decided uploads, in one batch.
func (g *Gateway) retire(ctx context.Context, done []pendingBody, now time.Time) error {
	if len(done) == 0 {
		return nil
	}
	return g.commitPending(ctx, evSwept, "system", now, done)
}

// Start runs SweepAbandoned every Config.SweepEvery (not at all when it
// is negative) until Close.
func (g *Gateway) Start() {
	g.loopOnce.Do(func() {
		if g.cfg.SweepEvery < 0 {
			close(g.loopDone)
			return
		}
		ticks, stop := g.ticker(g.cfg.SweepEvery)
		go g.sweepLoop(ticks, stop)
	})
}

// realTicker is the default Gateway.ticker.
func realTicker(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}

func (g *Gateway) sweepLoop(ticks <-chan time.Time, stop func()) {
	defer close(g.loopDone)
	defer stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-g.loopStop; cancel() }()
	for {
		select {
		case <-g.loopStop:
			return
		case <-ticks:
			_, _ = g.SweepAbandoned(ctx) // logged and counted; retried next tick
		}
	}
}

// Close stops the sweep loop (waiting for a sweep in progress). Safe to
// call more than once, and without Start.
func (g *Gateway) Close() {
	g.closeOnce.Do(func() {
		close(g.loopStop)
		started := true
		g.loopOnce.Do(func() { started = false })
		if started {
			<-g.loopDone
		}
	})
}
