package engine

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"weak"

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
				var rec synclog.ChangeRecord // aliases val: only its time is kept
				if synclog.DecodeChangeAliased(key, val, &rec) == nil {
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
	kind   int    // 0 change, 1 skip, 2 rejected, 3 system event
	value  []byte // the change record as the origin logged it, without origin
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
	case rec.Op == synclog.OpPut && !validJSONObject(rec.Payload):
		return reject("put payload is not a JSON object")
	}
	if rec.OriginRegion == "" && rec.OriginSeq == 0 {
		it.value = ev.Value // withOrigin may splice the origin in
	}
	rec.OriginRegion, rec.OriginSeq = region, ev.Seq
	return it
}

// withOrigin is the encoding of rec (decoded from value, the record as its
// origin logged it with an empty origin, and given its origin since) —
// what b.AppendRemoteEvent(key, rec) writes — without encoding it again:
// msgpack (records are arrays, compact ints) ends such a record with 0xa0
// 0x00 ("" and 0, the only encodings of those values ending so), and
// replacing those two bytes with the origin gives the same encoding.
// Anything else is nil (the caller encodes as usual).
func withOrigin(value []byte, rec *synclog.ChangeRecord) []byte {
	n := len(value)
	if n < 3 || value[0] != 0x9e || value[n-2] != 0xa0 || value[n-1] != 0x00 || len(rec.OriginRegion) > 255 {
		return nil
	}
	out := make([]byte, 0, n+len(rec.OriginRegion)+9)
	out = append(out, value[:n-2]...)
	if l := len(rec.OriginRegion); l < 32 {
		out = append(out, 0xa0|byte(l))
	} else {
		out = append(out, 0xd9, byte(l))
	}
	out = append(out, rec.OriginRegion...)
	switch q := rec.OriginSeq; {
	case q < 128:
		out = append(out, byte(q))
	case q < 1<<8:
		out = append(out, 0xcc, byte(q))
	case q < 1<<16:
		out = binary.BigEndian.AppendUint16(append(out, 0xcd), uint16(q))
	case q < 1<<32:
		out = binary.BigEndian.AppendUint32(append(out, 0xce), uint32(q))
	default:
		out = binary.BigEndian.AppendUint64(append(out, 0xcf), q)
	}
	return out
}

// validJSONObject reports whether b is a JSON object (starting at its
// first byte) that json.Valid accepts — the same grammar, in one pass
// without the standard scanner's per-byte state calls.
func validJSONObject(b []byte) bool {
	if len(b) == 0 || b[0] != '{' {
		return false
	}
	i, ok := vjValue(b, 0, 0)
	return ok && skipWS(b, i) == len(b)
}

// jsonMaxDepth is json.Valid's nesting limit.
const jsonMaxDepth = 10000

// vjValue returns the index after the JSON value at b[i] (whitespace
// before it skipped), and whether it is valid.
func vjValue(b []byte, i, depth int) (int, bool) {
	i = skipWS(b, i)
	if i >= len(b) {
		return 0, false
	}
	switch c := b[i]; {
	case c == '{' || c == '[':
		if depth++; depth > jsonMaxDepth {
			return 0, false
		}
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		i = skipWS(b, i+1)
		if i < len(b) && b[i] == closer {
			return i + 1, true
		}
		for {
			if c == '{' {
				if i >= len(b) || b[i] != '"' {
					return 0, false
				}
				var ok bool
				if i, ok = vjString(b, i); !ok {
					return 0, false
				}
				if i = skipWS(b, i); i >= len(b) || b[i] != ':' {
					return 0, false
				}
				i++
			}
			var ok bool
			if i, ok = vjValue(b, i, depth); !ok {
				return 0, false
			}
			if i = skipWS(b, i); i >= len(b) {
				return 0, false
			}
			switch b[i] {
			case ',':
				i = skipWS(b, i+1)
			case closer:
				return i + 1, true
			default:
				return 0, false
			}
		}
	case c == '"':
		return vjString(b, i)
	case c == '-' || (c >= '0' && c <= '9'):
		return vjNumber(b, i)
	case c == 't':
		return vjLiteral(b, i, "true")
	case c == 'f':
		return vjLiteral(b, i, "false")
	case c == 'n':
		return vjLiteral(b, i, "null")
	}
	return 0, false
}

func vjLiteral(b []byte, i int, lit string) (int, bool) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, false
	}
	return i + len(lit), true
}

// vjString returns the index after the string at b[i] == '"'. Like
// json.Valid it checks escapes and refuses control characters, and lets
// any other byte through.
func vjString(b []byte, i int) (int, bool) {
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1, true
		case c < 0x20:
			return 0, false
		case c == '\\':
			i++
			if i >= len(b) {
				return 0, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(b)-i < 5 {
					return 0, false
				}
				for _, h := range b[i+1 : i+5] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return 0, false
					}
				}
				i += 4
			default:
				return 0, false
			}
		}
	}
	return 0, false
}

// vjNumber returns the index after the number at b[i]:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func vjNumber(b []byte, i int) (int, bool) {
	digits := func() bool {
		j := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i > j
	}
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case !digits():
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if !digits() {
			return 0, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			return 0, false
		}
	}
	return i, true
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
//
// Concurrent calls (one applier per remote origin) are combined: the
// caller that finds the engine's applier free applies every batch waiting
// at that moment, of all origins, in one Pebble batch and one commit, under
// one acquisition of the workspace locks — so appliers neither wait for
// each other's commits nor take the locks one after another.
func (e *Engine) ApplyRemote(ctx context.Context, region string, evs []RemoteEvent) (ApplyStats, error) {
	if region == "" {
		return ApplyStats{}, syncerr.Validation("origin region is required")
	}
	// Decoding and checking need no lock: done here, by each caller.
	req := &applyReq{region: region, items: make([]remoteItem, len(evs)), done: make(chan struct{})}
	for i, ev := range evs {
		req.items[i] = decodeRemote(region, ev)
		if it := &req.items[i]; it.kind == 0 && !slices.Contains(req.wss, it.ws) {
			req.wss = append(req.wss, it.ws)
		}
	}
	a := e.remoteApplier()
	a.qmu.Lock()
	a.queue = append(a.queue, req)
	a.qmu.Unlock()
	a.mu.Lock()
	select {
	case <-req.done: // a combiner applied it while we waited
	default:
		// Ours is still queued: apply it with everything else waiting.
		a.qmu.Lock()
		reqs := a.queue
		a.queue = nil
		a.qmu.Unlock()
		e.applyRemote(ctx, reqs)
	}
	a.mu.Unlock()
	return req.st, req.err
}

// applyReq is one ApplyRemote call waiting for the combiner.
type applyReq struct {
	region string
	items  []remoteItem
	wss    []string // workspaces of items
	st     ApplyStats
	err    error
	done   chan struct{}
}

// remoteApplier combines concurrent ApplyRemote calls of one engine: mu is
// held by the caller applying (the only goroutine that holds more than one
// workspace lock at a time, so it may wait for them all at once); queue
// holds the calls waiting.
type remoteApplier struct {
	mu    sync.Mutex
	qmu   sync.Mutex
	queue []*applyReq
}

// appliers maps weak.Pointer[Engine] to the engine's *remoteApplier (kept
// here so that the replication code stays in this file); an engine's entry
// goes when the engine is collected.
var appliers sync.Map

func (e *Engine) remoteApplier() *remoteApplier {
	key := weak.Make(e)
	if a, ok := appliers.Load(key); ok {
		return a.(*remoteApplier)
	}
	a, loaded := appliers.LoadOrStore(key, &remoteApplier{})
	if !loaded {
		runtime.AddCleanup(e, func(k weak.Pointer[Engine]) { appliers.Delete(k) }, key)
	}
	return a.(*remoteApplier)
}

// lockAll locks every workspace in wss and returns the function that
// unlocks them. The locks are waited for at once: taken one after another,
// each could be lost to a push arriving meanwhile and cost another commit
// round. Only the combiner holds several workspace locks (pushes hold one,
// and wait for nothing but their commit while holding it), so this cannot
// deadlock.
func (e *Engine) lockAll(wss []string) func() {
	switch len(wss) {
	case 0:
		return func() {}
	case 1:
		return e.locks.lock(wss[0])
	}
	unlocks := make([]func(), len(wss))
	var wg sync.WaitGroup
	wg.Add(len(wss))
	for i, ws := range wss {
		go func() {
			defer wg.Done()
			unlocks[i] = e.locks.lock(ws)
		}()
	}
	wg.Wait()
	return func() {
		for _, u := range unlocks {
			u()
		}
	}
}

// applyRemote applies reqs (of one or several origins) in one batch,
// flushed early only around a system event, and answers each.
func (e *Engine) applyRemote(ctx context.Context, reqs []*applyReq) {
	defer func() {
		for _, r := range reqs {
			close(r.done)
		}
	}()
	var wss []string
	for _, r := range reqs {
		for _, ws := range r.wss {
			if !slices.Contains(wss, ws) {
				wss = append(wss, ws)
			}
		}
	}
	// Lock every workspace touched, in order.
	slices.Sort(wss)
	defer e.lockAll(wss)()
	b := e.db.NewBatch()
	defer func() { b.Close() }()
	fail := func(err error) {
		for _, r := range reqs {
			r.st.Last, r.err = 0, err
		}
	}
	// progress is each origin's applied sequence through b.
	progress := map[string]uint64{}
	var regions []string
	next := map[string]uint64{}
	// notes are the notifications of the changes in b: per workspace in
	// version order, one per run of one origin's changes (lastNote: the
	// workspace's last one).
	var notes []Committed
	lastNote := map[string]int{}
	// flush commits b with the origins applied up to progress and notifies.
	flush := func() error {
		// The folds left the counters to us: one write per workspace.
		for _, ws := range wss {
			if v, ok := next[ws]; ok {
				if err := raiseCounter(b, ws, v-1); err != nil {
					return readErr(err)
				}
			}
		}
		for _, reg := range regions {
			var buf [8]byte
			binary.BigEndian.PutUint64(buf[:], progress[reg])
			if err := b.Set(synclog.AppliedKey(reg), buf[:]); err != nil {
				return syncerr.Internal(err, "applied")
			}
		}
		if err := e.db.Commit(ctx, b); err != nil {
			return commitErr(err)
		}
		b.Close()
		b = e.db.NewBatch()
		for _, c := range notes {
			c.Counter = c.Changes[len(c.Changes)-1].ServerVersion
			e.notify(c)
		}
		notes = notes[:0]
		clear(lastNote)
		return nil
	}
	for _, r := range reqs {
		region := r.region
		st := &r.st
		applied, ok := progress[region]
		if !ok {
			var err error
			if applied, err = readApplied(b, synclog.AppliedKey(region)); err != nil {
				fail(err)
				return
			}
			progress[region] = applied
			regions = append(regions, region)
		}
		for i := range r.items {
			it := &r.items[i]
			if it.seq <= applied {
				st.Duplicates++
				continue
			}
			if it.seq != applied+1 {
				r.err = fmt.Errorf("%w: %s applied to %d, got %d", ErrOriginGap, region, applied, it.seq)
				break
			}
			applied = it.seq
			switch it.kind {
			case 1:
				st.Skipped++
				progress[region] = applied
				continue
			case 2:
				st.Rejected++
				progress[region] = applied
				e.log.Warn("remote event rejected", "origin", region, "seq", it.seq, "reason", it.reason)
				continue
			case 3:
				if e.sysFold == nil {
					st.Skipped++
					progress[region] = applied
					continue
				}
				// A system event gets a batch of its own, so a fold that fails
				// halfway leaves nothing behind.
				if err := flush(); err != nil {
					fail(err)
					return
				}
				progress[region] = applied
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
					if err := flush(); err != nil {
						fail(err)
						return
					}
				}
				continue
			}
			rec := &it.rec
			var idx synclog.OpIndexRecord
			seen, err := synclog.GetRecord(b, synclog.OpIndexKey(rec.OpID), &idx)
			if err != nil {
				fail(readErr(err))
				return
			}
			progress[region] = applied
			if seen && idx.Workspace == it.ws && idx.Fingerprint == rec.Fingerprint {
				st.Duplicates++
				continue
			}
			v, ok := next[it.ws]
			if !ok {
				ctr, err := readCounter(b, it.ws)
				if err != nil {
					fail(err)
					return
				}
				v = ctr.Counter + 1
			}
			next[it.ws] = v + 1
			var err2 error
			if raw := withOrigin(it.value, rec); raw != nil {
				err2 = b.Set(synclog.ChangeKey(it.ws, v), raw)
			} else {
				err2 = b.AppendRemoteEvent(synclog.ChangeKey(it.ws, v), rec)
			}
			if err := err2; err != nil {
				fail(syncerr.Internal(err, "append"))
				return
			}
			// The op_id index was read above: the fold reads it again only
			// when it holds an entry (which the fold keeps).
			out, err := foldChangeKnown(b, it.ws, v, rec, &known{noIndex: !seen, counterLater: true})
			if err != nil {
				fail(readErr(err))
				return
			}
			ch := Change{SyncChange: changeOf(v, rec), Owner: rec.Owner, UserID: rec.UserID,
				Applied: out.applied, WasExisting: out.wasExisting}
			if out.applied && out.rowExists {
				ch.RowPayload = out.row.Payload
			}
			if n, ok := lastNote[it.ws]; ok && notes[n].OriginRegion == region {
				notes[n].Changes = append(notes[n].Changes, ch)
			} else {
				lastNote[it.ws] = len(notes)
				notes = append(notes, Committed{Workspace: it.ws, Changes: []Change{ch}, OriginRegion: region})
			}
			st.Applied++
		}
		r.items = nil
	}
	if err := flush(); err != nil {
		fail(err)
		return
	}
	for _, r := range reqs {
		r.st.Last = progress[r.region]
	}
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
