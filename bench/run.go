package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/or3/syncd/bench/baseline"
	"github.com/schollz/progressbar/v3"
)

// Config configures a run.
type Config struct {
	// URL and Token target a running syncd. When URL is empty the harness
	// starts Bin as a child (`serve` on a free port, a data directory under
	// DataDir, a random token) and stops it at the end.
	URL   string
	Token string
	// PID is the running syncd's process id (URL mode), for its RSS; 0
	// leaves the memory figures n/a.
	PID int
	// Bin is the syncd binary to start (cmd/syncd passes os.Executable()):
	// the syncd under test without URL, and the bare SSE baseline server
	// (`bench --bare-sse-server`, see ServeBareSSE) in both modes.
	Bin string
	// DataDir is where the child's data directory and the baselines'
	// scratch files go. Default os.TempDir(). Use the disk syncd would use.
	DataDir string
	// Out is the report directory (report.md, report.json, *.png).
	// Required.
	Out string
	// Quick selects small sizes (≤ 2 minutes in all) instead of the full
	// ones; Sizes, when set, overrides both.
	Quick bool
	Sizes *Sizes
	// Timeout bounds the whole run. Default 4 minutes in quick mode, 90
	// in full mode.
	Timeout time.Duration
	// Progress receives the progress bar (nil: none); Log receives
	// one line per phase (nil: none).
	Progress io.Writer
	Log      io.Writer
	// Command is the command line, for the report.
	Command string
	// Only, when set, runs just these phases (after start / connect):
	// "idle", "push", "latency", "pull", "snapshot", "fanout", "recovery",
	// "replication" ("push" includes the baselines and the engine push;
	// "pull" the acknowledged-op check).
	Only []string
}

// FanoutCase is one watch fan-out measurement: Watchers SSE streams on
// one workspace while single-op pushes arrive at Rate per second.
type FanoutCase struct {
	Watchers int
	Rate     int
	Duration time.Duration
}

// Sizes are the workload sizes of a run.
type Sizes struct {
	// Cell is how long each push-throughput cell (batch × clients) runs.
	Cell    time.Duration
	Batches []int
	Clients []int
	// Workspaces is how many workspaces the Zipf distribution spreads
	// pushes over.
	Workspaces int
	// LatencyRate single-op pushes per second for LatencyDuration.
	LatencyRate     int
	LatencyDuration time.Duration
	// PullBehind is how many changes the catch-up client is behind.
	PullBehind int
	// SnapshotRows is the size (rows of ~1 KiB) of the workspace the
	// snapshot phase bootstraps; 0 means PullBehind.
	SnapshotRows int
	Fanout       []FanoutCase
	// IdleWatchers is how many idle SSE streams the RSS figure opens.
	IdleWatchers int
	// RecoveryEntries are the log sizes (entries) at which crash recovery
	// is timed; the harness pushes until the log holds each.
	RecoveryEntries []int
	// Baseline is how long each time-bounded baseline runs.
	Baseline time.Duration
}

// QuickSizes fit the whole run in about 1.5 minutes on a 2-core machine.
func QuickSizes() Sizes {
	return Sizes{
		Cell: 1500 * time.Millisecond, Batches: []int{1, 10, 100}, Clients: []int{1, 8, 64},
		Workspaces: 16, LatencyRate: 200, LatencyDuration: 5 * time.Second,
		PullBehind: 20_000, SnapshotRows: 20_000,
		Fanout: []FanoutCase{
			{Watchers: 100, Rate: 200, Duration: 3 * time.Second},
			{Watchers: 1000, Rate: 20, Duration: 4 * time.Second},
		},
		IdleWatchers:    2000,
		RecoveryEntries: []int{50_000},
		Baseline:        time.Second,
	}
}

// FullSizes are the sizes: 1M changes behind, 10,000 watchers,
// crash recovery at 1M and 10M entries.
func FullSizes() Sizes {
	return Sizes{
		Cell: 20 * time.Second, Batches: []int{1, 10, 100}, Clients: []int{1, 8, 64},
		Workspaces: 64, LatencyRate: 500, LatencyDuration: 60 * time.Second,
		PullBehind: 1_000_000, SnapshotRows: 1_000_000,
		Fanout: []FanoutCase{
			{Watchers: 100, Rate: 200, Duration: 30 * time.Second},
			{Watchers: 1000, Rate: 20, Duration: 30 * time.Second},
			{Watchers: 10_000, Rate: 2, Duration: 30 * time.Second},
		},
		IdleWatchers:    10_000,
		RecoveryEntries: []int{1_000_000, 10_000_000},
		Baseline:        5 * time.Second,
	}
}

// validate fills defaults and names the first bad field.
func (c *Config) validate() error {
	if c.Out == "" {
		return errors.New("bench: --out DIR is required")
	}
	if c.URL != "" {
		u, err := url.Parse(c.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("bench: --url %q: want http://host:port", c.URL)
		}
		if c.Token == "" {
			return errors.New("bench: --url needs --token (the daemon's service token)")
		}
	} else if c.Bin == "" {
		return errors.New("bench: no syncd binary to start (and no --url)")
	}
	// Bin, when set with URL, still starts the bare SSE baseline server.
	if c.PID < 0 {
		return fmt.Errorf("bench: --pid %d is negative", c.PID)
	}
	for _, p := range c.Only {
		if !slices.Contains(Phases, p) {
			return fmt.Errorf("bench: --only %q: want some of %s", p, strings.Join(Phases, ","))
		}
	}
	if c.DataDir == "" {
		c.DataDir = os.TempDir()
	}
	if c.Timeout < 0 {
		return fmt.Errorf("bench: --timeout %s is negative", c.Timeout)
	}
	if c.Timeout == 0 {
		c.Timeout = 90 * time.Minute
		if c.Quick {
			c.Timeout = 4 * time.Minute
		}
	}
	if c.Sizes == nil {
		s := FullSizes()
		if c.Quick {
			s = QuickSizes()
		}
		c.Sizes = &s
	}
	return c.Sizes.validate()
}

func (s *Sizes) validate() error {
	bad := func(name string, v any) error { return fmt.Errorf("bench: size %s = %v is invalid", name, v) }
	switch {
	case s.Cell <= 0:
		return bad("Cell", s.Cell)
	case s.Workspaces < 1:
		return bad("Workspaces", s.Workspaces)
	case s.LatencyRate < 1 || s.LatencyDuration <= 0:
		return bad("LatencyRate/LatencyDuration", s.LatencyRate)
	case s.PullBehind < 1:
		return bad("PullBehind", s.PullBehind)
	case s.SnapshotRows < 0:
		return bad("SnapshotRows", s.SnapshotRows)
	case s.Baseline <= 0:
		return bad("Baseline", s.Baseline)
	case s.IdleWatchers < 0:
		return bad("IdleWatchers", s.IdleWatchers)
	}
	if s.SnapshotRows == 0 {
		s.SnapshotRows = s.PullBehind
	}
	for _, b := range s.Batches {
		if b < 1 || b > 100 {
			return bad("Batches", b)
		}
	}
	for _, c := range s.Clients {
		if c < 1 {
			return bad("Clients", c)
		}
	}
	for _, f := range s.Fanout {
		if f.Watchers < 1 || f.Rate < 1 || f.Duration <= 0 {
			return bad("Fanout", f)
		}
	}
	for _, n := range s.RecoveryEntries {
		if n < 1 {
			return bad("RecoveryEntries", n)
		}
	}
	return nil
}

// run is the state of one Run.
type run struct {
	cfg     Config
	sz      Sizes
	rep     *Report
	cl      *client
	child   *child
	pid     int
	scratch string
	wl      *workload
	rng     *mrand.Rand
	bar     *progressbar.ProgressBar
	logw    io.Writer

	user    string
	wss     []*wsState // the Zipf workspaces of the push phases
	dead    error      // set once the daemon stops answering
	entries int64      // sync log entries written so far (acknowledged ops)

	fsync         baseline.Result
	loopback      map[int]baseline.Result // by clients
	tput          map[int]map[int]float64 // batch → clients → ops/s
	httpPush100x8 float64
	catchUp       *wsState
	emptyStart    time.Duration // child start → ready on an empty data dir
}

// Run runs the benchmark and writes the report into cfg.Out. It always
// returns the report it could make; err is non-nil when the run is
// partial (a bad configuration, an unreachable daemon, a failed phase or
// a failed correctness check), and the report says so.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	start := time.Now()
	rep := &Report{Mode: "full", Command: cfg.Command, Env: baseline.Env(), Started: start}
	if cfg.Quick {
		rep.Mode = "quick"
	}
	if cfg.Sizes != nil && !cfg.Quick {
		rep.Mode = "custom"
	}
	if err := cfg.validate(); err != nil {
		rep.Problem("%v", err)
		rep.Elapsed = time.Since(start).Round(time.Millisecond).String()
		if cfg.Out != "" {
			if werr := rep.Write(cfg.Out); werr != nil {
				err = errors.Join(err, werr)
			}
		}
		return rep, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	r := &run{cfg: cfg, sz: *cfg.Sizes, rep: rep, logw: cfg.Log, rng: mrand.New(mrand.NewPCG(uint64(start.UnixNano()), 42))}
	if r.logw == nil {
		r.logw = io.Discard
	}
	r.wl = newWorkload(r.rng)
	r.tput = map[int]map[int]float64{}
	load0 := loadAvg()
	r.execute(ctx)
	r.finish()
	rep.AddSetup("machine load average (1/5/15 min) at start: %s; at end: %s — the machine is shared, so other work competes for its 2 cores and disk", load0, loadAvg())

	rep.Elapsed = time.Since(start).Round(time.Millisecond).String()
	var err error
	if werr := rep.Write(cfg.Out); werr != nil {
		err = fmt.Errorf("bench: writing the report to %s: %w", cfg.Out, werr)
	}
	switch {
	case rep.Partial:
		probs := rep.Problems
		more := ""
		if len(probs) > 3 {
			more = fmt.Sprintf(" (and %d more: see report.md)", len(probs)-3)
			probs = probs[:3]
		}
		err = errors.Join(fmt.Errorf("bench: PARTIAL report: %s%s", strings.Join(probs, "; "), more), err)
	case !rep.ChecksOK():
		err = errors.Join(errors.New("bench: a correctness check failed"), err)
	}
	return rep, err
}

// step is one unit of the progress bar.
type step struct {
	name    string
	timeout time.Duration
	fn      func(ctx context.Context) error
}

func (r *run) execute(ctx context.Context) {
	soft, hard, err := RaiseOpenFiles()
	if err != nil {
		r.rep.AddSetup("bench RLIMIT_NOFILE: could not raise (%d of %d): %v", soft, hard, err)
	} else {
		r.rep.AddSetup("bench process RLIMIT_NOFILE raised to %d (hard %d)", soft, hard)
	}
	scratch, err := os.MkdirTemp(r.cfg.DataDir, "syncd-bench-")
	if err != nil {
		r.rep.Problem("scratch directory under %s: %v", r.cfg.DataDir, err)
		return
	}
	r.scratch = scratch

	steps := r.steps()
	if r.cfg.Progress != nil {
		r.bar = progressbar.NewOptions(len(steps),
			progressbar.OptionSetWriter(r.cfg.Progress),
			progressbar.OptionSetWidth(30),
			progressbar.OptionShowCount(),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionSetPredictTime(false),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(r.cfg.Progress) }),
		)
	}
	for _, s := range steps {
		if r.bar != nil {
			r.bar.Describe(fmt.Sprintf("%-28s", s.name))
		}
		r.step(ctx, s)
		if r.bar != nil {
			_ = r.bar.Add(1)
		}
	}
	if r.bar != nil {
		_ = r.bar.Finish()
	}
}

// step runs one phase under its timeout. A failure is recorded; when the
// daemon no longer answers, the later phases are skipped.
func (r *run) step(ctx context.Context, s step) {
	if err := ctx.Err(); err != nil {
		r.rep.Problem("%s: skipped: the run's time (--timeout %s) is up", s.name, r.cfg.Timeout)
		return
	}
	if r.dead != nil {
		r.rep.Problem("%s: skipped: the daemon is unreachable or not ready (%v)", s.name, r.dead)
		return
	}
	sctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	t := time.Now()
	err := s.fn(sctx)
	if r.bar != nil && r.cfg.Progress == r.logw {
		_ = r.bar.Clear() // the log line replaces the bar, which redraws after
	}
	fmt.Fprintf(r.logw, "bench: %-34s %8s", s.name, time.Since(t).Round(time.Millisecond))
	if err != nil {
		fmt.Fprintf(r.logw, "  FAILED: %v", err)
	}
	fmt.Fprintln(r.logw)
	if err == nil {
		return
	}
	if errors.Is(err, context.DeadlineExceeded) && sctx.Err() != nil {
		err = fmt.Errorf("timed out after %s: %w", s.timeout, err)
	}
	r.rep.Problem("%s: %v", s.name, err)
	if r.cl != nil {
		if rerr := r.cl.ready(ctx); rerr != nil {
			r.dead = rerr
			if r.child != nil && !r.child.running() {
				r.dead = fmt.Errorf("syncd exited (%v); last log lines:\n%s", r.child.waitErr, r.child.logs.tail(10))
			}
		}
	} else {
		r.dead = err
	}
}

// steps lists the phases in order.
func (r *run) steps() []step {
	sz := r.sz
	var st []step
	add := func(name string, timeout time.Duration, fn func(context.Context) error) {
		st = append(st, step{name: name, timeout: timeout, fn: fn})
	}
	add("start / connect", 2*time.Minute, r.setup)
	add("baselines", 2*time.Minute+6*sz.Baseline, r.baselines)
	if sz.IdleWatchers > 0 {
		// First, on a fresh daemon: memory freed by earlier phases would be
		// reused by the streams and hide their cost.
		add(fmt.Sprintf("idle watchers RSS (%d)", sz.IdleWatchers), 5*time.Minute, r.idleRSS)
	}
	for _, b := range sz.Batches {
		for _, c := range sz.Clients {
			add(fmt.Sprintf("push batch=%d clients=%d", b, c), 2*time.Minute+3*sz.Cell, func(ctx context.Context) error { return r.pushCell(ctx, b, c) })
		}
	}
	if slices.Contains(sz.Batches, 100) && slices.Contains(sz.Clients, 8) {
		add("push batch=100 clients=8 Zipf", 2*time.Minute+3*sz.Cell, r.pushCellZipf)
	}
	add("engine push (in-process)", 2*time.Minute+3*sz.Cell, r.enginePush)
	add("push latency", 2*time.Minute+2*sz.LatencyDuration, r.pushLatency)
	add("verify acked ops", 10*time.Minute, r.verifyAcked)
	add("pull catch-up", 30*time.Minute, r.pullCatchUp)
	add("snapshot bootstrap", 10*time.Minute+time.Duration(sz.SnapshotRows/50_000)*time.Minute, r.snapshot) // fills its own workspace
	for _, f := range sz.Fanout {
		add(fmt.Sprintf("watch fan-out %d@%d/s", f.Watchers, f.Rate), 3*time.Minute+2*f.Duration, func(ctx context.Context) error { return r.fanout(ctx, f) })
	}
	for _, n := range sz.RecoveryEntries {
		add(fmt.Sprintf("crash recovery %s entries", fmtCount(n)), 60*time.Minute, func(ctx context.Context) error { return r.recovery(ctx, n) })
	}
	add("replication lag", time.Minute, func(context.Context) error {
		r.rep.NotMeasured("replication", "replication lag across three regions", "n/a",
			"needs three regions: go test -run '^$' -bench BenchmarkReplica_ -benchtime 1x ./replica/ (scripts/targets.sh replica)", nil)
		return nil
	})
	return r.only(st)
}

// only keeps the steps of the phases cfg.Only names (all when empty).
func (r *run) only(st []step) []step {
	if len(r.cfg.Only) == 0 {
		return st
	}
	phase := func(name string) string {
		for _, p := range []struct{ prefix, phase string }{
			{"start", ""}, {"baselines", "push"}, {"idle", "idle"}, {"push latency", "latency"}, {"push", "push"},
			{"engine push", "push"}, {"verify", "pull"}, {"pull", "pull"}, {"snapshot", "snapshot"},
			{"watch fan-out", "fanout"}, {"crash recovery", "recovery"}, {"replication", "replication"},
		} {
			if strings.HasPrefix(name, p.prefix) {
				return p.phase
			}
		}
		return "?"
	}
	var out []step
	for _, s := range st {
		if p := phase(s.name); p == "" || slices.Contains(r.cfg.Only, p) {
			out = append(out, s)
		}
	}
	return out
}

// Phases are the names Config.Only accepts.
var Phases = []string{"idle", "push", "latency", "pull", "snapshot", "fanout", "recovery", "replication"}

// loadAvg returns the first three fields of /proc/loadavg, or "unknown".
func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func fmtCount(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}

// setup starts (or reaches) the daemon and creates the bench user and
// the Zipf workspaces through the auth RPC store.
func (r *run) setup(ctx context.Context) error {
	r.rep.AddSetup("sizes: push cells %s each over %d Zipf(s=%.1f) workspaces; latency at %d single-op pushes/s for %s; pull catch-up %s changes behind; snapshot of %s rows; fan-out %s; idle watchers %d; recovery at %v entries",
		r.sz.Cell, r.sz.Workspaces, zipfS, r.sz.LatencyRate, r.sz.LatencyDuration, fmtCount(r.sz.PullBehind), fmtCount(r.sz.SnapshotRows), fanoutString(r.sz.Fanout), r.sz.IdleWatchers, r.sz.RecoveryEntries)
	if r.cfg.URL != "" {
		r.rep.Target = r.cfg.URL + " (running daemon)"
		r.cl = newClient(r.cfg.URL, r.cfg.Token, 256)
		r.pid = r.cfg.PID
		if err := r.cl.ready(ctx); err != nil {
			r.dead = err
			return fmt.Errorf("daemon at %s unreachable or not ready: %w", r.cfg.URL, err)
		}
	} else {
		token := randomToken()
		dataDir := filepath.Join(r.scratch, "syncd-data")
		ch, err := startChild(ctx, r.cfg.Bin, dataDir, token, time.Minute)
		r.child = ch
		if err != nil {
			r.dead = err
			return err
		}
		r.pid = ch.pid()
		r.emptyStart = time.Since(ch.startedAt)
		r.cl = newClient(ch.url, token, 256)
		r.rep.Target = fmt.Sprintf("child process `%s serve` (pid %d, %s, data dir %s)", r.cfg.Bin, r.pid, ch.url, dataDir)
	}
	var version struct {
		Version string `json:"version"`
	}
	if err := r.cl.do(ctx, "GET", "/v1/version", "", nil, &version); err == nil {
		r.rep.Target += ", syncd version " + version.Version
	}
	user, err := r.cl.createUser(ctx, "bench-"+r.wl.prefix)
	if err != nil {
		return err
	}
	r.user = user
	if _, err := r.cl.defaultWorkspace(ctx, user); err != nil {
		return err
	}
	for i := range r.sz.Workspaces {
		ws, err := r.cl.createWorkspace(ctx, user, fmt.Sprintf("bench %s %d", r.wl.prefix, i))
		if err != nil {
			return err
		}
		r.wss = append(r.wss, &wsState{id: ws, user: user})
	}
	return nil
}

func fanoutString(fs []FanoutCase) string {
	var parts []string
	for _, f := range fs {
		parts = append(parts, fmt.Sprintf("%d watchers @ %d pushes/s for %s", f.Watchers, f.Rate, f.Duration))
	}
	return strings.Join(parts, ", ")
}

// newWorkspace creates a fresh workspace owned by the bench user.
func (r *run) newWorkspace(ctx context.Context, name string) (*wsState, error) {
	ws, err := r.cl.createWorkspace(ctx, r.user, fmt.Sprintf("bench %s %s", r.wl.prefix, name))
	if err != nil {
		return nil, err
	}
	return &wsState{id: ws, user: r.user}, nil
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return "bench-" + hex.EncodeToString(b)
}

// finish stops the child and removes the scratch directory.
func (r *run) finish() {
	for _, b := range r.sz.Batches {
		s := Series{Chart: "throughput", Name: fmt.Sprintf("batch of %d ops", b)}
		for _, c := range r.sz.Clients {
			if v, ok := r.tput[b][c]; ok {
				s.X = append(s.X, fmt.Sprint(c))
				s.Y = append(s.Y, v)
			}
		}
		if len(s.X) > 0 {
			r.rep.AddSeries(s)
		}
	}
	if r.cl != nil {
		r.cl.close()
	}
	if r.child != nil && r.child.running() {
		if err := r.child.stop(30 * time.Second); err != nil {
			r.rep.Problem("stopping syncd: %v", err)
		}
	}
	if r.scratch != "" {
		_ = os.RemoveAll(r.scratch)
	}
	r.rep.Check("harness used only valid ops", r.wl.ackedOps.Load() > 0 || r.rep.Partial,
		"%d ops acknowledged, %d conflicting edits lost LWW as intended, mean payload %.0f B",
		r.wl.ackedOps.Load(), r.wl.conflictsLost.Load(), float64(r.wl.payloadBytes.Load())/float64(max(r.wl.payloadCount.Load(), 1)))
}
