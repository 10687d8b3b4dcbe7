package replica_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/or3/syncd/bench/baseline"
	"github.com/or3/syncd/engine"
)

// BenchmarkReplica_ApplyRemote: the applying side of a catch-up without
// NATS: -replica.missed events (10-op pushes of ~1 KiB ops over 30
// workspaces) are pushed into one region, read back by origin sequence,
// and applied into a fresh region in the applier's largest batches. Prints
// CPU per event (load-robust) and, as the same-run baseline, the local
// pushes of the same events. Run with -benchtime=1x.
func BenchmarkReplica_ApplyRemote(b *testing.B) {
	n := *benchMissed
	src := &region{t: b, name: "src", dir: b.TempDir(), noRepl: true, acked: map[string]bool{}}
	src.open()
	defer src.close()
	cpu0 := cpuTime()
	base := fill(b, []*region{src}, n, "base")
	baseCPU := cpuTime() - cpu0
	evs, err := src.eng.ReadOrigin(0, 1<<30)
	if err != nil {
		b.Fatal(err)
	}
	dst := &region{t: b, name: "dst", dir: b.TempDir(), noRepl: true, acked: map[string]bool{}}
	dst.open()
	defer dst.close()
	const batch = 4096
	b.ResetTimer()
	cpu0 = cpuTime()
	t0 := time.Now()
	for i := 0; i < len(evs); i += batch {
		in := make([]engine.RemoteEvent, 0, batch)
		for _, ev := range evs[i:min(i+batch, len(evs))] {
			in = append(in, engine.RemoteEvent{Seq: ev.Seq, Key: ev.Key, Value: ev.Value})
		}
		if _, err := dst.eng.ApplyRemote(context.Background(), "src", in); err != nil {
			b.Fatal(err)
		}
	}
	took := time.Since(t0)
	cpu := cpuTime() - cpu0
	b.StopTimer()
	fmt.Fprintf(os.Stdout, "apply: %d events in %v, %.1f µs CPU per event (pushes: %.1f µs CPU per event); %s\n",
		len(evs), took.Round(time.Millisecond), float64(cpu.Microseconds())/float64(len(evs)),
		float64(baseCPU.Microseconds())/float64(len(evs)), loadavg())
	b.ReportMetric(float64(cpu.Microseconds())/float64(len(evs)), "cpu-µs/event")
	baseline.Report(os.Stdout, "replica-apply",
		baseline.Result{Name: "apply-remote", Ops: int64(len(evs)), Bytes: int64(len(evs)) * 1024, Elapsed: took},
		baseline.Result{Name: "local-push", Ops: int64(n), Bytes: int64(n) * 1024, Elapsed: base})
}
