package daemon_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/or3/syncd/daemon"
	"github.com/or3/syncd/internal/crashtest"
)

// TestDaemon_ThreeRegionsOverHTTP: three daemons whose embedded
// nats-servers form one cluster. A user and workspace created in one region
// reach the others (identity events replicate); pushes to every region over
// HTTP, including edits of the same keys, end with equal
// GET /v1/admin/digest answers everywhere.
func TestDaemon_ThreeRegionsOverHTTP(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	addrs := make([]string, 3)
	for i := range addrs {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs[i] = ln.Addr().String()
		ln.Close()
	}
	clients := make([]*crashtest.Client, 3)
	for i := range addrs {
		var routes []string
		for j, a := range addrs {
			if j != i {
				routes = append(routes, "nats-route://"+a)
			}
		}
		d, err := daemon.New(daemon.Config{
			DataDir: t.TempDir(), Listen: "127.0.0.1:0", Token: token, Region: fmt.Sprint("r", i),
			Secret: []byte("0123456789abcdef0123456789abcdef"), Logger: quiet,
			NATSListen: addrs[i], NATSRoutes: routes,
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Shutdown(context.Background()) })
		clients[i] = crashtest.NewClient(d.URL(), token)
	}
	ctx := context.Background()
	alice, err := clients[0].CreateUser(ctx, "p", "alice")
	if err != nil {
		t.Fatal(err)
	}
	ws, err := clients[0].DefaultWorkspace(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	// The workspace and its membership reach the other regions.
	deadline := time.Now().Add(60 * time.Second)
	for i := 1; i < 3; i++ {
		for {
			_, err := clients[i].Push(ctx, alice, ws, []crashtest.Op{crashtest.KVPut(fmt.Sprint("d", i), "hello", 1, "x")})
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("region r%d never served workspace %s: %v", i, ws, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	for n := 0; n < 10; n++ {
		for i, c := range clients {
			if _, err := c.Push(ctx, alice, ws, []crashtest.Op{
				crashtest.KVPut(fmt.Sprint("d", i), "shared", int64(n+1), fmt.Sprintf("r%d-%d", i, n)),
				crashtest.KVPut(fmt.Sprint("d", i), fmt.Sprint("own-", i), int64(n+1), "v"),
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	type digest struct {
		Digest string `json:"digest"`
		Keys   int64  `json:"keys"`
	}
	for {
		ds := make([]digest, 3)
		for i, c := range clients {
			if err := c.Do(ctx, "GET", "/v1/admin/digest?workspaceId="+ws, "", nil, &ds[i]); err != nil {
				t.Fatal(err)
			}
		}
		if ds[0] == ds[1] && ds[1] == ds[2] && ds[0].Keys == 5 { // hello, shared, own-0..2
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("digests never converged: %+v", ds)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
