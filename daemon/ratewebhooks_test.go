package daemon_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/or3/syncd/daemon"
	"github.com/or3/syncd/internal/crashtest"
	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/webhooks"
)

// TestDaemon_WebhooksAcrossRestartAndReplay: the webhook key is generated
// once (0600) and reused, so a secret created before a restart still signs
// after it; webhook events replay through Daemon.Folder to the live state.
func TestDaemon_WebhooksAcrossRestartAndReplay(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var mu sync.Mutex
	var got []*http.Request
	var bodies [][]byte
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, bodies = append(got, r), append(bodies, b)
		mu.Unlock()
	}))
	defer rcv.Close()
	dir := t.TempDir()
	open := func() *daemon.Daemon {
		d, err := daemon.New(daemon.Config{DataDir: dir, Listen: "127.0.0.1:0", Token: token,
			Secret: []byte("0123456789abcdef0123456789abcdef"), Logger: quiet, WebhookAllowPrivate: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Start(); err != nil {
			t.Fatal(err)
		}
		return d
	}
	ctx := context.Background()
	d := open()
	c := crashtest.NewClient(d.URL(), token)
	alice, err := c.CreateUser(ctx, "p", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DefaultWorkspace(ctx, alice); err != nil {
		t.Fatal(err)
	}
	var hook struct {
		ID            string `json:"id"`
		SigningSecret string `json:"signing_secret"`
	}
	if err := c.RPC(ctx, "webhooks.createWebhook", &hook, map[string]any{"scope": "admin", "url": rcv.URL, "events": []string{"webhook.test"}}); err != nil {
		t.Fatal(err)
	}
	if err := d.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, "webhook-key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("webhook key file: %v %v", st, err)
	}

	d = open()
	defer d.Shutdown(ctx)
	c = crashtest.NewClient(d.URL(), token)
	if err := c.RPC(ctx, "webhooks.testWebhook", nil, hook.ID); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no delivery after restart")
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	r, body := got[0], bodies[0]
	mu.Unlock()
	ts, _ := strconv.ParseInt(r.Header.Get("X-OR3-Timestamp"), 10, 64)
	if !webhooks.Verify(hook.SigningSecret, ts, body, r.Header.Get("X-OR3-Signature")) || r.Header.Get("X-OR3-Event") != "webhook.test" {
		t.Fatalf("delivery after restart not signed with the original secret: %v", r.Header)
	}
	// Let the outcome commit, then replay.
	for time.Now().Before(deadline) {
		var logs []map[string]any
		if err := c.RPC(ctx, "webhooks.getDeliveryLogs", &logs, hook.ID, 0); err == nil && len(logs) == 1 && logs[0]["status"] == "success" {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	live := d.DB.View()
	defer live.Release()
	dst, err := synclog.Open(synclog.Config{Dir: t.TempDir(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if err := synclog.Rebuild(ctx, live, dst, d.Folder, 0); err != nil {
		t.Fatal(err)
	}
	rebuilt := dst.View()
	defer rebuilt.Release()
	if diff, err := synclog.DiffState(live, rebuilt); err != nil || diff != "" {
		t.Fatalf("replay: %q %v", diff, err)
	}
}
