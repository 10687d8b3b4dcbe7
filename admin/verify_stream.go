package admin

import (
	"bytes"
	"context"
	"fmt"
	"hash/maphash"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/or3/syncd/crdt"
	synclog "github.com/or3/syncd/log"
	"github.com/vmihailenco/msgpack/v5"
)

// The streaming check of the sync keyspaces (full mode of model.md §4).
//
// Replay folds the change log workspace by workspace, version by
// version. Every fold of an entry reads only state of its own entity (and
// the workspace counter and the op_id index), so the rebuilt state of a
// workspace can be computed in memory in one ordered pass over its
// entries, then compared with the stored state in one ordered pass over
// each state keyspace: no point reads, no scratch store.
//
// The in-memory fold is the engine's FoldChange restated over a compact
// per-entity summary (revisions, the payload's hash instead of its bytes,
// the region-local bookkeeping). Its register semantics are crdt's
// (Entity.Apply through NewEntity's rules), and the two payload-derived
// facts the engine reads (a put's soft delete and a notification's owner)
// come from the shared fold itself, run on a single op: so a change to the
// engine's fold cannot drift from verify unnoticed, and
// TestVerifyStream_EqualsSharedFold checks the two against each other on
// random logs. Every stored row is then compared field by field and its
// encoding checked to be the canonical one, so equal means byte-identical.
//
// Memory: one summary per entity of the workspace being checked (about
// 350 bytes with its id and revision strings), and about 40 bytes per
// op_id overall (its hash and first location).

// notificationsTable is the table whose puts name an owner (engine's
// tableNotifications).
const notificationsTable = "notifications"

// ent is the rebuilt state of one entity.
type ent struct {
	id                string // table 0x00 pk
	put, tomb         synclog.Revision
	hasPut, hasTomb   bool
	softDel, payNil   bool
	seen, tombSeen    bool
	payHash           uint64
	payLen            int
	payVer            uint64 // entry holding the put's payload
	serverVersion     uint64
	deviceID, owner   string
	created, updated  int64
	deleted           int64
	tombVer           uint64
	tombDel, tombCrea int64
}

// winnerKind derives the winner as crdt.NewEntity does: a tombstone at
// least as great as the greatest put wins.
func (e *ent) winner() (synclog.Revision, uint8) {
	switch {
	case e.hasTomb && (!e.hasPut || crdt.Compare(crdtRevOf(e.tomb), crdtRevOf(e.put)) >= 0):
		return e.tomb, synclog.OpDelete
	case e.hasPut:
		return e.put, synclog.OpPut
	}
	return synclog.Revision{}, 0
}

func crdtRevOf(r synclog.Revision) crdt.Revision {
	return crdt.Revision{Clock: r.Clock, HLC: r.HLC, OpID: r.OpID, Fingerprint: r.Fingerprint}
}

// syncChecker holds the state of one streaming check.
type syncChecker struct {
	ctx    context.Context
	v      *synclog.View
	folder synclog.Folder
	rep    *VerifyReport
	seed   maphash.Seed

	// single folds one put through the shared fold (soft delete, owner).
	single *synclog.DB

	// the workspace being folded
	ws      string
	ents    []ent
	byHash  map[uint64]int32 // entity id hash → index in ents
	collide map[string]int32 // entity ids whose hash another id holds
	counter uint64
	interns map[string]string

	// iterators over the state keyspaces, advanced workspace by workspace
	rowIt, tombIt, tbvIt, ctrIt *pebble.Iterator
	rowOK, tombOK, tbvOK, ctrOK bool

	events, bytesRead, rows int64
	progress                func(done int64)
}

type opLoc struct {
	ws uint32
	v  uint64
}

type opDup struct {
	opID string
	ws   uint32
	v    uint64
}

// verifySync checks the sync keyspaces of v against its change log.
func verifySync(ctx context.Context, v *synclog.View, folder synclog.Folder, rep *VerifyReport, entriesHint int64, progress func(done int64)) (err error) {
	c := &syncChecker{ctx: ctx, v: v, folder: folder, rep: rep, seed: maphash.MakeSeed(), interns: map[string]string{}, progress: progress}
	defer func() {
		if c.single != nil {
			_ = c.single.Close()
		}
	}()
	// The op_id index depends on nothing the entity fold computes: the
	// log pass hands each entry's op_id and fingerprint (copied, in
	// batches) to a goroutine that rebuilds the index on another core,
	// while a third hashes the stored index. One read of the log serves
	// both.
	var wg sync.WaitGroup
	defer wg.Wait()
	oc := &opChecker{v: v, seed: c.seed, seen: make(map[uint64]opLoc, min(max(entriesHint, 0), 1<<24)), free: make(chan *opBatch, opBatches)}
	opCh := make(chan *opBatch, opBatches)
	var opErr error
	wg.Go(func() { opErr = oc.run(ctx, opCh) })
	fw := &opForward{ch: opCh, free: oc.free}
	defer fw.close() // before wg.Wait: the consumer ends when the channel closes

	iters := []struct {
		it **pebble.Iterator
		ok *bool
		p  byte
	}{{&c.rowIt, &c.rowOK, synclog.PrefixRow}, {&c.tombIt, &c.tombOK, synclog.PrefixTomb}, {&c.tbvIt, &c.tbvOK, synclog.PrefixTombByVersion}, {&c.ctrIt, &c.ctrOK, synclog.PrefixCounter}}
	for _, x := range iters {
		it, err := v.NewIter([]byte{x.p}, []byte{x.p + 1})
		if err != nil {
			return err
		}
		defer it.Close()
		*x.it, *x.ok = it, it.First()
	}
	logIt, err := v.NewIter([]byte{synclog.PrefixChange}, []byte{synclog.PrefixChange + 1})
	if err != nil {
		return err
	}
	defer logIt.Close()
	var rec synclog.ChangeRecord
	var wsKey []byte // the encoded workspace component of the current workspace
	for ok := logIt.First(); ok; ok = logIt.Next() {
		k := logIt.Key()
		if len(k) < 11 {
			rep.problem("malformed change key %q", k)
			continue
		}
		wsLen := int(k[1])<<8 | int(k[2])
		if len(k) != 3+wsLen+8 {
			rep.problem("malformed change key %q", k)
			continue
		}
		if !bytes.Equal(k[1:3+wsLen], wsKey) {
			if wsKey != nil {
				if err := c.finishWorkspace(wsKey); err != nil {
					return err
				}
			}
			wsKey = append(wsKey[:0], k[1:3+wsLen]...)
			c.startWorkspace(string(k[3 : 3+wsLen]))
			fw.workspace(c.ws)
		}
		ver := uint64(k[3+wsLen])<<56 | uint64(k[4+wsLen])<<48 | uint64(k[5+wsLen])<<40 | uint64(k[6+wsLen])<<32 |
			uint64(k[7+wsLen])<<24 | uint64(k[8+wsLen])<<16 | uint64(k[9+wsLen])<<8 | uint64(k[10+wsLen])
		val := logIt.Value()
		c.bytesRead += int64(len(k) + len(val))
		if err := synclog.DecodeChangeAliased(k, val, &rec); err != nil {
			rep.problem("undecodable entry %q: %v", k, err)
			continue
		}
		if err := fw.add(ctx, ver, &rec); err != nil {
			return err
		}
		if err := c.fold(ver, &rec); err != nil {
			return err
		}
		if c.events++; c.events%4096 == 0 {
			if c.progress != nil {
				c.progress(c.events)
			}
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
	if err := logIt.Error(); err != nil {
		return err
	}
	if err := fw.flush(ctx); err != nil {
		return err
	}
	fw.close()
	if wsKey != nil {
		if err := c.finishWorkspace(wsKey); err != nil {
			return err
		}
	}
	// What no workspace of the log claimed.
	c.extra(c.rowIt, &c.rowOK, nil, "row")
	c.extra(c.tombIt, &c.tombOK, nil, "tombstone")
	c.extra(c.tbvIt, &c.tbvOK, nil, "tombstone index entry")
	c.extra(c.ctrIt, &c.ctrOK, nil, "counter")
	wg.Wait()
	if opErr != nil {
		return opErr
	}
	c.bytesRead += oc.actBytes
	if oc.actCount != oc.count || oc.actSum != oc.sum || oc.actSum2 != oc.sum2 {
		rep.problem("op_id index differs from replay: %d entries stored, %d rebuilt, or their contents differ", oc.actCount, oc.count)
	}
	rep.ChangeEntries = c.events
	rep.Rows = c.rows
	rep.BytesRead += c.bytesRead
	return nil
}

// hashKeyspace sums two hashes of every (key, value) of a keyspace.
func hashKeyspace(ctx context.Context, v *synclog.View, p byte, seed maphash.Seed) (sum, sum2 uint64, n, read int64, err error) {
	it, err := v.NewIter([]byte{p}, []byte{p + 1})
	if err != nil {
		return 0, 0, 0, 0, err
	}
	defer it.Close()
	var h maphash.Hash
	h.SetSeed(seed)
	for ok := it.First(); ok; ok = it.Next() {
		k, val := it.Key(), it.Value()
		a, b := pairHash(&h, k, val)
		sum += a
		sum2 += b
		if n++; n%4096 == 0 && ctx.Err() != nil {
			return 0, 0, 0, 0, ctx.Err()
		}
		read += int64(len(k) + len(val))
	}
	return sum, sum2, n, read, it.Error()
}

// pairHash hashes a (key, value) pair twice, independently enough that a
// changed pair changes both sums.
func pairHash(h *maphash.Hash, k, v []byte) (uint64, uint64) {
	h.Reset()
	var l [4]byte
	l[0], l[1], l[2], l[3] = byte(len(k)>>24), byte(len(k)>>16), byte(len(k)>>8), byte(len(k))
	_, _ = h.Write(l[:])
	_, _ = h.Write(k)
	_, _ = h.Write(v)
	a := h.Sum64()
	_ = h.WriteByte(0x5a)
	return a, h.Sum64()
}

func (c *syncChecker) startWorkspace(ws string) {
	c.ws = ws
	c.ents = c.ents[:0]
	c.collide = nil
	// Sized from the counter: about one entity per version at most.
	var ctr synclog.CounterRecord
	_, _ = synclog.GetRecord(c.v, synclog.CounterKey(ws), &ctr)
	c.byHash = make(map[uint64]int32, min(ctr.Counter, 1<<22))
	c.ents = slicesGrow(c.ents, int(min(ctr.Counter, 1<<22)))
	c.counter = 0
}

func slicesGrow(s []ent, n int) []ent {
	if cap(s) >= n {
		return s
	}
	return make([]ent, 0, n)
}

// weakEntityHash makes entity ids and op_ids collide (tests of the
// collision paths).
var weakEntityHash = false

// lookup finds the entity id; h is its hash, for add.
func (c *syncChecker) lookup(id []byte) (i int32, h uint64, ok bool) {
	h = maphash.Bytes(c.seed, id)
	if weakEntityHash {
		h %= 3 // tests: collisions everywhere
	}
	i, ok = c.byHash[h]
	if !ok || c.ents[i].id == string(id) {
		return i, h, ok
	}
	i, ok = c.collide[string(id)]
	return i, h, ok
}

// add appends a new entity.
func (c *syncChecker) add(id []byte, h uint64) int32 {
	c.ents = append(c.ents, ent{id: string(id)})
	i := int32(len(c.ents) - 1)
	if _, taken := c.byHash[h]; taken {
		if c.collide == nil {
			c.collide = map[string]int32{}
		}
		c.collide[string(id)] = i
	} else {
		c.byHash[h] = i
	}
	return i
}

func (c *syncChecker) intern(s string) string {
	if v, ok := c.interns[s]; ok {
		return v
	}
	v := strings.Clone(s)
	if len(c.interns) < 1<<16 {
		c.interns[v] = v
	}
	return v
}

// cloneRev copies rec's revision out of the iterator's memory, in one
// allocation.
func cloneRev(rec *synclog.ChangeRecord) synclog.Revision {
	var sb strings.Builder // never aliases its inputs (a concatenation may)
	sb.Grow(len(rec.HLC) + len(rec.OpID) + len(rec.Fingerprint))
	sb.WriteString(rec.HLC)
	sb.WriteString(rec.OpID)
	sb.WriteString(rec.Fingerprint)
	all := sb.String()
	a, b := len(rec.HLC), len(rec.HLC)+len(rec.OpID)
	return synclog.Revision{Clock: rec.Clock, HLC: all[:a], OpID: all[a:b], Fingerprint: all[b:]}
}

// fold is engine.FoldChange on the in-memory summary.
func (c *syncChecker) fold(ver uint64, rec *synclog.ChangeRecord) error {
	// Counter: the highest version.
	c.counter = max(c.counter, ver)
	// (The op_id index is opChecker's.)
	// The register. The entity id is table 0x00 pk.
	var idBuf [128]byte
	id := append(append(append(idBuf[:0], rec.Table...), 0), rec.PK...)
	i, h, found := c.lookup(id)
	if !found {
		i = c.add(id, h)
	}
	e := &c.ents[i]
	rev := crdt.Revision{Clock: rec.Clock, HLC: rec.HLC, OpID: rec.OpID, Fingerprint: rec.Fingerprint}
	var putChanged, tombChanged bool
	var soft bool
	var owner string
	var payHash uint64
	if rec.Op == synclog.OpDelete {
		tombChanged = !e.hasTomb || rev.Beats(crdtRevOf(e.tomb))
	} else {
		payHash = maphash.Bytes(c.seed, rec.Payload)
		var err error
		if soft, owner, err = c.putFacts(rec); err != nil {
			return err
		}
		if !e.hasPut {
			putChanged = true
		} else {
			cmp, err := c.comparePut(rev, soft, rec.Payload, payHash, e)
			if err != nil {
				return err
			}
			putChanged = cmp > 0
		}
	}
	if !putChanged && !tombChanged {
		return nil // the fold writes nothing
	}
	hadTomb := e.hasTomb
	if putChanged {
		e.put, e.hasPut, e.softDel = cloneRev(rec), true, soft
		e.payHash, e.payLen, e.payNil, e.payVer = payHash, len(rec.Payload), rec.Payload == nil, ver
	}
	if tombChanged {
		e.tomb, e.hasTomb = cloneRev(rec), true
	}
	_, kind := e.winner()
	applied := putChanged && kind == synclog.OpPut || tombChanged && kind == synclog.OpDelete
	if !found {
		e.created = rec.CreatedAtMs
	}
	if applied {
		e.serverVersion = ver
		e.deviceID = c.intern(rec.DeviceID)
		e.updated = rec.CreatedAtMs
		if rec.Op == synclog.OpDelete {
			e.deleted = rec.CreatedAtMs
		} else {
			e.deleted = 0
		}
	}
	if putChanged && rec.Table == notificationsTable {
		e.owner = c.intern(owner)
	}
	if tombChanged {
		if !hadTomb {
			e.tombCrea = rec.CreatedAtMs
		}
		e.tombVer, e.tombDel = ver, rec.CreatedAtMs
	}
	return nil
}

// comparePut is crdt's comparePuts between an incoming put and e's.
func (c *syncChecker) comparePut(rev crdt.Revision, soft bool, payload []byte, payHash uint64, e *ent) (int, error) {
	if cmp := crdt.Compare(rev, crdtRevOf(e.put)); cmp != 0 {
		return cmp, nil
	}
	if soft != e.softDel {
		if soft {
			return 1, nil
		}
		return -1, nil
	}
	if payHash == e.payHash && len(payload) == e.payLen {
		return 0, nil
	}
	// Two puts with one revision and different payloads (legacy data):
	// compare the bytes, read back from the entry that holds the stored one.
	var held synclog.ChangeRecord
	found, err := synclog.GetRecord(c.v, synclog.ChangeKey(c.ws, e.payVer), &held)
	if err != nil || !found {
		return 0, fmt.Errorf("admin: verify: entry %d of %q vanished: %v", e.payVer, c.ws, err)
	}
	return bytes.Compare(payload, held.Payload), nil
}

// putFacts answers what the engine derives from a put's payload: whether
// it soft-deletes (a top-level "deleted": true) and, for notifications,
// its owner. Payloads that cannot say either skip the work, exactly as
// the engine's own test does; the others go through the shared fold on
// a store holding only this op.
func (c *syncChecker) putFacts(rec *synclog.ChangeRecord) (bool, string, error) {
	if rec.Table != notificationsTable && (len(rec.Payload) == 0 || !bytes.Contains(rec.Payload, []byte(`"deleted"`))) {
		return false, "", nil
	}
	if c.single == nil {
		db, err := synclog.Open(synclog.Config{Dir: "single", FS: vfs.NewMem(), Logger: slog.New(slog.DiscardHandler), MemTableSize: 4 << 20, CacheSize: 1 << 20})
		if err != nil {
			return false, "", err
		}
		c.single = db
	}
	b := c.single.NewBatch()
	defer b.Close()
	one := *rec
	if err := c.folder.FoldChange(b, "w", 1, &one); err != nil {
		return false, "", fmt.Errorf("admin: verify: folding %q v?: %w", c.ws, err)
	}
	var row synclog.RowRecord
	if _, err := synclog.GetRecord(b, synclog.RowKey("w", rec.Table, rec.PK), &row); err != nil {
		return false, "", err
	}
	return row.SoftDel, row.Owner, nil
}

// opChecker rebuilds the op_id index from the log (the first entry of an
// op_id keeps it) as a sum of hashes of the expected (key, value) pairs,
// and sums the stored index the same way.
type opChecker struct {
	v    *synclog.View
	seed maphash.Seed
	free chan *opBatch // consumed batches, back to the log pass

	seen      map[uint64]opLoc
	sum, sum2 uint64
	count     int64
	dupes     []opDup
	wsNames   []string
	buf       []byte

	actSum, actSum2    uint64
	actCount, actBytes int64
}

// opBatches is how many batches of op_ids are in flight between the log
// pass and the op_id goroutine; opBatchItems is the size of one.
const (
	opBatches    = 8
	opBatchItems = 4096
)

// opBatch carries the op_ids and fingerprints of consecutive log entries
// (copied into arena) and the workspaces that start among them.
type opBatch struct {
	names []string
	items []opItem
	arena []byte
}

type opItem struct {
	ws           uint32
	off          uint32 // of the op_id in arena; the fingerprint follows it
	opLen, fpLen uint32
	v            uint64
}

// opForward is the log pass's side of the hand-off.
type opForward struct {
	ch     chan *opBatch
	free   chan *opBatch
	cur    *opBatch
	ws     int64 // index of the current workspace
	closed bool
}

func (f *opForward) batch() *opBatch {
	if f.cur == nil {
		select {
		case f.cur = <-f.free:
			f.cur.names, f.cur.items, f.cur.arena = f.cur.names[:0], f.cur.items[:0], f.cur.arena[:0]
		default:
			f.cur = &opBatch{items: make([]opItem, 0, opBatchItems), arena: make([]byte, 0, opBatchItems*64)}
		}
	}
	return f.cur
}

// workspace notes that the entries that follow belong to a new workspace.
func (f *opForward) workspace(name string) {
	b := f.batch()
	b.names = append(b.names, name)
	f.ws++
}

// add forwards one entry's op_id and fingerprint.
func (f *opForward) add(ctx context.Context, ver uint64, rec *synclog.ChangeRecord) error {
	b := f.batch()
	off := len(b.arena)
	b.arena = append(append(b.arena, rec.OpID...), rec.Fingerprint...)
	b.items = append(b.items, opItem{ws: uint32(f.ws - 1), off: uint32(off), opLen: uint32(len(rec.OpID)), fpLen: uint32(len(rec.Fingerprint)), v: ver})
	if len(b.items) >= opBatchItems || len(b.arena) >= 1<<30 {
		return f.flush(ctx)
	}
	return nil
}

func (f *opForward) flush(ctx context.Context) error {
	if f.cur == nil || f.closed {
		return nil
	}
	select {
	case f.ch <- f.cur:
		f.cur = nil
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (f *opForward) close() {
	if !f.closed {
		f.closed = true
		close(f.ch)
	}
}

// run rebuilds the index from the batches the log pass sends until it
// closes ch, while the stored index is hashed beside it; then it settles
// the duplicates.
func (c *opChecker) run(ctx context.Context, ch <-chan *opBatch) error {
	var stored sync.WaitGroup
	var storedErr error
	stored.Go(func() {
		c.actSum, c.actSum2, c.actCount, c.actBytes, storedErr = hashKeyspace(ctx, c.v, synclog.PrefixOpIndex, c.seed)
	})
	defer stored.Wait()
	for b := range ch { // drained to the end: the log pass never blocks on a consumer that quit
		c.wsNames = append(c.wsNames, b.names...)
		if ctx.Err() == nil {
			for _, it := range b.items {
				op := b.arena[it.off : it.off+it.opLen]
				c.fold(it.ws, it.v, op, b.arena[it.off+it.opLen:it.off+it.opLen+it.fpLen])
			}
		}
		select {
		case c.free <- b:
		default:
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := c.resolveDupes(); err != nil {
		return err
	}
	stored.Wait()
	return storedErr
}

func (c *opChecker) hash(opID []byte) uint64 {
	h := maphash.Bytes(c.seed, opID)
	if weakEntityHash {
		h %= 5 // tests: collisions everywhere
	}
	return h
}

func (c *opChecker) fold(wsIdx uint32, ver uint64, opID, fp []byte) {
	h := c.hash(opID)
	if _, dup := c.seen[h]; dup {
		// The same op_id again (or a hash collision): settled exactly at
		// the end, against the first entry.
		c.dupes = append(c.dupes, opDup{opID: string(opID), ws: wsIdx, v: ver})
		return
	}
	c.seen[h] = opLoc{ws: wsIdx, v: ver}
	c.add(opID, c.wsNames[wsIdx], ver, fp)
}

// add adds the expected op_id index pair.
func (c *opChecker) add(opID []byte, ws string, ver uint64, fp []byte) {
	key := append(append(c.buf[:0], synclog.PrefixOpIndex), opID...)
	kl := len(key)
	key = appendOpIndexRecord(key, ws, ver, fp)
	c.buf = key
	var h maphash.Hash
	h.SetSeed(c.seed)
	a, b := pairHash(&h, key[:kl], key[kl:])
	c.sum += a
	c.sum2 += b
	c.count++
}

// resolveDupes settles every op_id seen twice (or whose hash collided):
// the index keeps the first entry in replay order.
func (c *opChecker) resolveDupes() error {
	for _, d := range c.dupes {
		loc := c.seen[c.hash([]byte(d.opID))]
		var first synclog.ChangeRecord
		found, err := synclog.GetRecord(c.v, synclog.ChangeKey(c.wsNames[loc.ws], loc.v), &first)
		if err != nil || !found {
			return fmt.Errorf("admin: verify: entry %d of %q vanished: %v", loc.v, c.wsNames[loc.ws], err)
		}
		if first.OpID == d.opID {
			continue // a true duplicate: the first entry keeps the index
		}
		// A hash collision between two op_ids: this one is a first
		// occurrence too, unless an earlier collision already took it.
		var rec synclog.ChangeRecord
		if _, err := synclog.GetRecord(c.v, synclog.ChangeKey(c.wsNames[d.ws], d.v), &rec); err != nil {
			return err
		}
		dupOfEarlier := false
		for _, o := range c.dupes {
			if o.opID == d.opID && (o.ws < d.ws || o.ws == d.ws && o.v < d.v) {
				dupOfEarlier = true
				break
			}
		}
		if !dupOfEarlier {
			c.add([]byte(d.opID), c.wsNames[d.ws], d.v, []byte(rec.Fingerprint))
		}
	}
	return nil
}

// appendOpIndexRecord appends the msgpack of OpIndexRecord{ws, v, fp} as
// synclog.Encode writes it (checked by TestAppendOpIndexRecord).
func appendOpIndexRecord[S string | []byte](b []byte, ws string, v uint64, fp S) []byte {
	b = append(b, 0x93)
	b = appendMsgpackStr(b, ws)
	b = appendMsgpackUint(b, v)
	return appendMsgpackStr(b, fp)
}

func appendMsgpackStr[S string | []byte](b []byte, s S) []byte {
	switch n := len(s); {
	case n < 32:
		b = append(b, 0xa0|byte(n))
	case n <= 0xff:
		b = append(b, 0xd9, byte(n))
	case n <= 0xffff:
		b = append(b, 0xda, byte(n>>8), byte(n))
	default:
		b = append(b, 0xdb, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, s...)
}

func appendMsgpackUint(b []byte, v uint64) []byte {
	switch {
	case v <= 0x7f:
		return append(b, byte(v))
	case v <= 0xff:
		return append(b, 0xcc, byte(v))
	case v <= 0xffff:
		return append(b, 0xcd, byte(v>>8), byte(v))
	case v <= 0xffffffff:
		return append(b, 0xce, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
	return append(b, 0xcf, byte(v>>56), byte(v>>48), byte(v>>40), byte(v>>32), byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// extra reports every key of it before limit (all remaining ones when
// limit is nil) as state the log does not derive.
func (c *syncChecker) extra(it *pebble.Iterator, ok *bool, limit []byte, what string) {
	for *ok && (limit == nil || bytes.Compare(it.Key(), limit) < 0) {
		c.rep.problem("%s %q is not derived from the log", what, it.Key())
		c.bytesRead += int64(len(it.Key()) + len(it.Value()))
		*ok = it.Next()
	}
}

// inWS reports whether key (of any keyspace) belongs to the workspace
// whose encoded component is wsKey.
func inWS(key, wsKey []byte) bool {
	return len(key) > len(wsKey) && bytes.Equal(key[1:1+len(wsKey)], wsKey)
}

// finishWorkspace compares the rebuilt state of the current workspace with
// the stored counter, rows, tombstones and tombstone index.
func (c *syncChecker) finishWorkspace(wsKey []byte) error {
	prefix := func(p byte) []byte { return append([]byte{p}, wsKey...) }
	// Counter.
	c.extra(c.ctrIt, &c.ctrOK, prefix(synclog.PrefixCounter), "counter")
	want := synclog.MustEncode(&synclog.CounterRecord{Counter: c.counter})
	if c.ctrOK && bytes.Equal(c.ctrIt.Key(), prefix(synclog.PrefixCounter)) {
		if !bytes.Equal(c.ctrIt.Value(), want) {
			c.rep.problem("workspace %q: counter differs from replay", c.ws)
		}
		c.bytesRead += int64(len(c.ctrIt.Key()) + len(c.ctrIt.Value()))
		c.ctrOK = c.ctrIt.Next()
	} else {
		c.rep.problem("workspace %q: counter missing", c.ws)
	}
	// Rows, in two halves on two cores (the rebuilt state is read-only
	// now; each half marks its own entities).
	c.extra(c.rowIt, &c.rowOK, prefix(synclog.PrefixRow), "row")
	lo := prefix(synclog.PrefixRow)
	hi := synclog.PrefixEnd(lo)
	mid := append(append([]byte(nil), lo...), c.medianID()...)
	halves := [2]rowHalf{{lower: lo, upper: mid}, {lower: mid, upper: hi}}
	var wg sync.WaitGroup
	for h := range halves {
		wg.Go(func() { halves[h].err = c.compareRows(&halves[h], len(wsKey)) })
	}
	wg.Wait()
	for _, h := range halves {
		if h.err != nil {
			return h.err
		}
		c.rows += h.rows
		c.bytesRead += h.read
		for _, p := range h.problems {
			c.rep.problem("%s", p)
		}
		if h.failed && len(h.problems) == 0 {
			c.rep.problem("workspace %q: rows differ from replay", c.ws)
		}
	}
	if c.rowOK {
		c.rowOK = c.rowIt.SeekGE(hi)
	}
	// Tombstones and their version index.
	c.extra(c.tombIt, &c.tombOK, prefix(synclog.PrefixTomb), "tombstone")
	for ; c.tombOK && inWS(c.tombIt.Key(), wsKey); c.tombOK = c.tombIt.Next() {
		k, val := c.tombIt.Key(), c.tombIt.Value()
		c.bytesRead += int64(len(k) + len(val))
		i, _, ok := c.lookup(k[1+len(wsKey):])
		if !ok || !c.ents[i].hasTomb {
			c.rep.problem("tombstone %q is not derived from the log", k)
			continue
		}
		e := &c.ents[i]
		e.tombSeen = true
		want := synclog.MustEncode(&synclog.TombRecord{Rev: e.tomb, ServerVersion: e.tombVer, DeletedAtMs: e.tombDel, CreatedAtMs: e.tombCrea})
		if !bytes.Equal(val, want) {
			c.rep.problem("tombstone %q differs from replay", k)
		}
	}
	c.extra(c.tbvIt, &c.tbvOK, prefix(synclog.PrefixTombByVersion), "tombstone index entry")
	tbv := 0
	for ; c.tbvOK && inWS(c.tbvIt.Key(), wsKey); c.tbvOK = c.tbvIt.Next() {
		k, val := c.tbvIt.Key(), c.tbvIt.Value()
		c.bytesRead += int64(len(k) + len(val))
		tbv++
		i, _, ok := c.lookup(val)
		if !ok || len(k) != 1+len(wsKey)+8 || !c.ents[i].hasTomb || c.ents[i].tombVer != beU64(k[1+len(wsKey):]) {
			c.rep.problem("tombstone index entry %q differs from replay", k)
		}
	}
	// Everything rebuilt must have been found.
	tombs := 0
	for i := range c.ents {
		e := &c.ents[i]
		if !e.seen {
			c.rep.problem("workspace %q: row %q of the log is missing", c.ws, e.id)
		}
		if e.hasTomb {
			tombs++
			if !e.tombSeen {
				c.rep.problem("workspace %q: tombstone %q of the log is missing", c.ws, e.id)
			}
		}
	}
	if tbv != tombs {
		c.rep.problem("workspace %q: %d tombstone index entries, replay has %d", c.ws, tbv, tombs)
	}
	return nil
}

func beU64(b []byte) uint64 {
	return uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 | uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
}

// rowDiff names the first field of row that differs from the rebuilt e.
func (c *syncChecker) rowDiff(e *ent, row *synclog.RowRecord) string {
	winner, kind := e.winner()
	switch {
	case row.Winner != winner || row.WinnerKind != kind:
		return "winner"
	case row.HasPut != e.hasPut || row.HasTomb != e.hasTomb:
		return "register halves"
	case e.hasPut && (row.Put != e.put || row.SoftDel != e.softDel):
		return "greatest put"
	case !e.hasPut && (row.Put != synclog.Revision{} || row.Payload != nil || row.SoftDel):
		return "greatest put"
	case e.hasPut && (len(row.Payload) != e.payLen || (row.Payload == nil) != e.payNil || maphash.Bytes(c.seed, row.Payload) != e.payHash):
		return "payload"
	case e.hasTomb && row.Tomb != e.tomb, !e.hasTomb && row.Tomb != synclog.Revision{}:
		return "tombstone revision"
	case row.ServerVersion != e.serverVersion:
		return fmt.Sprintf("server version %d, replay %d", row.ServerVersion, e.serverVersion)
	case row.DeviceID != e.deviceID:
		return "device"
	case row.CreatedAtMs != e.created || row.UpdatedAtMs != e.updated || row.DeletedAtMs != e.deleted:
		return "timestamps"
	case row.Owner != e.owner:
		return "owner"
	}
	return ""
}

// rowHalf is one range of a workspace's rows compared on its own core.
type rowHalf struct {
	lower, upper []byte
	rows, read   int64
	problems     []string
	failed       bool
	err          error
}

func (h *rowHalf) problem(format string, args ...any) {
	if len(h.problems) < maxProblems {
		h.problems = append(h.problems, fmt.Sprintf(format, args...))
	}
	h.failed = true
}

// medianID returns an entity id near the middle of the workspace's ids
// (from a sample), to split its rows in two.
func (c *syncChecker) medianID() string {
	if len(c.ents) == 0 {
		return ""
	}
	step := max(1, len(c.ents)/255)
	var sample []string
	for i := 0; i < len(c.ents); i += step {
		sample = append(sample, c.ents[i].id)
	}
	slices.Sort(sample)
	return sample[len(sample)/2]
}

// compareRows compares the stored rows in [h.lower, h.upper) with the
// rebuilt entities. wsLen is the length of the encoded workspace.
func (c *syncChecker) compareRows(h *rowHalf, wsLen int) error {
	it, err := c.v.NewIter(h.lower, h.upper)
	if err != nil {
		return err
	}
	defer it.Close()
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	var row synclog.RowRecord
	var want []byte
	for ok := it.First(); ok; ok = it.Next() {
		k, val := it.Key(), it.Value()
		h.read += int64(len(k) + len(val))
		if h.rows++; h.rows%4096 == 0 {
			if err := c.ctx.Err(); err != nil {
				return err
			}
		}
		i, _, found := c.lookup(k[1+wsLen:])
		if !found {
			h.problem("row %q is not derived from the log", k)
			continue
		}
		e := &c.ents[i]
		e.seen = true
		var match bool
		if want, match = c.rowIs(e, val, want); match {
			continue
		}
		// Something differs: decode the row to name what.
		if err := synclog.DecodeRowAliased(k, val, &row); err != nil {
			h.problem("row %q: %v", k, err)
			continue
		}
		if what := c.rowDiff(e, &row); what != "" {
			h.problem("row %q differs from replay: %s", k, what)
			continue
		}
		buf.Reset()
		if err := enc.Encode(&row); err != nil || !bytes.Equal(buf.Bytes(), val) {
			h.problem("row %q: not the encoding replay writes", k)
		}
	}
	return it.Error()
}

// rowIs reports whether val is exactly the encoding of the row the
// rebuilt e implies (synclog.Encode of the RowRecord rowDiff compares
// with, TestAppendRow holds the two equal): every field byte for byte,
// the payload by its length and hash. It is the common case's whole
// check, without decoding; a row it rejects is decoded to name the
// difference. buf is scratch space, returned for reuse.
func (c *syncChecker) rowIs(e *ent, val, buf []byte) ([]byte, bool) {
	winner, kind := e.winner()
	var put, tomb synclog.Revision
	if e.hasPut {
		put = e.put
	}
	if e.hasTomb {
		tomb = e.tomb
	}
	b := append(buf[:0], 0x90|rowRecordFields)
	b = appendRevision(b, winner)
	b = appendMsgpackUint(b, uint64(kind))
	b = appendMsgpackBool(b, e.hasPut)
	b = appendRevision(b, put)
	payLen := 0
	switch {
	case !e.hasPut || e.payNil:
		b = append(b, 0xc0) // nil
	default:
		payLen = e.payLen
		b = appendMsgpackBinLen(b, payLen)
	}
	head := len(b)
	if len(val) < head+payLen || !bytes.Equal(val[:head], b) {
		return b, false
	}
	if e.hasPut && maphash.Bytes(c.seed, val[head:head+payLen]) != e.payHash {
		return b, false
	}
	b = appendMsgpackBool(b[:0], e.hasPut && e.softDel)
	b = appendMsgpackBool(b, e.hasTomb)
	b = appendRevision(b, tomb)
	b = appendMsgpackUint(b, e.serverVersion)
	b = appendMsgpackStr(b, e.deviceID)
	b = appendMsgpackInt(b, e.created)
	b = appendMsgpackInt(b, e.updated)
	b = appendMsgpackInt(b, e.deleted)
	b = appendMsgpackStr(b, e.owner)
	return b, bytes.Equal(val[head+payLen:], b)
}

// rowRecordFields is the array length synclog encodes a RowRecord with.
const rowRecordFields = 14

// appendRevision appends a Revision as synclog encodes it.
func appendRevision(b []byte, r synclog.Revision) []byte {
	b = append(b, 0x94)
	b = appendMsgpackInt(b, r.Clock)
	b = appendMsgpackStr(b, r.HLC)
	b = appendMsgpackStr(b, r.OpID)
	return appendMsgpackStr(b, r.Fingerprint)
}

func appendMsgpackBool(b []byte, v bool) []byte {
	if v {
		return append(b, 0xc3)
	}
	return append(b, 0xc2)
}

func appendMsgpackBinLen(b []byte, n int) []byte {
	switch {
	case n < 256:
		return append(b, 0xc4, byte(n))
	case n <= 0xffff:
		return append(b, 0xc5, byte(n>>8), byte(n))
	}
	return append(b, 0xc6, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// appendMsgpackInt appends n as msgpack's EncodeInt does (the shortest
// form; non-negative numbers as unsigned).
func appendMsgpackInt(b []byte, n int64) []byte {
	switch {
	case n >= 0:
		return appendMsgpackUint(b, uint64(n))
	case n >= -32:
		return append(b, byte(n))
	case n >= -128:
		return append(b, 0xd0, byte(n))
	case n >= -32768:
		return append(b, 0xd1, byte(n>>8), byte(n))
	case n >= -1<<31:
		return append(b, 0xd2, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, 0xd3, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}
