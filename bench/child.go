package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// child is a syncd started by the harness: `<bin> serve` on a free port of
// 127.0.0.1 with a data directory and a known token.
type child struct {
	bin, dataDir, token string
	// args replace `serve …` when set (the bare SSE baseline server).
	args    []string
	url     string
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	logs    *tailBuffer
	// startedAt is when the process was started; listenedAt when it logged
	// its address.
	startedAt, listenedAt time.Time
}

// startChild starts bin and waits (up to readyTimeout) until /readyz
// answers 200. The child is killed if the harness process dies (Linux).
func startChild(ctx context.Context, bin, dataDir, token string, readyTimeout time.Duration, args ...string) (*child, error) {
	c := &child{bin: bin, dataDir: dataDir, token: token, args: args, logs: &tailBuffer{max: 64 << 10}}
	if err := c.start(ctx, readyTimeout); err != nil {
		return c, err
	}
	return c, nil
}

func (c *child) start(ctx context.Context, readyTimeout time.Duration) error {
	args := c.args
	if args == nil {
		args = []string{"serve",
			"--listen", "127.0.0.1:0",
			"--data-dir", c.dataDir,
			"--token", c.token,
			"--log-format", "json",
			"--log-level", "info",
			"--shutdown-timeout", "20s"}
	}
	c.cmd = exec.Command(c.bin, args...)
	c.cmd.Env = append(os.Environ(), "GOTRACEBACK=all")
	setDeathSignal(c.cmd)
	stderr, err := c.cmd.StderrPipe()
	if err != nil {
		return err
	}
	c.cmd.Stdout = c.cmd.Stderr
	c.exited = make(chan struct{})
	c.startedAt = time.Now()
	if err := c.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", c.bin, err)
	}
	addr := make(chan string, 1)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			c.logs.add(line)
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
	}()
	go func() {
		<-copied // Wait closes the pipe: read everything first
		c.waitErr = c.cmd.Wait()
		close(c.exited)
	}()
	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	select {
	case a := <-addr:
		c.listenedAt = time.Now()
		c.url = "http://" + a
	case <-c.exited:
		return fmt.Errorf("syncd exited before listening: %v; last log lines:\n%s", c.waitErr, c.logs.tail(20))
	case <-timer.C:
		c.kill()
		return fmt.Errorf("syncd did not listen within %s; last log lines:\n%s", readyTimeout, c.logs.tail(20))
	case <-ctx.Done():
		c.kill()
		return ctx.Err()
	}
	cl := newClient(c.url, c.token, 1)
	defer cl.close()
	for {
		if cl.ready(ctx) == nil {
			return nil
		}
		select {
		case <-c.exited:
			return fmt.Errorf("syncd exited before ready: %v; last log lines:\n%s", c.waitErr, c.logs.tail(20))
		case <-timer.C:
			c.kill()
			return fmt.Errorf("syncd not ready within %s", readyTimeout)
		case <-ctx.Done():
			c.kill()
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}

func (c *child) pid() int {
	if c.cmd == nil || c.cmd.Process == nil {
		return 0
	}
	return c.cmd.Process.Pid
}

func (c *child) running() bool {
	if c.exited == nil {
		return false
	}
	select {
	case <-c.exited:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL (a crash) and waits for the exit.
func (c *child) kill() {
	if !c.running() {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.exited
}

// stop sends SIGTERM and waits up to timeout, then SIGKILL. It reports
// whether the child exited cleanly.
func (c *child) stop(timeout time.Duration) error {
	if !c.running() {
		return nil
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
		return c.waitErr
	case <-time.After(timeout):
		c.kill()
		return fmt.Errorf("syncd did not stop within %s after SIGTERM; killed", timeout)
	}
}

// procStatus reads a "VmRSS"-style field (KiB) of /proc/<pid>/status.
func procStatus(pid int, field string) (int64, error) {
	if pid <= 0 {
		return 0, errors.New("no pid")
	}
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(data)) {
		k, v, ok := strings.Cut(line, ":")
		if !ok || k != field {
			continue
		}
		v = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB"))
		return strconv.ParseInt(v, 10, 64)
	}
	return 0, fmt.Errorf("/proc/%d/status: no %s", pid, field)
}

// tailBuffer keeps the last max bytes of log lines.
type tailBuffer struct {
	mu    sync.Mutex
	max   int
	lines []string
	size  int
}

func (t *tailBuffer) add(line []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, string(line))
	t.size += len(line)
	for t.size > t.max && len(t.lines) > 1 {
		t.size -= len(t.lines[0])
		t.lines = t.lines[1:]
	}
}

func (t *tailBuffer) tail(n int) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	from := max(len(t.lines)-n, 0)
	return strings.Join(t.lines[from:], "\n")
}

// cpuTime returns the user+system CPU time process pid has used, from
// /proc/<pid>/stat (clock ticks of 1/100 s, as on every Linux the harness
// targets).
func cpuTime(pid int) (time.Duration, error) {
	if pid <= 0 {
		return 0, errors.New("no pid")
	}
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields after ')' are fixed.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}
