package fs_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"
	"time"

	"github.com/or3/syncd/storage"
	"github.com/or3/syncd/storage/fs"
	"github.com/or3/syncd/storage/storagetest"
)

func TestStore_Conformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		s, err := fs.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestOpen_RemovesInterruptedPuts(t *testing.T) {
	dir := t.TempDir()
	if _, err := fs.Open(dir); err != nil {
		t.Fatal(err)
	}
	left := filepath.Join(dir, ".tmp", "put-123")
	if err := os.WriteFile(left, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Open(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(left); !os.IsNotExist(err) {
		t.Fatalf("leftover temp file survived Open: %v", err)
	}
}

// blockingReader yields first, then waits for release and fails with err
// (nil: EOF after rest).
type blockingReader struct {
	first, rest []byte
	started     chan struct{}
	release     chan struct{}
	stage       int
}

func (b *blockingReader) Read(p []byte) (int, error) {
	switch b.stage {
	case 0:
		b.stage++
		n := copy(p, b.first)
		return n, nil
	case 1:
		close(b.started)
		<-b.release
		b.stage++
		n := copy(p, b.rest)
		return n, nil
	}
	return 0, io.EOF
}

// TestSweepPartial_StalledPut: the temp file of a Put whose client stopped
// sending is removed once the sweep's cutoff (a test clock, no sleeps)
// passes its last write; the Put then fails and stores nothing. A cutoff
// before the last write keeps it.
func TestSweepPartial_StalledPut(t *testing.T) {
	dir := t.TempDir()
	s, err := fs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	data := storagetest.Bytes(3<<20, 5)
	r := &blockingReader{first: data[:1<<20], rest: data[1<<20:], started: make(chan struct{}), release: make(chan struct{})}
	key := storagetest.Key(t, "stalled")
	done := make(chan error, 1)
	go func() {
		_, err := s.Put(ctx, key, r, storage.PutOptions{Size: int64(len(data)), ContentType: "image/png"})
		done <- err
	}()
	<-r.started
	tmp := func() int {
		ents, err := os.ReadDir(filepath.Join(dir, ".tmp"))
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	if tmp() != 1 {
		t.Fatalf("%d temp files while a Put is running, want 1", tmp())
	}
	now := time.Now()
	if n, err := s.SweepPartial(ctx, now.Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("sweep with a cutoff before the Put: %d, %v; want 0", n, err)
	}
	if tmp() != 1 {
		t.Fatal("a young temp file was swept")
	}
	if n, err := s.SweepPartial(ctx, now.Add(2*time.Hour)); err != nil || n != 1 {
		t.Fatalf("sweep with a cutoff after the Put's last write: %d, %v; want 1", n, err)
	}
	if tmp() != 0 {
		t.Fatal("the stalled temp file survived the sweep")
	}
	close(r.release)
	if err := <-done; err == nil {
		t.Fatal("a Put whose temp file was swept succeeded")
	}
	if _, err := s.Stat(ctx, key); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("object visible after its swept Put: %v", err)
	}
	// The store still works.
	if _, err := s.Put(ctx, key, bytes.NewReader(data), storage.PutOptions{Size: int64(len(data)), ContentType: "image/png"}); err != nil {
		t.Fatal(err)
	}
}

// tmpCount is the number of temporary files under the store's .tmp.
func tmpCount(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, ".tmp"))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// failingReader yields the bytes of r and then fails with err.
type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

// TestPut_Pipeline: objects spanning many of Put's buffers and writeback
// intervals, fed in short uneven reads, with and without the caller's
// digest, come back byte for byte with the right digest; every failure
// (a stream longer than declared, a wrong digest, a reader error, each
// several buffers in) stores nothing and leaves no temporary file.
func TestPut_Pipeline(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := fs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i, size := range []int{0, 1, 1 << 20, 1<<20 + 1, 9<<20 + 12345} {
		for _, withSum := range []bool{true, false} {
			data := storagetest.Bytes(size, uint64(i))
			want := sha256.Sum256(data)
			opts := storage.PutOptions{Size: int64(size), ContentType: "application/pdf"}
			if withSum {
				opts.SHA256 = want[:]
			}
			key := storagetest.Key(t, fmt.Sprint("p", i))
			obj, err := s.Put(ctx, key, iotest.HalfReader(bytes.NewReader(data)), opts)
			if err != nil {
				t.Fatalf("size %d (digest given: %v): %v", size, withSum, err)
			}
			if !bytes.Equal(obj.SHA256, want[:]) {
				t.Fatalf("size %d: Put digest %x, want %x", size, obj.SHA256, want)
			}
			st, err := s.Stat(ctx, key)
			if err != nil || st.Size != int64(size) || !bytes.Equal(st.SHA256, want[:]) {
				t.Fatalf("size %d: Stat %+v, %v", size, st, err)
			}
			rc, _, err := s.Get(ctx, key, 0, -1)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			_ = rc.Close()
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("size %d: read back %d bytes (%v), differ", size, len(got), err)
			}
		}
	}
	const size = 9<<20 + 7
	data := storagetest.Bytes(size+3<<20, 99)
	sum := sha256.Sum256(data[:size])
	boom := errors.New("client went away")
	for _, tc := range []struct {
		name    string
		r       io.Reader
		sum     []byte
		wantErr error
	}{
		{"longer", bytes.NewReader(data), sum[:], storage.ErrSizeMismatch},
		{"wrong digest", bytes.NewReader(data[1 : size+1]), sum[:], storage.ErrDigestMismatch},
		{"reader error", &failingReader{r: bytes.NewReader(data[:5<<20]), err: boom}, sum[:], boom},
		{"shorter", bytes.NewReader(data[:size-1]), nil, storage.ErrSizeMismatch},
	} {
		key := storagetest.Key(t, "bad")
		_, err := s.Put(ctx, key, tc.r, storage.PutOptions{Size: size, ContentType: "application/pdf", SHA256: tc.sum})
		if !errors.Is(err, tc.wantErr) {
			t.Fatalf("%s: %v, want %v", tc.name, err, tc.wantErr)
		}
		if _, err := s.Stat(ctx, key); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("%s: object visible after a failed Put: %v", tc.name, err)
		}
		if n := tmpCount(t, dir); n != 0 {
			t.Fatalf("%s: %d temporary files left", tc.name, n)
		}
	}
}

// TestPut_Canceled: a Put whose context ends while it streams fails with
// the context's error and stores nothing.
func TestPut_Canceled(t *testing.T) {
	dir := t.TempDir()
	s, err := fs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	data := storagetest.Bytes(8<<20, 3)
	ctx, cancel := context.WithCancel(context.Background())
	r := &blockingReader{first: data[:1<<20], rest: data[1<<20:], started: make(chan struct{}), release: make(chan struct{})}
	done := make(chan error, 1)
	key := storagetest.Key(t, "canceled")
	go func() {
		_, err := s.Put(ctx, key, r, storage.PutOptions{Size: int64(len(data)), ContentType: "image/png"})
		done <- err
	}()
	<-r.started
	cancel()
	close(r.release)
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Put after cancel: %v, want context.Canceled", err)
	}
	if _, err := s.Stat(context.Background(), key); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("object visible after a canceled Put: %v", err)
	}
	if n := tmpCount(t, dir); n != 0 {
		t.Fatalf("%d temporary files left", n)
	}
}
