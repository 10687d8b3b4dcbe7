// Package storagetest is the behavioural suite every storage.Store passes
// (litestream's replica-client suite is the model): run it from each
// backend's tests with a fresh store.
package storagetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/or3/syncd/storage"
)

// Key returns a valid, unique-per-test key.
func Key(t testing.TB, name string) string {
	sum := sha256.Sum256([]byte(t.Name() + "/" + name))
	return fmt.Sprintf("t%x/%x", sum[:4], sum[4:])
}

// Bytes returns n deterministic pseudo-random bytes.
func Bytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func digest(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

// Run runs the suite against the store newStore returns (called once per
// subtest, so each may start empty).
func Run(t *testing.T, newStore func(t *testing.T) storage.Store) {
	ctx := context.Background()

	t.Run("PutGetStat", func(t *testing.T) {
		s := newStore(t)
		data := Bytes(100_000, 1)
		key := Key(t, "a")
		obj, err := s.Put(ctx, key, bytes.NewReader(data), storage.PutOptions{Size: int64(len(data)), ContentType: "image/png", SHA256: digest(data)})
		if err != nil {
			t.Fatalf("Put: %v", err)
		}
		if obj.Size != int64(len(data)) || obj.Key != key {
			t.Fatalf("Put answered %+v", obj)
		}
		st, err := s.Stat(ctx, key)
		if err != nil {
			t.Fatalf("Stat: %v", err)
		}
		if st.Size != int64(len(data)) || st.ContentType != "image/png" {
			t.Fatalf("Stat = size %d type %q", st.Size, st.ContentType)
		}
		if st.SHA256 != nil && !bytes.Equal(st.SHA256, digest(data)) {
			t.Fatalf("Stat digest %x, want %x", st.SHA256, digest(data))
		}
		got := readAll(t, s, key, 0, -1)
		if !bytes.Equal(got, data) {
			t.Fatalf("Get returned %d bytes that differ from the %d put", len(got), len(data))
		}
	})

	t.Run("EmptyObject", func(t *testing.T) {
		s := newStore(t)
		key := Key(t, "empty")
		if _, err := s.Put(ctx, key, bytes.NewReader(nil), storage.PutOptions{Size: 0, ContentType: "text/plain"}); err != nil {
			t.Fatalf("Put: %v", err)
		}
		if got := readAll(t, s, key, 0, -1); len(got) != 0 {
			t.Fatalf("Get = %d bytes", len(got))
		}
	})

	t.Run("Range", func(t *testing.T) {
		s := newStore(t)
		data := Bytes(10_000, 2)
		key := Key(t, "r")
		mustPut(t, s, key, data)
		for _, c := range []struct{ off, n int64 }{{0, 1}, {5, 100}, {9_999, 1}, {1234, -1}, {9_000, 5_000}, {10_000, -1}} {
			got := readAll(t, s, key, c.off, c.n)
			end := int64(len(data))
			if c.n >= 0 && c.off+c.n < end {
				end = c.off + c.n
			}
			if !bytes.Equal(got, data[c.off:end]) {
				t.Fatalf("range %d+%d: got %d bytes, want %d", c.off, c.n, len(got), end-c.off)
			}
		}
	})

	t.Run("Overwrite", func(t *testing.T) {
		s := newStore(t)
		key := Key(t, "o")
		mustPut(t, s, key, []byte("first"))
		mustPut(t, s, key, []byte("second!"))
		if got := readAll(t, s, key, 0, -1); string(got) != "second!" {
			t.Fatalf("got %q", got)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		s := newStore(t)
		key := Key(t, "missing")
		if _, err := s.Stat(ctx, key); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("Stat missing: %v, want ErrNotFound", err)
		}
		if _, _, err := s.Get(ctx, key, 0, -1); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("Get missing: %v, want ErrNotFound", err)
		}
	})

	t.Run("DeleteIsIdempotent", func(t *testing.T) {
		s := newStore(t)
		key := Key(t, "d")
		mustPut(t, s, key, []byte("x"))
		for i := 0; i < 2; i++ {
			if err := s.Delete(ctx, key); err != nil {
				t.Fatalf("Delete #%d: %v", i+1, err)
			}
		}
		if _, err := s.Stat(ctx, key); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("Stat after delete: %v", err)
		}
		if err := s.Delete(ctx, Key(t, "never")); err != nil {
			t.Fatalf("Delete never-stored: %v", err)
		}
	})

	t.Run("ShortAndLongStreamsStoreNothing", func(t *testing.T) {
		s := newStore(t)
		for _, c := range []struct {
			name string
			data []byte
			size int64
		}{{"short", []byte("12345"), 10}, {"long", []byte("1234567890abc"), 10}} {
			key := Key(t, c.name)
			_, err := s.Put(ctx, key, bytes.NewReader(c.data), storage.PutOptions{Size: c.size, ContentType: "text/plain"})
			if err == nil {
				t.Fatalf("%s: Put succeeded", c.name)
			}
			if _, err := s.Stat(ctx, key); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("%s: object visible after failed Put: %v", c.name, err)
			}
		}
	})

	t.Run("DigestMismatchStoresNothing", func(t *testing.T) {
		s := newStore(t)
		key := Key(t, "bad")
		data := []byte("hello world")
		_, err := s.Put(ctx, key, bytes.NewReader(data), storage.PutOptions{Size: int64(len(data)), ContentType: "text/plain", SHA256: digest([]byte("other"))})
		if !errors.Is(err, storage.ErrDigestMismatch) {
			t.Fatalf("Put with a wrong digest: %v, want ErrDigestMismatch", err)
		}
		if _, err := s.Stat(ctx, key); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("object visible after digest mismatch: %v", err)
		}
	})

	t.Run("FailedOverwriteKeepsOld", func(t *testing.T) {
		s := newStore(t)
		key := Key(t, "keep")
		mustPut(t, s, key, []byte("good"))
		_, err := s.Put(ctx, key, bytes.NewReader([]byte("bad")), storage.PutOptions{Size: 3, ContentType: "text/plain", SHA256: digest([]byte("xyz"))})
		if err == nil {
			t.Fatal("Put with a wrong digest succeeded")
		}
		if got := readAll(t, s, key, 0, -1); string(got) != "good" {
			t.Fatalf("after a failed overwrite: %q", got)
		}
	})

	t.Run("InvalidKeys", func(t *testing.T) {
		s := newStore(t)
		for _, key := range []string{"", "../x", "a/../../b", "/abs", "a//b", "A", "a b", "a/./b", "a\x00b", strings.Repeat("a", 65), "a/b/c/d/e"} {
			if _, err := s.Put(ctx, key, bytes.NewReader([]byte("x")), storage.PutOptions{Size: 1}); !errors.Is(err, storage.ErrInvalidKey) {
				t.Errorf("Put %q: %v, want ErrInvalidKey", key, err)
			}
			if _, err := s.Stat(ctx, key); !errors.Is(err, storage.ErrInvalidKey) {
				t.Errorf("Stat %q: %v, want ErrInvalidKey", key, err)
			}
			if _, _, err := s.Get(ctx, key, 0, -1); !errors.Is(err, storage.ErrInvalidKey) {
				t.Errorf("Get %q: %v, want ErrInvalidKey", key, err)
			}
			if err := s.Delete(ctx, key); !errors.Is(err, storage.ErrInvalidKey) {
				t.Errorf("Delete %q: %v, want ErrInvalidKey", key, err)
			}
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		s := newStore(t)
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				data := Bytes(4096+i, uint64(i))
				key := Key(t, fmt.Sprint("c", i%4)) // two writers per key
				if _, err := s.Put(ctx, key, bytes.NewReader(data), storage.PutOptions{Size: int64(len(data)), ContentType: "application/pdf", SHA256: digest(data)}); err != nil {
					errs <- err
				}
			}(i)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		for i := 0; i < 4; i++ {
			got := readAll(t, s, Key(t, fmt.Sprint("c", i)), 0, -1)
			a, b := Bytes(4096+i, uint64(i)), Bytes(4096+i+4, uint64(i+4))
			if !bytes.Equal(got, a) && !bytes.Equal(got, b) {
				t.Fatalf("key c%d holds a mix of two writers (%d bytes)", i, len(got))
			}
		}
	})
}

func mustPut(t *testing.T, s storage.Store, key string, data []byte) {
	t.Helper()
	if _, err := s.Put(context.Background(), key, bytes.NewReader(data), storage.PutOptions{Size: int64(len(data)), ContentType: "application/octet-stream", SHA256: digest(data)}); err != nil {
		t.Fatalf("Put %s: %v", key, err)
	}
}

func readAll(t *testing.T, s storage.Store, key string, off, n int64) []byte {
	t.Helper()
	rc, _, err := s.Get(context.Background(), key, off, n)
	if err != nil {
		t.Fatalf("Get %s %d+%d: %v", key, off, n, err)
	}
	defer func() { _ = rc.Close() }()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return b
}
