package log

import (
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// The committer is two goroutines with at most one group commit in flight
// between them.
//
// commitLoop gathers queued batches into a group and applies it to Pebble
// as one batch with a WAL sync requested but not awaited
// (ApplyNoSyncWait), takes the snapshot that will become the group's view,
// and hands the group to syncLoop. syncLoop waits for the group's fsync,
// gives the turn back, publishes the view and answers the writers.
//
// While a group's fsync runs, commitLoop already gathers the next group, so
// the next fsync starts as soon as the last one returned rather than after
// the answers and the gathering. It applies a group only once the previous
// group's fsync has returned: one fsync in flight, each group its own
// fsync, and nothing is written after a group whose sync failed (the store
// is unhealthy until recovery reopened it).
//
// Durable before visible (model.md §3): Pebble makes a group readable in
// its live state before the fsync returns, so the snapshot is taken right
// after the group is applied, when it holds exactly the groups before and
// this one (nothing else writes), and published only after the fsync.

// request is one writer's batch waiting for the committer. Requests are
// pooled; done is answered exactly once per use.
type request struct {
	b    *Batch
	done chan error
}

var requestPool = sync.Pool{New: func() any { return &request{done: make(chan error, 1)} }}

// group is one group commit on its way from commitLoop to syncLoop.
type group struct {
	reqs  []*request
	size  int // bytes of the writers' batches
	gb    *pebble.Batch
	snap  *pebble.Snapshot
	start time.Time
}

func (db *DB) commitLoop() {
	defer close(db.stopped)
	toSync := make(chan *group, 1)
	turn := make(chan struct{}, 1) // full while no group is in flight
	turn <- struct{}{}
	synced := make(chan struct{})
	go db.syncLoop(toSync, turn, synced)
	defer func() {
		close(toSync)
		<-synced
	}()

	for {
		g := &group{reqs: make([]*request, 0, 64)}
		select {
		case r := <-db.queue:
			db.gather(g, r)
		case <-db.stop:
			// Answer what is queued, then stop.
			for {
				select {
				case r := <-db.queue:
					g := &group{}
					db.gather(g, r)
					<-turn
					db.gatherQueued(g)
					db.applyGroup(g, toSync, turn)
				default:
					return
				}
			}
		}
		// Gather while the previous group's fsync runs.
		haveTurn := false
		for !haveTurn && g.size < db.cfg.MaxGroupBytes {
			select {
			case r := <-db.queue:
				db.gather(g, r)
			case <-turn:
				haveTurn = true
			}
		}
		if !haveTurn {
			<-turn
		}
		db.gatherQueued(g)
		db.applyGroup(g, toSync, turn)
	}
}

func (db *DB) gather(g *group, r *request) {
	g.reqs = append(g.reqs, r)
	g.size += r.b.pb.Len()
}

// gatherQueued adds what is queued now, up to the group size bound.
func (db *DB) gatherQueued(g *group) {
	for g.size < db.cfg.MaxGroupBytes {
		select {
		case r := <-db.queue:
			db.gather(g, r)
		default:
			return
		}
	}
}

// applyGroup applies g while the caller holds the turn, and either hands g
// (and the turn) to syncLoop or, when g fails, answers it and puts the turn
// back.
func (db *DB) applyGroup(g *group, toSync chan<- *group, turn chan<- struct{}) {
	g.start = time.Now()
	// Applied or failed, these batches no longer wait in the queue.
	defer db.waiting.Add(-int64(len(g.reqs)))
	if p := db.health.Load(); p != nil {
		db.answer(g, fmt.Errorf("%w: %v", ErrUnhealthy, *p))
		turn <- struct{}{}
		return
	}
	pdb := db.pdb.Load()
	gb, origin, err := db.builder.build(pdb, g.reqs, db.originSeq, g.size)
	if err == nil && origin != db.originSeq {
		err = gb.Set(metaOriginSeqKey, binary.BigEndian.AppendUint64(nil, origin), nil)
	}
	if err == nil {
		err = applyNoSyncWait(pdb, gb)
	}
	db.builder.release()
	if err != nil {
		err = fmt.Errorf("log: group commit of %d batches: %w", len(g.reqs), err)
		db.markUnhealthy(err)
		db.answer(g, fmt.Errorf("%w: %v", ErrUnhealthy, err))
		turn <- struct{}{}
		return
	}
	// If the sync fails, recovery reads the origin sequence back from what
	// reached the disk.
	db.originSeq = origin
	g.gb, g.snap = gb, pdb.NewSnapshot()
	toSync <- g
}

// syncLoop waits for each applied group's fsync, in order.
func (db *DB) syncLoop(toSync <-chan *group, turn chan<- struct{}, synced chan<- struct{}) {
	defer close(synced)
	for g := range toSync {
		if err := syncWait(g.gb); err != nil {
			// Release the snapshot before recovery may close its Pebble.
			_ = g.snap.Close()
			err = fmt.Errorf("log: group commit of %d batches: %w", len(g.reqs), err)
			db.markUnhealthy(err)
			turn <- struct{}{}
			db.answer(g, fmt.Errorf("%w: %v", ErrUnhealthy, err))
			continue
		}
		_ = g.gb.Close()
		turn <- struct{}{}
		db.publishSnapshot(g.snap)
		db.commits.Add(1)
		db.committed.Add(uint64(len(g.reqs)))
		db.answer(g, nil)
	}
}

// answer answers every writer of g and reports the group.
func (db *DB) answer(g *group, err error) {
	for _, r := range g.reqs {
		r.done <- err // r may be reused as soon as this is received
	}
	if db.cfg.OnCommit != nil {
		db.cfg.OnCommit(CommitStats{Batches: len(g.reqs), Bytes: g.size, Duration: time.Since(g.start), Err: err})
	}
}

// applyNoSyncWait applies gb with a WAL sync requested and returns once it
// is in the memtable; syncWait waits for the fsync. Pebble reports commit
// failures through Logger.Fatalf, which our logger turns into a panic;
// both recover it into an error.
func applyNoSyncWait(pdb *pebble.DB, gb *pebble.Batch) (err error) {
	defer recoverFatal(&err)
	return pdb.ApplyNoSyncWait(gb, pebble.Sync)
}

func syncWait(gb *pebble.Batch) (err error) {
	defer recoverFatal(&err)
	return gb.SyncWait()
}

func recoverFatal(err *error) {
	if r := recover(); r != nil {
		if fe, ok := r.(*fatalError); ok {
			*err = fe
			return
		}
		*err = fmt.Errorf("panic in commit: %v", r)
	}
}
