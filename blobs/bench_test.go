package blobs_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/or3/syncd/bench/baseline"
	"github.com/or3/syncd/blobs"
	"github.com/or3/syncd/storage"
	"github.com/or3/syncd/storage/s3"
	"github.com/or3/syncd/storage/storagetest"
)

// patterned is an io.Reader of size bytes: one random MiB repeated, so a
// 64 MiB upload needs no 64 MiB buffer on the client side either.
type patterned struct {
	block []byte
	off   int64
	size  int64
}

func newPatterned(size int64, seed uint64) *patterned {
	return &patterned{block: storagetest.Bytes(1<<20, seed), size: size}
}

func (p *patterned) Read(b []byte) (int, error) {
	if p.off >= p.size {
		return 0, io.EOF
	}
	i := p.off % int64(len(p.block))
	n := copy(b, p.block[i:min(int64(len(p.block)), i+p.size-p.off)])
	p.off += int64(n)
	return n, nil
}

func patternedHash(size int64, seed uint64) string {
	h := sha256.New()
	_, _ = io.Copy(h, newPatterned(size, seed))
	return hex.EncodeToString(h.Sum(nil))
}

// bulkClient is a client tuned for bulk transfers (as a file-sync client
// would be): 1 MiB socket writes and reads instead of net/http's 4 KiB
// buffers, so the benchmark measures syncd rather than the client's
// syscall count.
var bulkClient = &http.Client{Transport: &http.Transport{WriteBufferSize: 1 << 20, ReadBufferSize: 1 << 20}}

// discard hides io.Discard's ReadFrom (8 KiB reads) so io.CopyBuffer uses
// the buffer it is given.
type discard struct{ io.Writer }

// phases is one round trip's timing.
type phases struct {
	presign, put, commit, down time.Duration
	cold                       bool // the download's object was evicted from the page cache first
	// CPU this process (syncd and the client) used for the upload
	// (presign+PUT+commit) and the download (presign+GET).
	upCPU, downCPU time.Duration
}

func (p phases) up() time.Duration { return p.presign + p.put + p.commit }

func (p *phases) add(q phases) {
	p.presign, p.put, p.commit, p.down = p.presign+q.presign, p.put+q.put, p.commit+q.commit, p.down+q.down
	p.upCPU, p.downCPU = p.upCPU+q.upCPU, p.downCPU+q.downCPU
	p.cold = q.cold
}

// roundTrip uploads size bytes through syncd (presign, PUT, commit) and
// downloads them (presign-download, GET); it returns each phase's time.
func (e *env) roundTrip(size int64, seed uint64) phases {
	e.t.Helper()
	hash := patternedHash(size, seed)
	var ph phases
	cpu0 := processCPU()
	start := time.Now()
	var ans blobs.PresignAnswer
	if code := e.op(e.user, "presign-upload", map[string]any{"workspaceId": e.ws, "hash": "sha256:" + hash, "mimeType": "application/pdf", "sizeBytes": size}, &ans); code != 200 {
		e.t.Fatalf("presign-upload: %d", code)
	}
	ph.presign = time.Since(start)
	start = time.Now()
	req, _ := http.NewRequest(http.MethodPut, e.abs(ans.URL), newPatterned(size, seed))
	req.ContentLength = size
	for k, v := range ans.Headers {
		req.Header.Set(k, v)
	}
	resp, err := bulkClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		e.t.Fatalf("PUT: %v %v", err, resp)
	}
	_ = resp.Body.Close()
	ph.put = time.Since(start)
	start = time.Now()
	body := map[string]any{"workspace_id": e.ws, "intent_id": ans.IntentID, "hash": "sha256:" + hash, "storage_id": ans.StorageID,
		"mime_type": "application/pdf", "size_bytes": size, "name": "big.pdf", "kind": "pdf"}
	if code := e.op(e.user, "commit", body, nil); code != 200 {
		e.t.Fatalf("commit: %d", code)
	}
	ph.commit = time.Since(start)
	ph.upCPU = processCPU() - cpu0
	// The object was just written: drop its cached pages, as the read
	// baseline does, so the download reads the disk too.
	ph.cold = evict(filepath.Join(e.dir, "blobs", filepath.FromSlash(ans.StorageID)))
	cpu0 = processCPU()
	start = time.Now()
	var dl blobs.PresignAnswer
	if code := e.op(e.user, "presign-download", map[string]any{"workspaceId": e.ws, "hash": hash}, &dl); code != 200 {
		e.t.Fatalf("presign-download: %d", code)
	}
	resp, err = bulkClient.Get(e.abs(dl.URL))
	if err != nil || resp.StatusCode != 200 {
		e.t.Fatalf("GET: %v %v", err, resp)
	}
	n, err := io.CopyBuffer(discard{io.Discard}, resp.Body, make([]byte, 1<<20))
	_ = resp.Body.Close()
	if err != nil || n != size {
		e.t.Fatalf("GET read %d of %d bytes: %v", n, size, err)
	}
	ph.down = time.Since(start)
	ph.downCPU = processCPU() - cpu0
	return ph
}

// storePut times fs.Store.Put of size bytes (hash while writing, fsync
// of the file and of its directory, rename): the upload's disk work
// without HTTP.
func storePut(tb testing.TB, dir string, size int64, seed uint64) time.Duration {
	s := fsStoreAt(tb, filepath.Join(dir, "bench-store"))
	sum, _ := hex.DecodeString(patternedHash(size, seed))
	start := time.Now()
	if _, err := s.Put(context.Background(), fmt.Sprintf("b/%x", seed), newPatterned(size, seed), storage.PutOptions{Size: size, ContentType: "application/pdf", SHA256: sum}); err != nil {
		tb.Fatal(err)
	}
	return time.Since(start)
}

// loopbackPut times a PUT of size bytes over loopback HTTP to a handler
// that reads the body into a 1 MiB buffer and drops it: the transfer's
// network cost without storing or hashing.
func loopbackPut(tb testing.TB, url string, size int64, seed uint64) time.Duration {
	req, _ := http.NewRequest(http.MethodPut, url, newPatterned(size, seed))
	req.ContentLength = size
	start := time.Now()
	resp, err := bulkClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		tb.Fatalf("loopback PUT: %v %v", err, resp)
	}
	_ = resp.Body.Close()
	return time.Since(start)
}

func sinkServer(tb testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.CopyBuffer(discard{io.Discard}, r.Body, make([]byte, 1<<20))
	})}
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String() + "/"
}

// BenchmarkFS_UploadDownload64MiB: a 64 MiB file up and down through
// syncd's fs backend beside the same-run sequential write+fsync and read
// of a 64 MiB file on the same filesystem (target ≥ 0.8x), and the bytes
// the process allocated per round trip (flat in file size). Two more
// same-run references explain the upload: fs.Store.Put alone (the disk
// work: hash, write, fsync file and directory, rename) and a loopback
// HTTP PUT into a discarding handler (the network work). Each iteration
// runs the baseline and the round trip back to back, so background load
// drifts across both alike.
func BenchmarkFS_UploadDownload64MiB(b *testing.B) {
	const size = 64 << 20
	e := newEnv(b, "fs", nil)
	sink := sinkServer(b)
	var ph phases
	var bw, br, sp, lp, bCPU time.Duration
	var note string
	var alloc uint64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c0 := processCPU()
		w, r, err := baseline.SeqWriteRead(e.dir, size, 0)
		if err != nil {
			b.Fatal(err)
		}
		bCPU += processCPU() - c0
		bw, br, note = bw+w.Elapsed, br+r.Elapsed, r.Note
		sp += storePut(b, e.dir, size, uint64(1000+i))
		lp += loopbackPut(b, sink, size, uint64(i+1))
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		ph.add(e.roundTrip(size, uint64(i+1)))
		runtime.ReadMemStats(&m1)
		alloc += m1.TotalAlloc - m0.TotalAlloc
	}
	b.StopTimer()
	n := int64(b.N)
	up, down := ph.up(), ph.down
	mUp := baseline.Result{Name: "syncd-fs-upload-64MiB (presign+PUT+commit)", Ops: n, Bytes: n * size, Elapsed: up}
	dnote := "warm: object read from page cache"
	if ph.cold {
		dnote = "cold: object evicted from page cache"
	}
	mDown := baseline.Result{Name: "syncd-fs-download-64MiB (presign+GET)", Ops: n, Bytes: n * size, Elapsed: down, Note: dnote}
	bW := baseline.Result{Name: "seq-write-fsync-64MiB", Ops: n, Bytes: n * size, Elapsed: bw}
	bR := baseline.Result{Name: "seq-read-64MiB", Ops: n, Bytes: n * size, Elapsed: br, Note: note}
	baseline.Report(os.Stdout, "fs upload", mUp, bW)
	baseline.Report(os.Stdout, "fs download", mDown, bR)
	per := func(d time.Duration) time.Duration { return (d / time.Duration(n)).Round(100 * time.Microsecond) }
	fmt.Printf("fs upload phases per 64 MiB: presign %v, PUT %v, commit %v; references: baseline write+fsync %v, fs.Store.Put alone %v (%.2fx baseline), loopback HTTP PUT alone %v (%.2fx baseline)\n",
		per(ph.presign), per(ph.put), per(ph.commit), per(bw), per(sp), baseline.Ratio(float64(bw), float64(sp)), per(lp), baseline.Ratio(float64(bw), float64(lp)))
	both := baseline.Ratio(float64(2*n*size)/(up+down).Seconds(), float64(2*n*size)/(bw+br).Seconds())
	fmt.Printf("fs round trip: %.2fx baseline (write+read); process allocated %.1f MiB per 64 MiB round trip\n", both, float64(alloc)/float64(n)/(1<<20))
	perMiB := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(n*size>>20) }
	fmt.Printf("fs CPU per MiB (this process: syncd and the client): upload %.3f ms, download %.3f ms; baseline write+fsync+read %.3f ms; load %s\n",
		perMiB(ph.upCPU), perMiB(ph.downCPU), perMiB(bCPU), loadavg())
	b.ReportMetric(baseline.Ratio(mUp.BytesPerSec(), bW.BytesPerSec()), "upload-x-baseline")
	b.ReportMetric(baseline.Ratio(mDown.BytesPerSec(), bR.BytesPerSec()), "download-x-baseline")
	b.ReportMetric(both, "roundtrip-x-baseline")
	b.ReportMetric(baseline.Ratio(float64(bw), float64(sp)), "store-put-x-baseline")
	b.ReportMetric(float64(alloc)/float64(n)/(1<<20), "alloc-MiB/op")
	b.ReportMetric(perMiB(ph.upCPU), "upload-cpu-ms/MiB")
	b.ReportMetric(perMiB(ph.downCPU), "download-cpu-ms/MiB")
}

// processCPU is the user+system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// pidCPU is the user+system CPU time of process pid (from /proc; 0 when
// unknown), in clock ticks of 10 ms.
func pidCPU(pid string) time.Duration {
	if pid == "" {
		return 0
	}
	raw, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	s := string(raw)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s) // state is f[0]; utime, stime are fields 14, 15 of the line
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * 10 * time.Millisecond
}

func loadavg() string {
	raw, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// TestTransfer_MemoryFlat: the bytes allocated for a round trip through
// the fs backend do not grow with the file (streaming, no whole-file
// buffer): 64 MiB costs at most 4 MiB more than 4 MiB does.
func TestTransfer_MemoryFlat(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation figures are meaningless under -race")
	}
	if testing.Short() {
		t.Skip("moves 136 MiB")
	}
	e := newEnv(t, "fs", nil)
	measure := func(size int64, seed uint64) uint64 {
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		e.roundTrip(size, seed)
		runtime.ReadMemStats(&m1)
		return m1.TotalAlloc - m0.TotalAlloc
	}
	measure(1<<20, 90) // warm pools and connections
	small, large := measure(4<<20, 91), measure(64<<20, 92)
	t.Logf("allocated %.1f MiB for a 4 MiB round trip, %.1f MiB for 64 MiB", float64(small)/(1<<20), float64(large)/(1<<20))
	if large > small+4<<20 {
		t.Fatalf("allocations grow with the file: %d bytes for 4 MiB, %d for 64 MiB", small, large)
	}
}

// BenchmarkS3_Commit4KiB: the whole small-file flow through syncd
// (presign-upload, presigned PUT to MinIO, commit) beside raw minio-go
// PutObject of 4 KiB objects against the same MinIO, same concurrency,
// same run, in alternating rounds so drift on a shared machine hits both
// alike (target >= 0.8x). Three more same-run references bound what a
// flow can reach: raw StatObject (checksum mode, as commit sends it) of
// the objects just put, raw PutObject+StatObject pairs (the object
// store's share of a flow: one PUT and one existence check, with no
// syncd at all), and the flow's presigned PUT alone. CPU per file is
// printed for this process (syncd + clients) and for MinIO when
// SYNCD_TEST_S3_PID names it. SYNCD_BENCH_S3_WORKERS sets the
// concurrency of every side (default 16); SYNCD_BENCH_S3_PROFILE_FLOW=1
// runs the flow alone (for -cpuprofile; the references then read 0). One workspace is bounded by
// its log fsyncs: the intents and the engine serialize a workspace's
// reservations and server-authored writes (versions are gap-free); many
// workspaces share fsyncs through group commit.
func BenchmarkS3_Commit4KiB(b *testing.B) {
	for _, wss := range []int{1, 16} {
		b.Run(fmt.Sprintf("workspaces=%d", wss), func(b *testing.B) { benchS3Commit(b, wss) })
	}
}

// s3Side is one measured side of the S3 benchmark.
type s3Side struct {
	name           string
	fn             func(worker, i int) error
	took, cpu, s3c time.Duration
}

func benchS3Commit(b *testing.B, wss int) {
	env := storagetest.RequireS3(b)
	const size, rounds = 4096, 4
	workers := 16
	if v, err := strconv.Atoi(os.Getenv("SYNCD_BENCH_S3_WORKERS")); err == nil && v > 0 {
		workers = v
	}
	n := max(b.N, 400)
	e := newEnv(b, "s3", nil)
	// Keep-alive connections for every worker, to syncd and to MinIO, as
	// minio-go keeps for the raw baseline (net/http keeps only 2 idle
	// connections per host by default).
	pooled := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * workers}}
	e.c.HTTP = pooled
	// One user and default workspace per lane.
	type lane struct{ user, ws string }
	lanes := []lane{{e.user, e.ws}}
	for i := 1; i < wss; i++ {
		u, err := e.c.CreateUser(context.Background(), "p", fmt.Sprint("bench-", i))
		if err != nil {
			b.Fatal(err)
		}
		w, err := e.c.DefaultWorkspace(context.Background(), u)
		if err != nil {
			b.Fatal(err)
		}
		lanes = append(lanes, lane{u, w})
	}
	raw, err := s3.Open(context.Background(), s3.Config{Endpoint: env.Endpoint, Bucket: fmt.Sprintf("syncd-bench-raw-%d", time.Now().UnixNano()%1e9), AccessKey: env.AccessKey, SecretKey: env.SecretKey, PathStyle: true})
	if err != nil {
		b.Fatal(err)
	}
	files := make([][]byte, n)
	sums := make([][]byte, n)
	for i := range files {
		files[i] = storagetest.Bytes(size, uint64(i)+uint64(wss)<<32)
		s := sha256.Sum256(files[i])
		sums[i] = s[:]
	}
	// run does fn(i) for i in [lo, hi) on the workers.
	run := func(lo, hi int, fn func(worker, i int) error) time.Duration {
		var next atomic.Int64
		next.Store(int64(lo))
		var wg sync.WaitGroup
		var firstErr atomic.Value
		start := time.Now()
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := int(next.Add(1)) - 1; i < hi; i = int(next.Add(1)) - 1 {
					if err := fn(w, i); err != nil {
						firstErr.CompareAndSwap(nil, err)
						return
					}
				}
			}(w)
		}
		wg.Wait()
		if err, _ := firstErr.Load().(error); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	ctx := context.Background()
	c := raw.Client()
	rawPut := func(_, i int) error {
		_, err := c.PutObject(ctx, raw.Bucket(), fmt.Sprintf("raw/%d", i), bytes.NewReader(files[i]), size, minio.PutObjectOptions{ContentType: "image/png"})
		return err
	}
	// rawStat stats an object rawPut wrote earlier in the round, as
	// commit does (checksum mode).
	rawStat := func(_, i int) error {
		_, err := c.StatObject(ctx, raw.Bucket(), fmt.Sprintf("raw/%d", i), minio.StatObjectOptions{Checksum: true})
		return err
	}
	pair := func(_, i int) error {
		key := fmt.Sprintf("pair/%d", i)
		if _, err := c.PutObject(ctx, raw.Bucket(), key, bytes.NewReader(files[i]), size, minio.PutObjectOptions{ContentType: "image/png"}); err != nil {
			return err
		}
		_, err := c.StatObject(ctx, raw.Bucket(), key, minio.StatObjectOptions{Checksum: true})
		return err
	}
	put := func(url string, hdr map[string]string, data []byte) error {
		req, _ := http.NewRequest(http.MethodPut, url, bytes.NewReader(data))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := pooled.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("PUT: %d", resp.StatusCode)
		}
		return nil
	}
	// presigned PUTs alone, as the flow's client sends them (signed type
	// and checksum), with URLs signed before the round.
	type signed struct {
		url string
		hdr map[string]string
	}
	urls := make([]signed, n)
	presignedPut := func(_, i int) error { return put(urls[i].url, urls[i].hdr, files[i]) }
	// The flow's client hashes the file once and writes its two JSON
	// bodies directly (as a lean client would; JSON-encoding maps cost
	// this process more than minio-go's whole PutObject).
	flow := func(w, i int) error {
		l := lanes[w%len(lanes)]
		data := files[i]
		hash := hashOf(data) // a client hashes its file
		var ans blobs.PresignAnswer
		body := fmt.Appendf(nil, `{"workspaceId":%q,"hash":"sha256:%s","mimeType":"image/png","sizeBytes":%d}`, l.ws, hash, size)
		if err := e.c.Do(ctx, http.MethodPost, "/v1/storage/presign-upload", l.user, body, &ans); err != nil {
			return err
		}
		if err := put(ans.URL, ans.Headers, data); err != nil {
			return err
		}
		cb := fmt.Appendf(nil, `{"workspace_id":%q,"intent_id":%q,"hash":"sha256:%s","storage_id":%q,"storage_provider_id":"syncd","mime_type":"image/png","size_bytes":%d,"name":"photo.png","kind":"image","width":10,"height":20}`,
			l.ws, ans.IntentID, hash, ans.StorageID, size)
		return e.c.Do(ctx, http.MethodPost, "/v1/storage/commit", l.user, cb, nil)
	}
	sides := []*s3Side{
		{name: "PutObject", fn: rawPut},
		{name: "StatObject", fn: rawStat},
		{name: "PutObject+StatObject", fn: pair},
		{name: "presigned PUT", fn: presignedPut},
		{name: "flow", fn: flow},
	}
	if only := os.Getenv("SYNCD_BENCH_S3_PROFILE_FLOW"); only != "" {
		// Profiling aid: the flow alone (the references read as 0).
		for _, s := range sides[:4] {
			s.fn = func(int, int) error { return nil }
		}
	}
	s3pid := os.Getenv("SYNCD_TEST_S3_PID") // MinIO's CPU too, when named
	b.ResetTimer()
	for r := 0; r < rounds; r++ {
		lo, hi := r*n/rounds, (r+1)*n/rounds
		b.StopTimer()
		for i := lo; i < hi; i++ {
			u, h, err := raw.PresignPut(ctx, fmt.Sprintf("signed/%d", i), storage.PutOptions{Size: size, ContentType: "image/png", SHA256: sums[i]}, time.Hour)
			if err != nil {
				b.Fatal(err)
			}
			urls[i] = signed{u, map[string]string{}}
			for k := range h {
				urls[i].hdr[k] = h.Get(k)
			}
		}
		b.StartTimer()
		for _, s := range sides {
			c0, m0 := processCPU(), pidCPU(s3pid)
			s.took += run(lo, hi, s.fn)
			s.cpu += processCPU() - c0
			s.s3c += pidCPU(s3pid) - m0
		}
	}
	b.StopTimer()
	perOp := func(d time.Duration) time.Duration { return (d / time.Duration(n)).Round(time.Microsecond) }
	res := func(s *s3Side) baseline.Result {
		return baseline.Result{Name: fmt.Sprintf("%s-4KiB (%d workers)", s.name, workers), Ops: int64(n), Bytes: int64(n) * size, Elapsed: s.took}
	}
	for _, s := range sides {
		fmt.Printf("s3 4KiB %-21s %7.0f ops/s; CPU per op: this process %v", s.name, res(s).OpsPerSec(), perOp(s.cpu))
		if s3pid != "" {
			fmt.Printf(", MinIO %v", perOp(s.s3c))
		}
		fmt.Println()
	}
	putS, statS, pairS, flowS := sides[0], sides[1], sides[2], sides[4]
	fmt.Printf("s3 commit 4KiB CPU per file: flow %v in this process (syncd + clients), raw %v (minio-go client)", perOp(flowS.cpu), perOp(putS.cpu))
	if s3pid != "" {
		fmt.Printf("; MinIO %v per flow, %v per raw PutObject, %v per StatObject", perOp(flowS.s3c), perOp(putS.s3c), perOp(statS.s3c))
	}
	fmt.Printf("; load %s\n", loadavg())
	m := res(flowS)
	m.Name = fmt.Sprintf("syncd-s3-commit-flow-4KiB (presign+PUT+commit, %d workers, %d workspaces)", workers, wss)
	r := res(putS)
	r.Name = fmt.Sprintf("minio-go-PutObject-4KiB (%d workers)", workers)
	baseline.Report(os.Stdout, "s3 commit 4KiB", m, r)
	ceiling := baseline.Ratio(res(pairS).OpsPerSec(), r.OpsPerSec())
	fmt.Printf("s3 commit 4KiB ceiling: raw PutObject+StatObject pairs %.0f/s = %.2fx PutObject (a flow needs one PUT and one existence check); flow = %.2fx the pairs\n",
		res(pairS).OpsPerSec(), ceiling, baseline.Ratio(m.OpsPerSec(), res(pairS).OpsPerSec()))
	if s3pid != "" {
		// On a machine whose cores are all busy every side is CPU-bound,
		// so its rate is inversely its total CPU per op (this process and
		// MinIO): these ratios do not drift with other load as the wall
		// clock ones do.
		tot := func(s *s3Side) float64 { return float64(s.cpu + s.s3c) }
		fmt.Printf("s3 commit 4KiB CPU-bound ratios (total CPU per op, this process + MinIO): flow %v, PutObject %v, pair %v -> flow %.2fx PutObject, pair (ceiling) %.2fx PutObject\n",
			perOp(flowS.cpu+flowS.s3c), perOp(putS.cpu+putS.s3c), perOp(pairS.cpu+pairS.s3c),
			baseline.Ratio(tot(putS), tot(flowS)), baseline.Ratio(tot(putS), tot(pairS)))
		b.ReportMetric(baseline.Ratio(tot(putS), tot(flowS)), "cpu-x-baseline")
	}
	b.ReportMetric(m.OpsPerSec(), "files/s")
	b.ReportMetric(baseline.Ratio(m.OpsPerSec(), r.OpsPerSec()), "x-baseline")
	b.ReportMetric(ceiling, "pair-x-baseline")
}
