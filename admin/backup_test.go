package admin_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/or3/syncd/admin"
	"github.com/or3/syncd/daemon"
	"github.com/or3/syncd/internal/crashtest"
	synclog "github.com/or3/syncd/log"
)

func verifyDir(t *testing.T, dataDir string) admin.VerifyReport {
	t.Helper()
	db, err := synclog.Open(synclog.Config{Dir: filepath.Join(dataDir, "log"), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rep, err := admin.Verify(context.Background(), db, daemon.NewFolder(), filepath.Join(t.TempDir(), "replay"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestBackup_DuringPushLoadRestoresEveryAckedOp takes an online backup
// while four writers push, restores it into a fresh data dir, verifies it
// and checks that every op acknowledged before the backup started is
// there.
func TestBackup_DuringPushLoadRestoresEveryAckedOp(t *testing.T) {
	ctx := context.Background()
	d, c := startDaemon(t, t.TempDir(), nil)
	user := mustUser(t, c, "writer")
	ws, err := c.DefaultWorkspace(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.RPC(ctx, "workspaceSettings.set", nil, ws, "k", "v"); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	acked := map[string]bool{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				op := crashtest.KVPut(fmt.Sprintf("dev%d", w), fmt.Sprintf("k%d-%d", w, i), 1, "v")
				res, err := c.Push(ctx, user, ws, []crashtest.Op{op})
				if err == nil && len(res.Results) == 1 && res.Results[0].Success {
					mu.Lock()
					acked[op.Stamp.OpID] = true
					mu.Unlock()
				}
			}
		}(w)
	}
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	before := make([]string, 0, len(acked))
	for id := range acked {
		before = append(before, id)
	}
	mu.Unlock()
	dir := filepath.Join(t.TempDir(), "bk")
	res, err := d.Admin.Backup(ctx, admin.SuperAdmin("test", ""), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	close(stop)
	wg.Wait()
	if len(before) == 0 || res.Files == 0 {
		t.Fatalf("no load before the backup (%d ops) or empty backup (%+v)", len(before), res)
	}
	if _, err := os.Stat(dir + ".partial"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("partial dir left behind: %v", err)
	}

	restored := filepath.Join(t.TempDir(), "restored")
	if _, err := admin.Restore(dir, restored, nil); err != nil {
		t.Fatal(err)
	}
	if rep := verifyDir(t, restored); !rep.OK || rep.Mode != "full" {
		t.Fatalf("restored state does not verify: %+v", rep)
	}
	for _, f := range []string{"webhook-key", "blob-grant.key"} {
		if _, err := os.Stat(filepath.Join(restored, f)); err != nil {
			t.Fatalf("secret %s not restored: %v", f, err)
		}
	}
	_, c2 := startDaemon(t, restored, nil)
	changes, err := c2.PullAll(ctx, user, ws)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, ch := range changes {
		have[ch.Stamp.OpID] = true
	}
	for _, id := range before {
		if !have[id] {
			t.Fatalf("op %s acknowledged before the backup is missing from the restore (%d of %d present)", id, len(have), len(before))
		}
	}
	var v *string
	if err := c2.RPC(ctx, "workspaceSettings.get", &v, ws, "k"); err != nil || v == nil || *v != "v" {
		t.Fatalf("setting after restore: %v %v", v, err)
	}
	t.Logf("%d ops acked before the backup, %d in the restore; backup %d files, %d bytes in %d ms", len(before), len(have), res.Files, res.Bytes, res.DurationMs)
}

// TestRestore_RefusesNonEmptyDir: restore never writes into a data dir
// that holds anything.
func TestRestore_RefusesNonEmptyDir(t *testing.T) {
	d, _ := startDaemon(t, t.TempDir(), nil)
	dir := filepath.Join(t.TempDir(), "bk")
	if _, err := d.Admin.Backup(context.Background(), admin.SuperAdmin("", ""), dir, nil); err != nil {
		t.Fatal(err)
	}
	target := t.TempDir()
	if err := os.WriteFile(filepath.Join(target, "keep"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := admin.Restore(dir, target, nil)
	if !errors.Is(err, admin.ErrNotEmpty) {
		t.Fatalf("want ErrNotEmpty, got %v", err)
	}
	if entries, _ := os.ReadDir(target); len(entries) != 1 {
		t.Fatalf("target touched: %d entries", len(entries))
	}
	if _, err := d.Admin.Backup(context.Background(), admin.SuperAdmin("", ""), dir, nil); err == nil {
		t.Fatal("backup over an existing directory succeeded")
	}
}

// TestBackup_InterruptedIsNeverComplete: a cancelled backup leaves no
// directory under the final name and no partial one; a partial directory
// (a crash mid-backup) is refused by restore and blocks a new backup with
// a clear error.
func TestBackup_InterruptedIsNeverComplete(t *testing.T) {
	d, _ := startDaemon(t, t.TempDir(), nil)
	dir := filepath.Join(t.TempDir(), "bk")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := d.Admin.Backup(ctx, admin.SuperAdmin("", ""), dir, nil); err == nil {
		t.Fatal("cancelled backup succeeded")
	}
	for _, p := range []string{dir, dir + ".partial"} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s exists after an interrupted backup", p)
		}
	}
	// A crash mid-backup leaves DIR.partial without a manifest.
	if err := os.MkdirAll(filepath.Join(dir+".partial", "log"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Restore(dir+".partial", filepath.Join(t.TempDir(), "r"), nil); err == nil || !strings.Contains(err.Error(), "not a complete") {
		t.Fatalf("restore of a partial backup: %v", err)
	}
	if _, err := d.Admin.Backup(context.Background(), admin.SuperAdmin("", ""), dir, nil); err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("backup beside a partial one: %v", err)
	}
	if err := d.DB.Healthy(); err != nil {
		t.Fatalf("daemon damaged: %v", err)
	}
}
