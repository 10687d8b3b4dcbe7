package bench

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// diskFullDaemon answers like a syncd whose disk is full: reads and the
// auth RPC work, every write fails with 500 and the OS error.
func diskFullDaemon() *httptest.Server {
	const enospc = `{"error":{"code":"SERVER_ERROR","message":"log: commit: write /data/log/000042.log: no space left on device"}}`
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		switch {
		case r.URL.Path == "/readyz", r.URL.Path == "/metrics":
			_, _ = io.WriteString(w, "")
		case r.URL.Path == "/v1/version":
			_, _ = io.WriteString(w, `{"protocol":1,"version":"fake"}`)
		case strings.HasPrefix(r.URL.Path, "/v1/rpc/auth.getOrCreateUser"):
			_, _ = io.WriteString(w, `{"ok":true,"result":{"userId":"u1"}}`)
		case strings.HasPrefix(r.URL.Path, "/v1/rpc/auth."):
			_, _ = io.WriteString(w, `{"ok":true,"result":{"workspaceId":"ws1"}}`)
		default:
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, enospc)
		}
	}))
}

// TestRun_DiskFull: every push failing with ENOSPC gives a PARTIAL report
// that names the error for each phase, promptly, and no hang.
func TestRun_DiskFull(t *testing.T) {
	srv := diskFullDaemon()
	defer srv.Close()
	out := t.TempDir()
	sz := tinySizes()
	sz.RecoveryEntries = nil
	sz.IdleWatchers = 0
	start := time.Now()
	rep, err := Run(context.Background(), Config{URL: srv.URL, Token: "token-123456", Out: out, Sizes: sz, DataDir: t.TempDir(), Timeout: 2 * time.Minute})
	if err == nil || !rep.Partial {
		t.Fatalf("err = %v, partial = %v; want a PARTIAL report", err, rep.Partial)
	}
	if d := time.Since(start); d > time.Minute {
		t.Errorf("took %s", d)
	}
	n := 0
	for _, p := range rep.Problems {
		if strings.Contains(p, "no space left on device") {
			n++
		}
	}
	if n < 3 {
		t.Errorf("%d problems name the disk error, want one per write phase: %q", n, rep.Problems)
	}
	md, rerr := os.ReadFile(filepath.Join(out, "report.md"))
	if rerr != nil || !strings.Contains(string(md), "PARTIAL") || !strings.Contains(string(md), "no space left on device") {
		t.Errorf("report.md: %v\n%s", rerr, md)
	}
}
