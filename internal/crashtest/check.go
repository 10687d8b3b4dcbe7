package crashtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	synclog "github.com/or3/syncd/log"
)

// VerifyReport is what `syncd admin --json verify` prints (the fields the
// checks read).
type VerifyReport struct {
	Mode          string   `json:"mode"`
	OK            bool     `json:"ok"`
	Problems      []string `json:"problems"`
	SystemEvents  int64    `json:"systemEvents"`
	ChangeEntries int64    `json:"changeEntries"`
	Rows          int64    `json:"rows"`
	DurationMs    int64    `json:"durationMs"`
}

// VerifyOnline runs `syncd admin verify` against the running p (the
// state.verify admin action: state rebuilt from the log equals live
// state) and fails tb unless it passes.
func VerifyOnline(tb testing.TB, p *Proc) VerifyReport {
	tb.Helper()
	return adminVerify(tb, p.Bin, "--url", p.URL, "--token", p.Opts.Token, "--json", "verify")
}

// VerifyOffline runs `syncd admin verify --data-dir dir` on a stopped data
// directory and fails tb unless it passes.
func VerifyOffline(tb testing.TB, bin, dir string) VerifyReport {
	tb.Helper()
	return adminVerify(tb, bin, "--json", "verify", "--data-dir", dir)
}

func adminVerify(tb testing.TB, bin string, args ...string) VerifyReport {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"admin"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var rep VerifyReport
	if jerr := json.Unmarshal(stdout.Bytes(), &rep); jerr != nil || err != nil || !rep.OK {
		tb.Fatalf("syncd admin %v: %v (report %+v, decode %v)\nstdout:\n%s\nstderr:\n%s", args, err, rep, jerr, stdout.Bytes(), tail(stderr.Bytes()))
	}
	return rep
}

func tail(b []byte) []byte {
	if len(b) > 4096 {
		return b[len(b)-4096:]
	}
	return b
}

// CheckPebble opens the stopped data directory's Pebble store with syncd's
// options and runs Pebble's consistency check (every level's keys in
// order, sstable checksums on every block read); it fails tb on any error.
// It returns the number of point keys checked.
func CheckPebble(tb testing.TB, dataDir string) int {
	tb.Helper()
	dir := filepath.Join(dataDir, "log")
	opts := synclog.PebbleOptions(synclog.Config{Dir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	db, err := pebble.Open(dir, opts)
	if err != nil {
		tb.Fatalf("pebble open %s: %v", dir, err)
	}
	defer db.Close()
	var stats pebble.CheckLevelsStats
	if err := db.CheckLevels(&stats); err != nil {
		tb.Fatalf("pebble CheckLevels %s: %v", dir, err)
	}
	return int(stats.NumPoints)
}

// CopyDir copies the files of a stopped data directory (a crashed one's
// state as the kill left it) into dst.
func CopyDir(tb testing.TB, src, dst string) {
	tb.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o700)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		tb.Fatalf("copy %s: %v", src, err)
	}
}

// CheckStopped runs both checks on a stopped data directory: syncd's
// offline verify, then Pebble's consistency check. It returns the verify
// report and a one-line summary.
func CheckStopped(tb testing.TB, bin, dataDir string) (VerifyReport, string) {
	tb.Helper()
	rep := VerifyOffline(tb, bin, dataDir)
	n := CheckPebble(tb, dataDir)
	return rep, fmt.Sprintf("verify %s ok (%d system events, %d change entries, %d rows), pebble check ok (%d points)",
		rep.Mode, rep.SystemEvents, rep.ChangeEntries, rep.Rows, n)
}
