package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/or3/syncd/crdt"
	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/syncerr"
)

func boolp(b bool) *bool { return &b }

// opGroup is the set of input indexes sharing one opId (sync-contract §3.2
// step 2), in order of first appearance.
type opGroup struct {
	opID     string
	idx      []int
	fp       string
	conflict bool
	fpErr    error
	// info and operr are the per-op validation of the group's first op
	// (validateOp is pure, so it runs before the workspace lock).
	info  *payloadInfo
	operr *opError
	// pre is the op_id index entry and the row Push read for the group
	// before any write (prefetch); zero when pushOne must read them.
	pre lookups
}

// lookups is what prefetch read for one group.
type lookups struct {
	idxDone, seen     bool
	idx               synclog.OpIndexRecord
	rowDone, rowFound bool
	row               synclog.RowRecord
}

// Push applies a batch of ops from user to the batch's workspace
// (sync-contract §3.2–3.3, §3.8, §4): versions are allocated gap-free in one
// contiguous block, each accepted op is logged and merged, and the answer
// is sent only after the batch is durable.
func (e *Engine) Push(ctx context.Context, user string, batch PushBatch) (PushResult, error) {
	ws, err := NormalizeScope(batch.Scope)
	if err != nil {
		return PushResult{}, err
	}
	// One pass over each payload (unless the decoder already made it):
	// compacted, validated, its interesting members located. The batch
	// size rule and the fingerprints below use its result.
	var preps []prepared
	if len(batch.Ops) <= MaxPushOps {
		preps = make([]prepared, len(batch.Ops))
		for i := range batch.Ops {
			preps[i] = preparePayload(&batch.Ops[i])
		}
	}
	if err := checkBatchShape(&batch, preps); err != nil {
		return PushResult{}, err
	}
	if _, err := e.authorize(ctx, ws, user, true); err != nil {
		return PushResult{}, err
	}
	ops := batch.Ops
	if len(ops) == 0 {
		v, err := e.view()
		if err != nil {
			return PushResult{}, err
		}
		defer v.Release()
		ctr, err := readCounter(v, ws)
		return PushResult{Results: []OpResult{}, ServerVersion: ctr.Counter}, err
	}

	// Group by opId and fingerprint, outside the lock.
	store := make([]opGroup, 0, len(ops))
	infos := make([]payloadInfo, len(ops))
	groups := make([]*opGroup, 0, len(ops))
	byID := make(map[string]*opGroup, len(ops))
	var fpr crdt.Fingerprinter
	for i := range ops {
		op := &ops[i]
		fp, fpErr := opFingerprint(&fpr, op, &preps[i])
		g := byID[op.Stamp.OpID]
		if g == nil {
			store = append(store, opGroup{opID: op.Stamp.OpID, fp: fp, fpErr: fpErr})
			g = &store[len(store)-1]
			info := &infos[len(store)-1]
			if g.operr = validatePrepared(ws, op, &preps[i], info); g.operr == nil {
				g.info = info
			}
			byID[op.Stamp.OpID] = g
			groups = append(groups, g)
		} else if fpErr != nil || g.fpErr != nil || fp != g.fp {
			g.conflict = true
		}
		g.idx = append(g.idx, i)
	}

	unlock := e.locks.lock(ws)
	defer unlock()
	claimed := e.claim(ws, groups)
	defer e.unclaim(claimed)

	b := e.db.NewBatch()
	defer b.Close()
	ctr, err := readCounter(b, ws)
	if err != nil {
		return PushResult{}, err
	}
	if err := prefetch(b, ws, ops, groups, claimed); err != nil {
		return PushResult{}, readErr(err)
	}
	next := ctr.Counter + 1
	nowMs := e.cfg.Now().UnixMilli()
	results := make([]OpResult, len(ops))
	changes := make([]Change, 0, len(groups))

	for _, g := range groups {
		res, change, err := e.pushOne(b, ws, user, ops, g, claimed, &next, nowMs)
		if err != nil {
			return PushResult{}, err
		}
		for _, i := range g.idx {
			results[i] = res
		}
		if change != nil {
			changes = append(changes, *change)
		}
	}
	counter := next - 1
	if len(changes) > 0 {
		// The folds left the counter to us: one write for the whole block.
		if err := raiseCounter(b, ws, counter); err != nil {
			return PushResult{}, readErr(err)
		}
		if err := e.db.Commit(ctx, b); err != nil {
			return PushResult{}, commitErr(err)
		}
		e.notify(Committed{Workspace: ws, Changes: changes, Counter: counter})
	}
	return PushResult{Results: results, ServerVersion: counter}, nil
}

// pushOne decides one opId group: conflict, validation, ownership, replay,
// or a new version logged and folded into b.
func (e *Engine) pushOne(b *synclog.Batch, ws, user string, ops []PendingOp, g *opGroup, claimed map[string]bool, next *uint64, nowMs int64) (OpResult, *Change, error) {
	op := &ops[g.idx[0]]
	fail := func(code, msg string) (OpResult, *Change, error) {
		return OpResult{OpID: g.opID, Success: false, ErrorCode: code, Error: msg}, nil, nil
	}
	if g.conflict {
		return fail(syncerr.CodeConflict, fmt.Sprintf("Conflicting operations reuse op_id %s", g.opID))
	}
	if g.fpErr != nil {
		return fail(syncerr.CodeValidation, fmt.Sprintf("payload is not acceptable JSON: %v", g.fpErr))
	}
	if g.operr != nil {
		return fail(g.operr.code, g.operr.msg)
	}
	info := g.info
	if !claimed[g.opID] {
		return fail(syncerr.CodeConflict, fmt.Sprintf("Conflicting operation reuses processed op_id %s", g.opID))
	}

	var row synclog.RowRecord
	rowFound := g.pre.rowFound
	var err error
	if g.pre.rowDone {
		row = g.pre.row
	} else if rowFound, err = synclog.GetRecord(b, synclog.RowKey(ws, op.TableName, op.PK), &row); err != nil {
		return OpResult{}, nil, readErr(err)
	}

	// Notification ownership (sync-contract §3.8).
	payload := info.compact
	owner := ""
	if op.TableName == tableNotifications {
		if op.Operation == "put" {
			if uid := info.fields[fieldUserID]; uid != nil && string(uid) != "null" {
				if s, isStr := jsonString(uid); !isStr || s != user {
					return fail(syncerr.CodeUnauthorized, "Forbidden: notification owner mismatch")
				}
			}
			if rowFound && row.Owner != "" && row.Owner != user {
				return fail(syncerr.CodeUnauthorized, "Forbidden: notification owner mismatch")
			}
			if payload, err = setField(payload, "user_id", user); err != nil {
				return OpResult{}, nil, syncerr.Internal(err, "normalize payload")
			}
			owner = user
		} else {
			if !rowFound || !row.HasPut || row.Owner != user {
				return fail(syncerr.CodeUnauthorized, "Forbidden: notification not owned by caller")
			}
			owner = row.Owner
		}
	}
	// ref_count is server-derived, never client authority (scenario 35).
	if op.TableName == "file_meta" && op.Operation == "put" {
		if payload, err = setField(payload, "ref_count", 0); err != nil {
			return OpResult{}, nil, syncerr.Internal(err, "normalize payload")
		}
	}

	// Replay detection (§3.2 step 5): the op_id index is global.
	idx, seen := g.pre.idx, g.pre.seen
	if !g.pre.idxDone {
		if seen, err = synclog.GetRecord(b, synclog.OpIndexKey(g.opID), &idx); err != nil {
			return OpResult{}, nil, readErr(err)
		}
	}
	if seen {
		if idx.Workspace != ws || idx.Fingerprint != g.fp {
			return fail(syncerr.CodeConflict, fmt.Sprintf("Conflicting operation reuses processed op_id %s", g.opID))
		}
		// Canonical (SQLite) rule: applied tells whether the write is
		// currently visible, i.e. still holds the row.
		applied := rowFound && row.Winner.OpID == g.opID && row.Winner.Fingerprint == g.fp
		res := OpResult{OpID: g.opID, Success: true, ServerVersion: idx.Version, Applied: boolp(applied),
			WasExisting: boolp(true), Replayed: true, TableName: op.TableName, Operation: op.Operation}
		if applied {
			res.Payload = payload
		} else if rowFound {
			res.Winner = winnerOf(&row)
			res.Payload = res.Winner.Payload
		}
		return res, nil, nil
	}

	// A new op: the next version, its log entry, and the merge.
	v := *next
	*next++
	rec := &synclog.ChangeRecord{
		Table: op.TableName, PK: op.PK, Op: opCode(op.Operation), Payload: payload,
		Clock: op.Stamp.Clock, HLC: op.Stamp.HLC, DeviceID: op.Stamp.DeviceID, OpID: g.opID,
		Fingerprint: g.fp, CreatedAtMs: nowMs, UserID: user, Owner: owner,
	}
	if err := b.AppendEvent(synclog.ChangeKey(ws, v), rec); err != nil {
		return OpResult{}, nil, syncerr.Internal(err, "append")
	}
	// The row and the op_id index were read through b above; the fold need
	// not read them again.
	out, err := foldChangeKnown(b, ws, v, rec, &known{row: &row, rowFound: rowFound, noIndex: true, counterLater: true,
		softKnown: true, soft: info.softDeleted})
	if err != nil {
		return OpResult{}, nil, readErr(err)
	}
	res := OpResult{OpID: g.opID, Success: true, ServerVersion: v, Applied: boolp(out.applied),
		WasExisting: boolp(out.wasExisting), TableName: op.TableName, Operation: op.Operation}
	if out.applied {
		res.Payload = payload
	} else if out.rowExists {
		res.Winner = winnerOf(&out.row)
		res.Payload = res.Winner.Payload
	}
	ch := &Change{
		SyncChange:  changeOf(v, rec),
		Owner:       owner,
		UserID:      user,
		Applied:     out.applied,
		WasExisting: out.wasExisting,
	}
	if out.applied && out.rowExists {
		ch.RowPayload = out.row.Payload
	}
	return res, ch, nil
}

func opCode(op string) uint8 {
	if op == "delete" {
		return synclog.OpDelete
	}
	return synclog.OpPut
}

func opName(op uint8) string {
	if op == synclog.OpDelete {
		return "delete"
	}
	return "put"
}

// changeOf builds the wire change of a log entry.
func changeOf(v uint64, rec *synclog.ChangeRecord) SyncChange {
	return SyncChange{
		ServerVersion: v, TableName: rec.Table, PK: rec.PK, Op: opName(rec.Op),
		Payload: rec.Payload,
		Stamp:   Stamp{DeviceID: rec.DeviceID, OpID: rec.OpID, HLC: rec.HLC, Clock: rec.Clock},
	}
}

// winnerOf is the PushWinner of a stored row.
func winnerOf(row *synclog.RowRecord) *Winner {
	w := &Winner{Revision: Revision{Clock: row.Winner.Clock, HLC: row.Winner.HLC, OpID: row.Winner.OpID}}
	if row.WinnerKind == uint8(crdt.KindDelete) {
		w.Kind = "delete"
		at := serverDeletedAt(row)
		w.ServerDeletedAt = &at
	} else {
		w.Kind = "put"
		w.Payload = row.Payload
	}
	return w
}

// serverDeletedAt is the epoch second a deleted row was deleted in this
// region (sync-contract §3.7 rule 5: deleted_at, else updated_at, else
// created_at, else 0).
func serverDeletedAt(row *synclog.RowRecord) int64 {
	switch {
	case row.DeletedAtMs > 0:
		return row.DeletedAtMs / 1000
	case row.UpdatedAtMs > 0:
		return row.UpdatedAtMs / 1000
	default:
		return row.CreatedAtMs / 1000
	}
}

// claim marks the groups' opIds in flight for ws. An opId another
// workspace is pushing right now is not claimed (its group will answer
// CONFLICT, as it would once the other push commits). Groups already known
// to be rejected (conflicting copies, invalid op) claim nothing: they will
// never be logged, so they must not make a concurrent push of the same
// opId to another workspace answer CONFLICT (sync-contract §3.3: only a
// processed opId conflicts).
func (e *Engine) claim(ws string, groups []*opGroup) map[string]bool {
	claimed := make(map[string]bool, len(groups))
	e.inflightMu.Lock()
	defer e.inflightMu.Unlock()
	for _, g := range groups {
		if g.conflict || g.fpErr != nil || g.operr != nil {
			continue
		}
		if other, busy := e.inflight[g.opID]; busy && other != ws {
			continue
		}
		e.inflight[g.opID] = ws
		claimed[g.opID] = true
	}
	return claimed
}

func (e *Engine) unclaim(claimed map[string]bool) {
	e.inflightMu.Lock()
	defer e.inflightMu.Unlock()
	for id := range claimed {
		delete(e.inflight, id)
	}
}

// setField sets a top-level field of a JSON object.
func setField(obj []byte, field string, value any) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(obj, &m); err != nil {
		return nil, err
	}
	raw, err := json.Marshal(value)
	if err != nil {
		return nil, err
	}
	if m == nil {
		m = map[string]json.RawMessage{}
	}
	m[field] = raw
	// Re-encode without HTML escaping so the other fields keep their bytes
	// (encoding/json would turn <, > and & into \u003c etc.).
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// opFingerprint fingerprints op over its prepared payload. An error is
// computed again over the payload as received, so its message is the same
// whichever bytes were fingerprinted.
func opFingerprint(f *crdt.Fingerprinter, op *PendingOp, p *prepared) (string, error) {
	payload := p.fingerprintPayload(op)
	if p.null {
		payload = nil
	}
	fp, err := f.OpFingerprint(op.TableName, op.Operation, op.PK, payload, op.Stamp.Clock, op.Stamp.HLC, op.Stamp.DeviceID)
	if err != nil && p.scan.ok {
		return crdtFingerprint(op)
	}
	return fp, err
}

func crdtFingerprint(op *PendingOp) (string, error) {
	return crdt.OpFingerprint(op.TableName, op.Operation, op.PK, op.Payload, op.Stamp.Clock, op.Stamp.HLC, op.Stamp.DeviceID)
}

// prefetch reads, before the batch holds any write, the op_id index entry
// and the row of every group that may be logged, in key order through one
// iterator: one seek per key instead of one Get (each of which builds its
// own iterator stack over the memtables and sstables). The reads are the
// ones pushOne would make: opIds are claimed and rows belong to this
// workspace, whose lock is held, so nothing else writes them meanwhile. A
// row that an earlier group of the batch may write is left to pushOne,
// which reads it through the batch.
func prefetch(b *synclog.Batch, ws string, ops []PendingOp, groups []*opGroup, claimed map[string]bool) error {
	type probe struct {
		key []byte
		g   *opGroup
		row bool
	}
	probes := make([]probe, 0, 2*len(groups))
	for _, g := range groups {
		if g.conflict || g.fpErr != nil || g.operr != nil || !claimed[g.opID] {
			continue
		}
		op := &ops[g.idx[0]]
		probes = append(probes, probe{synclog.OpIndexKey(g.opID), g, false}, probe{synclog.RowKey(ws, op.TableName, op.PK), g, true})
	}
	if len(probes) == 0 {
		return nil
	}
	// Stable: of several groups with one row key, the first in input order
	// comes first.
	slices.SortStableFunc(probes, func(a, b probe) int { return bytes.Compare(a.key, b.key) })
	it, err := b.NewIter(nil, nil)
	if err != nil {
		return err
	}
	for i := range probes {
		p := &probes[i]
		if i > 0 && bytes.Equal(probes[i-1].key, p.key) {
			continue
		}
		var val []byte
		if it.SeekPrefixGE(p.key) && bytes.Equal(it.Key(), p.key) {
			v, err := it.ValueAndErr()
			if err != nil {
				_ = it.Close()
				return err
			}
			val = append(make([]byte, 0, len(v)), v...)
		} else if err := it.Error(); err != nil {
			_ = it.Close()
			return err
		}
		var err error
		if p.row {
			p.g.pre.rowDone, p.g.pre.rowFound = true, val != nil
			if val != nil {
				err = synclog.Decode(p.key, val, &p.g.pre.row)
			}
		} else {
			p.g.pre.idxDone, p.g.pre.seen = true, val != nil
			if val != nil {
				err = synclog.Decode(p.key, val, &p.g.pre.idx)
			}
		}
		if err != nil {
			_ = it.Close()
			return err
		}
	}
	return it.Close()
}
