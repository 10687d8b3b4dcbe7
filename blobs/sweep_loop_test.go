package blobs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/storage"
	"github.com/or3/syncd/storage/fs"
)

type allowAll struct{}

func (allowAll) Authorize(context.Context, string, string, bool) error { return nil }

func (allowAll) ServerWrite(context.Context, string, string, string, string, []byte) error {
	return nil
}

func (allowAll) Reserve(_ context.Context, user string, r Reservation) (Intent, error) {
	return Intent{IntentID: "i", WorkspaceID: r.WorkspaceID, UserID: user, Hash: r.Hash, MimeType: r.MimeType,
		SizeBytes: r.SizeBytes, ExpiresAt: r.ExpiresAt, Status: "active"}, nil
}

func (allowAll) Get(context.Context, string, string) (Intent, error) {
	return Intent{}, errors.New("not used")
}

func (allowAll) Consume(context.Context, string, Consumption) error { return nil }

// TestSweepLoop_TicksAndClose: the scheduled loop sweeps on each tick
// (ticked by hand: no sleeps) and Close stops it and its ticker; Close
// without Start and a disabled schedule are fine.
func TestSweepLoop_TicksAndClose(t *testing.T) {
	dir := t.TempDir()
	db, err := synclog.Open(synclog.Config{Dir: filepath.Join(dir, "log"), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store, err := fs.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	var nowMs atomic.Int64
	nowMs.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli())
	newGateway := func(every time.Duration) *Gateway {
		g, err := New(Config{DB: db, Store: store, Auth: allowAll{}, Sync: allowAll{}, Intents: allowAll{},
			GrantKey: bytes.Repeat([]byte{7}, 32), SweepEvery: every, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Now: func() time.Time { return time.UnixMilli(nowMs.Load()) }})
		if err != nil {
			t.Fatal(err)
		}
		return g
	}

	newGateway(0).Close() // never started
	off := newGateway(-1)
	off.Start()
	off.Close()
	off.Close()

	g := newGateway(0)
	ticks := make(chan time.Time)
	var stopped atomic.Bool
	g.ticker = func(d time.Duration) (<-chan time.Time, func()) {
		if d != DefaultSweepEvery {
			t.Errorf("ticker every %v, want the default %v", d, DefaultSweepEvery)
		}
		return ticks, func() { stopped.Store(true) }
	}
	ctx := context.Background()
	data := []byte("never committed")
	hash := hashHex(data)
	ans, err := g.PresignUpload(ctx, "u", PresignUploadRequest{WorkspaceID: "ws", Hash: hash, MimeType: "text/plain", SizeBytes: optInt{Set: true, V: int64(len(data))}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Put(ctx, ans.StorageID, bytes.NewReader(data), storage.PutOptions{Size: int64(len(data)), ContentType: "text/plain"}); err != nil {
		t.Fatal(err)
	}
	g.Start()
	ticks <- time.Now() // nothing due yet
	nowMs.Add((IntentTTL + DefaultAbandonedUploadTTL + time.Minute).Milliseconds())
	ticks <- time.Now()
	ticks <- time.Now() // taken only once the sweep of the tick before has finished
	if st := g.SweepStats(); st.Runs < 2 || st.Deleted != 1 {
		t.Fatalf("stats after three ticks: %+v, want the upload deleted", st)
	}
	if _, err := store.Stat(ctx, ans.StorageID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the abandoned object is still stored: %v", err)
	}
	g.Close()
	if !stopped.Load() {
		t.Fatal("Close left the ticker running")
	}
	g.Close()
}

func hashHex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
