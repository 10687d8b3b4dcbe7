package fs_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
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
