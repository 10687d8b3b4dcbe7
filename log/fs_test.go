package log

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// walFS wraps a vfs.FS so a test can hold or fail the fsync of WAL files.
type walFS struct {
	vfs.FS
	mu      sync.Mutex
	gate    chan struct{} // when non-nil, WAL syncs wait for it to close
	fail    atomic.Bool   // when set, WAL syncs fail
	syncing atomic.Int32  // WAL syncs in progress
}

var errInjected = errors.New("injected sync failure")

func isWAL(name string) bool { return strings.HasSuffix(name, ".log") }

func (f *walFS) hold() {
	f.mu.Lock()
	f.gate = make(chan struct{})
	f.mu.Unlock()
}

func (f *walFS) release() {
	f.mu.Lock()
	if f.gate != nil {
		close(f.gate)
		f.gate = nil
	}
	f.mu.Unlock()
}

func (f *walFS) wrap(file vfs.File, name string, err error) (vfs.File, error) {
	if err != nil || !isWAL(name) {
		return file, err
	}
	return &walFile{File: file, fs: f}, nil
}

func (f *walFS) Create(name string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	file, err := f.FS.Create(name, cat)
	return f.wrap(file, name, err)
}

func (f *walFS) ReuseForWrite(oldname, newname string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	file, err := f.FS.ReuseForWrite(oldname, newname, cat)
	return f.wrap(file, newname, err)
}

func (f *walFS) OpenReadWrite(name string, cat vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	file, err := f.FS.OpenReadWrite(name, cat, opts...)
	return f.wrap(file, name, err)
}

type walFile struct {
	vfs.File
	fs *walFS
}

func (w *walFile) sync(do func() error) error {
	w.fs.syncing.Add(1)
	defer w.fs.syncing.Add(-1)
	w.fs.mu.Lock()
	gate := w.fs.gate
	w.fs.mu.Unlock()
	if gate != nil {
		<-gate
	}
	if w.fs.fail.Load() {
		return errInjected
	}
	return do()
}

func (w *walFile) Sync() error     { return w.sync(w.File.Sync) }
func (w *walFile) SyncData() error { return w.sync(w.File.SyncData) }
func (w *walFile) SyncTo(length int64) (bool, error) {
	var full bool
	err := w.sync(func() error {
		var err error
		full, err = w.File.SyncTo(length)
		return err
	})
	return full, err
}
