package log

import (
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
)

// View is a durable read view: a Pebble snapshot taken right after a synced
// group commit returned, so it holds every acknowledged write and nothing
// that is not yet durable. Views are reference counted; every View
// returned by DB.View must be Released.
type View struct {
	snap *pebble.Snapshot
	refs atomic.Int32
	// Seq counts the group commits the view includes; it grows with every
	// published view.
	Seq uint64
}

// publish takes a new view of pdb and makes it current. Open and recovery
// call it while nothing commits: everything Pebble holds is durable.
func (db *DB) publish(pdb *pebble.DB) { db.publishSnapshot(pdb.NewSnapshot()) }

// publishSnapshot makes snap the current view. The committer calls it once
// the fsync of every write snap holds has returned.
func (db *DB) publishSnapshot(snap *pebble.Snapshot) {
	v := &View{snap: snap, Seq: db.commits.Load() + 1}
	v.refs.Store(1) // the DB's own reference
	if old := db.view.Swap(v); old != nil {
		old.Release()
	}
}

// View returns the current durable read view with a reference the caller
// must Release. It returns nil while the store is closed or recovering.
func (db *DB) View() *View {
	for {
		v := db.view.Load()
		if v == nil {
			return nil
		}
		if v.tryRef() {
			return v
		}
		// v was released between Load and tryRef; a newer view is current.
	}
}

func (v *View) tryRef() bool {
	for {
		n := v.refs.Load()
		if n <= 0 {
			return false
		}
		if v.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// Ref adds a reference (for a session that outlives the request that took
// the view, such as a snapshot bootstrap).
func (v *View) Ref() *View {
	v.refs.Add(1)
	return v
}

// Release drops a reference; the snapshot closes with the last one.
func (v *View) Release() {
	if v.refs.Add(-1) == 0 {
		_ = v.snap.Close()
	}
}

// Get returns a copy of the value at key, or nil when absent.
func (v *View) Get(key []byte) ([]byte, error) { return getCopy(v.snap, key) }

// NewIter iterates keys in [lower, upper).
func (v *View) NewIter(lower, upper []byte) (*pebble.Iterator, error) {
	return v.snap.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
}

var _ Reader = (*View)(nil)
