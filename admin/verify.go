package admin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	synclog "github.com/or3/syncd/log"
)

// VerifyReport is the outcome of state.verify (model.md §4).
type VerifyReport struct {
	// Mode is "full" (the log was never collected: every state keyspace
	// rebuilt by replay and compared byte for byte) or "tail" (history GC
	// ran: system state rebuilt and compared; sync state checked by
	// replaying the retained entries onto it, which must change nothing,
	// plus invariants).
	Mode          string   `json:"mode"`
	OK            bool     `json:"ok"`
	Problems      []string `json:"problems"`
	SystemEvents  int64    `json:"systemEvents"`
	ChangeEntries int64    `json:"changeEntries"`
	Rows          int64    `json:"rows"`
	BytesRead     int64    `json:"bytesRead"`
	DurationMs    int64    `json:"durationMs"`
}

// maxProblems bounds the problems one report lists.
const maxProblems = 20

func (r *VerifyReport) problem(format string, args ...any) {
	if len(r.Problems) < maxProblems {
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
	}
	r.OK = false
}

// syncKeyspaces are the state keyspaces derived from the change log.
var syncKeyspaces = []byte{synclog.PrefixOpIndex, synclog.PrefixCounter, synclog.PrefixRow, synclog.PrefixTomb, synclog.PrefixTombByVersion}

func systemKeyspaces() []byte {
	var out []byte
	for _, p := range synclog.StateKeyspaces() {
		if !bytes.Contains(syncKeyspaces, []byte{p}) {
			out = append(out, p)
		}
	}
	return out
}

// gcWatch wraps a Folder and notes history GC events.
type gcWatch struct {
	f         synclog.Folder
	collected bool
	sys, chg  int64
	bytes     int64 // of the system events read
	progress  func(done int64)
}

func (g *gcWatch) FoldChange(b *synclog.Batch, ws string, v uint64, rec *synclog.ChangeRecord) error {
	g.chg++
	if g.progress != nil && g.chg%4096 == 0 {
		g.progress(g.sys + g.chg)
	}
	return g.f.FoldChange(b, ws, v, rec)
}

func (g *gcWatch) FoldSystem(b *synclog.Batch, seq uint64, ev *synclog.SystemEvent) error {
	g.sys++
	if strings.HasPrefix(ev.Type, "gc.") {
		g.collected = true
	}
	if g.progress != nil && g.sys%4096 == 0 {
		g.progress(g.sys + g.chg)
	}
	return g.f.FoldSystem(b, seq, ev)
}

// Verify checks db's state against its log (model.md §4). db must not
// change while it runs: a stopped data dir opened by the caller, or a
// checkpoint (VerifyOnline takes one). tmp is a directory for the replay
// store of the system events (created and removed). progress, if set, is
// called with the events checked so far and the total expected
// (approximate).
//
// The system keyspaces are rebuilt by replaying the system events through
// the shared folds into a scratch store and compared byte for byte. On an
// uncollected log the sync keyspaces are rebuilt in one streaming pass
// over the change log and compared in one ordered pass over each state
// keyspace (verifySync, running beside the system replay); after history
// GC the retained tail is replayed onto the state instead (verifyTail).
func Verify(ctx context.Context, db *synclog.DB, folder synclog.Folder, tmp string, progress func(done, total int64)) (VerifyReport, error) {
	return verify(ctx, db, folder, tmp, progress, false)
}

// errNeedsStable: the log was collected, so verify must replay its tail
// onto a store that does not change (a checkpoint).
var errNeedsStable = errors.New("admin: verify: a collected log is verified on a checkpoint")

// verify is Verify; live says db is serving writes, which full mode
// tolerates (it reads one view) and tail mode does not (errNeedsStable).
func verify(ctx context.Context, db *synclog.DB, folder synclog.Folder, tmp string, progress func(done, total int64), live bool) (VerifyReport, error) {
	start := time.Now()
	rep := VerifyReport{OK: true, Problems: []string{}}
	v := db.View()
	if v == nil {
		return rep, synclog.ErrUnhealthy
	}
	defer v.Release()
	var total, sysBytes int64
	if p := db.Pebble(); p != nil {
		// Approximate: one event per ~1 KiB of log is only for the bar;
		// the report counts exactly.
		sz, _ := p.EstimateDiskUsage([]byte{synclog.PrefixChange}, []byte{synclog.PrefixSystem + 1})
		total = int64(sz / 1024)
		ss, _ := p.EstimateDiskUsage([]byte{synclog.PrefixSystem}, []byte{synclog.PrefixSystem + 1})
		sysBytes = int64(ss)
	}
	var sysDone, chgDone atomic.Int64
	var progressMu sync.Mutex // the two passes report from two goroutines
	report := func() {
		if progress != nil {
			progressMu.Lock()
			defer progressMu.Unlock()
			d := sysDone.Load() + chgDone.Load()
			progress(d, max(total, d))
		}
	}
	watch := &gcWatch{f: folder, progress: func(done int64) { sysDone.Store(done); report() }}
	if err := os.RemoveAll(tmp); err != nil {
		return rep, err
	}
	defer os.RemoveAll(tmp)
	rcfg := synclog.Config{Dir: tmp, Logger: slog.New(slog.DiscardHandler), MemTableSize: 64 << 20}
	if sysBytes < memReplayLimit {
		rcfg.FS = vfs.NewMem() // small system logs replay in memory: no disk writes, no fsyncs
	}
	rdb, err := synclog.Open(rcfg)
	if err != nil {
		return rep, err
	}
	defer rdb.Close()

	// The system replay decides the mode (a gc.* event means history was
	// collected); the streaming sync check assumes full mode and runs
	// beside it, its verdict dropped if the log turns out collected.
	syncRep := VerifyReport{OK: true, Problems: []string{}}
	var syncErr error
	syncCtx, cancelSync := context.WithCancel(ctx)
	defer cancelSync()
	var wg sync.WaitGroup
	wg.Go(func() {
		syncErr = verifySync(syncCtx, v, folder, &syncRep, total, func(done int64) { chgDone.Store(done); report() })
	})
	replayErr := replaySystem(ctx, v, rdb, watch, 20000)
	if watch.collected {
		cancelSync() // tail mode: the streaming full rebuild does not apply
	}
	wg.Wait()
	rep.SystemEvents = watch.sys
	if replayErr != nil {
		rep.problem("replay failed: %v", replayErr)
		rep.DurationMs = time.Since(start).Milliseconds()
		return rep, nil
	}
	rv := rdb.View()
	defer rv.Release()
	sysDiff, err := synclog.DiffState(v, rv, systemKeyspaces()...)
	if err != nil {
		return rep, err
	}
	if !watch.collected {
		rep.Mode = "full"
		if sysDiff != "" {
			rep.problem("state differs from replay: %s", sysDiff)
		}
		if syncErr != nil {
			return rep, syncErr
		}
		for _, p := range syncRep.Problems {
			rep.problem("%s", p)
		}
		if !syncRep.OK && len(syncRep.Problems) == 0 {
			rep.problem("sync state differs from replay")
		}
		rep.ChangeEntries, rep.Rows, rep.BytesRead = syncRep.ChangeEntries, syncRep.Rows, syncRep.BytesRead+watch.bytes
	} else {
		if live {
			return rep, errNeedsStable
		}
		rep.Mode = "tail"
		if sysDiff != "" {
			rep.problem("system state differs from replay: %s", sysDiff)
		}
		if err := verifyTail(ctx, db, v, folder, &rep); err != nil {
			return rep, err
		}
		rows, bytesRead, err := countState(v)
		if err != nil {
			return rep, err
		}
		rep.Rows, rep.BytesRead = rows, bytesRead
	}
	rep.DurationMs = time.Since(start).Milliseconds()
	if progress != nil {
		progress(rep.SystemEvents+rep.ChangeEntries, rep.SystemEvents+rep.ChangeEntries)
	}
	return rep, nil
}

// memReplayLimit is the system log size below which verify replays into
// memory.
const memReplayLimit = 64 << 20

// replaySystem folds every system event of src, by sequence, into dst's
// state keyspaces, committing every batchEvents events. It is the system
// half of log.Rebuild without copying the event keyspaces: no fold reads
// events, and verify compares state.
func replaySystem(ctx context.Context, src synclog.Reader, dst *synclog.DB, f *gcWatch, batchEvents int) error {
	b := dst.NewBatch()
	defer func() { b.Close() }()
	n := 0
	flush := func() error {
		if err := dst.Commit(ctx, b); err != nil {
			return err
		}
		b.Close()
		b = dst.NewBatch()
		n = 0
		return ctx.Err()
	}
	it, err := src.NewIter([]byte{synclog.PrefixSystem}, []byte{synclog.PrefixSystem + 1})
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		f.bytes += int64(len(it.Key()) + len(it.Value()))
		seq := synclog.ReadKey(it.Key()).U64()
		var ev synclog.SystemEvent
		if err := synclog.Decode(it.Key(), it.Value(), &ev); err != nil {
			return err
		}
		if err := f.FoldSystem(b, seq, &ev); err != nil {
			return fmt.Errorf("replay system event %d: %w", seq, err)
		}
		if n++; n >= batchEvents {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := it.Error(); err != nil {
		return err
	}
	return flush()
}

// countState counts rows and the bytes of the log and state read.
func countState(v *synclog.View) (rows, n int64, err error) {
	it, err := v.NewIter(nil, nil)
	if err != nil {
		return 0, 0, err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		n += int64(len(k) + len(it.Value()))
		if k[0] == synclog.PrefixRow {
			rows++
		}
	}
	return rows, n, it.Error()
}

// verifyTail replays every retained sync entry onto the current state
// (through a batch over db, never committed): every merge is idempotent,
// so the batch must stay unchanged. Then it checks the invariants of
// model.md §4 on the view.
func verifyTail(ctx context.Context, db *synclog.DB, v *synclog.View, folder synclog.Folder, rep *VerifyReport) error {
	b := db.NewBatch()
	defer b.Close()
	it, err := v.NewIter([]byte{synclog.PrefixChange}, []byte{synclog.PrefixChange + 1})
	if err != nil {
		return err
	}
	type wsState struct {
		ctr  synclog.CounterRecord
		next uint64
	}
	states := map[string]*wsState{}
	for ok := it.First(); ok; ok = it.Next() {
		kr := synclog.ReadKey(it.Key())
		ws, ver := kr.Str(), kr.U64()
		var rec synclog.ChangeRecord
		if err := synclog.Decode(it.Key(), it.Value(), &rec); err != nil {
			rep.problem("undecodable entry %q: %v", it.Key(), err)
			continue
		}
		st := states[ws]
		if st == nil {
			st = &wsState{}
			if _, err := synclog.GetRecord(v, synclog.CounterKey(ws), &st.ctr); err != nil {
				it.Close()
				return err
			}
			st.next = st.ctr.Floor + 1
			states[ws] = st
		}
		if ver != st.next {
			rep.problem("workspace %q: retained versions not contiguous: want %d, found %d", ws, st.next, ver)
		}
		st.next = ver + 1
		if ver > st.ctr.Counter {
			rep.problem("workspace %q: entry %d above the counter %d", ws, ver, st.ctr.Counter)
		}
		if err := folder.FoldChange(b, ws, ver, &rec); err != nil {
			rep.problem("workspace %q: replaying entry %d: %v", ws, ver, err)
		}
		if err := ctx.Err(); err != nil {
			it.Close()
			return err
		}
	}
	if err := it.Close(); err != nil {
		return err
	}
	for ws, st := range states {
		if st.next-1 != st.ctr.Counter {
			rep.problem("workspace %q: counter %d but last retained entry %d", ws, st.ctr.Counter, st.next-1)
		}
	}
	if !b.Empty() {
		diff, err := synclog.DiffState(v, b, syncKeyspaces...)
		if err != nil {
			return err
		}
		if diff == "" {
			diff = "the batch holds writes"
		}
		rep.problem("replaying the retained entries changed state: %s", diff)
	}
	return checkRows(v, rep)
}

// checkRows checks that every row has a winning revision, that rows whose
// winning entry is retained agree with it, and that tombstones agree with
// their rows and their version index.
func checkRows(v *synclog.View, rep *VerifyReport) error {
	floors := map[string]synclog.CounterRecord{}
	counter := func(ws string) (synclog.CounterRecord, error) {
		c, ok := floors[ws]
		if !ok {
			if _, err := synclog.GetRecord(v, synclog.CounterKey(ws), &c); err != nil {
				return c, err
			}
			floors[ws] = c
		}
		return c, nil
	}
	err := scan(v, synclog.PrefixRow, func(k, val []byte) error {
		kr := synclog.ReadKey(k)
		ws, id := kr.Str(), kr.Rest()
		var row synclog.RowRecord
		if err := synclog.Decode(k, val, &row); err != nil {
			rep.problem("row %q: %v", k, err)
			return nil
		}
		if row.Winner.OpID == "" || (row.WinnerKind != synclog.OpPut && row.WinnerKind != synclog.OpDelete) {
			rep.problem("row %q has no winning revision", k)
			return nil
		}
		c, err := counter(ws)
		if err != nil {
			return err
		}
		if row.ServerVersion > c.Counter {
			rep.problem("row %q: version %d above the counter %d", k, row.ServerVersion, c.Counter)
		}
		if row.ServerVersion > c.Floor {
			var rec synclog.ChangeRecord
			found, err := synclog.GetRecord(v, synclog.ChangeKey(ws, row.ServerVersion), &rec)
			if err != nil {
				return err
			}
			table, pk, _ := synclog.SplitEntityID(id)
			switch {
			case !found:
				rep.problem("row %q: winning entry %d missing", k, row.ServerVersion)
			case rec.Table != table || rec.PK != pk || rec.OpID != row.Winner.OpID || rec.Clock != row.Winner.Clock || rec.HLC != row.Winner.HLC:
				rep.problem("row %q: winner differs from entry %d", k, row.ServerVersion)
			case rec.Op == synclog.OpPut && !bytes.Equal(rec.Payload, row.Payload):
				rep.problem("row %q: payload differs from entry %d", k, row.ServerVersion)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return scan(v, synclog.PrefixTomb, func(k, val []byte) error {
		kr := synclog.ReadKey(k)
		ws, id := kr.Str(), kr.Rest()
		var tomb synclog.TombRecord
		if err := synclog.Decode(k, val, &tomb); err != nil {
			rep.problem("tombstone %q: %v", k, err)
			return nil
		}
		table, pk, _ := synclog.SplitEntityID(id)
		var row synclog.RowRecord
		found, err := synclog.GetRecord(v, synclog.RowKey(ws, table, pk), &row)
		if err != nil {
			return err
		}
		if !found || !row.HasTomb || row.Tomb != tomb.Rev {
			rep.problem("tombstone %q disagrees with its row", k)
		}
		idx, err := v.Get(synclog.TombByVersionKey(ws, tomb.ServerVersion))
		if err != nil {
			return err
		}
		if string(idx) != id {
			rep.problem("tombstone %q missing from the version index", k)
		}
		return nil
	})
}

// VerifyOnline verifies a running store while writes continue. On an
// uncollected log (full mode) it reads one durable view of the live store
// (a Pebble snapshot: every acknowledged write up to a point in time, and
// the warm block cache). After history GC (tail mode, which replays the
// tail through a batch over the store) it takes a checkpoint (hard links)
// under the data dir, opens it beside the live store and verifies that.
func (s *Service) VerifyOnline(ctx context.Context, progress func(done, total int64)) (VerifyReport, error) {
	if s.cfg.Folder == nil || s.cfg.DataDir == "" {
		return VerifyReport{}, errUnavailable("state.verify is not configured")
	}
	s.opMu.Lock()
	defer s.opMu.Unlock()
	work, err := os.MkdirTemp(s.cfg.DataDir, ".verify-")
	if err != nil {
		return VerifyReport{}, err
	}
	defer os.RemoveAll(work)
	rep, err := verify(ctx, s.db, s.cfg.Folder, filepath.Join(work, "replay-live"), progress, true)
	if !errors.Is(err, errNeedsStable) {
		return rep, err
	}
	cp := filepath.Join(work, "log")
	pdb := s.db.Pebble()
	if pdb == nil {
		return VerifyReport{}, synclog.ErrUnhealthy
	}
	if err := pdb.Checkpoint(cp, pebble.WithFlushedWAL()); err != nil {
		return VerifyReport{}, fmt.Errorf("admin: checkpoint: %w", err)
	}
	cdb, err := synclog.Open(synclog.Config{Dir: cp, Logger: s.log})
	if err != nil {
		return VerifyReport{}, err
	}
	defer cdb.Close()
	return Verify(ctx, cdb, s.cfg.Folder, filepath.Join(work, "replay"), progress)
}
