package engine

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/syncerr"
)

// Replication (model.md §1, §5, §6; ARCHITECTURE.md "Replication"): the
// engine reads the region's own events by origin sequence for the
// publisher, and applies the events other regions accepted through the same
// fold as a push, recording how far each origin is applied in the same
// batch.

// OriginEvent is one event this region accepted, read from the origin
// index of the durable view. Key is nil when the event itself was
// collected (history GC); the sequence must still be shipped so that
// consumers see a gap-free origin sequence.
type OriginEvent struct {
	Seq   uint64
	Key   []byte
	Value []byte
	// AtMs is the event's receipt time (ChangeRecord.CreatedAtMs,
	// SystemEvent.AtMs), for replication lag.
	AtMs int64
}

// ReadOrigin returns up to max locally accepted events with originSeq >
// after, in origin order, from the durable view.
func (e *Engine) ReadOrigin(after uint64, max int) ([]OriginEvent, error) {
	v, err := e.view()
	if err != nil {
		return nil, err
	}
	defer v.Release()
	it, err := v.NewIter(synclog.OriginKey(after+1), synclog.PrefixEnd([]byte{synclog.PrefixOrigin}))
	if err != nil {
		return nil, readErr(err)
	}
	defer it.Close()
	var out []OriginEvent
	for ok := it.First(); ok && len(out) < max; ok = it.Next() {
		r := synclog.ReadKey(it.Key())
		seq := r.U64()
		if r.Err() != nil {
			return nil, readErr(&synclog.CorruptionError{Key: append([]byte(nil), it.Key()...), Err: r.Err()})
		}
		ev := OriginEvent{Seq: seq}
		key := append([]byte(nil), it.Value()...)
		val, err := v.Get(key)
		if err != nil {
			return nil, readErr(err)
		}
		if val != nil {
			ev.Key, ev.Value = key, val
			switch key[0] {
			case synclog.PrefixChange:
				var rec synclog.ChangeRecord
				if synclog.Decode(key, val, &rec) == nil {
					ev.AtMs = rec.CreatedAtMs
				}
			case synclog.PrefixSystem:
				var se synclog.SystemEvent
				if synclog.Decode(key, val, &se) == nil {
					ev.AtMs = se.AtMs
				}
			}
		}
		out = append(out, ev)
	}
	return out, readErr0(it.Error())
}

func readErr0(err error) error {
	if err != nil {
		return readErr(err)
	}
	return nil
}

// RemoteEvent is one event another region accepted, as replication
// carries it: its origin sequence, and its key and record as the origin
// logged them (Key nil: collected at the origin, nothing to apply).
type RemoteEvent struct {
	Seq   uint64
	Key   []byte
	Value []byte
}

// ApplyStats counts what ApplyRemote did with a batch.
type ApplyStats struct {
	// Applied sync entries were logged here with a new server_version and
	// folded (whether or not they won the merge).
	Applied int
	// Duplicates were at or below the origin's applied sequence, or carried
	// an op_id already logged here with the same fingerprint.
	Duplicates int
	// Skipped events are not replicated by this version (system events:
	// side modules are decided by their home region, model.md §6) or were
	// collected at the origin.
	Skipped int
	// Rejected events were malformed: counted, never applied.
	Rejected int
	// Last is the origin's applied sequence after the batch.
	Last uint64
}

// ErrOriginGap is returned when a batch skips an origin sequence: nothing
// at or after the gap was applied; the caller must deliver the missing
// sequence first.
var ErrOriginGap = errors.New("engine: gap in origin sequence")

type remoteItem struct {
	seq    uint64
	kind   int // 0 change, 1 skip, 2 rejected, 3 system event
	ws     string
	rec    synclog.ChangeRecord
	sys    synclog.SystemEvent
	reason string
}

// RemoteSystemFold folds a system event another region accepted into b at
// this region's system sequence seq. It reports false (and writes nothing)
// for a domain that does not replicate (cursors, jobs, webhooks…). The
// daemon routes identity's domains (users, accounts, workspaces, members,
// invites) to identity.Fold, whose folds are written to accept another
// region's events (deterministic user ids, LWW profiles).
type RemoteSystemFold func(b *synclog.Batch, seq uint64, ev *synclog.SystemEvent) (replicated bool, err error)

// SetRemoteSystemFold sets how remote system events are folded (nil: they
// are skipped). Call before replication starts.
func (e *Engine) SetRemoteSystemFold(f RemoteSystemFold) { e.sysFold = f }

// decodeRemote checks one remote event. A record naming another origin, an
// unknown table or op, or an unparsable key or record is rejected.
func decodeRemote(region string, ev RemoteEvent) remoteItem {
	it := remoteItem{seq: ev.Seq}
	if len(ev.Key) == 0 {
		it.kind = 1
		return it
	}
	reject := func(why string) remoteItem { it.kind, it.reason = 2, why; return it }
	switch ev.Key[0] {
	case synclog.PrefixSystem:
		if err := synclog.Decode(ev.Key, ev.Value, &it.sys); err != nil || it.sys.Type == "" {
			return reject("bad system event")
		}
		if it.sys.OriginRegion != "" && it.sys.OriginRegion != region {
			return reject("event of another origin")
		}
		it.sys.OriginRegion, it.sys.OriginSeq = region, ev.Seq
		it.kind = 3
		return it
	case synclog.PrefixChange:
	default:
		return reject("unknown keyspace")
	}
	r := synclog.ReadKey(ev.Key)
	it.ws = r.Str()
	r.U64()
	if r.Err() != nil || it.ws == "" || len(r.Rest()) != 0 {
		return reject("bad change key")
	}
	if err := synclog.Decode(ev.Key, ev.Value, &it.rec); err != nil {
		return reject("bad change record")
	}
	rec := &it.rec
	switch {
	case rec.OriginRegion != "" && rec.OriginRegion != region:
		return reject("record of another origin")
	case !ValidTable(rec.Table):
		return reject("unknown table")
	case rec.PK == "" || len(rec.PK) > maxPKLen:
		return reject("bad pk")
	case rec.Op != synclog.OpPut && rec.Op != synclog.OpDelete:
		return reject("bad op")
	case rec.OpID == "" || rec.Fingerprint == "":
		return reject("missing op id or fingerprint")
	case rec.Op == synclog.OpPut && (len(rec.Payload) == 0 || rec.Payload[0] != '{' || !json.Valid(rec.Payload)):
		return reject("put payload is not a JSON object")
	}
	rec.OriginRegion, rec.OriginSeq = region, ev.Seq
	return it
}

// ApplyRemote applies a batch of events of one origin region, in origin
// order, through the same fold as a push: each new sync entry gets this
// region's next server_version, is logged with its origin and merged. It
// is idempotent by (region, originSeq): events at or below the origin's
// applied sequence are skipped, and the applied sequence is written in the
// same batch as the entries. An op_id already logged here with the same
// fingerprint is not logged again (the op was pushed to two regions); one
// with a different fingerprint is logged and merged, and the fingerprint
// tie-break of the revision makes every region pick the same winner.
// Subscribers (watch) are notified as for a push. A gap in the sequence
// applies what precedes it and returns ErrOriginGap.
func (e *Engine) ApplyRemote(ctx context.Context, region string, evs []RemoteEvent) (ApplyStats, error) {
	var st ApplyStats
	if region == "" {
		return st, syncerr.Validation("origin region is required")
	}
	items := make([]remoteItem, len(evs))
	var wss []string
	for i, ev := range evs {
		items[i] = decodeRemote(region, ev)
		if items[i].kind == 0 && !slices.Contains(wss, items[i].ws) {
			wss = append(wss, items[i].ws)
		}
	}
	// Lock every workspace touched, in order (pushes hold one at a time).
	slices.Sort(wss)
	for _, ws := range wss {
		unlock := e.locks.lock(ws)
		defer unlock()
	}
	b := e.db.NewBatch()
	defer func() { b.Close() }()
	akey := synclog.AppliedKey(region)
	applied, err := readApplied(b, akey)
	if err != nil {
		return st, err
	}
	next := map[string]uint64{}
	changes := map[string][]Change{}
	// flush commits b with the origin applied up to upto and notifies.
	flush := func(upto uint64) error {
		var buf [8]byte
		binary.BigEndian.PutUint64(buf[:], upto)
		if err := b.Set(akey, buf[:]); err != nil {
			return syncerr.Internal(err, "applied")
		}
		if err := e.db.Commit(ctx, b); err != nil {
			return commitErr(err)
		}
		b.Close()
		b = e.db.NewBatch()
		for _, ws := range wss {
			if chs := changes[ws]; len(chs) > 0 {
				e.notify(Committed{Workspace: ws, Changes: chs, Counter: next[ws] - 1, OriginRegion: region})
			}
		}
		clear(changes)
		return nil
	}
	var gapErr error
	for i := range items {
		it := &items[i]
		if it.seq <= applied {
			st.Duplicates++
			continue
		}
		if it.seq != applied+1 {
			gapErr = fmt.Errorf("%w: %s applied to %d, got %d", ErrOriginGap, region, applied, it.seq)
			break
		}
		applied = it.seq
		switch it.kind {
		case 1:
			st.Skipped++
			continue
		case 2:
			st.Rejected++
			e.log.Warn("remote event rejected", "origin", region, "seq", it.seq, "reason", it.reason)
			continue
		case 3:
			if e.sysFold == nil {
				st.Skipped++
				continue
			}
			// A system event gets a batch of its own, so a fold that fails
			// halfway leaves nothing behind.
			if err := flush(it.seq - 1); err != nil {
				return st, err
			}
			seq := e.db.NextSystemSeq()
			ok, err := e.sysFold(b, seq, &it.sys)
			if err == nil && ok {
				err = b.AppendRemoteEvent(synclog.SystemKey(seq), &it.sys)
			}
			switch {
			case err != nil:
				st.Rejected++
				e.log.Warn("remote system event rejected", "origin", region, "seq", it.seq, "type", it.sys.Type, "err", err)
				b.Close()
				b = e.db.NewBatch()
			case !ok:
				st.Skipped++
			default:
				st.Applied++
				if err := flush(it.seq); err != nil {
					return st, err
				}
			}
			continue
		}
		rec := &it.rec
		var idx synclog.OpIndexRecord
		seen, err := synclog.GetRecord(b, synclog.OpIndexKey(rec.OpID), &idx)
		if err != nil {
			return st, readErr(err)
		}
		if seen && idx.Workspace == it.ws && idx.Fingerprint == rec.Fingerprint {
			st.Duplicates++
			continue
		}
		v, ok := next[it.ws]
		if !ok {
			ctr, err := readCounter(b, it.ws)
			if err != nil {
				return st, err
			}
			v = ctr.Counter + 1
		}
		next[it.ws] = v + 1
		if err := b.AppendRemoteEvent(synclog.ChangeKey(it.ws, v), rec); err != nil {
			return st, syncerr.Internal(err, "append")
		}
		out, err := foldChange(b, it.ws, v, rec)
		if err != nil {
			return st, readErr(err)
		}
		ch := Change{SyncChange: changeOf(v, rec), Owner: rec.Owner, UserID: rec.UserID,
			Applied: out.applied, WasExisting: out.wasExisting}
		if out.applied && out.rowExists {
			ch.RowPayload = out.row.Payload
		}
		changes[it.ws] = append(changes[it.ws], ch)
		st.Applied++
	}
	st.Last = applied
	if err := flush(applied); err != nil {
		return st, err
	}
	return st, gapErr
}

func readApplied(r synclog.Reader, key []byte) (uint64, error) {
	raw, err := r.Get(key)
	if err != nil {
		return 0, readErr(err)
	}
	if raw == nil {
		return 0, nil
	}
	if len(raw) != 8 {
		return 0, readErr(&synclog.CorruptionError{Key: key, Err: errors.New("applied origin is not a u64")})
	}
	return binary.BigEndian.Uint64(raw), nil
}

// Applied returns how far each remote origin is applied here, from the
// durable view.
func (e *Engine) Applied() (map[string]uint64, error) {
	v, err := e.view()
	if err != nil {
		return nil, err
	}
	defer v.Release()
	p := []byte{synclog.PrefixApplied}
	it, err := v.NewIter(p, synclog.PrefixEnd(p))
	if err != nil {
		return nil, readErr(err)
	}
	defer it.Close()
	out := map[string]uint64{}
	for ok := it.First(); ok; ok = it.Next() {
		if len(it.Value()) == 8 {
			out[string(it.Key()[1:])] = binary.BigEndian.Uint64(it.Value())
		}
	}
	return out, readErr0(it.Error())
}

// DigestResult is a digest of a workspace's materialized state.
type DigestResult struct {
	WorkspaceID string `json:"workspaceId"`
	Digest      string `json:"digest"`
	Rows        int    `json:"rows"`
}

// Digest hashes a workspace's materialized state from the durable view:
// per key in key order, the whole CRDT register (winner and its kind, the
// greatest put with its payload and soft-delete flag, the greatest delete)
// — never region-local versions, devices or timestamps. Once replication
// has drained, every region's digest of a workspace is equal.
func (e *Engine) Digest(ctx context.Context, ws string) (DigestResult, error) {
	if ws == "" {
		return DigestResult{}, syncerr.Validation("workspaceId is required")
	}
	v, err := e.view()
	if err != nil {
		return DigestResult{}, err
	}
	defer v.Release()
	prefix := synclog.RowPrefix(ws, "")
	it, err := v.NewIter(prefix, synclog.PrefixEnd(prefix))
	if err != nil {
		return DigestResult{}, readErr(err)
	}
	defer it.Close()
	h := sha256.New()
	var buf []byte
	str := func(s string) {
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(s)))
		buf = append(buf, s...)
	}
	rev := func(r synclog.Revision) {
		buf = binary.BigEndian.AppendUint64(buf, uint64(r.Clock))
		str(r.HLC)
		str(r.OpID)
		str(r.Fingerprint)
	}
	flag := func(b bool) {
		if b {
			buf = append(buf, 1)
		} else {
			buf = append(buf, 0)
		}
	}
	res := DigestResult{WorkspaceID: ws}
	for ok := it.First(); ok; ok = it.Next() {
		var row synclog.RowRecord
		if err := synclog.Decode(it.Key(), it.Value(), &row); err != nil {
			return DigestResult{}, readErr(err)
		}
		buf = buf[:0]
		str(string(it.Key()[len(prefix):]))
		flag(rowDeleted(&row))
		buf = append(buf, row.WinnerKind)
		rev(row.Winner)
		flag(row.HasPut)
		if row.HasPut {
			rev(row.Put)
			str(string(row.Payload))
			flag(row.SoftDel)
		}
		flag(row.HasTomb)
		if row.HasTomb {
			rev(row.Tomb)
		}
		h.Write(buf)
		res.Rows++
	}
	if err := it.Error(); err != nil {
		return DigestResult{}, readErr(err)
	}
	res.Digest = hex.EncodeToString(h.Sum(nil))
	return res, nil
}
