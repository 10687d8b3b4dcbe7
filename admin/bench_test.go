package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/google/uuid"
	"github.com/or3/syncd/admin"
	"github.com/or3/syncd/bench/baseline"
	"github.com/or3/syncd/daemon"
	"github.com/or3/syncd/engine"
	synclog "github.com/or3/syncd/log"
)

// benchMB is the size of the data the benchmarks build
// (SYNCD_BENCH_ADMIN_MB, default 64; the target is 1024).
func benchMB() int {
	if v, err := strconv.Atoi(os.Getenv("SYNCD_BENCH_ADMIN_MB")); err == nil && v > 0 {
		return v
	}
	return 64
}

var payloadPad = strings.Repeat("x", 900)

// pushOps pushes n kv puts of ~1 KiB in batches of 100 through the engine.
func pushOps(b testing.TB, d *daemon.Daemon, user, ws, dev string, n int) {
	b.Helper()
	ctx := context.Background()
	for i := 0; i < n; i += 100 {
		var ops []engine.PendingOp
		for j := i; j < min(n, i+100); j++ {
			pk := fmt.Sprintf("%s-%d", dev, j)
			p, _ := json.Marshal(map[string]any{"id": pk, "name": pk, "value": payloadPad, "created_at": 1, "updated_at": 1, "clock": 1})
			ops = append(ops, engine.PendingOp{TableName: "kv", Operation: "put", PK: pk, Payload: p,
				Stamp: engine.Stamp{DeviceID: dev, OpID: uuid.NewString(), HLC: "0000000000001:0000:" + dev, Clock: 1}})
		}
		if _, err := d.Engine.Push(ctx, user, engine.PushBatch{Scope: engine.Scope{WorkspaceID: ws}, Ops: ops}); err != nil {
			b.Fatal(err)
		}
	}
}

func benchDaemon(b *testing.B) (*daemon.Daemon, string, string) {
	d, c := startDaemon(b, b.TempDir(), nil)
	user := mustUser(b, c, "bench")
	ws, err := c.DefaultWorkspace(context.Background(), user)
	if err != nil {
		b.Fatal(err)
	}
	pushOps(b, d, user, ws, "seed", benchMB()<<10)
	if err := d.DB.Pebble().Flush(); err != nil {
		b.Fatal(err)
	}
	return d, user, ws
}

// BenchmarkBackup backs up a data dir of SYNCD_BENCH_ADMIN_MB of ~1 KiB
// rows, beside the raw sequential write of as many bytes in the same run.
// Sstables are hard-linked by Pebble's checkpoint on the same filesystem,
// so the backup mostly costs the WAL copy, the fsyncs and the manifest.
func BenchmarkBackup(b *testing.B) {
	d, _, _ := benchDaemon(b)
	size := int64(d.DB.Pebble().Metrics().DiskSpaceUsage())
	for i := 0; i < b.N; i++ {
		dir := filepath.Join(b.TempDir(), "bk")
		start := time.Now()
		res, err := d.Admin.Backup(context.Background(), admin.SuperAdmin("bench", ""), dir, nil)
		if err != nil {
			b.Fatal(err)
		}
		el := time.Since(start)
		w, _, err := baseline.SeqWriteRead(b.TempDir(), max(res.Bytes, 1<<20), 0)
		if err != nil {
			b.Fatal(err)
		}
		// Ops are MiB, as the baseline's 1 MiB writes are.
		measured := baseline.Result{Name: fmt.Sprintf("backup-%dMiB-%dfiles", size>>20, res.Files), Ops: res.Bytes >> 20, Bytes: res.Bytes, Elapsed: el,
			Note: "sstables hard-linked by the checkpoint (same filesystem); WAL, secrets and manifest copied and fsynced"}
		baseline.Report(os.Stdout, "backup", measured, w)
	}
}

// BenchmarkPushDuringBackup compares push throughput (100 ops of ~1 KiB
// per batch, 4 writers) without and with back-to-back backups.
func BenchmarkPushDuringBackup(b *testing.B) {
	d, user, ws := benchDaemon(b)
	const window = 3 * time.Second
	run := func(withBackup bool) baseline.Result {
		var ops atomic.Int64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					pushOps(b, d, user, ws, fmt.Sprintf("w%d-%v-%d", w, withBackup, i), 100)
					ops.Add(100)
				}
			}(w)
		}
		backups := 0
		start := time.Now()
		if withBackup {
			for time.Since(start) < window {
				if _, err := d.Admin.Backup(context.Background(), admin.SuperAdmin("bench", ""), filepath.Join(b.TempDir(), "bk"), nil); err != nil {
					b.Error(err)
				}
				backups++
			}
		} else {
			time.Sleep(window)
		}
		close(stop)
		wg.Wait()
		el := time.Since(start)
		return baseline.Result{Name: fmt.Sprintf("push-backups=%d", backups), Ops: ops.Load(), Bytes: ops.Load() * 1024, Elapsed: el}
	}
	for i := 0; i < b.N; i++ {
		without := run(false)
		with := run(true)
		baseline.Report(os.Stdout, "push-during-backup", with, without)
	}
}

// BenchmarkVerify runs state.verify (VerifyOnline: checkpoint, open,
// verify; wall time) over SYNCD_BENCH_ADMIN_MB of ~1 KiB rows, beside two
// same-run baselines: a raw Pebble scan of every key of the same store
// (the same data, best of 3), and baseline.PebbleScan of as many fresh
// 1 KiB entries as the log holds. The ratio to read is bytes/s against
// the scan of the same store: verify reads the log and the state once.
func BenchmarkVerify(b *testing.B) {
	d, _, _ := benchDaemon(b)
	for i := 0; i < b.N; i++ {
		// Alternate the two, best of 3 each: the same cache state and
		// the same background load for both.
		var measured, same baseline.Result
		for range 3 {
			s, err := rawScan(d.DB.Pebble(), 1)
			if err != nil {
				b.Fatal(err)
			}
			if same.Elapsed == 0 || s.Elapsed < same.Elapsed {
				same = s
			}
			start := time.Now()
			rep, err := d.Admin.VerifyOnline(context.Background(), nil)
			el := time.Since(start)
			if err != nil || !rep.OK {
				b.Fatalf("%+v %v", rep, err)
			}
			if measured.Elapsed == 0 || el < measured.Elapsed {
				measured = baseline.Result{Name: fmt.Sprintf("verify-%s-%dentries-%drows", rep.Mode, rep.ChangeEntries, rep.Rows), Ops: rep.ChangeEntries + rep.SystemEvents,
					Bytes: rep.BytesRead, Elapsed: el, Note: "VerifyOnline wall time, best of 3"}
			}
		}
		baseline.Report(os.Stdout, "verify-vs-same-store", measured, same)
		base, err := baseline.PebbleScan(b.TempDir(), func() *pebble.Options { return synclog.PebbleOptions(synclog.Config{Dir: "x"}) }, int(measured.Ops), 1024)
		if err != nil {
			b.Fatal(err)
		}
		baseline.Report(os.Stdout, "verify-vs-1k-scan", measured, base)
		fmt.Printf("verify  load %s", loadavg())
	}
}

// rawScan reads every key and value of db with one iterator, best of
// runs: the raw Pebble scan rate of the store verify reads.
func rawScan(db *pebble.DB, runs int) (baseline.Result, error) {
	best := baseline.Result{Name: "pebble-scan-same-store"}
	for range runs {
		start := time.Now()
		it, err := db.NewIter(nil)
		if err != nil {
			return best, err
		}
		var n, size int64
		for ok := it.First(); ok; ok = it.Next() {
			v, err := it.ValueAndErr()
			if err != nil {
				it.Close()
				return best, err
			}
			n++
			size += int64(len(it.Key()) + len(v))
		}
		if err := it.Close(); err != nil {
			return best, err
		}
		if el := time.Since(start); best.Elapsed == 0 || el < best.Elapsed {
			best.Ops, best.Bytes, best.Elapsed = n, size, el
		}
	}
	best.Note = fmt.Sprintf("%d keys, every keyspace, best of 3", best.Ops)
	return best, nil
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return string(b)
}
