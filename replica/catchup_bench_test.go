package replica_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/or3/syncd/bench/baseline"
	"github.com/or3/syncd/engine"
)

var (
	benchMissed   = flag.Int("replica.missed", 100_000, "events BenchmarkReplica_CatchUp's region misses while down")
	benchMemTable = flag.Int("replica.memtable-mb", 0, "Pebble memtable size of the benchmarks' regions in MiB (0: the tests' 8 MiB; syncd's default is 64)")
	benchCatchUp  = flag.String("replica.catchupprofile", "", "write a CPU profile of BenchmarkReplica_CatchUp's catch-up phase only to this file")
)

// fill pushes n ops (10-op batches of ~1 KiB ops) into regs, spread over
// them and over benchWS, from 8 clients per region, and returns when all
// are acknowledged.
func fill(b *testing.B, regs []*region, n int, tag string) time.Duration {
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i, r := range regs {
		for c := 0; c < 8; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				dev := fmt.Sprintf("%s-%d-%d", tag, i, c)
				for k := next.Add(10); k <= int64(n); k = next.Add(10) {
					if _, err := r.eng.Push(context.Background(), "alice", engine.PushBatch{
						Scope: engine.Scope{WorkspaceID: benchWS[int(k/10)%len(benchWS)]}, Ops: batch10(dev, int(k))}); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	return time.Since(start)
}

// BenchmarkReplica_CatchUp: three regions (a three-node JetStream cluster,
// R3 streams); one region is closed, the two others take
// -replica.missed events (default 100,000: 10-op pushes of ~1 KiB ops over
// 30 workspaces) and replicate them between themselves; then the closed
// region reopens on its data and the time until it has applied every
// missed event is measured. Target: ≤ 10 s. Same-run baseline: the same
// number of the same pushes into a lone region without replication
// (events/s the machine commits locally right now). Run with
// -benchtime=1x.
func BenchmarkReplica_CatchUp(b *testing.B) {
	n := *benchMissed
	// Baseline: the same events committed by a lone region.
	solo := &region{t: b, name: "solo", dir: b.TempDir(), noRepl: true, acked: map[string]bool{}}
	solo.open()
	base := fill(b, []*region{solo}, n, "base")
	solo.close()

	regs := newCluster(b, 3)
	for i, r := range regs {
		if err := r.push("warm", putOp(fmt.Sprint("w", i), 1, "dw", opID(), "warm")); err != nil {
			b.Fatal(err)
		}
	}
	waitConverged(b, regs, []string{"warm"}, 60*time.Second)
	down := regs[2]
	before, err := down.eng.Applied()
	if err != nil {
		b.Fatal(err)
	}
	down.close()
	fillTook := fill(b, regs[:2], n, "missed")
	waitSubsetConverged(b, regs[:2], regs, benchWS[0], 300*time.Second)
	len0, len1 := regs[0].originLen(), regs[1].originLen()
	behind := len0 + len1 - before["r0"] - before["r1"]

	if *benchCatchUp != "" {
		f, err := os.Create(*benchCatchUp)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			b.Fatal(err)
		}
	}
	calls0, events0, nanos0 := applyStats.calls.Load(), applyStats.events.Load(), applyStats.nanos.Load()
	cpu0 := cpuTime()
	b.ResetTimer()
	t0 := time.Now()
	down.open()
	reopen := time.Since(t0)
	deadline := t0.Add(300 * time.Second)
	for {
		a, err := down.eng.Applied()
		if err != nil {
			b.Fatal(err)
		}
		if a["r0"] == len0 && a["r1"] == len1 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("not caught up after 300 s: %+v", down.rep.Status())
		}
		time.Sleep(5 * time.Millisecond)
	}
	took := time.Since(t0)
	b.StopTimer()
	calls, events, nanos := applyStats.calls.Load()-calls0, applyStats.events.Load()-events0, applyStats.nanos.Load()-nanos0
	cpu := cpuTime() - cpu0
	if *benchCatchUp != "" {
		pprof.StopCPUProfile()
	}
	waitConverged(b, regs, benchWS, 120*time.Second)

	b.ReportMetric(took.Seconds(), "catchup-s")
	fmt.Fprintf(os.Stdout, "replica catch-up: %d events missed (filled in %v), reopened in %v, caught up in %v (target ≤ 10s)\n",
		behind, fillTook.Round(time.Millisecond), reopen.Round(time.Millisecond), took.Round(time.Millisecond))
	fmt.Fprintf(os.Stdout, "catch-up: this process used %v of CPU in those %v (all three regions and NATS nodes; %.2f of the 2 cores); %s\n",
		cpu.Round(time.Millisecond), took.Round(time.Millisecond), cpu.Seconds()/took.Seconds(), loadavg())
	fmt.Fprintf(os.Stdout, "catch-up applies: %d calls, %.0f events each, %v in Apply (%.0f%% of the catch-up)\n",
		calls, float64(events)/float64(max(calls, 1)), time.Duration(nanos).Round(time.Millisecond), 100*float64(nanos)/float64(took))
	baseline.Report(os.Stdout, "replica-catchup",
		baseline.Result{Name: "catch-up-apply", Ops: int64(behind), Bytes: int64(behind) * 1024, Elapsed: took},
		baseline.Result{Name: "local-push-no-replication", Ops: int64(n), Bytes: int64(n) * 1024, Elapsed: base})
}

// cpuTime is the CPU time (user + system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadavg is the machine's load (shared with other work), for reports.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "load n/a"
	}
	return "loadavg " + strings.TrimSpace(string(b))
}
