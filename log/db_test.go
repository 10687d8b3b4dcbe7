package log

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func mustOpen(t testing.TB, cfg Config) *DB {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	if cfg.MemTableSize == 0 {
		cfg.MemTableSize = 4 << 20
	}
	db, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func testKey(s string) []byte { return NewKey(PrefixTest).Raw(s) }

func commitKV(t testing.TB, db *DB, kv ...string) error {
	t.Helper()
	b := db.NewBatch()
	defer b.Close()
	for i := 0; i+1 < len(kv); i += 2 {
		if err := b.Set(testKey(kv[i]), []byte(kv[i+1])); err != nil {
			t.Fatal(err)
		}
	}
	return db.Commit(context.Background(), b)
}

func viewGet(t testing.TB, db *DB, k string) []byte {
	t.Helper()
	v := db.View()
	if v == nil {
		t.Fatal("no view")
	}
	defer v.Release()
	val, err := v.Get(testKey(k))
	if err != nil {
		t.Fatal(err)
	}
	return val
}

func TestCommit_VisibleInViewAfterAck(t *testing.T) {
	db := mustOpen(t, Config{})
	if got := viewGet(t, db, "a"); got != nil {
		t.Fatalf("empty store has a = %q", got)
	}
	if err := commitKV(t, db, "a", "1", "b", "2"); err != nil {
		t.Fatal(err)
	}
	if got := viewGet(t, db, "a"); string(got) != "1" {
		t.Fatalf("a = %q, want 1", got)
	}
	// A view taken before a later commit keeps its point in time.
	old := db.View()
	defer old.Release()
	if err := commitKV(t, db, "a", "3"); err != nil {
		t.Fatal(err)
	}
	if v, _ := old.Get(testKey("a")); string(v) != "1" {
		t.Fatalf("old view a = %q, want 1", v)
	}
	if got := viewGet(t, db, "a"); string(got) != "3" {
		t.Fatalf("a = %q, want 3", got)
	}
}

func TestCommit_ReopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	db := mustOpen(t, Config{Dir: dir})
	if err := commitKV(t, db, "k", "v"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db2 := mustOpen(t, Config{Dir: dir})
	if got := viewGet(t, db2, "k"); string(got) != "v" {
		t.Fatalf("after reopen k = %q", got)
	}
}

func TestCommit_ConcurrentWritersShareFsyncs(t *testing.T) {
	db := mustOpen(t, Config{})
	const writers, each = 32, 20
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := commitKV(t, db, fmt.Sprintf("w%d/%d", w, i), "x"); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	v := db.View()
	defer v.Release()
	for w := 0; w < writers; w++ {
		for i := 0; i < each; i++ {
			if val, _ := v.Get(testKey(fmt.Sprintf("w%d/%d", w, i))); val == nil {
				t.Fatalf("missing w%d/%d", w, i)
			}
		}
	}
	groups, batches := db.Stats()
	if batches != writers*each {
		t.Fatalf("batches = %d", batches)
	}
	t.Logf("%d batches in %d group commits", batches, groups)
	if groups >= batches {
		t.Fatalf("no grouping happened: %d groups for %d batches", groups, batches)
	}
}

// TestView_NeverShowsUnsyncedWrite holds the WAL fsync while a batch
// commits: Pebble's live view shows the batch, the durable view must not,
// until the commit returns.
func TestView_NeverShowsUnsyncedWrite(t *testing.T) {
	fs := &walFS{FS: vfs.NewMem()}
	db := mustOpen(t, Config{Dir: "db", FS: fs})
	fs.hold()
	done := make(chan error, 1)
	go func() { done <- commitKV(t, db, "pending", "x") }()

	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err := db.Live().Get(testKey("pending"))
		if err != nil {
			t.Fatal(err)
		}
		if v != nil {
			break // the live view shows the write before its sync: the hazard exists
		}
		if time.Now().After(deadline) {
			t.Fatal("write never became visible in the live view")
		}
		time.Sleep(time.Millisecond)
	}
	for i := 0; i < 50; i++ {
		if got := viewGet(t, db, "pending"); got != nil {
			t.Fatal("durable view shows a write whose fsync has not returned")
		}
		select {
		case err := <-done:
			t.Fatalf("commit returned before its sync: %v", err)
		default:
		}
		time.Sleep(time.Millisecond)
	}
	fs.release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := viewGet(t, db, "pending"); string(got) != "x" {
		t.Fatalf("after ack pending = %q", got)
	}
}

// TestCommit_SyncFailureFailsGroupAndRecovers fails the WAL fsync: every
// waiter of the group fails, nothing is published, the store is unhealthy,
// and once the fault clears it recovers without a restart.
func TestCommit_SyncFailureFailsGroupAndRecovers(t *testing.T) {
	fs := &walFS{FS: vfs.NewMem()}
	db := mustOpen(t, Config{Dir: "db", FS: fs, RecoverEvery: 20 * time.Millisecond})
	if err := commitKV(t, db, "before", "1"); err != nil {
		t.Fatal(err)
	}
	fs.fail.Store(true)
	err := commitKV(t, db, "bad1", "x", "bad2", "y")
	if !errors.Is(err, ErrUnhealthy) {
		t.Fatalf("commit with failing sync: err = %v, want ErrUnhealthy", err)
	}
	if db.Healthy() == nil {
		t.Fatal("store healthy after a failed sync")
	}
	if err := commitKV(t, db, "during", "1"); !errors.Is(err, ErrUnhealthy) {
		t.Fatalf("commit while unhealthy: %v", err)
	}
	if v := db.View(); v != nil {
		if got, _ := v.Get(testKey("bad1")); got != nil {
			t.Fatal("failed batch visible")
		}
		v.Release()
	}
	fs.fail.Store(false)
	deadline := time.Now().Add(10 * time.Second)
	for db.Healthy() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("store did not recover: %v", db.Healthy())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := commitKV(t, db, "after", "1"); err != nil {
		t.Fatal(err)
	}
	if string(viewGet(t, db, "before")) != "1" || string(viewGet(t, db, "after")) != "1" {
		t.Fatal("acknowledged writes lost across recovery")
	}
	// The failed batch is all or nothing.
	b1, b2 := viewGet(t, db, "bad1"), viewGet(t, db, "bad2")
	if (b1 == nil) != (b2 == nil) {
		t.Fatalf("failed batch half applied: bad1=%q bad2=%q", b1, b2)
	}
}

func TestCommit_OverloadedWhenQueueFull(t *testing.T) {
	fs := &walFS{FS: vfs.NewMem()}
	db := mustOpen(t, Config{Dir: "db", FS: fs, QueueSize: 2})
	fs.hold()
	var wg sync.WaitGroup
	results := make(chan error, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results <- commitKV(t, db, fmt.Sprintf("k%d", i), "v")
		}()
	}
	// Wait until some commits are refused, then let the rest through.
	var overloaded, ok int
	deadline := time.After(10 * time.Second)
	for overloaded == 0 {
		select {
		case err := <-results:
			if errors.Is(err, ErrOverloaded) {
				overloaded++
			} else if err == nil {
				ok++
			} else {
				t.Fatal(err)
			}
		case <-deadline:
			t.Fatal("queue never reported overload")
		}
	}
	fs.release()
	wg.Wait()
	close(results)
	for err := range results {
		if errors.Is(err, ErrOverloaded) {
			overloaded++
		} else if err == nil {
			ok++
		} else {
			t.Fatal(err)
		}
	}
	if overloaded+ok != 20 || ok == 0 {
		t.Fatalf("ok=%d overloaded=%d", ok, overloaded)
	}
}

func TestCommit_AfterCloseFails(t *testing.T) {
	db := mustOpen(t, Config{})
	db.Close()
	if err := commitKV(t, db, "a", "b"); !errors.Is(err, ErrClosed) {
		t.Fatalf("err = %v", err)
	}
}

func TestOrigin_GapFreeInCommitOrder(t *testing.T) {
	dir := t.TempDir()
	db := mustOpen(t, Config{Dir: dir})
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				b := db.NewBatch()
				for j := 0; j < 2; j++ {
					if err := b.AppendEvent(SystemKey(db.NextSystemSeq()), &SystemEvent{Type: "test"}); err != nil {
						t.Error(err)
					}
				}
				if err := db.Commit(context.Background(), b); err != nil {
					t.Error(err)
				}
				b.Close()
			}
		}()
	}
	wg.Wait()
	db.Close()
	db = mustOpen(t, Config{Dir: dir})
	v := db.View()
	defer v.Release()
	it, _ := v.NewIter([]byte{PrefixOrigin}, []byte{PrefixOrigin + 1})
	defer it.Close()
	want := uint64(1)
	seen := map[string]bool{}
	for ok := it.First(); ok; ok = it.Next() {
		r := ReadKey(it.Key())
		if got := r.U64(); got != want {
			t.Fatalf("origin seq %d, want %d", got, want)
		}
		if seen[string(it.Value())] {
			t.Fatalf("event %q numbered twice", it.Value())
		}
		seen[string(it.Value())] = true
		want++
	}
	if want-1 != 400 {
		t.Fatalf("%d origin entries, want 400", want-1)
	}
	// The origin sequence continues after reopen.
	b := db.NewBatch()
	b.AppendEvent(SystemKey(db.NextSystemSeq()), &SystemEvent{Type: "test"})
	if err := db.Commit(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	b.Close()
	v2 := db.View()
	defer v2.Release()
	if val, _ := v2.Get(OriginKey(401)); val == nil {
		t.Fatal("origin seq did not continue at 401")
	}
}

// TestCrash_AcknowledgedBatchesSurvive runs concurrent writers on Pebble's
// crashable in-memory filesystem and takes crash clones at random moments:
// every batch acknowledged before the clone is in it, and every batch is
// all or nothing.
func TestCrash_AcknowledgedBatchesSurvive(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	for round := 0; round < 4; round++ {
		fs := vfs.NewCrashableMem()
		db := mustOpen(t, Config{Dir: "db", FS: fs})
		const writers, keysPerBatch = 8, 4
		var mu sync.Mutex
		acked := map[string]bool{} // batch id → acknowledged
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					id := fmt.Sprintf("w%d-%d", w, i)
					kv := make([]string, 0, 2*keysPerBatch)
					for k := 0; k < keysPerBatch; k++ {
						kv = append(kv, fmt.Sprintf("%s/%d", id, k), id)
					}
					if err := commitKV(t, db, kv...); err != nil {
						return
					}
					mu.Lock()
					acked[id] = true
					mu.Unlock()
				}
			}()
		}
		var clones []*vfs.MemFS
		var ackedBefore []map[string]bool
		for c := 0; c < 3; c++ {
			time.Sleep(time.Duration(5+rng.IntN(30)) * time.Millisecond)
			mu.Lock()
			snap := make(map[string]bool, len(acked))
			for k := range acked {
				snap[k] = true
			}
			mu.Unlock()
			clones = append(clones, fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: rng.IntN(100), RNG: rand.New(rand.NewPCG(rng.Uint64(), 2))}))
			ackedBefore = append(ackedBefore, snap)
		}
		close(stop)
		wg.Wait()
		db.Close()
		for i, clone := range clones {
			cdb := mustOpen(t, Config{Dir: "db", FS: clone})
			v := cdb.View()
			present := map[string]int{}
			it, _ := v.NewIter([]byte{PrefixTest}, []byte{PrefixTest + 1})
			for ok := it.First(); ok; ok = it.Next() {
				present[string(it.Value())]++
			}
			it.Close()
			v.Release()
			for id := range ackedBefore[i] {
				if present[id] != keysPerBatch {
					t.Fatalf("round %d clone %d: acknowledged batch %s has %d/%d keys", round, i, id, present[id], keysPerBatch)
				}
			}
			for id, n := range present {
				if n != keysPerBatch {
					t.Fatalf("round %d clone %d: batch %s half applied (%d/%d keys)", round, i, id, n, keysPerBatch)
				}
			}
			cdb.Close()
		}
	}
}
