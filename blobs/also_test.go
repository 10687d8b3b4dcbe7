package blobs

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/storage"
	"github.com/or3/syncd/storage/fs"
)

// elsewhereIntents reserves and consumes "in another region": it never
// calls Also, so the gateway must commit its own events itself.
type elsewhereIntents struct {
	allowAll
	in       Intent
	consumed bool
}

func (e *elsewhereIntents) Reserve(_ context.Context, user string, r Reservation) (Intent, error) {
	e.in = Intent{IntentID: "i1", WorkspaceID: r.WorkspaceID, UserID: user, Hash: r.Hash, MimeType: r.MimeType,
		SizeBytes: r.SizeBytes, ExpiresAt: r.ExpiresAt, Status: "active"}
	return e.in, nil
}

func (e *elsewhereIntents) Get(context.Context, string, string) (Intent, error) { return e.in, nil }

func (e *elsewhereIntents) Consume(context.Context, string, Consumption) error {
	e.consumed = true
	e.in.Status = "consumed"
	return nil
}

// TestGateway_OwnEventsWhenIntentsLiveElsewhere: with intents that do not
// take the gateway's events into their batch (a workspace homed in
// another region), presign still records the upload URL for the sweep and
// commit still records the stored object for GC.
func TestGateway_OwnEventsWhenIntentsLiveElsewhere(t *testing.T) {
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
	in := &elsewhereIntents{}
	g, err := New(Config{DB: db, Store: store, Auth: allowAll{}, Sync: allowAll{}, Intents: in,
		GrantKey: bytes.Repeat([]byte{7}, 32), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now: func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ctx := context.Background()
	data := []byte("%PDF committed elsewhere")
	hash := hashHex(data)
	ans, err := g.PresignUpload(ctx, "u", PresignUploadRequest{WorkspaceID: "ws", Hash: hash, MimeType: "application/pdf", SizeBytes: optInt{Set: true, V: int64(len(data))}})
	if err != nil {
		t.Fatal(err)
	}
	has := func(key []byte) bool {
		v := db.View()
		defer v.Release()
		raw, err := v.Get(key)
		if err != nil {
			t.Fatal(err)
		}
		return raw != nil
	}
	if !has(pendingKey("ws", hash)) {
		t.Fatal("presign did not record the upload URL")
	}
	if _, err := store.Put(ctx, ans.StorageID, bytes.NewReader(data), storage.PutOptions{Size: int64(len(data)), ContentType: "application/pdf", SHA256: digestOf(hash)}); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Commit(ctx, "u", CommitRequest{WorkspaceID: "ws", IntentID: ans.IntentID, Hash: "sha256:" + hash, StorageID: ans.StorageID,
		MimeType: "application/pdf", SizeBytes: optInt{Set: true, V: int64(len(data))}, Name: "f.pdf", Kind: "pdf"}); err != nil {
		t.Fatal(err)
	}
	if !in.consumed || !has(recordKey("ws", hash)) {
		t.Fatalf("commit: consumed %v, object recorded %v; want both", in.consumed, has(recordKey("ws", hash)))
	}
}
