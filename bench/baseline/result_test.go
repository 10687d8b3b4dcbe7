package baseline

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestResult_Rates(t *testing.T) {
	r := Result{Ops: 500, Bytes: 1 << 20, Commits: 5, Elapsed: 500 * time.Millisecond}
	if got := r.OpsPerSec(); got != 1000 {
		t.Errorf("OpsPerSec = %v, want 1000", got)
	}
	if got := r.BytesPerSec(); got != 2<<20 {
		t.Errorf("BytesPerSec = %v, want %v", got, 2<<20)
	}
	if got := r.CommitsPerSec(); got != 10 {
		t.Errorf("CommitsPerSec = %v, want 10", got)
	}
	if got := (Result{Ops: 5}).OpsPerSec(); got != 0 {
		t.Errorf("untimed OpsPerSec = %v, want 0", got)
	}
}

func TestRatio(t *testing.T) {
	tests := []struct{ measured, baseline, want float64 }{
		{73, 100, 0.73},
		{200, 100, 2},
		{5, 0, 0},
		{5, -1, 0},
	}
	for _, tt := range tests {
		if got := Ratio(tt.measured, tt.baseline); got != tt.want {
			t.Errorf("Ratio(%v, %v) = %v, want %v", tt.measured, tt.baseline, got, tt.want)
		}
	}
}

func TestReport_AlignsThreeLines(t *testing.T) {
	lat := NewHistogram()
	lat.Record(time.Millisecond)
	measured := Result{Name: "push-100x1k", Ops: 73_000, Bytes: 73_000 << 10, Elapsed: time.Second, Latencies: lat}
	baseline := Result{Name: "pebble-synced-100x1k", Ops: 100_000, Bytes: 100_000 << 10, Elapsed: time.Second, Latencies: lat}
	var buf bytes.Buffer
	Report(&buf, "push", measured, baseline)
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines:\n%s", len(lines), buf.String())
	}
	if strings.Index(lines[0], "ops/s") != strings.Index(lines[1], "ops/s") {
		t.Errorf("measured and baseline columns not aligned:\n%s", buf.String())
	}
	for _, want := range []string{"73.0k ops/s = 0.73x baseline (100.0k ops/s)", "bytes/s 0.73x", "p50 1.00x"} {
		if !strings.Contains(lines[2], want) {
			t.Errorf("ratio line %q lacks %q", lines[2], want)
		}
	}
}

func TestResult_String(t *testing.T) {
	r := Result{Name: "x", Ops: 2000, Bytes: 2 << 20, Commits: 20, Elapsed: time.Second, Note: "warm"}
	got := r.String()
	for _, want := range []string{"x: 2.00k ops/s", "2.0 MiB/s", "20 commits/s", "[warm]"} {
		if !strings.Contains(got, want) {
			t.Errorf("String() = %q, lacks %q", got, want)
		}
	}
}

func TestEnv_NamesPlatformNotHost(t *testing.T) {
	env := Env()
	if !strings.Contains(env, "CPU") || !strings.Contains(env, "go1") {
		t.Errorf("Env() = %q", env)
	}
}
