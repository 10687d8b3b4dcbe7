package intents

import (
	"bytes"
	"cmp"
	"slices"
	"sync"

	"github.com/or3/syncd/crdt"
	synclog "github.com/or3/syncd/log"
)

// The stored-bytes half of a workspace's usage (the sizes of its live
// file_meta rows, and which normalized hashes they hold) is kept per
// workspace in memory and brought up to date from the change log, instead
// of rescanning every file_meta row on each reservation.
//
// A workspace's entry remembers the change-log version it has folded in.
// A reservation reads the workspace counter, then re-reads only the
// file_meta rows named by the entries above that version (every change of
// a row is a change-log entry, and the engine commits a workspace's
// entries in version order under its workspace lock, so entries up to the
// counter are all visible). The re-read gives the row as it is now, which
// is at least as new as the entry; a later entry for it is re-read again.
// So the cache answers what a full scan would, at the same moment. A full
// scan rebuilds the entry when there is none, when history GC collected
// entries it has not folded, or when the counter went backwards (another
// store). Nothing here is persisted: a restart starts empty.
//
// The reserved half (the workspace's active intents) is cached beside it:
// only this Store writes intents, always under the workspace lock, so the
// entry is updated after each of its commits, and dropped when a commit
// fails (its outcome is then unknown) — the next reservation reads the
// active index again. Knowing the active intents also spares the
// reservation's fold its scan of the active index for expired ones (a
// scan that steps over the index entries of every intent consumed since
// the last flush): it is handed the expired ids instead, the same set the
// scan finds, so live writes and replay still fold alike.
//
// Memory: one map entry per live file and per active intent of a cached
// workspace, bounded by maxCachedRows over all workspaces (least recently
// used workspaces are dropped; a workspace larger than half the bound is
// read every time, as before the cache).

// maxCachedRows bounds the live rows and active intents cached over all
// workspaces (about 200 bytes each: some 25 MiB at most).
const maxCachedRows = 1 << 17

type usageCache struct {
	mu   sync.Mutex
	wss  map[string]*wsStored
	rows int
	tick uint64
}

// wsStored is one workspace's stored bytes as of version.
type wsStored struct {
	version uint64
	stored  int64
	sizes   map[string]int64 // pk → size of a live row
	hashes  map[string]int   // normalized hash → live rows holding it
	// active is the workspace's active intents (its 0x51 index), nil
	// until read.
	active map[string]activeIntent
	used   uint64
}

// activeIntent is what usage needs of an active intent.
type activeIntent struct {
	hash      string
	reserved  int64
	expiresAt int64
}

func (e *wsStored) units() int { return 1 + len(e.sizes) + len(e.active) }

func (c *usageCache) take(ws string) *wsStored {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.wss[ws]
	if e != nil {
		delete(c.wss, ws)
		c.rows -= e.units()
	}
	return e
}

// put returns e to the cache (the caller holds ws's lock, so no other
// entry for ws was put meanwhile), dropping the least recently used
// workspaces beyond the bound.
func (c *usageCache) put(ws string, e *wsStored) {
	if e == nil || e.units() > maxCachedRows/2 {
		return // too large to keep; read each time
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.wss == nil {
		c.wss = map[string]*wsStored{}
	}
	c.tick++
	e.used = c.tick
	c.wss[ws] = e
	c.rows += e.units()
	if c.rows > maxCachedRows {
		// Drop the least recently used workspaces down to three quarters
		// of the bound, so eviction costs one sort per many puts.
		type aged struct {
			ws   string
			used uint64
		}
		all := make([]aged, 0, len(c.wss))
		for k, v := range c.wss {
			if k != ws {
				all = append(all, aged{k, v.used})
			}
		}
		slices.SortFunc(all, func(x, y aged) int { return cmp.Compare(x.used, y.used) })
		for _, a := range all {
			if c.rows <= maxCachedRows/4*3 {
				break
			}
			c.rows -= c.wss[a.ws].units()
			delete(c.wss, a.ws)
		}
	}
}

// forget drops every cached workspace (tests).
func (c *usageCache) forget() {
	c.mu.Lock()
	c.wss, c.rows = nil, 0
	c.mu.Unlock()
}

func (e *wsStored) set(pk string, size int64, live bool) {
	old, had := e.sizes[pk]
	switch {
	case had && live:
		e.stored += size - old
		e.sizes[pk] = size
	case had:
		e.stored -= old
		delete(e.sizes, pk)
		h := NormalizeHash(pk)
		if e.hashes[h]--; e.hashes[h] <= 0 {
			delete(e.hashes, h)
		}
	case live:
		e.stored += size
		e.sizes[pk] = size
		e.hashes[NormalizeHash(pk)]++
	}
}

// liveSize reports whether a file_meta row counts toward usage and its
// size_bytes.
func liveSize(row *synclog.RowRecord) (int64, bool) {
	if !row.HasPut || row.SoftDel || row.WinnerKind == uint8(crdt.KindDelete) {
		return 0, false
	}
	return sizeOf(row.Payload), true
}

// current brings e (nil: none cached) up to date with ws as r reads it;
// the caller holds ws's lock.
func current(r synclog.Reader, ws string, e *wsStored) (*wsStored, error) {
	var ctr synclog.CounterRecord
	if _, err := synclog.GetRecord(r, synclog.CounterKey(ws), &ctr); err != nil {
		return nil, err
	}
	if e == nil || ctr.Counter < e.version || e.version < ctr.Floor {
		fresh, err := scanStored(r, ws, ctr.Counter)
		if err != nil {
			return nil, err
		}
		if e != nil {
			fresh.active = e.active // intents are not in the change log
		}
		e = fresh
	} else if ctr.Counter > e.version {
		if err := e.advance(r, ws, ctr.Counter); err != nil {
			return nil, err
		}
	}
	if e.active == nil {
		e.active = map[string]activeIntent{}
		if err := eachActive(r, ws, func(rec *Record) (bool, error) {
			e.active[rec.ID] = activeIntent{hash: rec.Hash, reserved: rec.ReservedBytes, expiresAt: rec.ExpiresAt}
			return true, nil
		}); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// usage is ws's usage at nowSec for a reservation of hash.
func (e *wsStored) usage(hash string, nowSec int64) wsUsage {
	u := wsUsage{stored: e.stored, hashStored: e.hashes[hash] > 0}
	for _, a := range e.active {
		if a.expiresAt > nowSec {
			u.reserved += a.reserved
			if a.hash == hash && a.reserved > 0 {
				u.hashReserved = true
			}
		}
	}
	return u
}

// expired lists the active intents expired at atSec (the ones a
// reservation's fold retires), sorted.
func (e *wsStored) expired(atSec int64) []string {
	out := []string{}
	for id, a := range e.active {
		if a.expiresAt <= atSec {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// scanStored reads every file_meta row of ws; version is the counter read
// before the scan.
func scanStored(r synclog.Reader, ws string, version uint64) (*wsStored, error) {
	e := &wsStored{version: version, sizes: map[string]int64{}, hashes: map[string]int{}}
	prefix := synclog.RowPrefix(ws, "file_meta")
	it, err := r.NewIter(prefix, synclog.PrefixEnd(prefix))
	if err != nil {
		return nil, err
	}
	for ok := it.First(); ok; ok = it.Next() {
		var row synclog.RowRecord
		if err := synclog.Decode(it.Key(), it.Value(), &row); err != nil {
			it.Close()
			return nil, err
		}
		if size, live := liveSize(&row); live {
			e.set(string(it.Key()[len(prefix):]), size, true)
		}
	}
	if err := it.Close(); err != nil {
		return nil, err
	}
	return e, nil
}

var fileMetaTable = []byte("file_meta")

// advance folds ws's change-log entries (e.version, to] in: the file_meta
// rows they name are read again.
func (e *wsStored) advance(r synclog.Reader, ws string, to uint64) error {
	it, err := r.NewIter(synclog.ChangeKey(ws, e.version+1), synclog.ChangeKey(ws, to+1))
	if err != nil {
		return err
	}
	defer it.Close()
	seen := map[string]bool{}
	for ok := it.First(); ok; ok = it.Next() {
		if !bytes.Contains(it.Value(), fileMetaTable) {
			continue // cheap skip: not a file_meta entry
		}
		var rec synclog.ChangeRecord
		if err := synclog.Decode(it.Key(), it.Value(), &rec); err != nil {
			return err
		}
		if rec.Table != "file_meta" || seen[rec.PK] {
			continue
		}
		seen[rec.PK] = true
		var row synclog.RowRecord
		found, err := synclog.GetRecord(r, synclog.RowKey(ws, "file_meta", rec.PK), &row)
		if err != nil {
			return err
		}
		size, live := liveSize(&row)
		e.set(rec.PK, size, found && live)
	}
	if err := it.Error(); err != nil {
		return err
	}
	e.version = to
	return nil
}
