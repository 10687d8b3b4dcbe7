package identity

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	synclog "github.com/or3/syncd/log"
)

// heldWAL wraps a vfs.FS so a test can hold the fsync of WAL files.
type heldWAL struct {
	vfs.FS
	mu   sync.Mutex
	gate chan struct{}
}

func (f *heldWAL) hold() {
	f.mu.Lock()
	f.gate = make(chan struct{})
	f.mu.Unlock()
}

func (f *heldWAL) release() {
	f.mu.Lock()
	if f.gate != nil {
		close(f.gate)
		f.gate = nil
	}
	f.mu.Unlock()
}

func (f *heldWAL) wrap(file vfs.File, name string, err error) (vfs.File, error) {
	if err != nil || !strings.HasSuffix(name, ".log") {
		return file, err
	}
	return &heldFile{File: file, fs: f}, nil
}

func (f *heldWAL) Create(name string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	file, err := f.FS.Create(name, cat)
	return f.wrap(file, name, err)
}

func (f *heldWAL) ReuseForWrite(oldname, newname string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	file, err := f.FS.ReuseForWrite(oldname, newname, cat)
	return f.wrap(file, newname, err)
}

func (f *heldWAL) OpenReadWrite(name string, cat vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	file, err := f.FS.OpenReadWrite(name, cat, opts...)
	return f.wrap(file, name, err)
}

type heldFile struct {
	vfs.File
	fs *heldWAL
}

func (h *heldFile) wait() {
	h.fs.mu.Lock()
	gate := h.fs.gate
	h.fs.mu.Unlock()
	if gate != nil {
		<-gate
	}
}

func (h *heldFile) Sync() error     { h.wait(); return h.File.Sync() }
func (h *heldFile) SyncData() error { h.wait(); return h.File.SyncData() }
func (h *heldFile) SyncTo(n int64) (bool, error) {
	h.wait()
	return h.File.SyncTo(n)
}

// TestReads_NeverShowUnacknowledgedWrites holds the WAL fsync while a
// membership and a user are being written: Pebble's live state has them,
// but Role and GetUser (durable view) must not, until the writes return.
func TestReads_NeverShowUnacknowledgedWrites(t *testing.T) {
	fs := &heldWAL{FS: vfs.NewMem()}
	db, err := synclog.Open(synclog.Config{Dir: "db", FS: fs, Logger: quietLogger(), MemTableSize: 4 << 20})
	must(t, err)
	t.Cleanup(func() { fs.release(); db.Close() })
	c := newClock()
	s, err := New(db, Config{Secret: testSecret, Now: c.Now, Logger: quietLogger()})
	must(t, err)
	ctx := context.Background()
	f := &fixture{s: s, db: db, clock: c, ctx: ctx}
	owner, member := f.user(t, "o", ""), f.user(t, "m", "")
	ws := f.workspace(t, owner, "W")

	fs.hold()
	done := make(chan error, 1)
	go func() { done <- s.AddMember(ctx, ws, member, RoleEditor, owner) }()
	waitLive(t, db, memberKey(ws, member))
	for range 30 {
		if r := f.role(t, ws, member); r != RoleNone {
			t.Fatalf("Role shows an unacknowledged membership: %q", r)
		}
		select {
		case err := <-done:
			t.Fatalf("AddMember returned before its fsync: %v", err)
		default:
		}
		time.Sleep(time.Millisecond)
	}
	fs.release()
	must(t, <-done)
	if r := f.role(t, ws, member); r != RoleEditor {
		t.Fatalf("after ack: %q", r)
	}

	// The same for a new user; a second caller for the same subject waits
	// for the first write's ack and then finds the user (Created false).
	fs.hold()
	created := make(chan error, 1)
	go func() {
		_, err := s.GetOrCreateUser(ctx, UserInput{Provider: "test", ProviderUserID: "late"})
		created <- err
	}()
	waitLive(t, db, accountKey("test", "late"))
	second := make(chan UserRef, 1)
	go func() {
		ref, err := s.GetOrCreateUser(ctx, UserInput{Provider: "test", ProviderUserID: "late"})
		if err != nil {
			t.Error(err)
		}
		second <- ref
	}()
	if u, err := s.GetUser(ctx, "test", "late"); err != nil || u != nil {
		t.Fatalf("GetUser shows an unacknowledged user: %+v %v", u, err)
	}
	time.Sleep(20 * time.Millisecond)
	select {
	case ref := <-second:
		t.Fatalf("a second caller was answered from a pending write: %+v", ref)
	default:
	}
	fs.release()
	must(t, <-created)
	if ref := <-second; ref.Created || ref.UserID != s.UserIDFor("test", "late") {
		t.Fatalf("second caller: %+v", ref)
	}
	if u, err := s.GetUser(ctx, "test", "late"); err != nil || u == nil {
		t.Fatalf("after ack: %+v %v", u, err)
	}
}

// waitLive waits until key is in Pebble's live state (the write is applied
// but, with the WAL held, not yet durable).
func waitLive(t *testing.T, db *synclog.DB, key []byte) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err := db.Live().Get(key)
		must(t, err)
		if v != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("write never reached the live state")
		}
		time.Sleep(time.Millisecond)
	}
}
