package webhooks

import (
	"context"
	"encoding/binary"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/or3/syncd/crdt"
	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/syncerr"
)

// Marks: per workspace, the server_version up to which applied ops'
// webhook events are enqueued (log.PrefixWebhookMark | ws → u64). Every
// batch that enqueues sync deliveries carries the marks of every op
// processed so far, so after a crash the marks say exactly which ops
// still need their deliveries: those above the mark, read back from the
// workspace's change log (catchUp). A mark is also the dedupe: an op at or
// below it is never enqueued again, live or by catch-up.
//
// Ops that fire nothing (no matching hook, not applied, not a webhook
// table) advance the marks in memory only; those marks are written with
// the next batch of deliveries, at most once per markFlushEvery otherwise,
// and at Close. A crash forgets at most that much progress, which only
// makes the next catch-up read those ops again and (hooks unchanged)
// enqueue nothing for them again.

// markInitKey marks the marks as initialized. When it is missing (a log
// written before marks existed, or state rebuilt from events: marks are
// not rebuilt by replay) every workspace's mark starts at its counter:
// history before that point never fires.
var markInitKey = []byte{synclog.PrefixWebhookMark}

func markKey(ws string) []byte { return synclog.NewKey(synclog.PrefixWebhookMark).Str(ws) }

func u64Bytes(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// markOf is how far ws's ops are processed (durable or pending). Call
// under s.mu.
func (s *Store) markOf(ws string) uint64 {
	return max(s.marks[ws], s.pend[ws])
}

// advance notes that ws's ops up to v are processed. Call under s.mu.
func (s *Store) advance(ws string, v uint64) {
	if v > s.markOf(ws) {
		s.pend[ws] = v
	}
}

// writeMarks puts every pending mark into t's batch; they become durable
// marks once it commits.
func (t *txn) writeMarks() error {
	s := t.s
	if len(s.pend) == 0 {
		return nil
	}
	written := make(map[string]uint64, len(s.pend))
	for ws, v := range s.pend {
		if err := t.b.Set(markKey(ws), u64Bytes(v)); err != nil {
			return err
		}
		written[ws] = v
	}
	t.after = append(t.after, func() {
		for ws, v := range written {
			s.marks[ws] = max(s.marks[ws], v)
			if s.pend[ws] <= v {
				delete(s.pend, ws)
			}
		}
	})
	return nil
}

// MarkOf returns the durable mark of ws (tests and diagnostics).
func (s *Store) MarkOf(ws string) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.marks[ws]
}

// loadMarks reads the marks, or initializes them at the workspaces'
// counters when they never were.
func (s *Store) loadMarks() error {
	initialized := false
	var counters map[string]uint64
	err := s.read(func(v *synclog.View) error {
		lo := []byte{synclog.PrefixWebhookMark}
		it, err := v.NewIter(lo, synclog.PrefixEnd(lo))
		if err != nil {
			return err
		}
		for ok := it.First(); ok; ok = it.Next() {
			k := it.Key()
			if len(k) == 1 {
				initialized = true
				continue
			}
			r := synclog.ReadKey(k)
			ws := r.Str()
			if r.Err() != nil || len(it.Value()) != 8 {
				it.Close()
				return &synclog.CorruptionError{Key: append([]byte(nil), k...), Err: synclog.ErrBadKey}
			}
			s.marks[ws] = binary.BigEndian.Uint64(it.Value())
		}
		if err := it.Close(); err != nil {
			return err
		}
		if initialized {
			return nil
		}
		counters, err = readCounters(v)
		return err
	})
	if err != nil || initialized {
		return err
	}
	ctx := context.Background()
	for ws, c := range counters {
		s.pend[ws] = c
	}
	// Write them in bounded batches; the init key goes with the last.
	for {
		err := s.write(ctx, "", func(t *txn) error {
			n := 0
			for ws, v := range s.pend {
				if n == 5000 {
					break
				}
				if err := t.b.Set(markKey(ws), u64Bytes(v)); err != nil {
					return err
				}
				s.marks[ws] = v
				delete(s.pend, ws)
				n++
			}
			if len(s.pend) == 0 {
				return t.b.Set(markInitKey, []byte{1})
			}
			return nil
		})
		if err != nil {
			return err
		}
		if len(s.pend) == 0 {
			return nil
		}
	}
}

type counterOf struct {
	ws  string
	ctr synclog.CounterRecord
}

// readCounters returns every workspace's counter.
func readCounters(r synclog.Reader) (map[string]uint64, error) {
	cs, err := readCounterRecords(r)
	out := make(map[string]uint64, len(cs))
	for _, c := range cs {
		out[c.ws] = c.ctr.Counter
	}
	return out, err
}

func readCounterRecords(r synclog.Reader) ([]counterOf, error) {
	lo := []byte{synclog.PrefixCounter}
	it, err := r.NewIter(lo, synclog.PrefixEnd(lo))
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []counterOf
	for ok := it.First(); ok; ok = it.Next() {
		kr := synclog.ReadKey(it.Key())
		ws := kr.Str()
		if kr.Err() != nil {
			return nil, &synclog.CorruptionError{Key: append([]byte(nil), it.Key()...), Err: kr.Err()}
		}
		var c synclog.CounterRecord
		if err := synclog.Decode(it.Key(), it.Value(), &c); err != nil {
			return nil, err
		}
		out = append(out, counterOf{ws, c})
	}
	return out, it.Error()
}

// couldFire reports whether any enabled hook may receive ws's sync
// events. Call under s.mu.
func (s *Store) couldFire(ws string) bool {
	for _, w := range s.hooks {
		if !w.Enabled {
			continue
		}
		if w.WorkspaceID == ws || (w.Scope == ScopeAdmin && w.WorkspaceID == "") {
			return true
		}
	}
	return false
}

// catchUp enqueues the deliveries of every applied op above its
// workspace's mark, read from the change log of the current durable view,
// and moves each mark to its workspace's counter in that view. Ops the
// live queue still holds at or below the new marks are then skipped.
func (s *Store) catchUp(ctx context.Context) error {
	v := s.cfg.DB.View()
	if v == nil {
		return syncerr.Unavailable(synclog.ErrUnhealthy, "Webhook store unavailable")
	}
	defer v.Release()
	counters, err := readCounterRecords(v)
	if err != nil {
		return internal(err, "read counters")
	}
	events := 0
	for _, c := range counters {
		if err := ctx.Err(); err != nil {
			return err
		}
		s.mu.Lock()
		from := s.markOf(c.ws)
		could := c.ctr.Counter > from && s.couldFire(c.ws)
		s.mu.Unlock()
		if c.ctr.Counter <= from {
			continue
		}
		var changes []SyncChange
		if could {
			if changes, err = appliedSince(v, c.ws, from, c.ctr, s); err != nil {
				return internal(err, "read change log")
			}
		}
		events += len(changes)
		for {
			n := min(len(changes), enqueueBatch)
			var extra map[string]uint64
			if n == len(changes) {
				extra = map[string]uint64{c.ws: c.ctr.Counter}
			}
			if _, err := s.enqueueSync(ctx, changes[:n], extra, false); err != nil {
				return err
			}
			changes = changes[n:]
			if extra != nil {
				break
			}
		}
	}
	if events > 0 {
		s.log.Info("webhook events caught up from the change log", "events", events)
	}
	return nil
}

type entityKey struct{ table, pk string }

// keyState is what catch-up knows of one entity touched above the mark.
type keyState struct {
	ops   int  // window ops on the key
	local bool // one of them was accepted here
	// state is the register before the next window op: at first the
	// register at the mark.
	state crdt.Entity
	// need: 0 known; needExists: only whether any op preceded the
	// window; needAll: the greatest put and delete at or below the mark.
	need  int
	found bool
	// noFirst: the key's first op is not in the window.
	noFirst bool
}

const (
	needExists = 1
	needAll    = 2
)

// placeholder stands for ops before the window that history GC collected:
// a put that loses to every real revision, so it only makes the register
// non-empty.
var placeholder = &crdt.PutState{}

// appliedSince returns, in version order, the ops of ws above mark that
// were accepted in this region and applied (won the merge when they were
// logged), with what the live path would have told OnSync about them.
//
// Applied and existed are not stored in the log; they are what folding
// the op into the register as it stood just before the op gives
// (engine.FoldChange). The register at the mark is rebuilt from the
// current row: a half of it (greatest put, greatest delete) whose op lies
// at or below the mark is that half at the mark too, since halves only
// grow. Where a window op holds a half, or the row cannot tell whether any
// op preceded the window, the retained change log at or below the mark is
// read for that key (in the common cases — a key touched once, an update
// of an older row — it is not needed). If history GC collected a key's
// ops below the floor, their revisions are unknown: such a key counts as
// existing, and a collected op can only have lost to the window's ops.
func appliedSince(v synclog.Reader, ws string, mark uint64, ctr synclog.CounterRecord, s *Store) ([]SyncChange, error) {
	lo := mark
	if lo < ctr.Floor {
		s.log.Warn("webhook events lost: history GC collected ops before they were enqueued",
			"workspace", ws, "from", mark+1, "to", ctr.Floor)
		lo = ctr.Floor
	}
	type winOp struct {
		v   uint64
		rec synclog.ChangeRecord
	}
	var ops []winOp
	keys := map[entityKey]*keyState{}
	it, err := v.NewIter(synclog.ChangeKey(ws, lo+1), synclog.ChangeKey(ws, ctr.Counter+1))
	if err != nil {
		return nil, err
	}
	for ok := it.First(); ok; ok = it.Next() {
		r := synclog.ReadKey(it.Key())
		r.Str()
		ver := r.U64()
		if r.Err() != nil {
			it.Close()
			return nil, &synclog.CorruptionError{Key: append([]byte(nil), it.Key()...), Err: r.Err()}
		}
		var rec synclog.ChangeRecord
		if err := synclog.Decode(it.Key(), it.Value(), &rec); err != nil {
			it.Close()
			return nil, err
		}
		if tableFamilies[rec.Table] == "" {
			continue
		}
		k := entityKey{rec.Table, rec.PK}
		ks := keys[k]
		if ks == nil {
			ks = &keyState{}
			keys[k] = ks
		}
		ks.ops++
		ks.local = ks.local || rec.OriginRegion == ""
		ops = append(ops, winOp{ver, rec})
	}
	if err := it.Close(); err != nil {
		return nil, err
	}
	// The register at the mark, from the row where it can tell.
	firstAt := map[entityKey]map[int64]bool{}
	for _, o := range ops {
		k := entityKey{o.rec.Table, o.rec.PK}
		if keys[k] == nil || !keys[k].local {
			continue
		}
		if firstAt[k] == nil {
			firstAt[k] = map[int64]bool{}
		}
		firstAt[k][o.rec.CreatedAtMs] = true
	}
	scanning := 0
	for k, ks := range keys {
		if !ks.local {
			delete(keys, k)
			continue
		}
		var row synclog.RowRecord
		found, err := synclog.GetRecord(v, synclog.RowKey(ws, k.table, k.pk), &row)
		if err != nil {
			return nil, err
		}
		if !found {
			ks.need = needAll
			scanning++
			continue
		}
		putHeld, tombHeld := false, false
		for _, o := range ops {
			if o.rec.Table != k.table || o.rec.PK != k.pk {
				continue
			}
			rv := revOf(&o.rec)
			if o.rec.Op == synclog.OpDelete {
				tombHeld = tombHeld || (row.HasTomb && rv == crdtRev(row.Tomb))
			} else {
				putHeld = putHeld || (row.HasPut && rv == crdtRev(row.Put))
			}
		}
		var put *crdt.PutState
		var tomb *crdt.Revision
		if row.HasPut && !putHeld {
			put = &crdt.PutState{Rev: crdtRev(row.Put), Payload: row.Payload, SoftDeleted: row.SoftDel}
		}
		if row.HasTomb && !tombHeld {
			t := crdtRev(row.Tomb)
			tomb = &t
		}
		ks.state = crdt.NewEntity(put, tomb)
		ks.noFirst = !firstAt[k][row.CreatedAtMs]
		switch {
		case ks.ops == 1:
			// One op: whether it applied follows from the halves above
			// (it holds its half, or loses to the op that does); only
			// whether anything preceded it may be unknown.
			if ks.state.Empty() {
				if ks.noFirst {
					ks.state = crdt.NewEntity(placeholder, nil)
				} else {
					ks.need = needExists
					scanning++
				}
			}
		case putHeld || tombHeld:
			ks.need = needAll
			scanning++
		}
	}
	if scanning > 0 {
		if err := scanBefore(v, ws, lo, ctr.Floor, keys, scanning); err != nil {
			return nil, err
		}
		for _, ks := range keys {
			if ks.need == 0 {
				continue
			}
			if ks.state.Empty() && ctr.Floor > 0 && ks.noFirst {
				ks.state = crdt.NewEntity(placeholder, nil)
			}
		}
	}
	// Fold the window in version order, as the push path did.
	var out []SyncChange
	for _, o := range ops {
		k := entityKey{o.rec.Table, o.rec.PK}
		ks := keys[k]
		if ks == nil {
			continue
		}
		before := ks.state
		after, res := before.Apply(opOf(&o.rec))
		ks.state = after
		if !res.Applied || o.rec.OriginRegion != "" {
			continue
		}
		var p []byte
		if after.Put != nil {
			p = after.Put.Payload
		}
		if p == nil {
			p = o.rec.Payload
		}
		out = append(out, SyncChange{Workspace: ws, Table: o.rec.Table, PK: o.rec.PK, Delete: o.rec.Op == synclog.OpDelete,
			Existed: !before.Empty(), UserID: o.rec.UserID, Owner: o.rec.Owner, Payload: p, AtMs: o.rec.CreatedAtMs,
			Version: o.v, OpID: o.rec.OpID})
	}
	return out, nil
}

// scanBefore folds the retained entries of ws in (floor, upTo] into the
// keys that need them, newest first, stopping once only existence was
// asked and every such key has been seen.
func scanBefore(v synclog.Reader, ws string, upTo, floor uint64, keys map[entityKey]*keyState, scanning int) error {
	if upTo <= floor {
		return nil
	}
	all := 0
	for _, ks := range keys {
		if ks.need == needAll {
			all++
		}
	}
	scan := map[*keyState]crdt.Entity{}
	it, err := v.NewIter(synclog.ChangeKey(ws, floor+1), synclog.ChangeKey(ws, upTo+1))
	if err != nil {
		return err
	}
	defer it.Close()
	pending := scanning - all // existence-only keys not yet seen
	for ok := it.Last(); ok; ok = it.Prev() {
		var rec synclog.ChangeRecord
		if err := synclog.DecodeChangeAliased(it.Key(), it.Value(), &rec); err != nil {
			return err
		}
		ks := keys[entityKey{rec.Table, rec.PK}]
		if ks == nil || ks.need == 0 {
			continue
		}
		if !ks.found {
			ks.found = true
			if ks.need == needExists {
				pending--
			}
		}
		e, res := scan[ks].Apply(opOf(&rec))
		if res.PutChanged || res.TombChanged {
			e = detach(e) // the record aliases the iterator's memory
		}
		scan[ks] = e
		if all == 0 && pending == 0 {
			break
		}
	}
	if err := it.Error(); err != nil {
		return err
	}
	for ks, e := range scan {
		ks.state = crdt.Merge(e, ks.state)
	}
	return nil
}

// detach copies an entity's strings and payload out of borrowed memory.
func detach(e crdt.Entity) crdt.Entity {
	var put *crdt.PutState
	var tomb *crdt.Revision
	if e.Put != nil {
		put = &crdt.PutState{Rev: cloneRev(e.Put.Rev), Payload: append([]byte(nil), e.Put.Payload...), SoftDeleted: e.Put.SoftDeleted}
	}
	if e.Tomb != nil {
		t := cloneRev(*e.Tomb)
		tomb = &t
	}
	return crdt.NewEntity(put, tomb)
}

func cloneRev(r crdt.Revision) crdt.Revision {
	return crdt.Revision{Clock: r.Clock, HLC: strings.Clone(r.HLC), OpID: strings.Clone(r.OpID), Fingerprint: strings.Clone(r.Fingerprint)}
}

func revOf(rec *synclog.ChangeRecord) crdt.Revision {
	return crdt.Revision{Clock: rec.Clock, HLC: rec.HLC, OpID: rec.OpID, Fingerprint: rec.Fingerprint}
}

func crdtRev(r synclog.Revision) crdt.Revision {
	return crdt.Revision{Clock: r.Clock, HLC: r.HLC, OpID: r.OpID, Fingerprint: r.Fingerprint}
}

// opOf is the merge op of a log entry, as engine.FoldChange builds it.
func opOf(rec *synclog.ChangeRecord) crdt.Op {
	op := crdt.Op{Rev: revOf(rec)}
	if rec.Op == synclog.OpDelete {
		op.Kind = crdt.KindDelete
	} else {
		op.Kind = crdt.KindPut
		op.Payload = rec.Payload
		op.SoftDeleted = softDeleted(rec.Payload)
	}
	return op
}

// syncEventNS names the event ids of sync events: an applied op's event id
// is a UUIDv5 of its workspace, version and op id, the same whether the
// live path or catch-up enqueued it, so a receiver can dedupe on
// X-OR3-Event-ID.
var syncEventNS = uuid.MustParse("6f1d8a52-3c1e-4a7b-9f0e-2b5d7c9e4a11")

func syncEventID(c *SyncChange) string {
	if c.Version == 0 {
		return uuid.NewString()
	}
	return uuid.NewSHA1(syncEventNS, []byte(c.Workspace+"\x00"+strconv.FormatUint(c.Version, 10)+"\x00"+c.OpID)).String()
}
