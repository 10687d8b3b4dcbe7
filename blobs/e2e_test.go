package blobs_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/or3/syncd/blobs"
	"github.com/or3/syncd/daemon"
	"github.com/or3/syncd/internal/crashtest"
	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/storage/storagetest"
)

const token = "blobs-test-token-0123456789abcdef"

// env is a real daemon on a loopback port with one user and workspace.
type env struct {
	t    testing.TB
	d    *daemon.Daemon
	c    *crashtest.Client
	user string
	ws   string
	dir  string
	cfg  daemon.Config
}

var bucketSeq atomic.Int64

// backends lists the blob backends to run a test on: fs always, s3 when
// MinIO is there (and in CI, where it must be).
func backends(t *testing.T, fn func(t *testing.T, backend string)) {
	t.Run("fs", func(t *testing.T) { fn(t, "fs") })
	t.Run("s3", func(t *testing.T) { storagetest.RequireS3(t); fn(t, "s3") })
}

func s3URL(t testing.TB, endpoint string) string {
	return fmt.Sprintf("s3://syncd-e2e-%d-%d?endpoint=%s&secure=false", time.Now().UnixNano()%1e9, bucketSeq.Add(1), endpoint)
}

func newEnv(t testing.TB, backend string, tune func(*daemon.Config)) *env {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := daemon.Config{
		DataDir: t.TempDir(), Listen: "127.0.0.1:0", Token: token, TestHooks: true,
		Secret: []byte("0123456789abcdef0123456789abcdef"), Logger: quiet,
	}
	if backend == "s3" {
		s3 := storagetest.RequireS3(t)
		cfg.Blob = s3URL(t, s3.Endpoint)
		cfg.S3AccessKey, cfg.S3SecretKey = s3.AccessKey, s3.SecretKey
	}
	if tune != nil {
		tune(&cfg)
	}
	d, err := daemon.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Shutdown(context.Background()) })
	c := crashtest.NewClient(d.URL(), token)
	ctx := context.Background()
	user, err := c.CreateUser(ctx, "p", "alice")
	if err != nil {
		t.Fatal(err)
	}
	ws, err := c.DefaultWorkspace(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, d: d, c: c, user: user, ws: ws, dir: cfg.DataDir, cfg: cfg}
}

func hashOf(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// op calls POST /v1/storage/{op}; it returns the HTTP status (200 or the
// error's).
func (e *env) op(user, op string, body, out any) int {
	e.t.Helper()
	err := e.c.Do(context.Background(), http.MethodPost, "/v1/storage/"+op, user, body, out)
	var se *crashtest.StatusError
	switch {
	case err == nil:
		return 200
	case errors.As(err, &se):
		return se.Status
	}
	e.t.Fatalf("%s: %v", op, err)
	return 0
}

func (e *env) presign(data []byte, mime string, extra map[string]any) (blobs.PresignAnswer, int) {
	e.t.Helper()
	body := map[string]any{"workspaceId": e.ws, "hash": "sha256:" + hashOf(data), "mimeType": mime, "sizeBytes": len(data)}
	for k, v := range extra {
		body[k] = v
	}
	var ans blobs.PresignAnswer
	code := e.op(e.user, "presign-upload", body, &ans)
	return ans, code
}

func (e *env) abs(u string) string {
	if strings.HasPrefix(u, "/") {
		return e.d.URL() + u
	}
	return u
}

// transfer PUTs body to a presigned URL with its headers.
func (e *env) transfer(ans blobs.PresignAnswer, body []byte) int {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPut, e.abs(ans.URL), bytes.NewReader(body))
	for k, v := range ans.Headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("PUT: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

func (e *env) commitBody(ans blobs.PresignAnswer, data []byte, mime string) map[string]any {
	return map[string]any{
		"workspace_id": e.ws, "intent_id": ans.IntentID, "hash": "sha256:" + hashOf(data), "storage_id": ans.StorageID,
		"storage_provider_id": "syncd", "mime_type": mime, "size_bytes": len(data), "name": "photo.png", "kind": "image",
		"width": 10, "height": 20,
	}
}

// upload runs presign → PUT → commit and fails the test on any error.
func (e *env) upload(data []byte, mime string) blobs.PresignAnswer {
	e.t.Helper()
	ans, code := e.presign(data, mime, nil)
	if code != 200 {
		e.t.Fatalf("presign-upload: %d", code)
	}
	if code := e.transfer(ans, data); code != 200 {
		e.t.Fatalf("PUT %s: %d", ans.URL, code)
	}
	if code := e.op(e.user, "commit", e.commitBody(ans, data, mime), nil); code != 200 {
		e.t.Fatalf("commit: %d", code)
	}
	return ans
}

func (e *env) get(u string, hdr map[string]string) (int, []byte, http.Header) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.abs(u), nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("GET: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

func (e *env) download(data []byte) (blobs.PresignAnswer, int) {
	e.t.Helper()
	var ans blobs.PresignAnswer
	code := e.op(e.user, "presign-download", map[string]any{"workspaceId": e.ws, "hash": "sha256:" + hashOf(data), "disposition": "attachment"}, &ans)
	return ans, code
}

func (e *env) push(ops ...crashtest.Op) {
	e.t.Helper()
	res, err := e.c.Push(context.Background(), e.user, e.ws, ops)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, r := range res.Results {
		if !r.Success {
			e.t.Fatalf("push: %s %s", r.ErrorCode, r.Error)
		}
	}
}

var clockSeq atomic.Int64

func rowOp(table, pk string, payload map[string]any) crashtest.Op {
	b, _ := json.Marshal(payload)
	c := clockSeq.Add(1) + 100
	return crashtest.Op{TableName: table, Operation: "put", PK: pk, Payload: b,
		Stamp: crashtest.Stamp{DeviceID: "dev", OpID: newUUID(), HLC: fmt.Sprintf("%013d:0000:dev", c), Clock: c}}
}

func newUUID() string {
	var b [16]byte
	s := sha256.Sum256([]byte(fmt.Sprint(time.Now().UnixNano(), clockSeq.Add(1))))
	copy(b[:], s[:16])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// fileMetaChanges pulls every file_meta change of the workspace.
func (e *env) fileMetaChanges() []crashtest.Change {
	e.t.Helper()
	all, err := e.c.PullAll(context.Background(), e.user, e.ws)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []crashtest.Change
	for _, ch := range all {
		if ch.TableName == "file_meta" {
			out = append(out, ch)
		}
	}
	return out
}

// TestFlow_UploadCommitDownloadGC is the whole life of a file over real
// HTTP, on fs and on S3 (MinIO).
func TestFlow_UploadCommitDownloadGC(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, nil)
		data := storagetest.Bytes(300_000, 7)
		ans := e.upload(data, "image/png")
		if ans.IntentID == "" || ans.StorageID == "" || ans.ExpiresAt <= time.Now().UnixMilli() {
			t.Fatalf("presign answer %+v", ans)
		}
		if backend == "fs" && !strings.HasPrefix(ans.URL, "/v1/blobs/") {
			t.Fatalf("fs upload URL %q is not a syncd blob URL", ans.URL)
		}

		// file_meta arrived as one server-authored sync op keyed by the hash
		// as sent.
		chs := e.fileMetaChanges()
		if len(chs) != 1 || chs[0].PK != "sha256:"+hashOf(data) || chs[0].Op != "put" || chs[0].Stamp.DeviceID != "server" || len(chs[0].Stamp.OpID) != 36 {
			t.Fatalf("file_meta changes %+v", chs)
		}
		var meta map[string]any
		_ = json.Unmarshal(chs[0].Payload, &meta)
		if meta["storage_id"] != ans.StorageID || meta["size_bytes"] != float64(len(data)) || meta["deleted"] != false || meta["name"] != "photo.png" {
			t.Fatalf("file_meta payload %s", chs[0].Payload)
		}

		// A second commit of the consumed intent is a conflict.
		if code := e.op(e.user, "commit", e.commitBody(ans, data, "image/png"), nil); code != http.StatusConflict {
			t.Fatalf("second commit: %d, want 409", code)
		}

		// Download, whole and a range.
		dl, code := e.download(data)
		if code != 200 {
			t.Fatalf("presign-download: %d", code)
		}
		code, got, hdr := e.get(dl.URL, nil)
		if code != 200 || !bytes.Equal(got, data) {
			t.Fatalf("GET: %d, %d bytes (want %d)", code, len(got), len(data))
		}
		if !strings.HasPrefix(hdr.Get("Content-Disposition"), "attachment") {
			t.Fatalf("Content-Disposition %q", hdr.Get("Content-Disposition"))
		}
		code, got, hdr = e.get(dl.URL, map[string]string{"Range": "bytes=1000-1999"})
		if code != http.StatusPartialContent || !bytes.Equal(got, data[1000:2000]) {
			t.Fatalf("range GET: %d, %d bytes", code, len(got))
		}
		if want := fmt.Sprintf("bytes 1000-1999/%d", len(data)); hdr.Get("Content-Range") != want {
			t.Fatalf("Content-Range %q, want %q", hdr.Get("Content-Range"), want)
		}

		// A second file, referenced by a live message; then both rows are
		// deleted by clients.
		other := storagetest.Bytes(5000, 8)
		e.upload(other, "application/pdf")
		e.push(rowOp("messages", "m1", map[string]any{"id": "m1", "file_hashes": `["sha256:` + hashOf(other) + `"]`}))
		e.push(rowOp("messages", "m2", map[string]any{"id": "m2", "file_hashes": `["sha256:` + hashOf(data) + `"]`, "deleted": true}))
		for _, h := range []string{hashOf(data), hashOf(other)} {
			e.push(rowOp("file_meta", "sha256:"+h, map[string]any{"hash": "sha256:" + h, "deleted": true}))
		}
		if _, code := e.download(data); code != http.StatusNotFound {
			t.Fatalf("presign-download of a deleted file: %d, want 404", code)
		}

		// Inside the retention window nothing is collected.
		var gc blobs.GCAnswer
		if code := e.op(e.user, "gc", map[string]any{"workspace_id": e.ws, "retention_seconds": 3600}, &gc); code != 200 || gc.DeletedCount != 0 {
			t.Fatalf("gc inside retention: %d %+v", code, gc)
		}
		// Move the clock past it: the unreferenced file goes, the
		// referenced one (live message) stays.
		if err := e.c.Do(context.Background(), http.MethodPost, "/v1/test/clock", "", map[string]any{"offsetSeconds": 7200}, nil); err != nil {
			t.Fatal(err)
		}
		if code := e.op(e.user, "gc", map[string]any{"workspace_id": e.ws, "retention_seconds": 3600}, &gc); code != 200 || gc.DeletedCount != 1 || gc.ScannedCount != 2 {
			t.Fatalf("gc: %d %+v, want 1 deleted of 2 scanned", code, gc)
		}
		if code, _, _ := e.get(dl.URL, nil); backend == "fs" && code != http.StatusForbidden && code != http.StatusNotFound {
			t.Fatalf("GET after GC: %d", code)
		}
		if code := e.op(e.user, "gc", map[string]any{"workspace_id": e.ws, "retention_seconds": 3600}, &gc); code != 200 || gc.DeletedCount != 0 {
			t.Fatalf("second gc: %d %+v", code, gc)
		}

		// The referenced file cannot be deleted; once the message goes, it can.
		if code := e.op(e.user, "delete", map[string]any{"workspaceId": e.ws, "hash": "sha256:" + hashOf(other)}, nil); code != http.StatusConflict {
			t.Fatalf("delete of a referenced file: %d, want 409", code)
		}
		e.push(rowOp("messages", "m1", map[string]any{"id": "m1", "deleted": true}))
		var del blobs.DeleteAnswer
		if code := e.op(e.user, "delete", map[string]any{"workspaceId": e.ws, "hash": "sha256:" + hashOf(other)}, &del); code != 200 || !del.Deleted {
			t.Fatalf("delete: %d %+v", code, del)
		}
		if code := e.op(e.user, "delete", map[string]any{"workspaceId": e.ws, "hash": "sha256:" + hashOf(other)}, &del); code != 200 || del.Deleted {
			t.Fatalf("second delete: %d %+v, want deleted:false", code, del)
		}
		last := e.fileMetaChanges()
		if l := last[len(last)-1]; l.Op != "delete" || l.Stamp.DeviceID != "server" {
			t.Fatalf("delete wrote %+v, want a server delete of file_meta", l)
		}

		// Re-uploading the collected bytes works (a new object, the row
		// undeleted with its metadata kept).
		e.upload(data, "image/png")
		dl, _ = e.download(data)
		if code, got, _ := e.get(dl.URL, nil); code != 200 || !bytes.Equal(got, data) {
			t.Fatalf("GET after re-upload: %d, %d bytes", code, len(got))
		}

		// Replay of the log rebuilds the same state (blob records included).
		checkReplay(t, e.d)
	})
}

func checkReplay(t *testing.T, d *daemon.Daemon) {
	t.Helper()
	live := d.DB.View()
	defer live.Release()
	dst, err := synclog.Open(synclog.Config{Dir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if err := synclog.Rebuild(context.Background(), live, dst, d.Folder, 0); err != nil {
		t.Fatalf("rebuild: %v", err)
	}
	rebuilt := dst.View()
	defer rebuilt.Release()
	if diff, err := synclog.DiffState(live, rebuilt); err != nil || diff != "" {
		t.Fatalf("replayed state differs: %v %s", err, diff)
	}
}

// rawPUT sends a request by hand and returns the status line's code; the
// body is written only as far as send allows, so a test can show the
// server answered before reading the rest.
func rawPUT(t *testing.T, addr, path string, headers []string, send []byte) int {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	req := "PUT " + path + " HTTP/1.1\r\nHost: " + addr + "\r\n" + strings.Join(headers, "\r\n") + "\r\n\r\n"
	if _, err := conn.Write(append([]byte(req), send...)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer before the rest of the body: %v", err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// TestUpload_BadInput: the fs transfer and commit refuse what does not
// match the intent, with the statuses of api.md, and store nothing.
func TestUpload_BadInput(t *testing.T) {
	e := newEnv(t, "fs", nil)
	data := storagetest.Bytes(100_000, 3)
	ans, code := e.presign(data, "image/png", nil)
	if code != 200 {
		t.Fatal(code)
	}
	addr := e.d.Addr().String()

	t.Run("DeclaredOversizeIs413BeforeTheBody", func(t *testing.T) {
		code := rawPUT(t, addr, ans.URL, []string{"Content-Type: image/png", fmt.Sprintf("Content-Length: %d", len(data)+1<<20)}, nil)
		if code != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d, want 413", code)
		}
	})
	t.Run("StreamedOversizeIs413BeforeTheEnd", func(t *testing.T) {
		// A chunked body that runs past the grant and never ends: the answer
		// must come without waiting for the rest.
		chunk := storagetest.Bytes(len(data)+10, 4)
		send := append([]byte(fmt.Sprintf("%x\r\n", len(chunk))), chunk...)
		send = append(send, "\r\n"...)
		code := rawPUT(t, addr, ans.URL, []string{"Content-Type: image/png", "Transfer-Encoding: chunked"}, send)
		if code != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d, want 413", code)
		}
	})
	t.Run("ShortBodyIs400", func(t *testing.T) {
		if code := e.transfer(ans, data[:len(data)-1]); code != http.StatusBadRequest {
			t.Fatalf("status %d, want 400", code)
		}
	})
	t.Run("OtherBytesAre409", func(t *testing.T) {
		bad := append([]byte(nil), data...)
		bad[500] ^= 0xff
		if code := e.transfer(ans, bad); code != http.StatusConflict {
			t.Fatalf("status %d, want 409", code)
		}
		// Nothing was stored, so the commit finds no object.
		if code := e.op(e.user, "commit", e.commitBody(ans, data, "image/png"), nil); code != http.StatusConflict {
			t.Fatalf("commit without an object: %d, want 409", code)
		}
	})
	t.Run("WrongContentTypeIs415", func(t *testing.T) {
		a := ans
		a.Headers = map[string]string{"Content-Type": "application/pdf"}
		if code := e.transfer(a, data); code != http.StatusUnsupportedMediaType {
			t.Fatalf("status %d, want 415", code)
		}
	})
	t.Run("TamperedGrantIs403", func(t *testing.T) {
		a := ans
		tok := strings.TrimPrefix(a.URL, "/v1/blobs/")
		b := []byte(tok)
		b[len(b)/2] ^= 1
		if b[len(b)/2] == '-' || b[len(b)/2] == '_' || !isB64(b[len(b)/2]) {
			b[len(b)/2] = 'A'
		}
		a.URL = "/v1/blobs/" + string(b)
		if code := e.transfer(a, data); code != http.StatusForbidden {
			t.Fatalf("tampered PUT: %d, want 403", code)
		}
		if code, _, _ := e.get("/v1/blobs/garbage", nil); code != http.StatusForbidden {
			t.Fatalf("garbage GET: %d, want 403", code)
		}
		// An upload grant is no download grant.
		if code, _, _ := e.get(ans.URL, nil); code != http.StatusForbidden {
			t.Fatalf("GET with a PUT grant: %d, want 403", code)
		}
	})
	t.Run("MetadataMismatchIs409", func(t *testing.T) {
		if code := e.transfer(ans, data); code != 200 {
			t.Fatalf("PUT: %d", code)
		}
		for _, c := range []struct {
			name string
			key  string
			val  any
		}{{"size", "size_bytes", len(data) + 1}, {"mime", "mime_type", "image/jpeg"}, {"hash", "hash", "sha256:" + strings.Repeat("b", 64)}, {"storage id", "storage_id", "w0/aa/bb"}} {
			body := e.commitBody(ans, data, "image/png")
			body[c.key] = c.val
			if code := e.op(e.user, "commit", body, nil); code != http.StatusConflict {
				t.Errorf("commit with another %s: %d, want 409", c.name, code)
			}
		}
		if chs := e.fileMetaChanges(); len(chs) != 0 {
			t.Fatalf("file_meta written by refused commits: %+v", chs)
		}
	})
	t.Run("AnotherUsersIntentIs404", func(t *testing.T) {
		ctx := context.Background()
		bob, err := e.c.CreateUser(ctx, "p", "bob")
		if err != nil {
			t.Fatal(err)
		}
		if err := e.d.Identity.AddMember(ctx, e.ws, bob, "editor", e.user); err != nil {
			t.Fatal(err)
		}
		if code := e.op(bob, "commit", e.commitBody(ans, data, "image/png"), nil); code != http.StatusNotFound {
			t.Fatalf("commit of another user's intent: %d, want 404", code)
		}
		carol, _ := e.c.CreateUser(ctx, "p", "carol")
		if code := e.op(carol, "commit", e.commitBody(ans, data, "image/png"), nil); code != http.StatusForbidden {
			t.Fatalf("commit by a non-member: %d, want 403", code)
		}
		if _, code := e.presign(data, "image/png", map[string]any{"workspaceId": e.ws}); code != 200 {
			t.Fatalf("presign: %d", code)
		}
	})
	t.Run("PresignRefusals", func(t *testing.T) {
		cases := []struct {
			name  string
			extra map[string]any
			want  int
		}{
			{"oversize", map[string]any{"sizeBytes": blobs.DefaultMaxFileBytes + 1}, 413},
			{"zero size", map[string]any{"sizeBytes": 0}, 400},
			{"fractional size", map[string]any{"sizeBytes": 1.5}, 400},
			{"bad hash", map[string]any{"hash": "xyz"}, 400},
			{"mime outside the allowlist", map[string]any{"mimeType": "application/x-msdownload"}, 415},
			{"empty mime", map[string]any{"mimeType": ";"}, 400},
			{"bad quota", map[string]any{"workspaceQuotaBytes": 0}, 400},
			{"over quota", map[string]any{"workspaceQuotaBytes": 10}, 413},
			{"bad disposition", map[string]any{"disposition": "evil"}, 400},
		}
		for _, c := range cases {
			if _, code := e.presign(storagetest.Bytes(50, 99), "image/png", c.extra); code != c.want {
				t.Errorf("%s: %d, want %d", c.name, code, c.want)
			}
		}
		// Upper-case hash with the prefix is accepted and normalized;
		// a parameterized type is normalized.
		ans, code := e.presign(data, "Image/PNG; charset=x", map[string]any{"hash": "SHA256:" + strings.ToUpper(hashOf(data)), "expiresInMs": int64(48 * time.Hour / time.Millisecond)})
		if code != 200 {
			t.Fatalf("upper-case hash: %d", code)
		}
		if ans.ExpiresAt > time.Now().Add(time.Hour+time.Minute).UnixMilli() {
			t.Fatalf("grant lives until %d, more than an hour", ans.ExpiresAt)
		}
	})
	t.Run("ExpiredGrantIs403", func(t *testing.T) {
		a, code := e.presign(storagetest.Bytes(64, 5), "image/png", map[string]any{"expiresInMs": 60_000})
		if code != 200 {
			t.Fatal(code)
		}
		if err := e.c.Do(context.Background(), http.MethodPost, "/v1/test/clock", "", map[string]any{"offsetSeconds": 120}, nil); err != nil {
			t.Fatal(err)
		}
		defer func() {
			_ = e.c.Do(context.Background(), http.MethodPost, "/v1/test/clock", "", map[string]any{"offsetSeconds": 0}, nil)
		}()
		if code := e.transfer(a, storagetest.Bytes(64, 5)); code != http.StatusForbidden {
			t.Fatalf("PUT with an expired grant: %d, want 403", code)
		}
	})
	t.Run("StrayObjectRemovedOnDigestMismatch", func(t *testing.T) {
		// An object under the intent's key whose bytes are not the intent's
		// (as a store without checksums could hold): commit is 409 and the
		// stray is gone.
		good := storagetest.Bytes(2048, 11)
		a, code := e.presign(good, "image/png", nil)
		if code != 200 {
			t.Fatal(code)
		}
		putStray(t, e.dir, a.StorageID, storagetest.Bytes(2048, 12), "image/png")
		if code := e.op(e.user, "commit", e.commitBody(a, good, "image/png"), nil); code != http.StatusConflict {
			t.Fatalf("commit of other bytes: %d, want 409", code)
		}
		if strayExists(t, e.dir, a.StorageID) {
			t.Fatal("stray object still stored after the refused commit")
		}
		// The intent is still active: the right bytes commit.
		if code := e.transfer(a, good); code != 200 {
			t.Fatalf("PUT: %d", code)
		}
		if code := e.op(e.user, "commit", e.commitBody(a, good, "image/png"), nil); code != 200 {
			t.Fatalf("commit: %d", code)
		}
	})
}

func isB64(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}
