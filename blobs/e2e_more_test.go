package blobs_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/or3/syncd/blobs"
	"github.com/or3/syncd/daemon"
	"github.com/or3/syncd/internal/crashtest"
	"github.com/or3/syncd/storage/storagetest"
)

// cutProxy forwards TCP to target until cut: then it drops every open
// connection and refuses new ones (the object store is down).
type cutProxy struct {
	ln     net.Listener
	target string
	down   atomic.Bool
	mu     sync.Mutex
	conns  map[net.Conn]bool
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { _ = ln.Close(); p.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if p.down.Load() {
				_ = c.Close()
				continue
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c], p.conns[u] = true, true
			p.mu.Unlock()
			go func() { _, _ = io.Copy(u, c); _ = u.Close() }()
			go func() { _, _ = io.Copy(c, u); _ = c.Close() }()
		}
	}()
	return p
}

func (p *cutProxy) cut() {
	p.down.Store(true)
	p.mu.Lock()
	for c := range p.conns {
		_ = c.Close()
	}
	p.conns = map[net.Conn]bool{}
	p.mu.Unlock()
}

func (p *cutProxy) restore() { p.down.Store(false) }

// TestS3Outage_503NothingHalfCommitted: with the object store down,
// commit and delete answer 503 and change nothing; once it is back the
// same calls succeed.
func TestS3Outage_503NothingHalfCommitted(t *testing.T) {
	s3 := storagetest.RequireS3(t)
	var proxy *cutProxy
	e := newEnv(t, "s3", func(c *daemon.Config) {
		proxy = newCutProxy(t, s3.Endpoint)
		c.Blob = s3URL(t, proxy.ln.Addr().String())
	})
	data := storagetest.Bytes(4096, 21)
	ans, code := e.presign(data, "image/png", nil)
	if code != 200 {
		t.Fatal(code)
	}
	// The client uploads (through the proxy, which is still up).
	if code := e.transfer(ans, data); code != 200 {
		t.Fatalf("PUT: %d", code)
	}
	proxy.cut()
	if code := e.op(e.user, "commit", e.commitBody(ans, data, "image/png"), nil); code != http.StatusServiceUnavailable {
		t.Fatalf("commit during the outage: %d, want 503", code)
	}
	if chs := e.fileMetaChanges(); len(chs) != 0 {
		t.Fatalf("file_meta written during the outage: %+v", chs)
	}
	proxy.restore()
	if code := e.op(e.user, "commit", e.commitBody(ans, data, "image/png"), nil); code != 200 {
		t.Fatalf("commit after the outage: %d (the intent must still be active)", code)
	}
	// Delete: refused with 503 while the store is down, the row stays live.
	proxy.cut()
	if code := e.op(e.user, "delete", map[string]any{"workspaceId": e.ws, "hash": "sha256:" + hashOf(data)}, nil); code != http.StatusServiceUnavailable {
		t.Fatalf("delete during the outage: %d, want 503", code)
	}
	if chs := e.fileMetaChanges(); len(chs) != 1 {
		t.Fatalf("delete during the outage changed file_meta: %d changes", len(chs))
	}
	proxy.restore()
	var del blobs.DeleteAnswer
	if code := e.op(e.user, "delete", map[string]any{"workspaceId": e.ws, "hash": "sha256:" + hashOf(data)}, &del); code != 200 || !del.Deleted {
		t.Fatalf("delete after the outage: %d %+v", code, del)
	}
}

// TestGC_NoRowCap: references are found past any page size (the existing
// providers give up beyond 500 messages), and a malformed file_hashes
// fails closed.
func TestGC_NoRowCap(t *testing.T) {
	e := newEnv(t, "fs", nil)
	a, b := storagetest.Bytes(100, 31), storagetest.Bytes(100, 32)
	e.upload(a, "image/png")
	e.upload(b, "image/png")
	var ops []crashtest.Op
	for i := 0; i < 1200; i++ {
		ops = append(ops, rowOp("messages", fmt.Sprintf("m%04d", i), map[string]any{"id": fmt.Sprintf("m%04d", i), "file_hashes": "[]"}))
		if len(ops) == 100 {
			e.push(ops...)
			ops = nil
		}
	}
	// The last message references a.
	e.push(rowOp("messages", "zz-last", map[string]any{"id": "zz-last", "file_hashes": `["sha256:` + hashOf(a) + `"]`}))
	for _, h := range []string{hashOf(a), hashOf(b)} {
		e.push(rowOp("file_meta", "sha256:"+h, map[string]any{"hash": "sha256:" + h, "deleted": true}))
	}
	var gc blobs.GCAnswer
	if code := e.op(e.user, "gc", map[string]any{"workspace_id": e.ws, "retention_seconds": 0, "limit": 100}, &gc); code != 200 || gc.DeletedCount != 1 {
		t.Fatalf("gc: %d %+v, want exactly the unreferenced file collected", code, gc)
	}
	if code := e.op(e.user, "delete", map[string]any{"workspaceId": e.ws, "hash": "sha256:" + hashOf(a)}, nil); code != http.StatusConflict {
		t.Fatalf("delete of a file referenced by message 1201: %d, want 409", code)
	}
	// A live message whose file_hashes is not JSON: nothing can be proven.
	e.push(rowOp("messages", "bad", map[string]any{"id": "bad", "file_hashes": "not json"}))
	e.push(rowOp("messages", "zz-last", map[string]any{"id": "zz-last", "deleted": true}))
	if code := e.op(e.user, "gc", map[string]any{"workspace_id": e.ws, "retention_seconds": 0}, &gc); code != 200 || gc.DeletedCount != 0 {
		t.Fatalf("gc with a malformed reference: %d %+v, want nothing deleted", code, gc)
	}
	if code := e.op(e.user, "delete", map[string]any{"workspaceId": e.ws, "hash": "sha256:" + hashOf(a)}, nil); code != http.StatusConflict {
		t.Fatalf("delete with a malformed reference: %d, want 409", code)
	}
	for _, c := range []struct {
		body map[string]any
		want int
	}{
		{map[string]any{"workspace_id": e.ws, "retention_seconds": -1}, 400},
		{map[string]any{"workspace_id": e.ws, "retention_seconds": 0, "limit": 0}, 400},
		{map[string]any{"workspace_id": e.ws, "retention_seconds": 0, "limit": 101}, 400},
		{map[string]any{"workspace_id": e.ws}, 400},
	} {
		if code := e.op(e.user, "gc", c.body, nil); code != c.want {
			t.Errorf("gc %v: %d, want %d", c.body, code, c.want)
		}
	}
}

// TestDelete_Refusals: a storageId of another file, unknown files, viewers.
func TestDelete_Refusals(t *testing.T) {
	e := newEnv(t, "fs", nil)
	data := storagetest.Bytes(100, 41)
	ans := e.upload(data, "image/png")
	if code := e.op(e.user, "delete", map[string]any{"workspaceId": e.ws, "hash": "sha256:" + hashOf(data), "storageId": "other-blob"}, nil); code != http.StatusConflict {
		t.Fatalf("delete with another storageId: %d, want 409", code)
	}
	var del blobs.DeleteAnswer
	if code := e.op(e.user, "delete", map[string]any{"workspaceId": e.ws, "hash": strings.Repeat("c", 64)}, &del); code != 200 || del.Deleted {
		t.Fatalf("delete of an unknown file: %d %+v, want deleted:false", code, del)
	}
	ctx := context.Background()
	viewer, _ := e.c.CreateUser(ctx, "p", "vic")
	if err := e.d.Identity.AddMember(ctx, e.ws, viewer, "viewer", e.user); err != nil {
		t.Fatal(err)
	}
	if code := e.op(viewer, "delete", map[string]any{"workspaceId": e.ws, "storageId": ans.StorageID}, nil); code != http.StatusForbidden {
		t.Fatalf("delete by a viewer: %d, want 403", code)
	}
	if _, code := e.presign(data, "image/png", nil); code != 200 {
		t.Fatalf("presign by the owner: %d", code)
	}
	var dl blobs.PresignAnswer
	if code := e.op(viewer, "presign-download", map[string]any{"workspaceId": e.ws, "hash": hashOf(data)}, &dl); code != 200 {
		t.Fatalf("presign-download by a viewer: %d", code)
	}
	// Deleting by storageId alone works.
	if code := e.op(e.user, "delete", map[string]any{"workspaceId": e.ws, "storageId": ans.StorageID}, &del); code != 200 || !del.Deleted {
		t.Fatalf("delete by storageId: %d %+v", code, del)
	}
	if code, _, _ := e.get(dl.URL, nil); code != http.StatusNotFound {
		t.Fatalf("GET of a deleted file: %d, want 404", code)
	}
}

// TestCommit_ConcurrentOnceOnly: of many concurrent commits of one intent
// exactly one succeeds and one file_meta op is written.
func TestCommit_ConcurrentOnceOnly(t *testing.T) {
	e := newEnv(t, "fs", nil)
	data := storagetest.Bytes(1000, 51)
	ans, _ := e.presign(data, "image/png", nil)
	if code := e.transfer(ans, data); code != 200 {
		t.Fatal(code)
	}
	var ok atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := e.c.Do(context.Background(), http.MethodPost, "/v1/storage/commit", e.user, e.commitBody(ans, data, "image/png"), nil)
			if err == nil {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 1 {
		t.Fatalf("%d commits succeeded, want 1", ok.Load())
	}
	if chs := e.fileMetaChanges(); len(chs) != 1 {
		t.Fatalf("%d file_meta ops, want 1", len(chs))
	}
}

// TestPresign_QuotaAndAdoptedIntent: stored files count against the quota
// (one implementation with the sync endpoints), and presign adopts an
// intent reserved through /v1/sync/upload-intents/reserve.
func TestPresign_QuotaAndAdoptedIntent(t *testing.T) {
	e := newEnv(t, "fs", nil)
	a := storagetest.Bytes(60, 61)
	ans, code := e.presign(a, "image/png", map[string]any{"workspaceQuotaBytes": 100})
	if code != 200 {
		t.Fatal(code)
	}
	e.transfer(ans, a)
	if code := e.op(e.user, "commit", e.commitBody(ans, a, "image/png"), nil); code != 200 {
		t.Fatal(code)
	}
	if _, code := e.presign(storagetest.Bytes(50, 62), "image/png", map[string]any{"workspaceQuotaBytes": 100}); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("presign over quota (60 stored + 50): %d, want 413", code)
	}
	// The same bytes again cost nothing (dedupe).
	if _, code := e.presign(a, "image/png", map[string]any{"workspaceQuotaBytes": 60}); code != 200 {
		t.Fatalf("presign of stored bytes at quota: %d", code)
	}

	b := storagetest.Bytes(30, 63)
	exp := time.Now().Add(10 * time.Minute).Unix()
	if err := e.c.Do(context.Background(), http.MethodPost, "/v1/sync/upload-intents/reserve", e.user, map[string]any{
		"intentId": "host-intent-1", "workspaceId": e.ws, "hash": hashOf(b), "mimeType": "image/png", "sizeBytes": 30, "expiresAt": exp,
	}, nil); err != nil {
		t.Fatalf("reserve: %v", err)
	}
	ans, code = e.presign(b, "image/png", map[string]any{"intentId": "host-intent-1"})
	if code != 200 || ans.IntentID != "host-intent-1" {
		t.Fatalf("presign adopting an intent: %d %+v", code, ans)
	}
	if _, code := e.presign(storagetest.Bytes(31, 64), "image/png", map[string]any{"intentId": "host-intent-1"}); code != http.StatusConflict {
		t.Fatalf("adopting an intent for other bytes: %d, want 409", code)
	}
	e.transfer(ans, b)
	if code := e.op(e.user, "commit", e.commitBody(ans, b, "image/png"), nil); code != 200 {
		t.Fatalf("commit of the adopted intent: %d", code)
	}
	if _, code := e.presign(b, "image/png", map[string]any{"intentId": "host-intent-1"}); code != http.StatusConflict {
		t.Fatalf("adopting a consumed intent: %d, want 409", code)
	}
}
