// Package regions_test runs three syncd processes as three regions on
// loopback (their embedded nats-servers form one three-node JetStream
// cluster, R3 stream) and crashes them for real.
package regions_test

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/or3/syncd/internal/crashtest"
)

var (
	flagKills = flag.Int("regions.kills", envInt("SYNCD_REGIONS_KILLS", 1),
		"SIGKILL/restart cycles in TestRegions_KillUnderLoad (long run: SYNCD_REGIONS_KILLS=5)")
	flagSeed = flag.Uint64("regions.seed", 0, "victim choice seed after the first kill (0: time-based; logged)")
)

func envInt(name string, def int) int {
	var n int
	if _, err := fmt.Sscan(os.Getenv(name), &n); err == nil && n > 0 {
		return n
	}
	return def
}

func TestMain(m *testing.M) {
	code := m.Run()
	crashtest.RemoveBuild()
	os.Exit(code)
}

const token = "regions-token-0123456789abcdef01"

// cluster is three syncd processes, one per region.
type cluster struct {
	procs []*crashtest.Proc
	mu    sync.Mutex
	cls   []*crashtest.Client
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startCluster(t *testing.T) *cluster {
	bin := crashtest.Build(t)
	addrs := []string{freeAddr(t), freeAddr(t), freeAddr(t)}
	c := &cluster{procs: make([]*crashtest.Proc, 3), cls: make([]*crashtest.Client, 3)}
	var wg sync.WaitGroup
	for i := range addrs {
		var routes []string
		for j, a := range addrs {
			if j != i {
				routes = append(routes, "nats-route://"+a)
			}
		}
		opts := crashtest.Options{DataDir: t.TempDir(), Token: token, Args: []string{
			"--region", fmt.Sprint("r", i), "--nats-listen", addrs[i], "--nats-routes", strings.Join(routes, ","),
		}}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.procs[i] = crashtest.Start(t, bin, opts)
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for i, p := range c.procs {
		c.cls[i] = crashtest.NewClient(p.URL, token)
	}
	return c
}

// client is region i's client.
func (c *cluster) client(i int) *crashtest.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cls[i]
}

// restarted renews region i's client (its URL changes on restart).
func (c *cluster) restarted(i int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cls[i] = crashtest.NewClient(c.procs[i].URL, token)
}

type status struct {
	Replication struct {
		State  string `json:"state"`
		Detail struct {
			StreamLeader string `json:"streamLeader"`
			Published    uint64 `json:"published"`
			Origins      []struct {
				Region  string `json:"region"`
				Applied uint64 `json:"applied"`
			} `json:"origins"`
		} `json:"detail"`
	} `json:"replication"`
}

func (c *cluster) status(ctx context.Context, i int) (status, error) {
	var st status
	err := c.client(i).Do(ctx, http.MethodGet, "/v1/admin/status", "", nil, &st)
	return st, err
}

type digest struct {
	Digest string `json:"digest"`
	Keys   int64  `json:"keys"`
}

// waitDigests waits until the regions in idx answer equal
// GET /v1/admin/digest for ws.
func (c *cluster) waitDigests(t *testing.T, ws string, idx []int, timeout time.Duration) digest {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(timeout)
	for {
		ds := make([]digest, len(idx))
		var err error
		for k, i := range idx {
			if err = c.client(i).Do(ctx, http.MethodGet, "/v1/admin/digest?workspaceId="+ws, "", nil, &ds[k]); err != nil {
				break
			}
		}
		equal := err == nil
		for k := range ds {
			equal = equal && ds[k] == ds[0]
		}
		if equal {
			return ds[0]
		}
		if time.Now().After(deadline) {
			for _, i := range idx {
				st, _ := c.status(ctx, i)
				t.Logf("r%d status %+v", i, st.Replication)
			}
			t.Fatalf("regions %v never converged on %s: %+v (err %v)", idx, ws, ds, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// ledger holds the ops acknowledged anywhere: op id → pk (each pk is
// written once, so the op must be its row's winner everywhere).
type ledger struct {
	mu    sync.Mutex
	acked map[string]string
}

func (l *ledger) add(id, pk string) {
	l.mu.Lock()
	l.acked[id] = pk
	l.mu.Unlock()
}

// writer pushes to one region until stop closes; while paused (the region
// is down) it waits. Every op it sends has a pk of its own, plus a shared
// key all writers edit (conflicting edits of the same row).
type writer struct {
	c      *cluster
	region int
	name   string
	user   string
	ws     string
	led    *ledger
	paused atomic.Bool
	acked  atomic.Int64
	failed atomic.Int64
}

func (w *writer) run(stop <-chan struct{}) {
	ctx := context.Background()
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		default:
		}
		if w.paused.Load() {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		ops := make([]crashtest.Op, 0, 6)
		for k := 0; k < 5; k++ {
			ops = append(ops, crashtest.KVPut(w.name, fmt.Sprintf("%s-%d-%d", w.name, n, k), 1, strings.Repeat("v", 200)))
		}
		ops = append(ops, crashtest.KVPut(w.name, "shared", int64(n+1), w.name))
		cl := w.c.client(w.region)
		res, err := cl.Push(ctx, w.user, w.ws, ops)
		if err != nil { // the region died mid-request: not acknowledged
			w.failed.Add(1)
			time.Sleep(20 * time.Millisecond)
			continue
		}
		for k, r := range res.Results {
			if r.Success && k < 5 {
				w.led.add(ops[k].Stamp.OpID, ops[k].PK)
				w.acked.Add(1)
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkAcked pulls ws from every region and checks that every
// acknowledged op is its row's current change.
func (c *cluster) checkAcked(t *testing.T, user, ws string, led *ledger) {
	t.Helper()
	ctx := context.Background()
	led.mu.Lock()
	defer led.mu.Unlock()
	for i := range c.procs {
		changes, err := c.client(i).PullAll(ctx, user, ws)
		if err != nil {
			t.Fatalf("r%d: %v", i, err)
		}
		have := map[string]string{} // pk → op id of its latest change
		for _, ch := range changes {
			have[ch.PK] = ch.Stamp.OpID
		}
		missing := 0
		for id, pk := range led.acked {
			if have[pk] != id {
				if missing < 5 {
					t.Errorf("r%d: acknowledged op %s (pk %s) is missing", i, id, pk)
				}
				missing++
			}
		}
		if missing > 0 {
			t.Errorf("r%d: %d of %d acknowledged ops missing", i, missing, len(led.acked))
		}
	}
}

// setup creates a user and workspace in r0 and waits until every region
// serves it and the stream has a leader.
func setup(t *testing.T, c *cluster) (user, ws string) {
	t.Helper()
	ctx := context.Background()
	user, err := c.client(0).CreateUser(ctx, "p", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if ws, err = c.client(0).DefaultWorkspace(ctx, user); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(90 * time.Second)
	for i := range c.procs {
		for {
			_, err := c.client(i).Push(ctx, user, ws, []crashtest.Op{crashtest.KVPut(fmt.Sprint("setup", i), fmt.Sprint("hello-", i), 1, "x")})
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("r%d never served workspace %s: %v", i, ws, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	c.waitDigests(t, ws, []int{0, 1, 2}, 90*time.Second)
	return user, ws
}

// TestRegions_KillUnderLoad: three syncd processes take pushes in every
// region (own rows and edits of one shared row); the region whose
// JetStream node leads r0's stream is SIGKILLed mid-load, so that stream
// (each origin has one), and whatever else that node led, change leader. The two others keep taking
// writes and converge with each other while it is down; it restarts on
// the same data (and the same route address), catches up, and all three
// end with equal GET /v1/admin/digest answers and every acknowledged op
// present in every region. -regions.kills=N (SYNCD_REGIONS_KILLS=N) runs
// N kill cycles, the later victims chosen at random.
func TestRegions_KillUnderLoad(t *testing.T) {
	seed := *flagSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -regions.seed=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	c := startCluster(t)
	user, ws := setup(t, c)
	ctx := context.Background()

	led := &ledger{acked: map[string]string{}}
	var writers []*writer
	for i := range c.procs {
		for k := 0; k < 2; k++ {
			writers = append(writers, &writer{c: c, region: i, name: fmt.Sprintf("r%d-w%d", i, k), user: user, ws: ws, led: led})
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, w := range writers {
		wg.Add(1)
		go func() { defer wg.Done(); w.run(stop) }()
	}
	stopped := false
	stopWriters := func() {
		if !stopped {
			stopped = true
			close(stop)
			wg.Wait()
		}
	}
	defer stopWriters()
	pause := func(region int, p bool) {
		for _, w := range writers {
			if w.region == region {
				w.paused.Store(p)
			}
		}
	}
	pauseAll := func(p bool) {
		for _, w := range writers {
			w.paused.Store(p)
		}
	}

	for kill := 0; kill < *flagKills; kill++ {
		time.Sleep(1500 * time.Millisecond) // load on all three
		st, err := c.status(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		victim := -1
		if kill == 0 {
			fmt.Sscanf(st.Replication.Detail.StreamLeader, "r%d", &victim)
		}
		if victim < 0 || victim > 2 {
			victim = rng.IntN(3)
		}
		survivors := []int{}
		for i := range c.procs {
			if i != victim {
				survivors = append(survivors, i)
			}
		}
		t.Logf("kill %d: SIGKILL r%d (stream leader %q)", kill+1, victim, st.Replication.Detail.StreamLeader)
		c.procs[victim].Kill()
		pause(victim, true)
		time.Sleep(2 * time.Second) // the others keep writing
		// The survivors converge between themselves while it is down:
		// the stream and the consumers elected new leaders.
		pauseAll(true)
		time.Sleep(100 * time.Millisecond) // pushes in flight finish
		t0 := time.Now()
		c.waitDigests(t, ws, survivors, 60*time.Second)
		t.Logf("survivors %v converged in %v without r%d", survivors, time.Since(t0), victim)
		if st, err := c.status(ctx, survivors[0]); err == nil {
			t.Logf("stream leader now %q", st.Replication.Detail.StreamLeader)
		}
		pauseAll(false)
		pause(victim, true)
		time.Sleep(time.Second)
		t1 := time.Now()
		c.procs[victim].Restart(t)
		c.restarted(victim)
		t.Logf("r%d restarted in %v", victim, time.Since(t1))
		pause(victim, false)
	}
	time.Sleep(time.Second)
	stopWriters()
	t2 := time.Now()
	d := c.waitDigests(t, ws, []int{0, 1, 2}, 90*time.Second)
	t.Logf("all three converged %v after the writers stopped: %d keys", time.Since(t2), d.Keys)
	var acked, failed int64
	for _, w := range writers {
		acked += w.acked.Load()
		failed += w.failed.Load()
	}
	t.Logf("%d ops acknowledged, %d pushes failed (region down)", acked, failed)
	if acked == 0 {
		t.Fatal("no op was acknowledged")
	}
	c.checkAcked(t, user, ws, led)
	for i := range c.procs {
		if st, err := c.status(ctx, i); err != nil || st.Replication.State != "ok" {
			t.Errorf("r%d replication %+v (err %v)", i, st.Replication, err)
		}
	}
}
