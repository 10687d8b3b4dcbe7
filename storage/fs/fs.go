// Package fs is the default blob store: one file per object under a
// directory of the data dir. A Put streams into a temporary file (hashing
// as it goes), fsyncs it, and renames it into place, then fsyncs the
// directory, so an object is either wholly there and durable or absent.
// Keys are validated by storage.ValidKey, so they are plain relative paths
// of [0-9a-z] segments and never escape the root.
//
// Each file starts with a small header (magic, SHA-256, size, content
// type), so Stat reads one block and Get seeks past it: no sidecar files.
package fs

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/or3/syncd/storage"
)

var (
	_ storage.Store   = (*Store)(nil)
	_ storage.Sweeper = (*Store)(nil)
)

// magic starts every object file (format version 1).
var magic = [8]byte{'S', 'Y', 'N', 'C', 'D', 'B', '1', 0}

// Header layout: magic(8) | sha256(32) | size u64 | ctLen u16 | ct.
const (
	fixedHeader    = 8 + 32 + 8 + 2
	maxContentType = 1024
	copyBuf        = 1 << 20
)

// Store is a directory of objects.
type Store struct {
	root string
	tmp  string
	bufs sync.Pool
	// noWriteback turns startWriteback off (benchmarks compare).
	noWriteback bool
}

// Open returns a store rooted at dir, creating it (mode 0700).
func Open(dir string) (*Store, error) {
	tmp := filepath.Join(dir, ".tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("storage/fs: %w", err)
	}
	// Leftovers of Puts interrupted by a crash are garbage.
	if ents, err := os.ReadDir(tmp); err == nil {
		for _, e := range ents {
			_ = os.Remove(filepath.Join(tmp, e.Name())) // best effort: a leftover only costs space
		}
	}
	s := &Store{root: dir, tmp: tmp}
	s.bufs.New = func() any { b := make([]byte, copyBuf); return &b }
	return s, nil
}

func (s *Store) path(key string) (string, error) {
	if !storage.ValidKey(key) {
		return "", fmt.Errorf("%w: %q", storage.ErrInvalidKey, key)
	}
	return filepath.Join(s.root, filepath.FromSlash(key)), nil
}

// Put implements storage.Store.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, o storage.PutOptions) (obj storage.Object, err error) {
	p, err := s.path(key)
	if err != nil {
		return obj, err
	}
	if o.Size < 0 {
		return obj, fmt.Errorf("%w: negative size", storage.ErrSizeMismatch)
	}
	if len(o.ContentType) > maxContentType {
		return obj, fmt.Errorf("storage/fs: content type longer than %d bytes", maxContentType)
	}
	f, err := os.CreateTemp(s.tmp, "put-*")
	if err != nil {
		return obj, fmt.Errorf("storage/fs: %w", err)
	}
	tmpName := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmpName) // the object never became visible
		}
	}()
	hdr := make([]byte, fixedHeader+len(o.ContentType))
	copy(hdr, magic[:])
	binary.BigEndian.PutUint64(hdr[40:], uint64(o.Size))
	binary.BigEndian.PutUint16(hdr[48:], uint16(len(o.ContentType)))
	copy(hdr[fixedHeader:], o.ContentType)
	// The caller's SHA-256, when it gives one, goes into the header now:
	// the file becomes visible only if the bytes match it, and the first
	// page, long written back by the end, need not be written again.
	sumKnown := len(o.SHA256) == sha256.Size
	if sumKnown {
		copy(hdr[8:40], o.SHA256)
	}
	if _, err = f.Write(hdr); err != nil {
		return obj, fmt.Errorf("storage/fs: %w", err)
	}
	// Read, write and hash in a pipeline (copyHashed): the SHA-256 and
	// the file write of chunk i run while chunk i+1 is read, so the hash
	// costs little wall time beside the network and the disk.
	n, sum, err := s.copyHashed(ctx, f, int64(len(hdr)), r, o.Size)
	if err != nil {
		return obj, err
	}
	if n != o.Size {
		err = fmt.Errorf("%w: got %s bytes, want %d", storage.ErrSizeMismatch, gotBytes(n, o.Size), o.Size)
		return obj, err
	}
	if len(o.SHA256) > 0 && string(o.SHA256) != string(sum) {
		err = storage.ErrDigestMismatch
		return obj, err
	}
	if !sumKnown {
		if _, err = f.WriteAt(sum, 8); err != nil {
			return obj, fmt.Errorf("storage/fs: %w", err)
		}
	}
	if err = f.Sync(); err != nil {
		return obj, fmt.Errorf("storage/fs: fsync: %w", err)
	}
	if err = f.Close(); err != nil {
		return obj, fmt.Errorf("storage/fs: %w", err)
	}
	dir := filepath.Dir(p)
	if err = os.MkdirAll(dir, 0o700); err != nil {
		return obj, fmt.Errorf("storage/fs: %w", err)
	}
	if err = os.Rename(tmpName, p); err != nil {
		return obj, fmt.Errorf("storage/fs: %w", err)
	}
	if err = syncDir(dir); err != nil {
		return obj, err
	}
	return storage.Object{Key: key, Size: o.Size, ContentType: o.ContentType, SHA256: sum}, nil
}

// pipeDepth is the number of copyBuf-byte buffers one Put streams
// through (its memory, whatever the object's size).
const pipeDepth = 6

// writebackEvery: after this many more bytes are written, a Put asks the
// kernel to start writing them to disk (startWriteback), so a large
// object's final fsync does not have to write the whole file at once.
const writebackEvery = 4 << 20

// readaheadMin: a Get of at least this many bytes asks the kernel to read
// the whole range ahead (startReadahead).
const readaheadMin = 1 << 20

// chunk is one buffer of a Put: read once from the client, then written
// to the file and hashed at the same time; it is free again when both are
// done with it.
type chunk struct {
	buf  *[]byte
	n    int
	refs atomic.Int32
}

// copyHashed copies up to size+1 bytes of r into f after its base-byte
// header (one more than size, to notice a longer stream) and returns how
// many it copied and their SHA-256.
//
// Reading, writing and hashing overlap: this goroutine reads the next
// chunk from r while earlier ones are written to f by one goroutine and
// hashed by another (SHA-256 is the slowest step on a fast disk, so it
// must never wait for the disk or the network), and a fourth asks the
// kernel to write back what is already in f. A fixed ring of pipeDepth
// buffers bounds the memory.
func (s *Store) copyHashed(ctx context.Context, f *os.File, base int64, r io.Reader, size int64) (int64, []byte, error) {
	var ring [pipeDepth]chunk
	free := make(chan *chunk, pipeDepth)
	for i := range ring {
		ring[i].buf = s.bufs.Get().(*[]byte)
		free <- &ring[i]
	}
	release := func(c *chunk) {
		if c.refs.Add(-1) == 0 {
			free <- c
		}
	}
	toHash := make(chan *chunk, pipeDepth)
	toWrite := make(chan *chunk, pipeDepth)
	sumCh := make(chan []byte, 1)
	go func() {
		h := sha256.New()
		for c := range toHash {
			h.Write((*c.buf)[:c.n])
			release(c)
		}
		sumCh <- h.Sum(nil)
	}()
	var failed atomic.Bool // the writer gave up: stop reading
	werrCh := make(chan error, 1)
	go func() {
		wb := s.newWriteback(f, base)
		var werr error
		var written int64
		for c := range toWrite {
			if werr == nil {
				if _, err := f.Write((*c.buf)[:c.n]); err != nil {
					werr = fmt.Errorf("storage/fs: %w", err)
					failed.Store(true)
				} else {
					written += int64(c.n)
					wb.written(written)
				}
			}
			release(c)
		}
		wb.stop()
		werrCh <- werr
	}()
	src := &ctxReader{ctx: ctx, r: io.LimitReader(r, size+1)}
	var n int64
	var err error
	for !failed.Load() {
		c := <-free
		k, rerr := io.ReadFull(src, *c.buf)
		if k > 0 {
			c.n = k
			c.refs.Store(2)
			n += int64(k)
			toWrite <- c
			toHash <- c
		} else {
			free <- c
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			err = rerr
			break
		}
	}
	close(toWrite)
	close(toHash)
	werr := <-werrCh
	sum := <-sumCh
	for range ring {
		s.bufs.Put((<-free).buf)
	}
	if werr != nil {
		return n, sum, werr
	}
	return n, sum, err
}

// writeback starts the kernel writing a Put's file back while the Put
// still streams (startWriteback, from its own goroutine: the call can
// wait for the disk's queue, and the writer must not).
type writeback struct {
	off    bool
	upto   atomic.Int64 // data bytes in the file so far
	kicked int64        // upto at the last kick (the writer's own)
	kick   chan struct{}
	done   chan struct{}
}

func (s *Store) newWriteback(f *os.File, base int64) *writeback {
	w := &writeback{off: s.noWriteback, kick: make(chan struct{}, 1), done: make(chan struct{})}
	if w.off {
		return w
	}
	go func() {
		defer close(w.done)
		var flushed int64
		flush := func() {
			if u := w.upto.Load(); u > flushed {
				startWriteback(f, base+flushed, u-flushed)
				flushed = u
			}
		}
		for range w.kick {
			flush()
		}
		flush() // the tail: under way while the hash finishes
	}()
	return w
}

// written records that the first n data bytes are in the file; every
// writebackEvery bytes it wakes the writeback goroutine.
func (w *writeback) written(n int64) {
	if w.off {
		return
	}
	w.upto.Store(n)
	if n-w.kicked >= writebackEvery {
		w.kicked = n
		select {
		case w.kick <- struct{}{}:
		default: // a flush is pending; it will see upto
		}
	}
}

// stop ends the writeback goroutine once it has started the tail.
func (w *writeback) stop() {
	if w.off {
		return
	}
	close(w.kick)
	<-w.done
}

func gotBytes(n, want int64) string {
	if n > want {
		return "more than that"
	}
	return fmt.Sprint(n)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("storage/fs: %w", err)
	}
	defer func() { _ = d.Close() }() // read-only handle
	if err := d.Sync(); err != nil {
		return fmt.Errorf("storage/fs: fsync dir: %w", err)
	}
	return nil
}

// readHeader reads the object header of f.
func readHeader(f *os.File, key string) (storage.Object, int64, error) {
	br := bufio.NewReaderSize(f, 512)
	fixed := make([]byte, fixedHeader)
	if _, err := io.ReadFull(br, fixed); err != nil {
		return storage.Object{}, 0, fmt.Errorf("storage/fs: %s: corrupt header: %w", key, err)
	}
	if string(fixed[:8]) != string(magic[:]) {
		return storage.Object{}, 0, fmt.Errorf("storage/fs: %s: not an object file", key)
	}
	ctLen := int(binary.BigEndian.Uint16(fixed[48:]))
	if ctLen > maxContentType {
		return storage.Object{}, 0, fmt.Errorf("storage/fs: %s: corrupt header", key)
	}
	ct := make([]byte, ctLen)
	if _, err := io.ReadFull(br, ct); err != nil {
		return storage.Object{}, 0, fmt.Errorf("storage/fs: %s: corrupt header: %w", key, err)
	}
	return storage.Object{
		Key:         key,
		SHA256:      append([]byte(nil), fixed[8:40]...),
		Size:        int64(binary.BigEndian.Uint64(fixed[40:])),
		ContentType: string(ct),
	}, int64(fixedHeader + ctLen), nil
}

func (s *Store) open(key string) (*os.File, storage.Object, int64, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, storage.Object{}, 0, err
	}
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) || (err != nil && strings.Contains(err.Error(), "not a directory")) {
		return nil, storage.Object{}, 0, fmt.Errorf("%w: %s", storage.ErrNotFound, key)
	}
	if err != nil {
		return nil, storage.Object{}, 0, fmt.Errorf("storage/fs: %w", err)
	}
	obj, hlen, err := readHeader(f, key)
	if err != nil {
		_ = f.Close()
		return nil, obj, 0, err
	}
	return f, obj, hlen, nil
}

// Stat implements storage.Store.
func (s *Store) Stat(ctx context.Context, key string) (storage.Object, error) {
	f, obj, _, err := s.open(key)
	if err != nil {
		return obj, err
	}
	_ = f.Close() // read-only
	return obj, nil
}

// Get implements storage.Store. The reader is the file itself (an
// *os.File under a section), so serving it over HTTP can use sendfile.
func (s *Store) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, storage.Object, error) {
	f, obj, hlen, err := s.open(key)
	if err != nil {
		return nil, obj, err
	}
	if offset < 0 || offset > obj.Size {
		_ = f.Close()
		return nil, obj, fmt.Errorf("storage/fs: offset %d outside object of %d bytes", offset, obj.Size)
	}
	if length < 0 || offset+length > obj.Size {
		length = obj.Size - offset
	}
	if _, err := f.Seek(hlen+offset, io.SeekStart); err != nil {
		_ = f.Close()
		return nil, obj, fmt.Errorf("storage/fs: %w", err)
	}
	if length >= readaheadMin {
		startReadahead(f, hlen+offset, length)
	}
	return &fileReader{File: f, left: length}, obj, nil
}

// fileReader reads at most left bytes of f. It exposes WriteTo through
// io.Copy's ReaderFrom path on the destination (net/http's response
// writer uses sendfile for an *os.File source when it can see one; with
// a limit it falls back to a plain copy, which is still streaming).
type fileReader struct {
	*os.File
	left int64
}

func (r *fileReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := r.File.Read(p)
	r.left -= int64(n)
	if err == io.EOF && r.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// WriteTo lets io.Copy hand the file to a destination that implements
// ReadFrom (a TCP connection: sendfile) with the exact length.
func (r *fileReader) WriteTo(w io.Writer) (int64, error) {
	n, err := io.Copy(w, io.LimitReader(r.File, r.left))
	r.left -= n
	if err == nil && r.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// Delete implements storage.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); errors.Is(err, os.ErrNotExist) || (err != nil && strings.Contains(err.Error(), "not a directory")) {
		return nil
	} else if err != nil {
		return fmt.Errorf("storage/fs: %w", err)
	}
	return syncDir(filepath.Dir(p))
}

// SweepPartial implements storage.Sweeper: it removes the temporary files
// of Puts last written before `before` (interrupted by a crash or stalled
// by a client that stopped sending). A Put still running on a removed
// file fails at its rename; nothing half-written becomes visible.
func (s *Store) SweepPartial(ctx context.Context, before time.Time) (int, error) {
	ents, err := os.ReadDir(s.tmp)
	if err != nil {
		return 0, fmt.Errorf("storage/fs: %w", err)
	}
	n := 0
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		info, err := e.Info()
		if errors.Is(err, os.ErrNotExist) {
			continue // its Put finished or failed meanwhile
		} else if err != nil {
			return n, fmt.Errorf("storage/fs: %w", err)
		}
		if !info.Mode().IsRegular() || !info.ModTime().Before(before) {
			continue
		}
		if err := os.Remove(filepath.Join(s.tmp, e.Name())); err == nil {
			n++
		} else if !errors.Is(err, os.ErrNotExist) {
			return n, fmt.Errorf("storage/fs: %w", err)
		}
	}
	return n, nil
}

// ctxReader stops a copy when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
