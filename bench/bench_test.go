package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// buildSyncd builds ./cmd/syncd into a temporary directory.
func buildSyncd(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	bin := filepath.Join(t.TempDir(), "syncd")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/syncd")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/syncd: %v\n%s", err, out)
	}
	return bin
}

// tinySizes run every phase in seconds: the test checks the harness, its
// report and its correctness checks, never a timing.
func tinySizes() *Sizes {
	return &Sizes{
		Cell: 300 * time.Millisecond, Batches: []int{1, 100}, Clients: []int{1, 8},
		Workspaces: 4, LatencyRate: 50, LatencyDuration: time.Second,
		PullBehind:      1500,
		Fanout:          []FanoutCase{{Watchers: 20, Rate: 20, Duration: time.Second}},
		IdleWatchers:    50,
		RecoveryEntries: []int{1},
		Baseline:        300 * time.Millisecond,
	}
}

// checkReportShape checks what every complete report holds: the figures
// of each phase with units, the issue-4 targets, the correctness checks
// (all passed), and the files in dir.
func checkReportShape(t *testing.T, rep *Report, dir string) {
	t.Helper()
	if rep.Partial {
		t.Errorf("report is PARTIAL: %v", rep.Problems)
	}
	for _, c := range rep.Checks {
		if !c.OK {
			t.Errorf("correctness check failed: %s: %s", c.Name, c.Detail)
		}
	}
	for _, want := range []string{"every acknowledged push op pulled back", "catch-up pull returns every acknowledged op", "watchers received every change"} {
		found := false
		for _, c := range rep.Checks {
			if strings.HasPrefix(c.Name, want) {
				found = true
			}
		}
		if !found {
			t.Errorf("no check %q in %+v", want, rep.Checks)
		}
	}
	sections := map[string]bool{}
	for _, f := range rep.Figures {
		sections[f.Section] = true
		if f.Name == "" || (f.Unit == "" && !math.IsNaN(f.Value)) {
			t.Errorf("figure without name or unit: %+v", f)
		}
		if !math.IsNaN(f.Value) && f.Baseline > 0 && f.Ratio <= 0 {
			t.Errorf("figure %q has a baseline but no ratio", f.Name)
		}
		if f.Target != nil && !math.IsNaN(f.Value) && f.Status != "pass" && f.Status != "FAIL" {
			t.Errorf("figure %q has a target but status %q", f.Name, f.Status)
		}
	}
	for _, s := range []string{"baseline", "push (HTTP)", "push (engine)", "push latency", "pull", "snapshot", "watch fan-out", "watch memory", "crash recovery", "replication"} {
		if !sections[s] {
			t.Errorf("no figure in section %q", s)
		}
	}
	for _, f := range rep.Figures {
		if f.Section == "watch memory" && !math.IsNaN(f.Value) && f.Baseline <= 0 {
			t.Errorf("%s: no bare net/http SSE baseline", f.Name)
		}
	}
	if f, ok := rep.Figure("push batch=100 clients=8"); !ok || f.Target == nil || f.Baseline <= 0 {
		t.Errorf("push batch=100 clients=8: want a figure with the issue-4 target and a raw-Pebble baseline, got %+v (found %v)", f, ok)
	}
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| section | figure | value | baseline | ratio | target | pass/fail |", "## Correctness checks", "latency.png", "throughput.png"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	if strings.Contains(string(md), "PARTIAL") {
		t.Errorf("report.md says PARTIAL")
	}
	for _, c := range rep.Charts {
		st, err := os.Stat(filepath.Join(dir, c))
		if err != nil || st.Size() == 0 {
			t.Errorf("chart %s: %v", c, err)
		}
	}
	back, err := ReadReportJSON(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Figures) != len(rep.Figures) || len(back.Checks) != len(rep.Checks) {
		t.Errorf("report.json holds %d figures and %d checks, want %d and %d", len(back.Figures), len(back.Checks), len(rep.Figures), len(rep.Checks))
	}
}

// TestRun_Tiny runs every phase against a child syncd with tiny sizes.
func TestRun_Tiny(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs syncd")
	}
	bin := buildSyncd(t)
	out := t.TempDir()
	rep, err := Run(context.Background(), Config{Bin: bin, Out: out, Sizes: tinySizes(), DataDir: t.TempDir(), Timeout: 5 * time.Minute, Command: "test"})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	checkReportShape(t, rep, out)
}

// TestReport_QuickRun checks the report of the `syncd bench --quick` run
// scripts/test.sh makes (its directory in SYNCD_BENCH_REPORT_DIR).
func TestReport_QuickRun(t *testing.T) {
	dir := os.Getenv("SYNCD_BENCH_REPORT_DIR")
	if dir == "" {
		t.Skip("SYNCD_BENCH_REPORT_DIR not set (scripts/test.sh sets it after running syncd bench --quick)")
	}
	rep, err := ReadReportJSON(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Mode != "quick" {
		t.Errorf("mode %q, want quick", rep.Mode)
	}
	checkReportShape(t, rep, dir)
	for _, name := range []string{"push → delivery p99, 1000 watchers @ 20 pushes/s", "push → delivery p99, 100 watchers @ 200 pushes/s"} {
		if f, ok := rep.Figure(name); !ok || f.Target == nil {
			t.Errorf("no figure %q with its target", name)
		}
	}
}

// TestRun_UnreachableDaemon: a --url nobody listens on gives a PARTIAL
// report and an error, quickly.
func TestRun_UnreachableDaemon(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	out := t.TempDir()
	start := time.Now()
	rep, err := Run(context.Background(), Config{URL: "http://" + addr, Token: "whatever-token-123", Out: out, Quick: true})
	if err == nil {
		t.Fatal("Run against a closed port succeeded")
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("took %s to give up", d)
	}
	if !rep.Partial || !strings.Contains(err.Error(), "PARTIAL") {
		t.Errorf("partial=%v err=%v", rep.Partial, err)
	}
	md, rerr := os.ReadFile(filepath.Join(out, "report.md"))
	if rerr != nil {
		t.Fatal(rerr)
	}
	if !strings.Contains(string(md), "PARTIAL") || !strings.Contains(string(md), "unreachable") {
		t.Errorf("report.md does not say PARTIAL and unreachable:\n%s", md)
	}
}

// TestRun_BadConfig: each bad setting is named, and a report directory,
// when given, gets a PARTIAL report saying why.
func TestRun_BadConfig(t *testing.T) {
	for name, c := range map[string]struct {
		cfg  Config
		want string
	}{
		"no out":        {Config{Bin: "/bin/true"}, "--out"},
		"url no token":  {Config{URL: "http://127.0.0.1:1", Out: "DIR"}, "--token"},
		"url no scheme": {Config{URL: "127.0.0.1:1", Token: "x", Out: "DIR"}, "--url"},
		"bad sizes":     {Config{Bin: "/bin/true", Out: "DIR", Sizes: &Sizes{}}, "size"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if c.cfg.Out == "DIR" {
				c.cfg.Out = dir
			}
			rep, err := Run(context.Background(), c.cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to mention %q", err, c.want)
			}
			if !rep.Partial {
				t.Error("report not partial")
			}
			if c.cfg.Out != "" {
				md, err := os.ReadFile(filepath.Join(dir, "report.md"))
				if err != nil || !strings.Contains(string(md), "PARTIAL") {
					t.Errorf("report.md: %v\n%s", err, md)
				}
			}
		})
	}
}

// TestReadSSE_Events: ids, named events, comments and data lines longer
// than the reader's buffer.
func TestReadSSE_Events(t *testing.T) {
	long := strings.Repeat("x", 5000)
	stream := ": hello\n\nid: 1\ndata: {\"a\":1}\n\n: ping\n\nid: 2\ndata: " + long + "\n\nevent: requiresSnapshot\ndata: {}\n\nid: 3\r\ndata: y\r\n\r\n"
	var got []sseEvent
	err := readSSE(bufio.NewReaderSize(strings.NewReader(stream), 64), func(ev sseEvent) { got = append(got, ev) })
	if err == nil || !strings.Contains(err.Error(), "EOF") {
		t.Fatalf("err = %v, want EOF", err)
	}
	want := []sseEvent{{id: 1}, {id: 2}, {event: "requiresSnapshot"}, {id: 3}}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("event %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if err := readSSE(bufio.NewReader(strings.NewReader("id: x\n\n")), func(sseEvent) {}); err == nil || !strings.Contains(err.Error(), "bad SSE id") {
		t.Errorf("bad id: err = %v", err)
	}
}

// TestWorkload_Batches: generated batches are valid JSON PushBatches of
// OR3 tables with the required fields, payloads within 0.5–8 KiB, op ids
// UUIDs that map back to their sequence.
func TestWorkload_Batches(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	w := newWorkload(r)
	s := &wsState{id: "ws-1"}
	var bb batchBuilder
	tables := map[string]int{}
	ops := map[string]int{}
	for range 50 {
		bb.reset(s.id)
		for range 100 {
			w.genOp(r, s, &bb, "dev-a")
		}
		var pb struct {
			Scope struct{ WorkspaceID string } `json:"scope"`
			Ops   []struct {
				TableName string          `json:"tableName"`
				Operation string          `json:"operation"`
				PK        string          `json:"pk"`
				Payload   json.RawMessage `json:"payload"`
				Stamp     struct {
					DeviceID string `json:"deviceId"`
					OpID     string `json:"opId"`
					HLC      string `json:"hlc"`
					Clock    int64  `json:"clock"`
				} `json:"stamp"`
			} `json:"ops"`
		}
		if err := json.Unmarshal(bb.finish(), &pb); err != nil {
			t.Fatalf("batch is not JSON: %v", err)
		}
		if pb.Scope.WorkspaceID != "ws-1" || len(pb.Ops) != 100 {
			t.Fatalf("scope %q, %d ops", pb.Scope.WorkspaceID, len(pb.Ops))
		}
		for i, op := range pb.Ops {
			tables[op.TableName]++
			ops[op.TableName+"/"+op.Operation]++
			if seq, ok := w.seqOf(op.Stamp.OpID); !ok || seq != bb.seqs[i] {
				t.Fatalf("op id %s does not map back to %d", op.Stamp.OpID, bb.seqs[i])
			}
			if op.Operation == "delete" {
				continue
			}
			var p map[string]any
			if err := json.Unmarshal(op.Payload, &p); err != nil {
				t.Fatalf("payload: %v", err)
			}
			if p["id"] != op.PK {
				t.Fatalf("payload id %v != pk %s", p["id"], op.PK)
			}
			req := []string{"id", "status", "deleted", "pinned", "created_at", "updated_at", "clock"}
			if op.TableName == "messages" {
				req = []string{"id", "thread_id", "role", "index", "order_key", "deleted", "created_at", "updated_at", "clock"}
				if n := len(op.Payload); n < minPayload-64 || n > maxPayload+64 {
					t.Errorf("message payload of %d bytes, want 0.5–8 KiB", n)
				}
			}
			for _, k := range req {
				if _, ok := p[k]; !ok {
					t.Fatalf("%s put lacks %s: %s", op.TableName, k, op.Payload)
				}
			}
		}
	}
	for _, k := range []string{"threads/put", "messages/put", "messages/delete"} {
		if ops[k] == 0 {
			t.Errorf("no %s in 5,000 ops: %v", k, ops)
		}
	}
	if _, ok := w.seqOf("ffffffff-0000-4000-8000-000000000001"); ok && w.prefix != "ffffffff" {
		t.Error("seqOf accepted another run's op id")
	}
}

// TestZipf_Skewed: the first workspace gets far more than an even share,
// and every index stays in range.
func TestZipf_Skewed(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	z := newZipf(r, 16)
	counts := make([]int, 16)
	for range 16000 {
		i := z.next()
		if i < 0 || i >= 16 {
			t.Fatalf("index %d out of range", i)
		}
		counts[i]++
	}
	if counts[0] < 3*1000 || counts[0] <= counts[15] {
		t.Errorf("not Zipf-skewed: %v", counts)
	}
}

// TestReport_Markdown: targets decide pass/FAIL, NaN figures print as a
// dash, a partial report says so.
func TestReport_Markdown(t *testing.T) {
	r := &Report{Mode: "quick"}
	r.Add(Figure{Section: "s", Name: "fast", Unit: "ops/s", Value: 30000, Baseline: 60000, Target: &Target{Op: ">=", Value: 20000}})
	r.Add(Figure{Section: "s", Name: "slow", Unit: "ms", Value: 12, Target: &Target{Op: "<=", Value: 10}})
	r.NotMeasured("s", "later", "n/a", "not yet", nil)
	md := r.Markdown()
	for _, want := range []string{"| s | fast | 30,000 ops/s | 60,000 ops/s | 0.5x | ≥ 20,000 ops/s | pass |", "| s | slow | 12.0 ms | — | — | ≤ 10.0 ms | FAIL |", "n/a"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "PARTIAL") {
		t.Error("complete report says PARTIAL")
	}
	r.Problem("phase x: boom")
	if md := r.Markdown(); !strings.Contains(md, "PARTIAL") || !strings.Contains(md, "phase x: boom") {
		t.Errorf("partial report:\n%s", md)
	}
}
