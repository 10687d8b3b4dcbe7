package fs_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/or3/syncd/bench/baseline"
	"github.com/or3/syncd/storage"
	"github.com/or3/syncd/storage/fs"
	"github.com/or3/syncd/storage/storagetest"
)

// rawDurable writes data to a new file in dir in 1 MiB writes, fsyncs it,
// renames it and fsyncs the directory: the disk work Put does (the same
// fsync count), with no hashing.
func rawDurable(dir string, data []byte, name string) (time.Duration, error) {
	start := time.Now()
	f, err := os.CreateTemp(dir, "raw-*")
	if err != nil {
		return 0, err
	}
	for off := 0; off < len(data); off += 1 << 20 {
		if _, err := f.Write(data[off:min(off+1<<20, len(data))]); err != nil {
			return 0, err
		}
	}
	if err := f.Sync(); err != nil {
		return 0, err
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, name)); err != nil {
		return 0, err
	}
	d, err := os.Open(dir)
	if err != nil {
		return 0, err
	}
	defer func() { _ = d.Close() }()
	if err := d.Sync(); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// BenchmarkPut_64MiB: fs.Store.Put of 64 MiB (SHA-256 while writing, one
// fsync of the file and one of the directory) beside, in the same run and
// interleaved, the same bytes written raw with the same fsyncs and no
// hashing (baseline), Put with its early writeback turned off, and the
// SHA-256 of the bytes alone (Put cannot beat whichever of the hash and
// the raw write is slower).
func BenchmarkPut_64MiB(b *testing.B) {
	const size = 64 << 20
	dir := b.TempDir()
	s, err := fs.Open(filepath.Join(dir, "store"))
	if err != nil {
		b.Fatal(err)
	}
	data := storagetest.Bytes(size, 7)
	sum := sha256.Sum256(data)
	opts := storage.PutOptions{Size: size, ContentType: "application/pdf", SHA256: sum[:]}
	var raw, put, putNoWB, hash time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Rotate the order, so whatever one leaves behind (dirty pages
		// of others on a shared disk) does not always land on the same one.
		start := time.Now()
		_ = sha256.Sum256(data)
		hash += time.Since(start)
		for j := 0; j < 3; j++ {
			switch (i + j) % 3 {
			case 0:
				d, err := rawDurable(dir, data, "raw")
				if err != nil {
					b.Fatal(err)
				}
				raw += d
			case 1, 2:
				wb := (i+j)%3 == 1
				fs.SetWriteback(s, wb)
				start := time.Now()
				if _, err := s.Put(context.Background(), "k/obj", bytes.NewReader(data), opts); err != nil {
					b.Fatal(err)
				}
				if wb {
					put += time.Since(start)
				} else {
					putNoWB += time.Since(start)
				}
			}
		}
	}
	b.StopTimer()
	n := int64(b.N)
	base := baseline.Result{Name: "raw write+fsync+rename+fsync-dir 64MiB", Ops: n, Bytes: n * size, Elapsed: raw}
	baseline.Report(os.Stdout, "fs Put", baseline.Result{Name: "fs.Store.Put 64MiB (sha256 + early writeback)", Ops: n, Bytes: n * size, Elapsed: put}, base)
	baseline.Report(os.Stdout, "fs Put, no early writeback", baseline.Result{Name: "fs.Store.Put 64MiB (sha256, writeback only at fsync)", Ops: n, Bytes: n * size, Elapsed: putNoWB}, base)
	baseline.Report(os.Stdout, "sha256 alone", baseline.Result{Name: "sha256 of 64MiB in memory (one core)", Ops: n, Bytes: n * size, Elapsed: hash}, base)
	b.ReportMetric(baseline.Ratio(float64(raw), float64(put)), "put-x-baseline")
	b.ReportMetric(baseline.Ratio(float64(raw), float64(putNoWB)), "put-nowb-x-baseline")
}
