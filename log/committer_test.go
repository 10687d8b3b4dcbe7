package log

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestCommit_GathersNextGroupDuringFsync holds a group's WAL fsync while
// more writers commit: none of their batches reaches Pebble (one fsync in
// flight, nothing written behind it), and once the fsync returns they all
// go out together in the next group.
func TestCommit_GathersNextGroupDuringFsync(t *testing.T) {
	fs := &walFS{FS: vfs.NewMem()}
	var mu sync.Mutex
	var groups []int
	db := mustOpen(t, Config{Dir: "db", FS: fs, OnCommit: func(s CommitStats) {
		mu.Lock()
		groups = append(groups, s.Batches)
		mu.Unlock()
	}})
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting until %s", what)
			}
		}
	}

	fs.hold()
	errs := make(chan error, 11)
	go func() { errs <- commitKV(t, db, "first", "1") }()
	waitFor("the first group syncs", func() bool { return fs.syncing.Load() == 1 })
	const writers = 10
	for i := range writers {
		go func() { errs <- commitKV(t, db, fmt.Sprintf("k%d", i), "v") }()
	}
	waitFor("every writer waits for the committer", func() bool { return db.waiting.Load() == writers })
	for i := range writers {
		if v, err := db.Live().Get(testKey(fmt.Sprintf("k%d", i))); err != nil || v != nil {
			t.Fatalf("k%d reached Pebble while the previous fsync was in flight (%q, %v)", i, v, err)
		}
	}
	if n := fs.syncing.Load(); n != 1 {
		t.Fatalf("%d WAL syncs in flight, want 1", n)
	}
	fs.release()
	for range writers + 1 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(groups, []int{1, writers}) {
		t.Fatalf("groups of %v batches, want [1 %d]", groups, writers)
	}
}
