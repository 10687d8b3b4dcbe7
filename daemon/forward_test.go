package daemon_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/or3/syncd/daemon"
)

// fwRegion is one region of the forwarding tests: a daemon with peers.
type fwRegion struct {
	name, url, dir string
	d              *daemon.Daemon
}

func fwFreeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// fwStartRegions starts n daemons (regions r0..r{n-1}) whose embedded
// nats-servers form one cluster and which name each other as --peer.
func fwStartRegions(t *testing.T, n int) []*fwRegion {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("SYNCD_TEST_LOG") != "" {
		quiet = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	nats, web := make([]string, n), make([]string, n)
	regs := make([]*fwRegion, n)
	for i := range n {
		nats[i], web[i] = fwFreeAddr(t), fwFreeAddr(t)
		regs[i] = &fwRegion{name: fmt.Sprint("r", i), url: "http://" + web[i], dir: t.TempDir()}
	}
	for i, r := range regs {
		var routes []string
		peers := map[string]string{}
		for j, o := range regs {
			if j != i {
				routes = append(routes, "nats-route://"+nats[j])
				peers[o.name] = o.url
			}
		}
		d, err := daemon.New(daemon.Config{
			DataDir: r.dir, Listen: web[i], Token: token, Region: r.name,
			Secret: []byte("0123456789abcdef0123456789abcdef"), Logger: quiet,
			NATSListen: nats[i], NATSRoutes: routes, Peers: peers,
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Start(); err != nil {
			t.Fatal(err)
		}
		r.d = d
		t.Cleanup(func() { r.stop() })
	}
	return regs
}

func (r *fwRegion) stop() {
	if r.d != nil {
		_ = r.d.Shutdown(context.Background())
		r.d = nil
	}
}

// fwAnswer is one HTTP answer.
type fwAnswer struct {
	status int
	header http.Header
	body   []byte
}

func (a fwAnswer) String() string { return fmt.Sprintf("%d %s", a.status, a.body) }

// do sends method path with a JSON body (nil: none) as user ("" = no
// X-Syncd-User).
func (r *fwRegion) do(t *testing.T, method, path, user string, body any) fwAnswer {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, r.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if user != "" {
		req.Header.Set("X-Syncd-User", user)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s at %s: %v", method, path, r.name, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fwAnswer{resp.StatusCode, resp.Header, raw}
}

// rpc calls store.method with args and decodes the result into out
// (when not nil); it fails the test unless the call answers 200.
func (r *fwRegion) rpc(t *testing.T, call string, out any, args ...any) fwAnswer {
	t.Helper()
	a := r.do(t, http.MethodPost, "/v1/rpc/"+call, "", args)
	if a.status != http.StatusOK {
		t.Fatalf("%s at %s: %s", call, r.name, a)
	}
	if out != nil {
		var env struct {
			Result json.RawMessage `json:"result"`
		}
		if err := json.Unmarshal(a.body, &env); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(env.Result, out); err != nil {
			t.Fatalf("%s result %s: %v", call, env.Result, err)
		}
	}
	return a
}

// role is auth.getWorkspaceRole at r ("" for null).
func (r *fwRegion) role(t *testing.T, user, ws string) string {
	t.Helper()
	var role *string
	r.rpc(t, "auth.getWorkspaceRole", &role, map[string]string{"userId": user, "workspaceId": ws})
	if role == nil {
		return ""
	}
	return *role
}

// eventually polls cond (replication is asynchronous) for up to a minute.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fwUpload stores content as an image of ws at r through the fs gateway
// (presign-upload, PUT, commit) and returns its hash and storage id.
func fwUpload(t *testing.T, r *fwRegion, user, ws string, content []byte) (hash, storageID string) {
	t.Helper()
	sum := sha256.Sum256(content)
	hash = "sha256:" + hex.EncodeToString(sum[:])
	a := r.do(t, http.MethodPost, "/v1/storage/presign-upload", user, map[string]any{
		"workspaceId": ws, "hash": hash, "mimeType": "image/png", "sizeBytes": len(content),
	})
	if a.status != http.StatusOK {
		t.Fatalf("presign-upload: %s", a)
	}
	var up struct{ URL, StorageID, IntentID string }
	if err := json.Unmarshal(a.body, &up); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPut, r.url+up.URL, bytes.NewReader(content))
	req.Header.Set("Content-Type", "image/png")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT blob: %d", resp.StatusCode)
	}
	a = r.do(t, http.MethodPost, "/v1/storage/commit", user, map[string]any{
		"workspace_id": ws, "intent_id": up.IntentID, "hash": hash, "storage_id": up.StorageID,
		"mime_type": "image/png", "size_bytes": len(content), "name": "f.png", "kind": "image",
	})
	if a.status != http.StatusOK {
		t.Fatalf("commit: %s", a)
	}
	return hash, up.StorageID
}

// fwDownload presigns a download of ws's file hash at r and GETs it.
func fwDownload(t *testing.T, r *fwRegion, user, ws, hash string) []byte {
	t.Helper()
	got, err := r.download(user, ws, hash)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// download presigns a download of ws's file hash at r and GETs it (no
// *testing.T: concurrent downloads call it from other goroutines).
func (r *fwRegion) download(user, ws, hash string) ([]byte, error) {
	raw, _ := json.Marshal(map[string]any{"workspaceId": ws, "hash": hash})
	req, _ := http.NewRequest(http.MethodPost, r.url+"/v1/storage/presign-download", bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Syncd-User", user)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var down struct{ URL string }
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &down) != nil {
		return nil, fmt.Errorf("presign-download in %s: %d %s", r.name, resp.StatusCode, body)
	}
	if resp, err = http.Get(r.url + down.URL); err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("download in %s: status %d, %v", r.name, resp.StatusCode, err)
	}
	return got, nil
}

// lastOrigin is the highest origin sequence r accepted itself.
func (r *fwRegion) lastOrigin(t *testing.T) uint64 {
	t.Helper()
	var last uint64
	for {
		evs, err := r.d.Engine.ReadOrigin(last, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			return last
		}
		last = evs[len(evs)-1].Seq
	}
}

// serverVersion is GET /v1/sync/server-version at r.
func (r *fwRegion) serverVersion(t *testing.T, user, ws string) uint64 {
	t.Helper()
	a := r.do(t, http.MethodGet, "/v1/sync/server-version?workspaceId="+ws, user, nil)
	var v struct{ ServerVersion uint64 }
	if a.status != http.StatusOK || json.Unmarshal(a.body, &v) != nil {
		return 0
	}
	return v.ServerVersion
}

// TestForward_ThreeRegions: three daemons over a three-node JetStream
// cluster, each naming the others as peers. A workspace homed in r0 has
// its invites, membership changes and upload intents decided by r0 when
// the calls arrive at r1 or r2 (forwarded, answered verbatim, visible in
// r0 at once and everywhere after replication; a single-use invite stays
// single-use across regions; the quota counts every region's
// reservations). Files committed in r0 download byte-identical in r1 (the
// bytes are fetched from r0 on first download); a copy whose bytes do not
// match the committed hash is refused and nothing is stored. With r0
// stopped, the same calls in r1 answer 503 UNAVAILABLE with Retry-After
// and change nothing there.
func TestForward_ThreeRegions(t *testing.T) {
	regs := fwStartRegions(t, 3)
	r0, r1, r2 := regs[0], regs[1], regs[2]

	var alice, bob struct{ UserID string }
	r0.rpc(t, "auth.getOrCreateUser", &alice, map[string]string{"provider": "p", "providerUserId": "alice", "email": "alice@example.com"})
	var def struct{ WorkspaceID string }
	r0.rpc(t, "auth.getOrCreateDefaultWorkspace", &def, alice.UserID)
	ws := def.WorkspaceID
	for _, r := range []*fwRegion{r1, r2} {
		eventually(t, "workspace replicated to "+r.name, func() bool { return r.role(t, alice.UserID, ws) == "owner" })
	}

	// An invite created in r1 and accepted in r2 is decided by r0.
	var inv struct{ InviteID, Token, TokenHash string }
	a := r1.rpc(t, "auth.createInvite", &inv, map[string]any{
		"workspaceId": ws, "email": "bob@example.com", "role": "editor", "invitedByUserId": alice.UserID,
		"expiresAt": time.Now().Add(time.Hour).UnixMilli(),
	})
	if h := a.header.Get("X-Syncd-Home-Region"); h != "r0" || inv.TokenHash == "" {
		t.Fatalf("createInvite in r1 not answered by r0: home %q, %s", h, a.body)
	}
	accept := map[string]string{"provider": "p", "providerUserId": "bob", "email": "bob@example.com", "workspaceId": ws, "tokenHash": inv.TokenHash}
	var acc struct {
		OK     bool
		UserID string
		Role   string
	}
	r2.rpc(t, "auth.acceptInviteAndProvisionUser", &acc, accept)
	if !acc.OK || acc.Role != "editor" {
		t.Fatalf("accept in r2: %+v", acc)
	}
	bob.UserID = acc.UserID
	if got := r0.role(t, bob.UserID, ws); got != "editor" {
		t.Fatalf("home r0 role of bob after the forwarded accept: %q", got)
	}
	// Single use, everywhere: a second accept in r1 is refused by r0 even
	// before r1 has seen the first.
	var again struct{ OK bool }
	r1.rpc(t, "auth.acceptInviteAndProvisionUser", &again, accept)
	if again.OK {
		t.Fatal("an accepted invite was accepted again through another region")
	}
	for _, r := range []*fwRegion{r1, r2} {
		eventually(t, "bob editor in "+r.name, func() bool { return r.role(t, bob.UserID, ws) == "editor" })
	}

	// A membership change made in r2.
	r2.rpc(t, "workspaceAccess.setMemberRole", nil, map[string]string{"workspaceId": ws, "userId": bob.UserID, "role": "viewer"})
	if got := r0.role(t, bob.UserID, ws); got != "viewer" {
		t.Fatalf("home r0 role of bob after the forwarded setMemberRole: %q", got)
	}
	eventually(t, "bob viewer in r1", func() bool { return r1.role(t, bob.UserID, ws) == "viewer" })

	// Upload intents and quota: decided by r0 for calls in r1 and r2.
	hashOf := func(s string) string { h := sha256.Sum256([]byte(s)); return "sha256:" + hex.EncodeToString(h[:]) }
	reserve := func(r *fwRegion, content string) fwAnswer {
		return r.do(t, http.MethodPost, "/v1/sync/upload-intents/reserve", alice.UserID, map[string]any{
			"workspaceId": ws, "hash": hashOf(content), "mimeType": "image/png", "sizeBytes": 600, "workspaceQuotaBytes": 1000,
		})
	}
	a = reserve(r1, "one")
	var intent struct{ IntentID string }
	if a.status != http.StatusOK || json.Unmarshal(a.body, &intent) != nil || a.header.Get("X-Syncd-Home-Region") != "r0" {
		t.Fatalf("reserve in r1: %s", a)
	}
	if a = reserve(r2, "two"); a.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("reserve in r2 over the quota r1's reservation used at home: %s", a)
	}
	// Intents do not replicate: only the home region can cancel it.
	a = r2.do(t, http.MethodPost, "/v1/sync/upload-intents/cancel", alice.UserID, map[string]any{"workspaceId": ws, "intentId": intent.IntentID})
	if a.status != http.StatusOK {
		t.Fatalf("cancel in r2 of the intent reserved through r1: %s", a)
	}
	if a = reserve(r2, "two"); a.status != http.StatusOK {
		t.Fatalf("reserve in r2 after the cancel: %s", a)
	}

	// Blobs (fs backend): committed in r0, downloaded in r1.
	content := make([]byte, 300<<10)
	_, _ = rand.Read(content)
	good, _ := fwUpload(t, r0, alice.UserID, ws, content)
	bad := []byte("these bytes will be corrupted at their origin")
	badHash, badKey := fwUpload(t, r0, alice.UserID, ws, bad)
	// The origin's copy rots (same length, other bytes: the content is
	// the file's tail, after the fs store's header) before anyone else
	// fetched it.
	badPath := filepath.Join(r0.dir, "blobs", filepath.FromSlash(badKey))
	raw, err := os.ReadFile(badPath)
	if err != nil || !bytes.HasSuffix(raw, bad) {
		t.Fatalf("origin object: %v", err)
	}
	copy(raw[len(raw)-len(bad):], bytes.ToUpper(bad))
	if err := os.WriteFile(badPath, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	v0 := r0.serverVersion(t, alice.UserID, ws)
	eventually(t, "file_meta replicated to r1", func() bool { return r1.serverVersion(t, alice.UserID, ws) >= v0 })

	if got := fwDownload(t, r1, alice.UserID, ws, good); !bytes.Equal(got, content) {
		t.Fatalf("download in r1: %d bytes, not the %d uploaded in r0", len(got), len(content))
	}
	// Concurrent first downloads in r2 (one fetch; every answer whole).
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got, err := r2.download(alice.UserID, ws, good); err != nil || !bytes.Equal(got, content) {
				t.Errorf("concurrent download in r2: %d bytes, not the %d uploaded in r0 (%v)", len(got), len(content), err)
			}
		}()
	}
	wg.Wait()
	a = r1.do(t, http.MethodPost, "/v1/storage/presign-download", alice.UserID, map[string]any{"workspaceId": ws, "hash": badHash})
	if a.status != http.StatusNotFound {
		t.Fatalf("presign-download in r1 of a file whose origin copy does not match its hash: %s", a)
	}
	if _, err := os.Stat(filepath.Join(r1.dir, "blobs", filepath.FromSlash(badKey))); !os.IsNotExist(err) {
		t.Fatalf("the mismatching copy was stored in r1: %v", err)
	}

	// A file committed in r1, which is not the workspace's home: its
	// intent is reserved at r0, its bytes stay in r1, and r2 fetches them
	// from r1.
	fromR1 := make([]byte, 100<<10)
	_, _ = rand.Read(fromR1)
	h1, _ := fwUpload(t, r1, alice.UserID, ws, fromR1)
	v1 := r1.serverVersion(t, alice.UserID, ws)
	eventually(t, "file_meta replicated to r2", func() bool { return r2.serverVersion(t, alice.UserID, ws) >= v1 })
	if got := fwDownload(t, r2, alice.UserID, ws, h1); !bytes.Equal(got, fromR1) {
		t.Fatalf("download in r2: %d bytes, not the %d uploaded in r1", len(got), len(fromR1))
	}
	a = r1.do(t, http.MethodPost, "/v1/storage/presign-upload", alice.UserID, map[string]any{
		"workspaceId": ws, "hash": hashOf("four"), "mimeType": "image/png", "sizeBytes": 4,
	})
	var pending struct{ IntentID string }
	if a.status != http.StatusOK || json.Unmarshal(a.body, &pending) != nil {
		t.Fatalf("presign-upload in r1: %s", a)
	}
	a = r0.do(t, http.MethodPost, "/v1/sync/upload-intents/cancel", alice.UserID, map[string]any{"workspaceId": ws, "intentId": pending.IntentID})
	if a.status != http.StatusOK || a.header.Get("X-Syncd-Home-Region") != "" {
		t.Fatalf("the intent of a presign-upload in r1 is not r0's own: cancel in r0: %s", a)
	}

	// A background job lives in the region that created it (r1): calls
	// naming it in r2 and r0 are forwarded there, its stream is relayed.
	var jobID string
	r1.rpc(t, "jobs.createJob", &jobID, map[string]string{"userId": alice.UserID, "threadId": "t", "messageId": "m", "model": "x"})
	var job struct{ ID, Status string }
	if a = r2.rpc(t, "jobs.getJob", &job, jobID, alice.UserID); job.ID != jobID || a.header.Get("X-Syncd-Home-Region") != "r1" {
		t.Fatalf("getJob in r2 of r1's job: %s", a)
	}
	var ok bool
	if r2.rpc(t, "jobs.updateJob", &ok, jobID, map[string]string{"contentChunk": "hello "}); !ok {
		t.Fatal("updateJob in r2 of r1's job refused")
	}
	if r0.rpc(t, "jobs.completeJob", &ok, jobID, "hello world"); !ok {
		t.Fatal("completeJob in r0 of r1's job refused")
	}
	if r1.rpc(t, "jobs.getJob", &job, jobID, alice.UserID); job.Status != "complete" {
		t.Fatalf("r1's job after the forwarded completeJob: %+v", job)
	}
	a = r2.do(t, http.MethodGet, "/v1/jobs/"+jobID+"/stream?userId="+alice.UserID, "", nil)
	if a.status != http.StatusOK || !bytes.Contains(a.body, []byte("hello world")) || !bytes.Contains(a.body, []byte("event: done")) {
		t.Fatalf("job stream relayed by r2: %s", a)
	}
	var none *struct{ ID string }
	if r2.rpc(t, "jobs.getJob", &none, "0197c0de-0000-7000-8000-000000000000", alice.UserID); none != nil {
		t.Fatalf("a job no region has: %+v", none)
	}

	// The home region goes away: home decisions in r1 are 503 and change
	// nothing there; local calls are still served.
	var before []json.RawMessage
	r1.rpc(t, "auth.listInvites", &before, map[string]string{"workspaceId": ws})
	accepted := r1.lastOrigin(t) // events r1 itself accepted so far
	r0.stop()
	for _, c := range []struct {
		name, path string
		user       string
		body       any
	}{
		{"createInvite", "/v1/rpc/auth.createInvite", "", []any{map[string]any{
			"workspaceId": ws, "email": "carol@example.com", "role": "editor", "invitedByUserId": alice.UserID,
			"expiresAt": time.Now().Add(time.Hour).UnixMilli(),
		}}},
		{"setMemberRole", "/v1/rpc/workspaceAccess.setMemberRole", "", []any{map[string]string{"workspaceId": ws, "userId": bob.UserID, "role": "editor"}}},
		{"acceptInviteAndProvisionUser", "/v1/rpc/auth.acceptInviteAndProvisionUser", "", []any{map[string]string{
			"provider": "p", "providerUserId": "carol", "email": "carol@example.com", "workspaceId": ws, "tokenHash": inv.TokenHash,
		}}},
		{"reserve", "/v1/sync/upload-intents/reserve", alice.UserID, map[string]any{"workspaceId": ws, "hash": hashOf("three"), "mimeType": "image/png", "sizeBytes": 10}},
	} {
		a := r1.do(t, http.MethodPost, c.path, c.user, c.body)
		var e struct {
			Error struct{ Code string }
		}
		_ = json.Unmarshal(a.body, &e)
		if a.status != http.StatusServiceUnavailable || e.Error.Code != "UNAVAILABLE" || a.header.Get("Retry-After") == "" {
			t.Errorf("%s in r1 with its home region down: %s (Retry-After %q)", c.name, a, a.header.Get("Retry-After"))
		}
	}
	if got := r1.lastOrigin(t); got != accepted {
		t.Errorf("r1 logged events of its own (origin sequence %d → %d) for calls its home refused", accepted, got)
	}
	// A storage upload needs the home's reservation too.
	a = r1.do(t, http.MethodPost, "/v1/storage/presign-upload", alice.UserID, map[string]any{"workspaceId": ws, "hash": hashOf("three"), "mimeType": "image/png", "sizeBytes": 10})
	if a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") == "" {
		t.Errorf("presign-upload in r1 with its home region down: %s (Retry-After %q)", a, a.header.Get("Retry-After"))
	}
	var after []json.RawMessage
	r1.rpc(t, "auth.listInvites", &after, map[string]string{"workspaceId": ws})
	if len(after) != len(before) {
		t.Errorf("invites in r1: %d before, %d after the refused createInvite", len(before), len(after))
	}
	if got := r1.role(t, bob.UserID, ws); got != "viewer" {
		t.Errorf("bob's role in r1 after the refused setMemberRole: %q", got)
	}
}
