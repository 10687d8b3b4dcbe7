package baseline

import (
	"fmt"
	"os"
	"time"
)

// DefaultBlockSize is the append size FsyncAppend uses when given 0: one
// page, the smallest write a disk turns into a durable sector update.
const DefaultBlockSize = 4096

// FsyncAppend appends size-byte blocks (DefaultBlockSize when size is 0) to
// a fresh file in dir and fsyncs after each append, n times or until d has
// elapsed, whichever comes first (0 ignores either, not both). It is the
// floor under every acknowledged write: a syncd commit cannot be cheaper
// than one of these, and group commit is how syncd amortises it.
//
// Ops and Commits count appends, Bytes the bytes appended, Latencies one
// write+fsync each. The file grows with every append, so each fsync also
// persists the new size, as a WAL's does; the file is removed afterwards.
func FsyncAppend(dir string, size int, n int, d time.Duration) (Result, error) {
	if size == 0 {
		size = DefaultBlockSize
	}
	if size < 0 {
		return Result{}, fmt.Errorf("%w: size = %d is negative", ErrInvalid, size)
	}
	f, err := os.CreateTemp(dir, "fsync-append-*")
	if err != nil {
		return Result{}, fmt.Errorf("baseline: fsync append: %w", err)
	}
	defer func() {
		_ = f.Close() // error irrelevant: the file is scratch and removed next
		_ = os.Remove(f.Name())
	}()

	block := randomBytes(size, 1)
	lat := NewHistogram()
	b, err := newBound(n, d)
	if err != nil {
		return Result{}, err
	}
	var ops int64
	start := time.Now()
	for b.claim() {
		t := time.Now()
		if _, err := f.Write(block); err != nil {
			return Result{}, fmt.Errorf("baseline: fsync append: %w", err)
		}
		if err := f.Sync(); err != nil {
			return Result{}, fmt.Errorf("baseline: fsync append: %w", err)
		}
		lat.Record(time.Since(t))
		ops++
	}
	elapsed := time.Since(start)
	return Result{
		Name:      fmt.Sprintf("fsync-append-%s", sizeName(size)),
		Ops:       ops,
		Bytes:     ops * int64(size),
		Commits:   ops,
		Elapsed:   elapsed,
		Latencies: lat,
	}, nil
}
