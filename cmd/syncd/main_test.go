package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/or3/syncd/internal/crashtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	crashtest.RemoveBuild()
	os.Exit(code)
}

func testLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestRun_InProcess starts run() on a free port and stops it by ending its
// context, as a signal does: exit status 0.
func TestRun_InProcess(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--data-dir", dir, "--log-format", "json"},
			func(string) string { return "" }, io.Discard, pw, nil)
		pw.Close()
	}()
	// Read the output until the listening line.
	addrRE := regexp.MustCompile(`"msg":"listening".*"addr":"([^"]+)"`)
	var out strings.Builder
	buf := make([]byte, 4096)
	var addr string
	for addr == "" {
		n, err := pr.Read(buf)
		if err != nil {
			t.Fatalf("output ended before listening: %v\n%s", err, out.String())
		}
		out.Write(buf[:n])
		if m := addrRE.FindStringSubmatch(out.String()); m != nil {
			addr = m[1]
		}
	}
	go io.Copy(io.Discard, pr)
	// The generated token was printed once and is the one in the file.
	tok, err := os.ReadFile(filepath.Join(dir, "token"))
	if err != nil || !strings.Contains(out.String(), strings.TrimSpace(string(tok))) {
		t.Fatalf("token not printed (%v):\n%s", err, out.String())
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v", err)
	}
	resp.Body.Close()
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
}

func TestRun_BadFlagsExit2(t *testing.T) {
	if code := run(context.Background(), []string{"--listen", "nope"}, func(string) string { return "" }, io.Discard, io.Discard, nil); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	if code := run(context.Background(), []string{"-h"}, func(string) string { return "" }, io.Discard, io.Discard, nil); code != 0 {
		t.Fatalf("-h: exit %d, want 0", code)
	}
	var out strings.Builder
	if code := run(context.Background(), []string{"version"}, func(string) string { return "" }, &out, io.Discard, nil); code != 0 || out.Len() == 0 {
		t.Fatalf("version: exit %d, output %q", code, out.String())
	}
}

// TestBinary_GracefulShutdown runs the real binary: a generated token is
// printed on the first start only; SIGTERM with an open watch stream and
// requests in flight drains and exits 0; the data is there after restart;
// SIGINT exits 0 too; --test-hooks by env enables the clock hook.
func TestBinary_GracefulShutdown(t *testing.T) {
	bin := crashtest.Build(t)
	dir := t.TempDir()
	p := crashtest.Start(t, bin, crashtest.Options{DataDir: dir, Env: []string{"SYNCD_TEST_HOOKS=1"}})
	tokData, err := os.ReadFile(filepath.Join(dir, "token"))
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(tokData))
	if n := strings.Count(p.Logs(), token); n != 1 {
		t.Fatalf("token printed %d times on first start", n)
	}
	p.Opts.Token = token // the client needs it; the child keeps using the file
	c := p.Client()
	ctx := context.Background()
	user, err := c.CreateUser(ctx, "bin", "alice")
	if err != nil {
		t.Fatal(err)
	}
	ws, err := c.DefaultWorkspace(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Push(ctx, user, ws, []crashtest.Op{crashtest.KVPut("d", "k", 1, "v")}); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, http.MethodPost, "/v1/test/clock", "", map[string]int{"offsetSeconds": 10}, nil); err != nil {
		t.Fatalf("test clock with SYNCD_TEST_HOOKS=1: %v", err)
	}

	// An open watch stream.
	req, _ := http.NewRequest(http.MethodGet, p.URL+"/v1/sync/watch?workspaceId="+ws, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("X-Syncd-User", user)
	stream, err := http.DefaultClient.Do(req)
	if err != nil || stream.StatusCode != 200 {
		t.Fatalf("watch: %v", err)
	}
	defer stream.Body.Close()
	// Pushes in flight while the signal arrives.
	pushes := make(chan error, 20)
	for i := 0; i < 20; i++ {
		go func() {
			_, err := c.Push(ctx, user, ws, []crashtest.Op{crashtest.KVPut("d", "k", 2, "v")})
			pushes <- err
		}()
	}
	time.Sleep(5 * time.Millisecond)
	start := time.Now()
	if code := p.Stop(syscall.SIGTERM, 20*time.Second); code != 0 {
		t.Fatalf("SIGTERM: exit %d; logs:\n%s", code, p.Logs())
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("shutdown took %s", took)
	}
	acked := 1
	for i := 0; i < 20; i++ {
		if err := <-pushes; err == nil {
			acked++
		}
	}
	if !strings.Contains(p.Logs(), `"msg":"stopped"`) {
		t.Fatalf("no clean stop in the logs:\n%s", p.Logs())
	}

	// Restart: same token (from the file, not printed again), data intact.
	p.Restart(t)
	if n := strings.Count(p.Logs(), token); n != 1 {
		t.Fatalf("token printed %d times after a restart", n)
	}
	c = p.Client()
	v, err := c.ServerVersion(ctx, user, ws)
	if err != nil {
		t.Fatal(err)
	}
	if v != uint64(acked) {
		t.Fatalf("server version %d after restart, %d pushes acknowledged", v, acked)
	}
	if code := p.Stop(syscall.SIGINT, 20*time.Second); code != 0 {
		t.Fatalf("SIGINT: exit %d; logs:\n%s", code, p.Logs())
	}

	// Without test hooks the clock path is 404.
	p.Opts.Env = nil
	p.Restart(t)
	err = p.Client().Do(ctx, http.MethodPost, "/v1/test/clock", "", map[string]int{"offsetSeconds": 10}, nil)
	if se, ok := err.(*crashtest.StatusError); !ok || se.Status != 404 {
		t.Fatalf("test clock without hooks: %v", err)
	}
}
