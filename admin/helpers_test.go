package admin_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/or3/syncd/daemon"
	"github.com/or3/syncd/engine"
	"github.com/or3/syncd/internal/crashtest"
)

const testToken = "admin-test-token-0123456789abcdef"

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// startDaemon runs a real daemon on 127.0.0.1:0 over dir.
func startDaemon(t testing.TB, dir string, tune func(*daemon.Config)) (*daemon.Daemon, *crashtest.Client) {
	t.Helper()
	cfg := daemon.Config{
		DataDir: dir, Listen: "127.0.0.1:0", Token: testToken,
		Secret: []byte("0123456789abcdef0123456789abcdef"), Logger: quiet,
		AdminBridgeSecret: "bridge-secret-for-tests",
		History:           engine.HistoryConfig{MaintenanceInterval: -1},
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
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = d.Shutdown(ctx)
	})
	return d, crashtest.NewClient(d.URL(), testToken)
}

// status returns the HTTP status of an RPC failure (0 for success or a
// transport error).
func status(err error) int {
	var se *crashtest.StatusError
	if errors.As(err, &se) {
		return se.Status
	}
	return 0
}

func mustUser(t testing.TB, c *crashtest.Client, sub string) string {
	t.Helper()
	id, err := c.CreateUser(context.Background(), "test", sub)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
