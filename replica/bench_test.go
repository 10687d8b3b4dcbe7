package replica_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/or3/syncd/bench/baseline"
	"github.com/or3/syncd/engine"
)

var (
	benchRate   = flag.Int("replica.rate", 3000, "ops/s of BenchmarkReplica_Lag3Regions")
	benchRounds = flag.Int("replica.rounds", 3, "alternations of publishing off/on in BenchmarkReplica_PublishOverhead")
	benchFor    = flag.Duration("replica.for", 5*time.Second, "duration of each replica benchmark phase")
)

// benchWS are the workspaces the lag benchmark writes (OR3: one per user;
// the engine serializes each workspace's commits).
var benchWS = func() []string {
	ws := make([]string, 30)
	for i := range ws {
		ws[i] = fmt.Sprint("ws-", i)
	}
	return ws
}()

// batch10 is a 10-op push of ~1 KiB payloads.
func batch10(dev string, n int) []engine.PendingOp {
	ops := make([]engine.PendingOp, 10)
	pad := strings.Repeat("x", 900)
	for i := range ops {
		op := putOp(fmt.Sprintf("%s-%d-%d", dev, n, i), 1, dev, opID(), pad)
		ops[i] = op
	}
	return ops
}

// BenchmarkReplica_Lag3Regions: three regions on one machine (a 3-node
// JetStream cluster, R3 stream), a fixed total rate of 10-op pushes of
// ~1 KiB ops spread over the regions and 30 workspaces; lag = from a push's acknowledgement
// in its region to the op's apply in each other region. Run with
// -benchtime=1x; -replica.rate sets ops/s (default 3000), -replica.for the
// duration.
func BenchmarkReplica_Lag3Regions(b *testing.B) {
	regs := newCluster(b, 3)
	// Wait until replication is up (stream created, consumers attached).
	for i, r := range regs {
		if err := r.push("warm", putOp(fmt.Sprint("w", i), 1, "dw", opID(), "warm")); err != nil {
			b.Fatal(err)
		}
	}
	waitConverged(b, regs, []string{"warm"}, 60*time.Second)
	var acks sync.Map // opId → ack time
	hist := baseline.NewHistogram()
	for _, r := range regs {
		r.eng.Subscribe(func(c engine.Committed) {
			if c.OriginRegion == "" {
				return
			}
			now := time.Now()
			for _, ch := range c.Changes {
				if at, ok := acks.Load(ch.Stamp.OpID); ok {
					hist.Record(now.Sub(at.(time.Time)))
				}
			}
		})
	}
	rate, dur := *benchRate, *benchFor
	pushesPerSec := rate / 10
	interval := time.Duration(float64(time.Second) * float64(len(regs)) / float64(pushesPerSec))
	pushHist := baseline.NewHistogram() // same-run baseline: the pushes' own latency
	cpu0 := cpuTime()
	b.ResetTimer()
	var wg sync.WaitGroup
	var sent atomic.Int64
	for i, r := range regs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dev := fmt.Sprint("d", i)
			// A fixed schedule served by a few concurrent clients, so one
			// slow push does not lower the offered rate.
			work := make(chan int, 1024)
			var cw sync.WaitGroup
			for c := 0; c < 4; c++ {
				cw.Add(1)
				go func() {
					defer cw.Done()
					for n := range work {
						ops := batch10(fmt.Sprint(dev, "-", c), n)
						t0 := time.Now()
						if err := r.push(benchWS[n%len(benchWS)], ops...); err != nil {
							b.Error(err)
							return
						}
						now := time.Now()
						pushHist.Record(now.Sub(t0))
						for _, op := range ops {
							acks.Store(op.Stamp.OpID, now)
						}
						sent.Add(int64(len(ops)))
					}
				}()
			}
			tick := time.NewTicker(interval)
			defer tick.Stop()
			end := time.Now().Add(dur)
			for n := 0; time.Now().Before(end); n++ {
				<-tick.C
				select {
				case work <- n:
				default: // clients saturated: the offered rate is not met (reported)
				}
			}
			close(work)
			cw.Wait()
		}()
	}
	wg.Wait()
	cpu := cpuTime() - cpu0
	load := loadavg()
	waitConverged(b, regs, benchWS, 120*time.Second)
	b.StopTimer()
	p50, p99 := hist.Percentile(50), hist.Percentile(99)
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50-lag-ms")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-lag-ms")
	for _, r := range regs {
		st := r.rep.Status()
		fmt.Fprintf(os.Stdout, "%s: published %d, publish errors %d, rejected %d\n", r.name, st.Published, st.PublishErrors, st.Rejected)
	}
	fmt.Fprintf(os.Stdout, "replica lag: %d ops at %d ops/s over 3 regions for %v: %d samples, p50 %v, p99 %v, max %v (targets p50 ≤ 20ms, p99 ≤ 200ms)\n",
		sent.Load(), rate, dur, hist.Count(), p50, p99, hist.Max())
	fmt.Fprintf(os.Stdout, "replica lag: offered %d ops, sent %d (%.0f%%); this process used %.2f of the 2 cores; %s\n",
		int64(rate)*int64(dur/time.Second), sent.Load(), 100*float64(sent.Load())/float64(int64(rate)*int64(dur/time.Second)), cpu.Seconds()/dur.Seconds(), load)
	baseline.Report(os.Stdout, "replica-lag",
		baseline.Result{Name: "op acked in one region → applied in each other (ops/s: applied per region)", Ops: hist.Count() / int64(len(regs)-1), Elapsed: dur, Latencies: hist},
		baseline.Result{Name: "the 10-op push itself, same run (ops/s: acknowledged)", Ops: sent.Load(), Elapsed: dur, Latencies: pushHist})
}

// BenchmarkReplica_PublishOverhead: one region pushing 10-op batches as
// fast as 16 clients can, with publishing to its embedded JetStream on
// (no consuming region) and off, same run. Target: on ≥ 0.7× off.
func BenchmarkReplica_PublishOverhead(b *testing.B) {
	measure := func(noRepl bool) baseline.Result {
		r := &region{t: b, name: "solo", dir: b.TempDir(), noRepl: noRepl, acked: map[string]bool{}}
		r.open()
		defer r.close()
		var ops atomic.Int64
		var wg sync.WaitGroup
		dur := *benchFor
		start := time.Now()
		for c := 0; c < 16; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				dev := fmt.Sprint("c", c)
				for n := 0; time.Since(start) < dur; n++ {
					if _, err := r.eng.Push(context.Background(), "alice", engine.PushBatch{Scope: engine.Scope{WorkspaceID: fmt.Sprint("ws-", c%4)}, Ops: batch10(dev, n)}); err != nil {
						b.Error(err)
						return
					}
					ops.Add(10)
				}
			}()
		}
		wg.Wait()
		el := time.Since(start)
		if !noRepl { // everything accepted was published
			deadline := time.Now().Add(30 * time.Second)
			for r.rep.Status().Published < r.originLen() && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if st := r.rep.Status(); st.Published < r.originLen() {
				b.Errorf("published %d of %d", st.Published, r.originLen())
			}
		}
		name := "push-publish-off"
		if !noRepl {
			name = "push-publish-on"
		}
		return baseline.Result{Name: name, Ops: ops.Load(), Bytes: ops.Load() * 1024, Elapsed: el}
	}
	b.ResetTimer()
	// Alternate the phases (off, on, off, on, …) and sum them: the shared
	// machine's background load drifts within a run.
	var off, on baseline.Result
	for i := 0; i < *benchRounds; i++ {
		for _, noRepl := range []bool{true, false} {
			r := measure(noRepl)
			acc := &on
			if noRepl {
				acc = &off
			}
			acc.Name, acc.Ops, acc.Bytes, acc.Elapsed = r.Name, acc.Ops+r.Ops, acc.Bytes+r.Bytes, acc.Elapsed+r.Elapsed
		}
	}
	b.StopTimer()
	baseline.Report(os.Stdout, "replica-publish", on, off)
	b.ReportMetric(on.OpsPerSec()/off.OpsPerSec(), "on/off")
}
