package daemon_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/or3/syncd/daemon"
	"github.com/or3/syncd/internal/crashtest"
	synclog "github.com/or3/syncd/log"
)

const token = "daemon-test-token-0123456789"

// TestDaemon_FolderReplaysLiveState drives every module the daemon wires
// through HTTP (users, workspaces, an invite, pushes, a device cursor),
// then rebuilds a fresh log from the daemon's events with Daemon.Folder and
// checks that the rebuilt state equals the live state byte for byte:
// every event type written has a fold, and replay equals live.
func TestDaemon_FolderReplaysLiveState(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	d, err := daemon.New(daemon.Config{
		DataDir: t.TempDir(), Listen: "127.0.0.1:0", Token: token,
		Secret: []byte("0123456789abcdef0123456789abcdef"), Logger: quiet,
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
	if err := c.RPC(ctx, "auth.createInvite", nil, map[string]any{
		"workspaceId": ws, "email": "b@example.com", "role": "editor", "invitedByUserId": alice,
		"expiresAt": time.Now().Add(time.Hour).UnixMilli(),
	}); err != nil {
		t.Fatal(err)
	}
	var other struct {
		WorkspaceID string `json:"workspaceId"`
	}
	if err := c.RPC(ctx, "auth.createWorkspace", &other, map[string]any{"userId": alice, "name": "Second"}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := c.Push(ctx, alice, ws, []crashtest.Op{
			crashtest.KVPut("d1", "a", int64(i+1), "x"), crashtest.KVPut("d1", "b", int64(i+1), "y"),
		}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Push(ctx, alice, other.WorkspaceID, []crashtest.Op{crashtest.KVPut("d2", "a", 1, "z")}); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, http.MethodPost, "/v1/sync/update-cursor", alice, map[string]any{
		"scope": map[string]string{"workspaceId": ws}, "deviceId": "d1", "version": 4,
	}, nil); err != nil {
		t.Fatal(err)
	}

	live := d.DB.View()
	defer live.Release()
	dst, err := synclog.Open(synclog.Config{Dir: t.TempDir(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if err := synclog.Rebuild(ctx, live, dst, d.Folder, 0); err != nil {
		t.Fatalf("rebuild with Daemon.Folder: %v", err)
	}
	rebuilt := dst.View()
	defer rebuilt.Release()
	diff, err := synclog.DiffState(live, rebuilt)
	if err != nil {
		t.Fatal(err)
	}
	if diff != "" {
		t.Fatalf("replayed state differs from live state: %s", diff)
	}
}
