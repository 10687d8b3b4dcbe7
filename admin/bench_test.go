package admin_test

import (
	"bytes"
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
	"github.com/minio/minio-go/v7"
	"github.com/or3/syncd/admin"
	"github.com/or3/syncd/bench/baseline"
	"github.com/or3/syncd/daemon"
	"github.com/or3/syncd/engine"
	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/storage/s3"
	"github.com/or3/syncd/storage/storagetest"
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
	return benchDaemonWith(b, nil)
}

// benchDataDir is the data dir of the last benchDaemon (benchmarks run
// one at a time).
var benchDataDir string

func benchDaemonWith(b *testing.B, tune func(*daemon.Config)) (*daemon.Daemon, string, string) {
	benchDataDir = b.TempDir()
	d, c := startDaemon(b, benchDataDir, tune)
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
// rows, beside the raw sequential write (fsynced) of as many bytes to the
// same target filesystem, in the same run. The backup goes under
// SYNCD_BENCH_BACKUP_DIR (default: a temp dir). On the data dir's
// filesystem Pebble's checkpoint hard-links the sstables, so the backup
// mostly costs the WAL copy, the fsyncs and the manifest; point
// SYNCD_BENCH_BACKUP_DIR at another filesystem to measure a backup that
// copies every byte.
func BenchmarkBackup(b *testing.B) {
	d, _, _ := benchDaemon(b)
	size := int64(d.DB.Pebble().Metrics().DiskSpaceUsage())
	root := backupRoot(b)
	for i := 0; i < b.N; i++ {
		dir := filepath.Join(root, fmt.Sprintf("bk-%d-%d", time.Now().UnixNano(), i))
		start := time.Now()
		res, err := d.Admin.Backup(context.Background(), admin.SuperAdmin("bench", ""), dir, nil)
		if err != nil {
			b.Fatal(err)
		}
		el := time.Since(start)
		linked := sameFS(d.DB.Pebble(), dir)
		_ = os.RemoveAll(dir)
		w, _, err := baseline.SeqWriteRead(root, max(res.Bytes, 1<<20), 0)
		if err != nil {
			b.Fatal(err)
		}
		note := "every file copied and fsynced (another filesystem)"
		if linked {
			note = "sstables hard-linked by the checkpoint (same filesystem); WAL, secrets and manifest copied and fsynced"
		}
		// Ops are MiB, as the baseline's 1 MiB writes are.
		measured := baseline.Result{Name: fmt.Sprintf("backup-%dMiB-%dfiles", size>>20, res.Files), Ops: res.Bytes >> 20, Bytes: res.Bytes, Elapsed: el, Note: note}
		baseline.Report(os.Stdout, "backup", measured, w)
		fmt.Printf("backup  load %s", loadavg())
	}
}

func backupRoot(b *testing.B) string {
	if d := os.Getenv("SYNCD_BENCH_BACKUP_DIR"); d != "" {
		root, err := os.MkdirTemp(d, "syncd-bench-backup-")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = os.RemoveAll(root) })
		return root
	}
	return b.TempDir()
}

// sameFS reports whether the backup's sstables are the live store's
// files (hard-linked by the checkpoint).
func sameFS(_ *pebble.DB, dir string) bool {
	entries, err := os.ReadDir(filepath.Join(dir, "log"))
	if err != nil {
		return false
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".sst") {
			a, err1 := os.Stat(filepath.Join(dir, "log", e.Name()))
			b, err2 := os.Stat(filepath.Join(benchDataDir, "log", e.Name()))
			return err1 == nil && err2 == nil && os.SameFile(a, b)
		}
	}
	return false
}

// BenchmarkBackupS3 backs up a data dir of SYNCD_BENCH_ADMIN_MB of ~1 KiB
// rows to MinIO (every byte uploaded and hashed, manifest last). The
// baseline, in the same run and after the backup (so the page cache
// favours it, not the backup): the raw sequential copy of the same files
// to the same server, that is a local hard-link backup of the same store
// taken just after, each of its files uploaded with one minio-go
// PutObject (the storage/s3 client, unsigned payload, no hashing of our
// own), one file after the other. Two more lines for reference: one
// PutObject stream of as many bytes from memory (no files, one object),
// and the raw sequential write (fsynced) of as many bytes to the local
// disk. Needs MinIO (SYNCD_TEST_S3_ENDPOINT; scripts/minio.sh).
func BenchmarkBackupS3(b *testing.B) {
	env := storagetest.RequireS3(b)
	bucket := fmt.Sprintf("syncd-bench-%d", time.Now().UnixNano()%1e9)
	st, err := s3.Open(context.Background(), s3.Config{Endpoint: env.Endpoint, Bucket: bucket, AccessKey: env.AccessKey, SecretKey: env.SecretKey, PathStyle: true})
	if err != nil {
		b.Fatal(err)
	}
	d, _, _ := benchDaemonWith(b, func(c *daemon.Config) { c.S3AccessKey, c.S3SecretKey = env.AccessKey, env.SecretKey })
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		url := fmt.Sprintf("s3://%s/bench/%d-%d?endpoint=%s&secure=false", bucket, time.Now().UnixNano(), i, env.Endpoint)
		start := time.Now()
		res, err := d.Admin.Backup(ctx, admin.SuperAdmin("bench", ""), url, nil)
		if err != nil {
			b.Fatal(err)
		}
		el := time.Since(start)
		measured := baseline.Result{Name: fmt.Sprintf("backup-s3-%dfiles", res.Files), Ops: res.Bytes >> 20, Bytes: res.Bytes, Elapsed: el,
			Note: "checkpoint (hard links), every file uploaded with SHA-256, several at once, manifest last"}
		// The raw sequential copy of the same files.
		local := filepath.Join(b.TempDir(), "raw")
		lres, err := d.Admin.Backup(ctx, admin.SuperAdmin("bench", ""), local, nil)
		if err != nil {
			b.Fatal(err)
		}
		var rawBytes int64
		t0 := time.Now()
		for _, f := range lres.Manifest.Files {
			fh, err := os.Open(filepath.Join(local, filepath.FromSlash(f.Path)))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := st.Client().PutObject(ctx, bucket, fmt.Sprintf("raw-files/%d/%s", i, f.Path), fh, f.Size,
				minio.PutObjectOptions{ContentType: "application/octet-stream", DisableContentSha256: true}); err != nil {
				b.Fatal(err)
			}
			_ = fh.Close()
			rawBytes += f.Size
		}
		raw := baseline.Result{Name: fmt.Sprintf("raw-putobject-same-%dfiles-sequential", len(lres.Manifest.Files)), Ops: rawBytes >> 20, Bytes: rawBytes, Elapsed: time.Since(t0),
			Note: "minio-go PutObject per file, one at a time, from a hard-link checkpoint of the same store"}
		_ = os.RemoveAll(local)
		baseline.Report(os.Stdout, "backup-s3-vs-raw-copy", measured, raw)
		data := make([]byte, res.Bytes)
		for j := range data {
			data[j] = byte(j*7 + j>>11)
		}
		t0 = time.Now()
		if _, err := st.Client().PutObject(ctx, bucket, fmt.Sprintf("raw/%d", i), bytes.NewReader(data), int64(len(data)),
			minio.PutObjectOptions{ContentType: "application/octet-stream", PartSize: 64 << 20, DisableContentSha256: true}); err != nil {
			b.Fatal(err)
		}
		mem := baseline.Result{Name: "raw-putobject-one-stream-from-memory", Ops: res.Bytes >> 20, Bytes: res.Bytes, Elapsed: time.Since(t0)}
		baseline.Report(os.Stdout, "backup-s3-vs-memory-stream", measured, mem)
		w, _, err := baseline.SeqWriteRead(b.TempDir(), max(res.Bytes, 1<<20), 0)
		if err != nil {
			b.Fatal(err)
		}
		baseline.Report(os.Stdout, "backup-s3-vs-seq-write", measured, w)
		fmt.Printf("backup-s3  load %s", loadavg())
	}
}

// BenchmarkPushDuringBackup compares push throughput (100 ops of ~1 KiB
// per batch, 4 writers pushing all along) in phases without backups and
// phases with backups back to back, interleaved in the same run (without,
// with, with, without, ...: drift in the machine's load and the store's
// growth falls on both sides), each phase SYNCD_BENCH_PUSH_WINDOW long
// (default 3s; a with-phase also waits for its last backup), 250 ms
// uncounted between phases, SYNCD_BENCH_PUSH_PAIRS pairs (default 2). It
// reports the ops/s ratio and, load-independent, the process's CPU time
// per pushed op in each kind of phase (what backups add: the checkpoint,
// copies, fsyncs, flushes and compactions they cause).
func BenchmarkPushDuringBackup(b *testing.B) {
	d, user, ws := benchDaemon(b)
	window := 3 * time.Second
	if v, err := time.ParseDuration(os.Getenv("SYNCD_BENCH_PUSH_WINDOW")); err == nil && v > 0 {
		window = v
	}
	pairs := 2
	if v, err := strconv.Atoi(os.Getenv("SYNCD_BENCH_PUSH_PAIRS")); err == nil && v > 0 {
		pairs = v
	}
	for i := 0; i < b.N; i++ {
		var ops atomic.Int64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for j := 0; ; j++ {
					select {
					case <-stop:
						return
					default:
					}
					pushOps(b, d, user, ws, fmt.Sprintf("w%d-%d-%d", w, i, j), 100)
					ops.Add(100)
				}
			}(w)
		}
		type phase struct {
			ops     int64
			el, cpu time.Duration
			backups int
		}
		var with, without phase
		run := func(withBackup bool) {
			p := &without
			if withBackup {
				p = &with
			}
			time.Sleep(250 * time.Millisecond) // uncounted: the previous phase's tail
			o0, c0, start := ops.Load(), cpuTime(), time.Now()
			if withBackup {
				for time.Since(start) < window {
					dir := filepath.Join(b.TempDir(), "bk")
					if _, err := d.Admin.Backup(context.Background(), admin.SuperAdmin("bench", ""), dir, nil); err != nil {
						b.Error(err)
					}
					_ = os.RemoveAll(dir)
					p.backups++
				}
			} else {
				time.Sleep(window)
			}
			p.ops += ops.Load() - o0
			p.cpu += cpuTime() - c0
			p.el += time.Since(start)
		}
		for k := 0; k < pairs; k++ {
			run(k%2 == 1)
			run(k%2 == 0)
		}
		close(stop)
		wg.Wait()
		baseline.Report(os.Stdout, "push-during-backup",
			baseline.Result{Name: fmt.Sprintf("push-%dx%v-backups=%d", pairs, window, with.backups), Ops: with.ops, Bytes: with.ops * 1024, Elapsed: with.el},
			baseline.Result{Name: fmt.Sprintf("push-%dx%v-no-backup", pairs, window), Ops: without.ops, Bytes: without.ops * 1024, Elapsed: without.el})
		if with.ops > 0 && without.ops > 0 {
			cw, co := with.cpu/time.Duration(with.ops), without.cpu/time.Duration(without.ops)
			fmt.Printf("push-during-backup  cpu  %v per op with backups, %v without: %.2fx the CPU per op (throughput a CPU-bound machine keeps: %.2fx)\n", cw, co, float64(cw)/float64(co), float64(co)/float64(cw))
		}
		fmt.Printf("push-during-backup  load %s", loadavg())
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
	// The seed's flush starts compactions: let them finish, so that their
	// CPU falls on neither side.
	quiesce(d.DB.Pebble(), 60*time.Second)
	for i := 0; i < b.N; i++ {
		// Alternate the two, best of 3 each: the same cache state and
		// the same background load for both.
		var measured, same baseline.Result
		var verifyCPU, scanCPU time.Duration // best of 3 too: CPU time is what load does not stretch
		for range 3 {
			c0 := cpuTime()
			s, err := rawScan(d.DB.Pebble(), 1)
			if err != nil {
				b.Fatal(err)
			}
			if c := cpuTime() - c0; scanCPU == 0 || c < scanCPU {
				scanCPU = c
			}
			if same.Elapsed == 0 || s.Elapsed < same.Elapsed {
				same = s
			}
			c0 = cpuTime()
			start := time.Now()
			rep, err := d.Admin.VerifyOnline(context.Background(), nil)
			el := time.Since(start)
			if c := cpuTime() - c0; verifyCPU == 0 || c < verifyCPU {
				verifyCPU = c
			}
			if err != nil || !rep.OK {
				b.Fatalf("%+v %v", rep, err)
			}
			if measured.Elapsed == 0 || el < measured.Elapsed {
				measured = baseline.Result{Name: fmt.Sprintf("verify-%s-%dentries-%drows", rep.Mode, rep.ChangeEntries, rep.Rows), Ops: rep.ChangeEntries + rep.SystemEvents,
					Bytes: rep.BytesRead, Elapsed: el, Note: "VerifyOnline wall time, best of 3"}
			}
		}
		baseline.Report(os.Stdout, "verify-vs-same-store", measured, same)
		if verifyCPU > 0 && scanCPU > 0 {
			// CPU seconds per byte read, verify against the scan: the
			// rate ratio a quiet single core would see (the process's
			// CPU time, so background work of the daemon counts too).
			r := (float64(measured.Bytes) / verifyCPU.Seconds()) / (float64(same.Bytes) / scanCPU.Seconds())
			fmt.Printf("verify-vs-same-store  cpu  verify %v, scan %v of CPU: bytes per CPU-second %.2fx the scan's\n", verifyCPU.Round(time.Millisecond), scanCPU.Round(time.Millisecond), r)
		}
		base, err := baseline.PebbleScan(b.TempDir(), func() *pebble.Options { return synclog.PebbleOptions(synclog.Config{Dir: "x"}) }, int(measured.Ops), 1024)
		if err != nil {
			b.Fatal(err)
		}
		baseline.Report(os.Stdout, "verify-vs-1k-scan", measured, base)
		fmt.Printf("verify  load %s", loadavg())
	}
}

// quiesce waits (up to limit) until db has run no flush or compaction for
// a second.
func quiesce(db *pebble.DB, limit time.Duration) {
	deadline := time.Now().Add(limit)
	quiet := time.Now()
	for time.Now().Before(deadline) && time.Since(quiet) < time.Second {
		m := db.Metrics()
		if m.Compact.NumInProgress > 0 || m.Flush.NumInProgress > 0 {
			quiet = time.Now()
		}
		time.Sleep(50 * time.Millisecond)
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
