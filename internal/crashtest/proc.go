package crashtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

// Build builds ./cmd/syncd (once per test process) and returns the
// binary's path. The binary lives in a temporary directory that
// RemoveBuild deletes (call it from TestMain). SYNCD_TEST_BIN names a
// prebuilt binary to use instead (long runs build once for every package).
func Build(tb testing.TB) string {
	tb.Helper()
	if bin := os.Getenv("SYNCD_TEST_BIN"); bin != "" {
		return bin
	}
	buildOnce.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			buildErr = err
			return
		}
		dir, err := os.MkdirTemp("", "syncd-crashtest-")
		if err != nil {
			buildErr = err
			return
		}
		bin := filepath.Join(dir, "syncd")
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/syncd")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/syncd: %v\n%s", err, out)
			return
		}
		buildBin = bin
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return buildBin
}

// RemoveBuild deletes the binary Build made, if any.
func RemoveBuild() {
	if buildBin != "" {
		_ = os.RemoveAll(filepath.Dir(buildBin))
	}
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("crashtest: not inside the syncd module")
	}
	return filepath.Dir(mod), nil
}

// Options configure a child syncd.
type Options struct {
	// DataDir is the data directory (required; reuse it to restart on the
	// same data).
	DataDir string
	// Token is passed as --token.
	Token string
	// Args are extra flags.
	Args []string
	// Env is extra environment (KEY=VALUE).
	Env []string
}

// Proc is a syncd child process listening on a free port of 127.0.0.1.
type Proc struct {
	Bin  string
	Opts Options
	// URL is the base URL once started.
	URL string

	cmd    *exec.Cmd
	logs   *syncBuffer
	exited chan struct{}
	err    error // the Wait error, after exited closes
}

// Start runs bin with opts and waits until it listens and /readyz answers
// 200. The process is killed when the test ends if it is still running.
func Start(tb testing.TB, bin string, opts Options) *Proc {
	tb.Helper()
	p := &Proc{Bin: bin, Opts: opts}
	if err := p.start(); err != nil {
		tb.Fatalf("start syncd: %v\nlogs:\n%s", err, p.Logs())
	}
	tb.Cleanup(func() {
		if p.Running() {
			p.Kill()
		}
	})
	return p
}

func (p *Proc) start() error {
	args := []string{"serve",
		"--listen", "127.0.0.1:0",
		"--data-dir", p.Opts.DataDir,
		"--log-format", "json",
		"--shutdown-timeout", "10s",
	}
	if p.Opts.Token != "" {
		args = append(args, "--token", p.Opts.Token)
	}
	args = append(args, p.Opts.Args...)
	p.cmd = exec.Command(p.Bin, args...)
	p.cmd.Env = append(os.Environ(), p.Opts.Env...)
	if p.logs == nil {
		p.logs = &syncBuffer{}
	}
	p.exited = make(chan struct{})
	addr := make(chan string, 1)
	// exec copies the child's output into these writers and Wait waits
	// for the copies, so no log line is lost at exit.
	p.cmd.Stderr = &lineWriter{onLine: func(line []byte) { p.logLine(line, addr) }}
	p.cmd.Stdout = p.cmd.Stderr
	if err := p.cmd.Start(); err != nil {
		return err
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	select {
	case a := <-addr:
		p.URL = "http://" + a
	case <-p.exited:
		return fmt.Errorf("syncd exited before listening: %v", p.err)
	case <-time.After(30 * time.Second):
		p.Kill()
		return errors.New("syncd did not listen within 30s")
	}
	// Ready: the log accepts writes.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.WaitReady(ctx); err != nil {
		p.Kill()
		return fmt.Errorf("syncd not ready within 30s: %v", err)
	}
	return nil
}

// logLine records one line of the child's output and reports the
// address of its first "listening" line (JSON logs).
func (p *Proc) logLine(line []byte, addr chan<- string) {
	_, _ = p.logs.Write(append(append([]byte(nil), line...), '\n'))
	var rec struct {
		Msg  string `json:"msg"`
		Addr string `json:"addr"`
	}
	if json.Unmarshal(line, &rec) == nil && rec.Msg == "listening" && rec.Addr != "" {
		select {
		case addr <- rec.Addr:
		default:
		}
	}
}

// lineWriter calls onLine for each complete line written to it.
type lineWriter struct {
	mu     sync.Mutex
	buf    []byte
	onLine func([]byte)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.onLine(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 1<<20 { // a runaway line: flush it as is
		w.onLine(w.buf)
		w.buf = nil
	}
	return len(p), nil
}

// Restart starts the process again on the same options (and data dir),
// after it has exited. The URL changes (a new free port).
func (p *Proc) Restart(tb testing.TB) {
	tb.Helper()
	if p.Running() {
		tb.Fatal("crashtest: Restart of a running syncd")
	}
	if err := p.start(); err != nil {
		tb.Fatalf("restart syncd: %v\nlogs:\n%s", err, p.Logs())
	}
}

// Running reports whether the process has not exited.
func (p *Proc) Running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// Kill sends SIGKILL (a crash: no shutdown, no close of the log) and waits
// for the process to exit.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// Stop sends sig (SIGTERM or SIGINT) and waits up to timeout for the
// process to exit; it returns the exit code (-1 when it did not exit in
// time, in which case it is killed).
func (p *Proc) Stop(sig os.Signal, timeout time.Duration) int {
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(timeout):
		p.Kill()
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// Pid is the current child's process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Logs returns everything the process wrote so far (all runs).
func (p *Proc) Logs() string {
	if p.logs == nil {
		return ""
	}
	return p.logs.String()
}

// Client returns a client for the current URL.
func (p *Proc) Client() *Client { return NewClient(p.URL, p.Opts.Token) }

// WaitReady polls /readyz until it answers 200, the process exits, or
// ctx ends.
func (p *Proc) WaitReady(ctx context.Context) error {
	for {
		resp, err := http.Get(p.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.exited:
			return fmt.Errorf("syncd exited: %v", p.err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
