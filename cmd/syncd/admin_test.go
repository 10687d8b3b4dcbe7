package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/or3/syncd/daemon"
	"github.com/or3/syncd/engine"
	"github.com/or3/syncd/internal/crashtest"
	"github.com/or3/syncd/storage/storagetest"
)

// TestAdminCLI_AgainstRealDaemon runs `syncd admin` in-process against a
// daemon serving on 127.0.0.1: every command, --json and the tables, and
// the exit codes (0 ok, 1 failure, 2 usage).
func TestAdminCLI_AgainstRealDaemon(t *testing.T) {
	const tok = "cli-test-token-0123456789abcdef"
	dataDir := t.TempDir()
	d, err := daemon.New(daemon.Config{
		DataDir: dataDir, Listen: "127.0.0.1:0", Token: tok,
		Secret: []byte("0123456789abcdef0123456789abcdef"), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		History: engine.HistoryConfig{MaintenanceInterval: -1},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	defer d.Shutdown(context.Background())
	ctx := context.Background()
	c := crashtest.NewClient(d.URL(), tok)
	user, err := c.CreateUser(ctx, "test", "alice")
	if err != nil {
		t.Fatal(err)
	}
	ws, err := c.DefaultWorkspace(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Push(ctx, user, ws, []crashtest.Op{crashtest.KVPut("d", "a", 1, "x")}); err != nil {
		t.Fatal(err)
	}
	env := func(k string) string {
		switch k {
		case "SYNCD_URL":
			return d.URL()
		case "SYNCD_TOKEN":
			return tok
		}
		return ""
	}
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := runAdmin(ctx, args, env, &out, &errb)
		return code, out.String(), errb.String()
	}
	mustRun := func(want int, args ...string) string {
		t.Helper()
		code, out, errs := run(args...)
		if code != want {
			t.Fatalf("syncd admin %v: exit %d, want %d\nstdout: %s\nstderr: %s", args, code, want, out, errs)
		}
		return out
	}

	var st struct {
		Healthy    bool `json:"healthy"`
		Workspaces struct {
			Total int `json:"total"`
		} `json:"workspaces"`
	}
	if err := json.Unmarshal([]byte(mustRun(0, "--json", "status")), &st); err != nil || !st.Healthy || st.Workspaces.Total != 1 {
		t.Fatalf("status --json: %+v %v", st, err)
	}
	if out := mustRun(0, "status"); !strings.Contains(out, "change entries") {
		t.Fatalf("status table: %s", out)
	}
	mustRun(0, "users", "grant", user)
	if out := mustRun(0, "users"); !strings.Contains(out, user) {
		t.Fatalf("users: %s", out)
	}
	if out := mustRun(0, "workspaces", "--search", "personal"); !strings.Contains(out, ws) {
		t.Fatalf("workspaces: %s", out)
	}
	if out := mustRun(0, "gc", "--all"); !strings.Contains(out, "sync.gc-tombstones") {
		t.Fatalf("gc: %s", out)
	}
	if out := mustRun(0, "verify"); !strings.Contains(out, "ok (full)") {
		t.Fatalf("verify: %s", out)
	}
	bk := filepath.Join(t.TempDir(), "bk")
	mustRun(0, "backup", bk)
	if _, err := os.Stat(filepath.Join(bk, "manifest.json")); err != nil {
		t.Fatal(err)
	}
	restored := filepath.Join(t.TempDir(), "restored")
	if out := mustRun(0, "restore", bk, "--data-dir", restored); !strings.Contains(out, "ok (full)") {
		t.Fatalf("restore: %s", out)
	}
	if out := mustRun(0, "--json", "verify", "--data-dir", restored); !strings.Contains(out, `"ok": true`) {
		t.Fatalf("offline verify: %s", out)
	}
	var page struct {
		Items []struct {
			Action string `json:"action"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(mustRun(0, "--json", "audit", "--limit", "100")), &page); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range page.Items {
		seen[e.Action] = true
	}
	for _, a := range []string{"admin.grant", "action.sync.gc-change-log", "action.storage.gc", "action.state.verify", "action.backup"} {
		if !seen[a] {
			t.Fatalf("audit lacks %s: %v", a, seen)
		}
	}

	// Failures: exit 1 with a clear message.
	if code, _, errs := run("restore", bk, "--data-dir", restored); code != 1 || !strings.Contains(errs, "not empty") {
		t.Fatalf("restore into non-empty: %d %s", code, errs)
	}
	if code, _, errs := run("backup", bk); code != 1 || !strings.Contains(errs, "exists") {
		t.Fatalf("backup over existing: %d %s", code, errs)
	}
	if code, _, _ := run("--token", "wrong", "status"); code != 1 {
		t.Fatalf("wrong token: exit %d", code)
	}
	if code, _, errs := run("verify", "--data-dir", dataDir); code != 1 || !strings.Contains(errs, "running") {
		t.Fatalf("offline verify of a live dir: %d %s", code, errs)
	}
	// Usage: exit 2.
	for _, args := range [][]string{{}, {"frobnicate"}, {"backup"}, {"restore", bk}, {"users", "grant"}, {"workspaces", "--per-page", "0"}, {"--nope"}} {
		if code, _, _ := run(args...); code != 2 {
			t.Fatalf("%v: exit %d, want 2", args, code)
		}
	}
}

// TestAdminCLI_BackupRestoreS3 runs `syncd admin backup s3://…` against a
// real daemon and MinIO, then `restore s3://… --data-dir` (which verifies
// the restored state), and the usage and failure exits of the S3 forms.
func TestAdminCLI_BackupRestoreS3(t *testing.T) {
	s3env := storagetest.RequireS3(t)
	const tok = "cli-test-token-0123456789abcdef"
	d, err := daemon.New(daemon.Config{
		DataDir: t.TempDir(), Listen: "127.0.0.1:0", Token: tok,
		Secret: []byte("0123456789abcdef0123456789abcdef"), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		History:     engine.HistoryConfig{MaintenanceInterval: -1},
		S3AccessKey: s3env.AccessKey, S3SecretKey: s3env.SecretKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	defer d.Shutdown(context.Background())
	ctx := context.Background()
	c := crashtest.NewClient(d.URL(), tok)
	user, err := c.CreateUser(ctx, "test", "alice")
	if err != nil {
		t.Fatal(err)
	}
	ws, err := c.DefaultWorkspace(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Push(ctx, user, ws, []crashtest.Op{crashtest.KVPut("d", "a", 1, "x")}); err != nil {
		t.Fatal(err)
	}
	env := func(k string) string {
		switch k {
		case "SYNCD_URL":
			return d.URL()
		case "SYNCD_TOKEN":
			return tok
		case "SYNCD_S3_ACCESS_KEY":
			return s3env.AccessKey
		case "SYNCD_S3_SECRET_KEY":
			return s3env.SecretKey
		}
		return ""
	}
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := runAdmin(ctx, args, env, &out, &errb)
		return code, out.String(), errb.String()
	}
	url := fmt.Sprintf("s3://cli-backups-%d/nightly/one?endpoint=%s&secure=false", time.Now().UnixNano()%1e9, s3env.Endpoint)
	if code, out, errs := run("backup", url); code != 0 || !strings.Contains(out, "s3://") {
		t.Fatalf("backup to S3: exit %d\n%s\n%s", code, out, errs)
	}
	if code, _, errs := run("backup", url); code != 1 || !strings.Contains(errs, "already holds") {
		t.Fatalf("second backup to the same prefix: exit %d %s", code, errs)
	}
	restored := filepath.Join(t.TempDir(), "restored")
	if code, out, errs := run("restore", url, "--data-dir", restored); code != 0 || !strings.Contains(out, "ok (full)") {
		t.Fatalf("restore from S3: exit %d\n%s\n%s", code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(restored, "log")); err != nil {
		t.Fatal(err)
	}
	missing := strings.Replace(url, "/one?", "/never-written?", 1)
	if code, _, errs := run("restore", missing, "--data-dir", filepath.Join(t.TempDir(), "x")); code != 1 || !strings.Contains(errs, "not a complete") {
		t.Fatalf("restore of a prefix without a backup: exit %d %s", code, errs)
	}
	for _, args := range [][]string{{"backup", "s3://b?endpoint=x"}, {"restore", "s3://b/p", "--data-dir", t.TempDir()}} {
		if code, _, errs := run(args...); code != 2 {
			t.Fatalf("%v: exit %d, want 2 (%s)", args, code, errs)
		}
	}
}
