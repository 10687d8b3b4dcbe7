package daemon_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/or3/syncd/daemon"
	"github.com/or3/syncd/internal/crashtest"
	synclog "github.com/or3/syncd/log"
)

var errInjectedSync = errors.New("injected: fsync failed")

// walSyncFault fails every fsync of Pebble's WAL files while on.
func walSyncFault() *errorfs.Toggle {
	return &errorfs.Toggle{Injector: errorfs.InjectorFunc(func(op errorfs.Op) error {
		switch op.Kind {
		case errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo:
			if strings.HasSuffix(op.Path, ".log") {
				return errInjectedSync
			}
		}
		return nil
	})}
}

// TestDaemon_StorageFaultIs503AndRecovers injects fsync failures under
// Pebble's WAL through vfs/errorfs: the push whose group commit failed gets
// 503 UNAVAILABLE, /readyz reports the store unhealthy, nothing of the
// failed batch is half-applied, and once the fault clears syncd recovers
// without a restart and every acknowledged op is still there.
func TestDaemon_StorageFaultIs503AndRecovers(t *testing.T) {
	fault := walSyncFault()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	d, err := daemon.New(daemon.Config{
		DataDir: t.TempDir(), Listen: "127.0.0.1:0", Token: token,
		Secret: []byte("0123456789abcdef0123456789abcdef"), Logger: quiet,
		TuneLog: func(c *synclog.Config) {
			c.FS = errorfs.Wrap(vfs.Default, fault)
			c.RecoverEvery = 20 * time.Millisecond
			c.MemTableSize = 4 << 20
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	defer d.Shutdown(context.Background())
	ctx := context.Background()
	c := crashtest.NewClient(d.URL(), token)
	alice, err := c.CreateUser(ctx, "p", "alice")
	if err != nil {
		t.Fatal(err)
	}
	ws, err := c.DefaultWorkspace(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	acked := map[string]bool{}
	push := func(ops ...crashtest.Op) error {
		res, err := c.Push(ctx, alice, ws, ops)
		if err == nil {
			for _, r := range res.Results {
				if r.Success {
					acked[r.OpID] = true
				}
			}
		}
		return err
	}
	if err := push(crashtest.KVPut("d1", "before", 1, "x")); err != nil {
		t.Fatal(err)
	}

	fault.On()
	failed := []crashtest.Op{crashtest.KVPut("d1", "f1", 1, "x"), crashtest.KVPut("d1", "f2", 1, "y")}
	err = push(failed...)
	var se *crashtest.StatusError
	if !errors.As(err, &se) || se.Status != http.StatusServiceUnavailable || !strings.Contains(se.Body, "UNAVAILABLE") {
		t.Fatalf("push during an fsync fault: %v, want 503 UNAVAILABLE", err)
	}
	if code := getStatus(t, d.URL()+"/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz during the fault = %d, want 503", code)
	}
	// While the fault lasts, writes keep failing cleanly.
	if err := push(crashtest.KVPut("d1", "during", 1, "z")); !errors.As(err, &se) || se.Status != http.StatusServiceUnavailable {
		t.Fatalf("push while unhealthy: %v, want 503", err)
	}

	fault.Off()
	deadline := time.Now().Add(20 * time.Second)
	for getStatus(t, d.URL()+"/readyz") != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("syncd did not recover after the fault cleared")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := push(crashtest.KVPut("d1", "after", 1, "w")); err != nil {
		t.Fatalf("push after recovery: %v", err)
	}
	changes, err := c.PullAll(ctx, alice, ws)
	if err != nil {
		t.Fatal(err)
	}
	present := map[string]bool{}
	for i, ch := range changes {
		present[ch.Stamp.OpID] = true
		if ch.ServerVersion != uint64(i+1) {
			t.Fatalf("versions not gap-free: change %d has version %d", i, ch.ServerVersion)
		}
	}
	for id := range acked {
		if !present[id] {
			t.Fatalf("acknowledged op %s lost", id)
		}
	}
	// The failed batch is all or nothing (it may have reached the WAL).
	if present[failed[0].Stamp.OpID] != present[failed[1].Stamp.OpID] {
		t.Fatal("failed batch half applied")
	}
	// A client retry of the failed batch is safe either way.
	res, err := c.Push(ctx, alice, ws, failed)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Results {
		if !r.Success {
			t.Fatalf("retry of the failed batch: %+v", r)
		}
	}
}

func getStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
