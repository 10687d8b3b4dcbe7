package log

import (
	"fmt"
	"testing"
)

// TestOpen_BlockCacheHoldsBlocks guards against the block cache being
// sized away: Pebble charges memtables to it, so a cache no larger than
// the memtables caches nothing and every read goes to disk.
func TestOpen_BlockCacheHoldsBlocks(t *testing.T) {
	db, err := Open(Config{Dir: t.TempDir(), Logger: quietLogger(), MemTableSize: 64 << 20, CacheSize: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pdb := db.Pebble()
	val := make([]byte, 1000)
	for i := 0; i < 50_000; i += 1000 {
		b := pdb.NewBatch()
		for j := i; j < i+1000; j++ {
			_ = b.Set(fmt.Appendf(nil, "k%08d", j), val, nil)
		}
		if err := b.Commit(nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := pdb.Flush(); err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 2; round++ {
		for i := 0; i < 50_000; i += 97 {
			_, c, err := pdb.Get(fmt.Appendf(nil, "k%08d", i))
			if err != nil {
				t.Fatal(err)
			}
			_ = c.Close()
		}
	}
	m := pdb.Metrics().BlockCache
	if m.Count == 0 || m.Hits <= m.Misses {
		t.Fatalf("block cache holds %d blocks, %d hits, %d misses: reads are not cached", m.Count, m.Hits, m.Misses)
	}
}
