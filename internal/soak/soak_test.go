package soak

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/or3/syncd/bench/baseline"
	"github.com/or3/syncd/internal/crashtest"
)

var (
	durationFlag   = flag.Duration("soak.duration", envDuration("SYNCD_SOAK", time.Minute), "how long the steady phase runs (the full run: 30m; env SYNCD_SOAK=30m)")
	workspacesFlag = flag.Int("soak.workspaces", 100, "workspaces")
	watchersFlag   = flag.Int("soak.watchers", 1000, "SSE watchers, spread over the workspaces")
	maxDeliveries  = flag.Int("soak.max-deliveries", 20000, "cap on watcher deliveries per second")
)

const token = "soak-test-token-0123456789abcdef"

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil && d > 0 {
		return d
	}
	return def
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	crashtest.RemoveBuild()
	os.Exit(code)
}

// sample is one observation of the child syncd.
type sample struct {
	at         time.Duration
	rssKiB     int64
	goroutines int64
	p99        time.Duration
	pushes     int64
}

// TestSoak_SteadyLoad runs a child syncd at half its measured maximum push
// rate (capped so watcher deliveries stay under -soak.max-deliveries) over
// -soak.workspaces workspaces, with -soak.watchers SSE watchers and a full
// snapshot of a workspace every tenth of the run (at most a minute apart),
// and asserts: no request fails, every watcher receives every change of
// its workspace, goroutines return to their warm level, RSS grows less
// than a stated bound, p99 of the last interval stays within a bound of
// the first, and the store passes verify and Pebble's check afterwards.
func TestSoak_SteadyLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("soak: skipped with -short")
	}
	bin := crashtest.Build(t)
	dataDir := t.TempDir()
	// Small memtables and cache fill within the first seconds, so growth
	// after warm-up is history, not Pebble filling its fixed budget.
	p := crashtest.Start(t, bin, crashtest.Options{DataDir: dataDir, Token: token, Args: []string{"--memtable-mb", "16", "--cache-mb", "16"}})
	defer p.Stop(os.Interrupt, 20*time.Second)
	c := p.Client()
	c.HTTP = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	ctx := context.Background()
	owner, err := c.CreateUser(ctx, "soak", "owner")
	if err != nil {
		t.Fatal(err)
	}
	wss := make([]string, *workspacesFlag)
	for i := range wss {
		var out struct {
			WorkspaceID string `json:"workspaceId"`
		}
		if err := c.RPC(ctx, "auth.createWorkspace", &out, map[string]any{"userId": owner, "name": fmt.Sprintf("soak %d", i)}); err != nil {
			t.Fatal(err)
		}
		wss[i] = out.WorkspaceID
	}

	// 1. The maximum push rate: 8 clients, 10-op batches, 3 s.
	maxRate := measureMaxRate(t, c, owner, wss, 3*time.Second)
	perWS := max(*watchersFlag/len(wss), 1)
	rate := min(maxRate/2, float64(*maxDeliveries)/float64(perWS))
	t.Logf("max push rate %.0f ops/s; steady rate %.0f ops/s; %d watchers (%d per workspace) → %.0f deliveries/s",
		maxRate, rate, perWS*len(wss), perWS, rate*float64(perWS))

	// 2. Watchers.
	wctx, stopWatchers := context.WithCancel(ctx)
	defer stopWatchers()
	type watcher struct {
		ws   int
		last atomic.Uint64
		err  atomic.Value
	}
	var watchers []*watcher
	var wg sync.WaitGroup
	for i := range wss {
		for j := 0; j < perWS; j++ {
			w := &watcher{ws: i}
			watchers = append(watchers, w)
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := watch(wctx, p.URL, owner, wss[w.ws], &w.last); err != nil && wctx.Err() == nil {
					w.err.Store(err)
				}
			}()
		}
	}

	// 3. The steady phase.
	var pushErrs, pushes atomic.Int64
	lat := baseline.NewHistogram()
	var intervalMu sync.Mutex
	interval := baseline.NewHistogram()
	stop := make(chan struct{})
	var loadWG sync.WaitGroup
	const clients = 8
	perClient := rate / clients / 10 // batches of 10 ops
	for k := 0; k < clients; k++ {
		loadWG.Add(1)
		go func() {
			defer loadWG.Done()
			tick := time.NewTicker(time.Duration(float64(time.Second) / max(perClient, 0.1)))
			defer tick.Stop()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				ws := wss[(k*7919+n)%len(wss)]
				ops := make([]crashtest.Op, 10)
				for i := range ops {
					ops[i] = crashtest.KVPut("soak", fmt.Sprintf("c%d-%d-%d", k, n, i), 1, strings.Repeat("x", 512))
				}
				t0 := time.Now()
				if _, err := c.Push(ctx, owner, ws, ops); err != nil {
					pushErrs.Add(1)
					t.Errorf("push: %v", err)
					continue
				}
				d := time.Since(t0)
				lat.Record(d)
				intervalMu.Lock()
				interval.Record(d)
				intervalMu.Unlock()
				pushes.Add(10)
			}
		}()
	}
	var snapErrs atomic.Int64
	snapEvery := min(max(*durationFlag/10, 5*time.Second), time.Minute)
	start := time.Now()
	var samples []sample
	sampleEvery := min(max(*durationFlag/12, 5*time.Second), time.Minute)
	nextSnap := start.Add(snapEvery)
	for time.Since(start) < *durationFlag {
		time.Sleep(min(sampleEvery, time.Until(start.Add(*durationFlag))))
		intervalMu.Lock()
		p99 := interval.Percentile(99)
		interval = baseline.NewHistogram()
		intervalMu.Unlock()
		s := sample{at: time.Since(start), rssKiB: rssKiB(p.Pid()), goroutines: goroutines(t, p.URL), p99: p99, pushes: pushes.Load()}
		samples = append(samples, s)
		t.Logf("t=%v rss=%d KiB goroutines=%d p99=%v pushes=%d", s.at.Round(time.Second), s.rssKiB, s.goroutines, s.p99, s.pushes)
		if time.Now().After(nextSnap) {
			nextSnap = nextSnap.Add(snapEvery)
			if err := snapshotAll(ctx, c, owner, wss[len(samples)%len(wss)]); err != nil {
				snapErrs.Add(1)
				t.Errorf("snapshot: %v", err)
			}
		}
	}
	close(stop)
	loadWG.Wait()

	// 4. Every watcher caught up with its workspace's counter.
	deadline := time.Now().Add(30 * time.Second)
	for _, w := range watchers {
		want, err := c.ServerVersion(ctx, owner, wss[w.ws])
		if err != nil {
			t.Fatal(err)
		}
		for w.last.Load() < want && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if got := w.last.Load(); got < want {
			t.Errorf("watcher of workspace %d at %d, counter %d (err %v)", w.ws, got, want, w.err.Load())
		}
	}
	stopWatchers()
	wg.Wait()

	// 5. Bounds.
	if pushErrs.Load() > 0 || snapErrs.Load() > 0 {
		t.Fatalf("%d push errors, %d snapshot errors", pushErrs.Load(), snapErrs.Load())
	}
	if len(samples) >= 3 {
		warm := samples[1]
		last := samples[len(samples)-1]
		// KiB: two 16 MiB memtables and the 16 MiB cache filling, plus heap
		// slack; not history.
		const rssBound = 96 << 10
		if growth := last.rssKiB - warm.rssKiB; growth > rssBound {
			t.Errorf("RSS grew %d KiB after warm-up (bound %d KiB)", growth, rssBound)
		}
		if g := last.goroutines - warm.goroutines; g > 64 {
			t.Errorf("goroutines grew by %d after warm-up", g)
		}
		if first, lastP99 := samples[1].p99, last.p99; first > 0 && lastP99 > 4*first && lastP99 > 100*time.Millisecond {
			t.Errorf("p99 drifted from %v to %v", first, lastP99)
		}
	}
	after := goroutines(t, p.URL)
	t.Logf("soak %v: %d ops pushed, p50 %v p99 %v; goroutines after watchers closed %d; 0 errors",
		*durationFlag, pushes.Load(), lat.Percentile(50), lat.Percentile(99), after)

	// The store after the run: a graceful stop, then syncd's offline verify
	// and Pebble's consistency check.
	if code := p.Stop(os.Interrupt, 60*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGINT", code)
	}
	_, check := crashtest.CheckStopped(t, bin, dataDir)
	t.Logf("final store: %s", check)
}

// measureMaxRate pushes as fast as 8 clients can for d and returns ops/s.
func measureMaxRate(t *testing.T, c *crashtest.Client, owner string, wss []string, d time.Duration) float64 {
	var n atomic.Int64
	var wg sync.WaitGroup
	end := time.Now().Add(d)
	for k := 0; k < 8; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(end); i++ {
				ops := make([]crashtest.Op, 10)
				for j := range ops {
					ops[j] = crashtest.KVPut("warm", fmt.Sprintf("w%d-%d-%d", k, i, j), 1, strings.Repeat("x", 512))
				}
				if _, err := c.Push(context.Background(), owner, wss[(k+i)%len(wss)], ops); err != nil {
					t.Errorf("warm-up push: %v", err)
					return
				}
				n.Add(10)
			}
		}()
	}
	wg.Wait()
	return float64(n.Load()) / d.Seconds()
}

// watch follows ws over SSE and records the last version seen.
func watch(ctx context.Context, base, user, ws string, last *atomic.Uint64) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/sync/watch?workspaceId="+ws+"&cursor=0", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("X-Syncd-User", user)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("watch: HTTP %d", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "id: "); ok {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return err
			}
			if prev := last.Load(); n != prev+1 {
				return fmt.Errorf("watch of %s jumped from %d to %d", ws, prev, n)
			}
			last.Store(n)
		}
	}
	return sc.Err()
}

// snapshotAll pages through a whole snapshot of ws.
func snapshotAll(ctx context.Context, c *crashtest.Client, user, ws string) error {
	var token *string
	for pages := 0; pages < 10000; pages++ {
		body := map[string]any{"scope": map[string]string{"workspaceId": ws}, "pageSize": 1000}
		if token != nil {
			body["pageToken"] = *token
		}
		var page struct {
			NextPageToken *string           `json:"nextPageToken"`
			Items         []json.RawMessage `json:"items"`
		}
		if err := c.Do(ctx, http.MethodPost, "/v1/sync/snapshot", user, body, &page); err != nil {
			return err
		}
		if page.NextPageToken == nil {
			return nil
		}
		token = page.NextPageToken
	}
	return fmt.Errorf("snapshot of %s did not end", ws)
}

// rssKiB reads VmRSS of pid.
func rssKiB(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

// goroutines reads go_goroutines from the child's /metrics.
func goroutines(t *testing.T, base string) int64 {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Errorf("metrics: %v", err)
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return int64(f)
		}
	}
	return 0
}
