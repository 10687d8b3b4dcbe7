package baseline

import (
	"fmt"
	"io"
	"os"
	"time"
)

// DefaultChunk is the write and read size SeqWriteRead uses when given 0.
const DefaultChunk = 1 << 20

// SeqWriteRead writes a file of size bytes into dir in chunk-byte writes
// (DefaultChunk when 0) and fsyncs it once at the end, then reads it back
// sequentially in chunk-byte reads, and removes it. It is the ceiling for
// backups and blob storage. The write Result's Elapsed includes the fsync:
// a blob is not stored until it is durable.
//
// Dropping the whole page cache needs root, so before reading SeqWriteRead
// asks the kernel to evict just this file's pages (posix_fadvise
// DONTNEED, which works for any clean file where supported, i.e. Linux).
// read.Note says which happened: "cold" when the eviction was asked for,
// "warm" when the read came straight after the write and so, most likely,
// from memory — then it measures memory bandwidth, not the disk. On a
// virtual machine the host may cache the file even when the guest does not.
func SeqWriteRead(dir string, size int64, chunk int) (write, read Result, err error) {
	if chunk == 0 {
		chunk = DefaultChunk
	}
	switch {
	case size <= 0:
		return Result{}, Result{}, fmt.Errorf("%w: bytes = %d", ErrInvalid, size)
	case chunk < 0:
		return Result{}, Result{}, fmt.Errorf("%w: chunk = %d", ErrInvalid, chunk)
	}
	f, err := os.CreateTemp(dir, "seq-write-read-*")
	if err != nil {
		return Result{}, Result{}, fmt.Errorf("baseline: seq write: %w", err)
	}
	path := f.Name()
	defer func() { _ = os.Remove(path) }() // scratch file; a leftover is harmless

	write, err = seqWrite(f, size, chunk)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return Result{}, Result{}, fmt.Errorf("baseline: seq write: %w", err)
	}
	read, err = seqRead(path, chunk)
	if err != nil {
		return Result{}, Result{}, fmt.Errorf("baseline: seq read: %w", err)
	}
	if read.Bytes != size {
		return Result{}, Result{}, fmt.Errorf("baseline: seq read: read %d bytes, wrote %d", read.Bytes, size)
	}
	name := sizeName(chunk)
	write.Name = "seq-write-fsync-" + name
	read.Name = "seq-read-" + name
	return write, read, nil
}

func seqWrite(f *os.File, size int64, chunk int) (Result, error) {
	buf := randomBytes(chunk, 3)
	var written, ops int64
	start := time.Now()
	for written < size {
		p := buf[:min(int64(chunk), size-written)]
		if _, err := f.Write(p); err != nil {
			return Result{}, err
		}
		written += int64(len(p))
		ops++
	}
	if err := f.Sync(); err != nil {
		return Result{}, err
	}
	return Result{Ops: ops, Bytes: written, Elapsed: time.Since(start)}, nil
}

func seqRead(path string, chunk int) (Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return Result{}, err
	}
	defer func() { _ = f.Close() }() // read-only: nothing to lose
	note := "warm: read from page cache"
	if evictCache(f) == nil {
		note = "cold: file evicted from page cache"
	}
	buf := make([]byte, chunk)
	var total, ops int64
	start := time.Now()
	for {
		n, err := f.Read(buf)
		total += int64(n)
		if n > 0 {
			ops++
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return Result{}, err
		}
	}
	return Result{Ops: ops, Bytes: total, Elapsed: time.Since(start), Note: note}, nil
}
