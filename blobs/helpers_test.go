package blobs_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/or3/syncd/storage"
	"github.com/or3/syncd/storage/fs"
)

func fsStore(t *testing.T, dataDir string) *fs.Store {
	t.Helper()
	return fsStoreAt(t, filepath.Join(dataDir, "blobs"))
}

func fsStoreAt(tb testing.TB, dir string) *fs.Store {
	tb.Helper()
	s, err := fs.Open(dir)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// putStray writes an object behind the gateway's back.
func putStray(t *testing.T, dataDir, key string, data []byte, mime string) {
	t.Helper()
	if _, err := fsStore(t, dataDir).Put(context.Background(), key, bytes.NewReader(data), storage.PutOptions{Size: int64(len(data)), ContentType: mime}); err != nil {
		t.Fatal(err)
	}
}

func strayExists(t *testing.T, dataDir, key string) bool {
	t.Helper()
	return objectExists(t, fsStore(t, dataDir), key)
}

// objectExists reports whether s holds key.
func objectExists(t *testing.T, s storage.Store, key string) bool {
	t.Helper()
	_, err := s.Stat(context.Background(), key)
	if errors.Is(err, storage.ErrNotFound) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}
