package admin_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/or3/syncd/admin"
	"github.com/or3/syncd/daemon"
	"github.com/or3/syncd/internal/crashtest"
	"github.com/or3/syncd/storage/s3"
	"github.com/or3/syncd/storage/storagetest"
)

var s3Seq atomic.Int64

// s3Backup starts a daemon with the test MinIO's credentials and returns
// it, a fresh backup URL and a raw client on the bucket. Without MinIO
// the test is skipped on a developer machine and fails in CI.
func s3Backup(t *testing.T) (*daemon.Daemon, *crashtest.Client, string, admin.S3Credentials, *minio.Client) {
	d, c, _, url, cred, cl := s3BackupDir(t)
	return d, c, url, cred, cl
}

func s3BackupDir(t *testing.T) (*daemon.Daemon, *crashtest.Client, string, string, admin.S3Credentials, *minio.Client) {
	t.Helper()
	env := storagetest.RequireS3(t)
	bucket := fmt.Sprintf("syncd-backup-%d-%d", time.Now().UnixNano()%1e9, s3Seq.Add(1))
	st, err := s3.Open(context.Background(), s3.Config{Endpoint: env.Endpoint, Bucket: bucket, AccessKey: env.AccessKey, SecretKey: env.SecretKey, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	d, c := startDaemon(t, dataDir, func(c *daemon.Config) { c.S3AccessKey, c.S3SecretKey = env.AccessKey, env.SecretKey })
	url := fmt.Sprintf("s3://%s/backups/b%d?endpoint=%s&secure=false", bucket, s3Seq.Add(1), env.Endpoint)
	return d, c, dataDir, url, admin.S3Credentials{AccessKey: env.AccessKey, SecretKey: env.SecretKey}, st.Client()
}

func TestParseS3Target(t *testing.T) {
	tg, err := admin.ParseS3Target("s3://bk/nightly/2026-11-26?endpoint=127.0.0.1:9000&secure=false")
	if err != nil || tg.Config.Bucket != "bk" || tg.Prefix != "nightly/2026-11-26" || tg.Config.Endpoint != "127.0.0.1:9000" || tg.Config.Secure {
		t.Fatalf("%+v %v", tg, err)
	}
	if back, err := admin.ParseS3Target(tg.String()); err != nil || back != tg {
		t.Fatalf("String does not round-trip: %q → %+v %v", tg.String(), back, err)
	}
	for _, bad := range []string{"s3://bk?endpoint=x", "s3://bk/?endpoint=x", "s3://bk/a/../b?endpoint=x", "s3://bk/a//b?endpoint=x",
		"s3://bk/p", "s3://k:s@bk/p?endpoint=x", "http://bk/p?endpoint=x", "s3://bk/p?endpoint=x&color=red"} {
		if _, err := admin.ParseS3Target(bad); err == nil {
			t.Errorf("ParseS3Target(%q) accepted", bad)
		}
	}
}

// TestBackupS3_RoundTrip: an online backup to MinIO while writes go on
// restores into a fresh data dir that verifies clean and serves the same
// state; a second backup to the same prefix is refused; restore refuses a
// non-empty data dir.
func TestBackupS3_RoundTrip(t *testing.T) {
	ctx := context.Background()
	d, c, dataDir, url, cred, _ := s3BackupDir(t)
	user := mustUser(t, c, "u")
	ws, err := c.DefaultWorkspace(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	push(t, c, user, ws, "a", "b", "c")
	if err := c.RPC(ctx, "workspaceSettings.set", nil, ws, "k", "v"); err != nil {
		t.Fatal(err)
	}
	var phases []string
	res, err := d.Admin.Backup(ctx, admin.SuperAdmin("test", ""), url, func(phase string, done, total int64) {
		if len(phases) == 0 || phases[len(phases)-1] != phase {
			phases = append(phases, phase)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Files == 0 || !strings.HasPrefix(res.Dir, "s3://") || !strings.Contains(strings.Join(phases, ","), "upload") {
		t.Fatalf("result %+v, phases %v", res, phases)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dataDir, ".backup-s3-*")); len(leftovers) > 0 {
		t.Fatalf("staging left in the data dir: %v", leftovers)
	}
	if _, err := d.Admin.Backup(ctx, admin.SuperAdmin("test", ""), url, nil); err == nil || !strings.Contains(err.Error(), "already holds") {
		t.Fatalf("second backup to the same prefix: %v", err)
	}
	push(t, c, user, ws, "after")

	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RestoreS3(ctx, url, cred, full, nil); !errors.Is(err, admin.ErrNotEmpty) {
		t.Fatalf("restore into a non-empty dir: %v", err)
	}
	restored := filepath.Join(t.TempDir(), "restored")
	m, err := admin.RestoreS3(ctx, url, cred, restored, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range m.Files {
		if len(f.SHA256) != 64 {
			t.Fatalf("manifest entry without checksum: %+v", f)
		}
	}
	if rep := verifyDir(t, restored); !rep.OK || rep.Mode != "full" {
		t.Fatalf("restored state does not verify: %+v", rep)
	}
	_, c2 := startDaemon(t, restored, nil)
	changes, err := c2.PullAll(ctx, user, ws)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 3 {
		t.Fatalf("restored %d changes, want the 3 before the backup", len(changes))
	}
	var v *string
	if err := c2.RPC(ctx, "workspaceSettings.get", &v, ws, "k"); err != nil || v == nil || *v != "v" {
		t.Fatalf("setting after restore: %v %v", v, err)
	}
}

// TestBackupS3_InterruptedIsNeverComplete: a backup whose upload fails
// halfway writes no manifest, so restore refuses the prefix ("not a
// complete syncd backup") and leaves the target alone; the same prefix
// then takes a complete backup.
func TestBackupS3_InterruptedIsNeverComplete(t *testing.T) {
	ctx := context.Background()
	d, c, url, cred, cl := s3Backup(t)
	user := mustUser(t, c, "u")
	ws, _ := c.DefaultWorkspace(ctx, user)
	push(t, c, user, ws, "a")
	cctx, cancel := context.WithCancel(ctx)
	_, err := d.Admin.Backup(cctx, admin.SuperAdmin("test", ""), url, func(phase string, done, total int64) {
		if phase == "upload" && done > 0 {
			cancel() // interrupted in the middle of the upload
		}
	})
	cancel()
	if err == nil {
		t.Fatal("interrupted backup succeeded")
	}
	tg, _ := admin.ParseS3Target(url)
	if _, err := cl.StatObject(ctx, tg.Config.Bucket, tg.Prefix+"/"+admin.ManifestFile, minio.StatObjectOptions{}); err == nil {
		t.Fatal("an interrupted backup wrote its manifest")
	}
	target := filepath.Join(t.TempDir(), "r")
	if _, err := admin.RestoreS3(ctx, url, cred, target, nil); err == nil || !strings.Contains(err.Error(), "not a complete") {
		t.Fatalf("restore of an interrupted backup: %v", err)
	}
	if _, err := os.Stat(target); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("failed restore created the target: %v", err)
	}
	if err := d.DB.Healthy(); err != nil {
		t.Fatalf("daemon damaged: %v", err)
	}
	if _, err := d.Admin.Backup(ctx, admin.SuperAdmin("test", ""), url, nil); err != nil {
		t.Fatalf("backup after an interrupted one: %v", err)
	}
	if _, err := admin.RestoreS3(ctx, url, cred, target, nil); err != nil {
		t.Fatal(err)
	}
}

// TestRestoreS3_DetectsDamage: an object changed after the backup (same
// size, other bytes) or missing fails the restore, which leaves no data
// dir behind.
func TestRestoreS3_DetectsDamage(t *testing.T) {
	ctx := context.Background()
	d, c, url, cred, cl := s3Backup(t)
	user := mustUser(t, c, "u")
	ws, _ := c.DefaultWorkspace(ctx, user)
	push(t, c, user, ws, "a", "b")
	res, err := d.Admin.Backup(ctx, admin.SuperAdmin("test", ""), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	tg, _ := admin.ParseS3Target(url)
	var victim admin.ManifestEntry
	for _, f := range res.Manifest.Files {
		if f.Size > victim.Size {
			victim = f
		}
	}
	key := tg.Prefix + "/" + victim.Path
	obj, err := cl.GetObject(ctx, tg.Config.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(obj)
	obj.Close()
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x40
	if _, err := cl.PutObject(ctx, tg.Config.Bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(t.TempDir(), "r")
	if _, err := admin.RestoreS3(ctx, url, cred, target, nil); err == nil || !strings.Contains(err.Error(), "SHA-256") {
		t.Fatalf("restore of a damaged backup: %v", err)
	}
	if err := cl.RemoveObject(ctx, tg.Config.Bucket, key, minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RestoreS3(ctx, url, cred, target, nil); err == nil {
		t.Fatal("restore with a missing object succeeded")
	}
	for _, p := range []string{target, target + ".restore-partial"} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s left behind by a failed restore: %v", p, err)
		}
	}
}
