package fs_test

import (
	"os"
	"path/filepath"
	"testing"

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
