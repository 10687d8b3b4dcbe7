package crashtest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	flagKills = flag.Int("crash.kills", envInt("SYNCD_CRASH_KILLS", 3), "SIGKILLs in TestCrash_AcknowledgedOpsSurvive (the full run: 20; env SYNCD_CRASH_KILLS)")
	flagSeed  = flag.Uint64("crash.seed", 0, "random seed of the crash test (0: time-based; the seed is logged)")
)

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func TestMain(m *testing.M) {
	code := m.Run()
	RemoveBuild()
	os.Exit(code)
}

const crashToken = "crashtest-token-0123456789abcdef"

// batch is one push as the load sent it.
type batch struct {
	ws    string
	opIDs []string
	ops   []Op
	// versions are the acknowledged versions (nil when unacknowledged).
	versions []uint64
}

// ledger records what the load sent and what syncd acknowledged.
type ledger struct {
	mu      sync.Mutex
	acked   []*batch
	unacked []*batch
}

func (l *ledger) add(b *batch, acked bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if acked {
		l.acked = append(l.acked, b)
	} else {
		l.unacked = append(l.unacked, b)
	}
}

// TestCrash_AcknowledgedOpsSurvive runs push load from several goroutines
// over several workspaces against a real syncd process, SIGKILLs it at a
// random moment, restarts it on the same data directory, and checks:
//   - every op acknowledged before the kill is there, at the version the
//     acknowledgement named (durable before visible, model.md §3);
//   - each workspace's versions are 1..serverVersion without a gap
//     (model.md §2), and every batch is all there or not at all, in one
//     contiguous block;
//   - retrying the batches that got no answer is safe: those that landed
//     are replays with their versions, the others apply now;
//   - the store as the kill left it passes `syncd admin verify --data-dir`
//     (replay equals live state) and Pebble's CheckLevels (on a copy, so
//     syncd's own restart recovers the original), and the restarted syncd
//     passes `syncd admin verify` (the state.verify action) online.
//
// -crash.kills=N runs more kills; -crash.seed=S replays a run's timing.
func TestCrash_AcknowledgedOpsSurvive(t *testing.T) {
	seed := *flagSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -crash.seed=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))

	bin := Build(t)
	dataDir := t.TempDir()
	p := Start(t, bin, Options{DataDir: dataDir, Token: crashToken})
	ctx := context.Background()

	// Users and workspaces, created through the auth RPC store.
	const workspaces, writersPerWS = 4, 3
	owners := map[string]string{} // ws → owner
	var wsList []string
	for i := 0; i < workspaces; i++ {
		c := p.Client()
		user, err := c.CreateUser(ctx, "crash", fmt.Sprintf("user-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		ws, err := c.DefaultWorkspace(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		owners[ws] = user
		wsList = append(wsList, ws)
	}

	led := &ledger{}
	for round := 1; round <= *flagKills; round++ {
		c := p.Client()
		c.HTTP.Timeout = 10 * time.Second
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for _, ws := range wsList {
			for w := 0; w < writersPerWS; w++ {
				wg.Add(1)
				device := fmt.Sprintf("r%d-w%d", round, w)
				wrng := rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
				go func() {
					defer wg.Done()
					load(t, c, ws, owners[ws], device, wrng, led, stop)
				}()
			}
		}
		wait := time.Duration(50+rng.IntN(450)) * time.Millisecond
		time.Sleep(wait)
		p.Kill()
		close(stop)
		wg.Wait()
		led.mu.Lock()
		t.Logf("round %d: killed after %s; %d batches acknowledged, %d unanswered so far", round, wait, len(led.acked), len(led.unacked))
		led.mu.Unlock()

		// The store as the kill left it, checked offline on a copy (so
		// that syncd itself, not the checker, recovers the original).
		crashed := t.TempDir()
		CopyDir(t, dataDir, crashed)
		crashRep, stopped := CheckStopped(t, bin, crashed)
		_ = os.RemoveAll(crashed)

		p.Restart(t)
		verify(t, p.Client(), wsList, owners, led)
		online := VerifyOnline(t, p)
		if online.ChangeEntries != crashRep.ChangeEntries {
			t.Errorf("round %d: the restarted syncd holds %d change entries, the crashed store %d", round, online.ChangeEntries, crashRep.ChangeEntries)
		}
		retryUnacked(t, p.Client(), owners, led)
		verify(t, p.Client(), wsList, owners, led)
		t.Logf("round %d: crashed copy: %s; after restart: state.verify %s ok (%d change entries)", round, stopped, online.Mode, online.ChangeEntries)
		if t.Failed() {
			t.Fatalf("round %d failed; logs:\n%s", round, p.Logs())
		}
	}
	// A graceful stop after all that exits 0, and the final store passes
	// both checks.
	if code := p.Stop(syscall.SIGTERM, 20*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM; logs:\n%s", code, p.Logs())
	}
	_, final := CheckStopped(t, bin, dataDir)
	led.mu.Lock()
	acked := len(led.acked)
	led.mu.Unlock()
	t.Logf("%d kills, %d batches acknowledged, none lost; final store: %s", *flagKills, acked, final)
}

// load pushes batches of 1..10 kv puts to ws until stop closes or a push
// fails (the kill); it records each batch in led.
func load(t *testing.T, c *Client, ws, user, device string, rng *rand.Rand, led *ledger, stop <-chan struct{}) {
	clock := int64(0)
	for {
		select {
		case <-stop:
			return
		default:
		}
		n := 1 + rng.IntN(10)
		b := &batch{ws: ws}
		for i := 0; i < n; i++ {
			clock++
			op := KVPut(device, fmt.Sprintf("%s-%d", device, rng.IntN(50)), clock, fmt.Sprint(rng.Uint64()))
			b.ops = append(b.ops, op)
			b.opIDs = append(b.opIDs, op.Stamp.OpID)
		}
		res, err := c.Push(context.Background(), user, ws, b.ops)
		if err != nil {
			var se *StatusError
			if errors.As(err, &se) && se.Status < 500 {
				t.Errorf("push refused: %v", err)
			}
			led.add(b, false) // no answer: it may or may not have landed
			return
		}
		if len(res.Results) != n {
			t.Errorf("push: %d results for %d ops", len(res.Results), n)
			return
		}
		for i, r := range res.Results {
			if !r.Success || r.OpID != b.opIDs[i] {
				t.Errorf("push result %d: %+v", i, r)
				return
			}
			b.versions = append(b.versions, r.ServerVersion)
		}
		led.add(b, true)
	}
}

// verify pulls every workspace and checks the ledger against it.
func verify(t *testing.T, c *Client, wsList []string, owners map[string]string, led *ledger) {
	t.Helper()
	ctx := context.Background()
	present := map[string]uint64{} // opId → version
	for _, ws := range wsList {
		changes, err := c.PullAll(ctx, owners[ws], ws)
		if err != nil {
			t.Fatalf("pull %s: %v", ws, err)
		}
		sv, err := c.ServerVersion(ctx, owners[ws], ws)
		if err != nil {
			t.Fatalf("server version %s: %v", ws, err)
		}
		for i, ch := range changes {
			if ch.ServerVersion != uint64(i+1) {
				t.Fatalf("%s: change %d has version %d: versions are not gap-free", ws, i, ch.ServerVersion)
			}
			if _, dup := present[ch.Stamp.OpID]; dup {
				t.Fatalf("%s: op %s logged twice", ws, ch.Stamp.OpID)
			}
			present[ch.Stamp.OpID] = ch.ServerVersion
		}
		if uint64(len(changes)) != sv {
			t.Fatalf("%s: %d changes but server version %d", ws, len(changes), sv)
		}
	}
	led.mu.Lock()
	defer led.mu.Unlock()
	for _, b := range led.acked {
		for i, id := range b.opIDs {
			v, ok := present[id]
			if !ok {
				t.Fatalf("acknowledged op %s (version %d) of %s lost", id, b.versions[i], b.ws)
			}
			if v != b.versions[i] {
				t.Fatalf("acknowledged op %s: version %d, acknowledged as %d", id, v, b.versions[i])
			}
		}
		checkContiguous(t, b, present)
	}
	for _, b := range led.unacked {
		n := 0
		for _, id := range b.opIDs {
			if _, ok := present[id]; ok {
				n++
			}
		}
		if n != 0 && n != len(b.opIDs) {
			t.Fatalf("unanswered batch of %d ops is partly there (%d ops): batches must be atomic", len(b.opIDs), n)
		}
		if n > 0 {
			checkContiguous(t, b, present)
		}
	}
}

// checkContiguous checks that a batch's ops hold one contiguous block of
// versions in input order.
func checkContiguous(t *testing.T, b *batch, present map[string]uint64) {
	t.Helper()
	first := present[b.opIDs[0]]
	for i, id := range b.opIDs {
		if present[id] != first+uint64(i) {
			t.Fatalf("batch versions not one contiguous block: op %d has %d, first %d", i, present[id], first)
		}
	}
}

// retryUnacked pushes every unanswered batch again, as a client would:
// ops that landed before the kill answer as replays with their version,
// the others apply now. Afterwards they count as acknowledged.
func retryUnacked(t *testing.T, c *Client, owners map[string]string, led *ledger) {
	t.Helper()
	led.mu.Lock()
	pending := led.unacked
	led.unacked = nil
	led.mu.Unlock()
	for _, b := range pending {
		res, err := c.Push(context.Background(), owners[b.ws], b.ws, b.ops)
		if err != nil {
			t.Fatalf("retry: %v", err)
		}
		replays := 0
		for i, r := range res.Results {
			if !r.Success || r.OpID != b.opIDs[i] {
				t.Fatalf("retry result %d: %+v", i, r)
			}
			if r.Replayed {
				replays++
			}
			b.versions = append(b.versions, r.ServerVersion)
		}
		if replays != 0 && replays != len(b.ops) {
			t.Fatalf("retry of a batch: %d of %d ops replayed", replays, len(b.ops))
		}
		led.add(b, true)
	}
}
