package admin_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/or3/syncd/admin"
	"github.com/or3/syncd/daemon"
	"github.com/or3/syncd/internal/crashtest"
	synclog "github.com/or3/syncd/log"
)

// tamper rewrites the payload of ws's kv row pk behind the log's back.
func tamper(t *testing.T, d *daemon.Daemon, ws, pk string) {
	t.Helper()
	key := synclog.RowKey(ws, "kv", pk)
	v := d.DB.View()
	var row synclog.RowRecord
	found, err := synclog.GetRecord(v, key, &row)
	v.Release()
	if err != nil || !found {
		t.Fatalf("row %s: %v %v", pk, found, err)
	}
	row.Payload = []byte(`{"id":"` + pk + `","value":"tampered"}`)
	// Through a commit of the log, so the durable view verify reads
	// includes it (a bare Pebble write would wait for the next commit).
	b := d.DB.NewBatch()
	defer b.Close()
	if err := b.SetRecord(key, &row); err != nil {
		t.Fatal(err)
	}
	if err := d.DB.Commit(context.Background(), b); err != nil {
		t.Fatal(err)
	}
}

func push(t *testing.T, c *crashtest.Client, user, ws string, pks ...string) {
	t.Helper()
	var ops []crashtest.Op
	for _, pk := range pks {
		ops = append(ops, crashtest.KVPut("dev", pk, 1, "v-"+pk))
	}
	if _, err := c.Push(context.Background(), user, ws, ops); err != nil {
		t.Fatal(err)
	}
}

// TestVerify_FullModeDetectsTamperedRow: on an uncollected log verify
// rebuilds every state keyspace and finds a row written behind the log.
func TestVerify_FullModeDetectsTamperedRow(t *testing.T) {
	ctx := context.Background()
	d, c := startDaemon(t, t.TempDir(), nil)
	user := mustUser(t, c, "u")
	ws, err := c.DefaultWorkspace(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	push(t, c, user, ws, "a", "b", "c")
	if err := c.RPC(ctx, "adminUsers.grantAdmin", nil, map[string]any{"userId": user}); err != nil {
		t.Fatal(err)
	}
	rep, err := d.Admin.VerifyOnline(ctx, nil)
	if err != nil || !rep.OK || rep.Mode != "full" {
		t.Fatalf("clean verify: %+v %v", rep, err)
	}
	tamper(t, d, ws, "b")
	rep, err = d.Admin.VerifyOnline(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || len(rep.Problems) == 0 || !strings.Contains(rep.Problems[0], "differ") {
		t.Fatalf("tampered row not detected: %+v", rep)
	}
}

// TestVerify_TailModeAfterGC: after history GC verify checks the retained
// tail (replay changes nothing) and the invariants; a tampered row whose
// winning entry is retained is found.
func TestVerify_TailModeAfterGC(t *testing.T) {
	ctx := context.Background()
	d, c := startDaemon(t, t.TempDir(), func(cfg *daemon.Config) { cfg.TestHooks = true })
	user := mustUser(t, c, "u")
	ws, err := c.DefaultWorkspace(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	push(t, c, user, ws, "a", "b", "c")
	d.Clock.SetOffset(48 * time.Hour)
	res, err := d.Admin.RunAction(ctx, admin.SuperAdmin("", ""), "sync.gc-change-log", admin.ActionParams{RetentionSeconds: 3600}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.(admin.GCSummary).Purged != 3 {
		t.Fatalf("gc: %+v", res)
	}
	push(t, c, user, ws, "d", "e")
	rep, err := d.Admin.VerifyOnline(ctx, nil)
	if err != nil || !rep.OK || rep.Mode != "tail" {
		t.Fatalf("clean tail verify: %+v %v", rep, err)
	}
	tamper(t, d, ws, "e")
	out, err := d.Admin.RunAction(ctx, admin.SuperAdmin("", ""), "state.verify", admin.ActionParams{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep = out.(admin.VerifyReport)
	if rep.OK {
		t.Fatalf("tampered row not detected in tail mode: %+v", rep)
	}
	t.Logf("problems: %v", rep.Problems)
	var page admin.AuditPage
	if err := c.RPC(ctx, "adminUsers.listAudit", &page, map[string]any{"action": "action."}); err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 2 || page.Items[0].Action != "action.state.verify" {
		t.Fatalf("maintenance actions not audited: %+v", page.Items)
	}
}

// TestDigest_EqualStateEqualDigest: the digest hashes merge state only, so
// a restored copy (other region-local bookkeeping) digests the same, and
// any change to a row changes it.
func TestDigest_EqualStateEqualDigest(t *testing.T) {
	ctx := context.Background()
	d, c := startDaemon(t, t.TempDir(), nil)
	user := mustUser(t, c, "u")
	ws, err := c.DefaultWorkspace(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	push(t, c, user, ws, "a", "b")
	var d1 admin.Digest
	if err := c.Do(ctx, "GET", "/v1/admin/digest?workspaceId="+ws, "", nil, &d1); err != nil {
		t.Fatal(err)
	}
	if d1.Keys != 2 || len(d1.Digest) != 64 {
		t.Fatalf("digest %+v", d1)
	}
	dir := t.TempDir() + "/bk"
	if _, err := d.Admin.Backup(ctx, admin.SuperAdmin("", ""), dir, nil); err != nil {
		t.Fatal(err)
	}
	restored := t.TempDir() + "/r"
	if _, err := admin.Restore(dir, restored, nil); err != nil {
		t.Fatal(err)
	}
	_, c2 := startDaemon(t, restored, nil)
	var d2 admin.Digest
	if err := c2.Do(ctx, "GET", "/v1/admin/digest?workspaceId="+ws, "", nil, &d2); err != nil {
		t.Fatal(err)
	}
	if d1.Digest != d2.Digest {
		t.Fatalf("equal state, different digests: %s vs %s", d1.Digest, d2.Digest)
	}
	push(t, c, user, ws, "c")
	var d3 admin.Digest
	if err := c.Do(ctx, "GET", "/v1/admin/digest?workspaceId="+ws, "", nil, &d3); err != nil {
		t.Fatal(err)
	}
	if d3.Digest == d1.Digest {
		t.Fatal("digest did not change with the state")
	}
	if err := c.Do(ctx, "GET", "/v1/admin/digest", "", nil, nil); status(err) != 400 {
		t.Fatalf("missing workspaceId: %v", err)
	}
}

// TestAdminHTTP_StatusAndBadInput checks /v1/admin/status and the bad
// input of the actions endpoint.
func TestAdminHTTP_StatusAndBadInput(t *testing.T) {
	ctx := context.Background()
	_, c := startDaemon(t, t.TempDir(), nil)
	user := mustUser(t, c, "u")
	ws, _ := c.DefaultWorkspace(ctx, user)
	push(t, c, user, ws, "a")
	var st admin.Status
	if err := c.Do(ctx, "GET", "/v1/admin/status", "", nil, &st); err != nil {
		t.Fatal(err)
	}
	if !st.Healthy || st.Workspaces.Total != 1 || st.Log.ChangeEntries != 1 || st.Replication.State == "" || st.Log.DiskBytes == 0 {
		t.Fatalf("status %+v", st)
	}
	if err := c.Do(ctx, "POST", "/v1/admin/actions/nope", "", map[string]any{}, nil); status(err) != 404 {
		t.Fatalf("unknown action: %v", err)
	}
	if err := c.Do(ctx, "POST", "/v1/admin/actions/sync.gc-change-log", "", map[string]any{"retentionSecs": 1}, nil); status(err) != 400 {
		t.Fatalf("misspelt parameter: %v", err)
	}
	if err := c.Do(ctx, "POST", "/v1/admin/actions/sync.gc-change-log", "", map[string]any{"retentionSeconds": 5}, nil); status(err) != 400 {
		t.Fatalf("retention out of range: %v", err)
	}
	if err := c.Do(ctx, "POST", "/v1/admin/actions/backup", "", map[string]any{}, nil); status(err) != 400 {
		t.Fatalf("backup without dir: %v", err)
	}
	if err := c.Do(ctx, "POST", "/v1/admin/actions/log.compact", "other-user", nil, nil); status(err) != 401 {
		t.Fatalf("non-admin X-Syncd-User: %v", err)
	}
	noTok := crashtest.NewClient(c.Base, "wrong")
	if err := noTok.Do(ctx, "GET", "/v1/admin/status", "", nil, nil); status(err) != 401 {
		t.Fatalf("wrong token: %v", err)
	}
	if err := c.Do(ctx, "POST", "/v1/admin/actions/log.compact", "", nil, nil); err != nil {
		t.Fatalf("compact: %v", err)
	}
}

// TestCompact_CollectsSupersededCursorEvents: log.compact deletes old
// cursor.set events that a newer one of the same device supersedes; the
// cursors are unchanged and replay still equals live.
func TestCompact_CollectsSupersededCursorEvents(t *testing.T) {
	ctx := context.Background()
	d, c := startDaemon(t, t.TempDir(), nil)
	user := mustUser(t, c, "u")
	ws, err := c.DefaultWorkspace(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	push(t, c, user, ws, "a", "b", "c", "d", "e")
	for v := 1; v <= 5; v++ {
		for _, dev := range []string{"d1", "d2"} {
			if err := c.Do(ctx, "POST", "/v1/sync/update-cursor", user, map[string]any{
				"scope": map[string]string{"workspaceId": ws}, "deviceId": dev, "version": v,
			}, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	before := d.DB.View()
	var cur synclog.CursorRecord
	if _, err := synclog.GetRecord(before, synclog.CursorKey(ws, "d1"), &cur); err != nil {
		t.Fatal(err)
	}
	before.Release()
	d.Clock.SetOffset(48 * time.Hour)
	out, err := d.Admin.RunAction(ctx, admin.SuperAdmin("", ""), "log.compact", admin.ActionParams{RetentionSeconds: 3600}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := out.(admin.CompactResult).CursorEventsCollected; got != 8 {
		t.Fatalf("collected %d cursor events, want 8 (4 superseded per device)", got)
	}
	after := d.DB.View()
	var cur2 synclog.CursorRecord
	if _, err := synclog.GetRecord(after, synclog.CursorKey(ws, "d1"), &cur2); err != nil {
		t.Fatal(err)
	}
	after.Release()
	if cur != cur2 || cur2.LastSeen != 5 {
		t.Fatalf("cursor changed: %+v -> %+v", cur, cur2)
	}
	rep, err := d.Admin.VerifyOnline(ctx, nil)
	if err != nil || !rep.OK || rep.Mode != "full" {
		t.Fatalf("verify after compaction: %+v %v", rep, err)
	}
}
