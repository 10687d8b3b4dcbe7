package baseline

import (
	"errors"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// checkSane fails unless r counted work, took time and recorded as many
// latencies as it says.
func checkSane(t *testing.T, r Result, wantOps int64) {
	t.Helper()
	t.Log(r)
	if r.Ops <= 0 || r.Elapsed <= 0 || r.OpsPerSec() <= 0 {
		t.Fatalf("not a measurement: %+v", r)
	}
	if wantOps > 0 && r.Ops != wantOps {
		t.Errorf("Ops = %d, want %d", r.Ops, wantOps)
	}
	if r.Latencies != nil && r.Latencies.Percentile(50) <= 0 {
		t.Errorf("p50 = %v, want > 0", r.Latencies.Percentile(50))
	}
}

func TestFsyncAppend_Count(t *testing.T) {
	r, err := FsyncAppend(t.TempDir(), 0, 20, 0)
	if err != nil {
		t.Fatal(err)
	}
	checkSane(t, r, 20)
	if r.Bytes != 20*DefaultBlockSize || r.Latencies.Count() != 20 || r.Name != "fsync-append-4k" {
		t.Errorf("got %+v", r)
	}
}

func TestFsyncAppend_Duration(t *testing.T) {
	r, err := FsyncAppend(t.TempDir(), 512, 0, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	checkSane(t, r, 0)
	if r.Elapsed > time.Second {
		t.Errorf("ran %v for a 50ms bound", r.Elapsed)
	}
}

func TestBaselines_RejectBadBounds(t *testing.T) {
	dir := t.TempDir()
	if _, err := FsyncAppend(dir, 0, 0, 0); !errors.Is(err, ErrUnbounded) {
		t.Errorf("FsyncAppend unbounded: err = %v", err)
	}
	if _, err := FsyncAppend(dir, 0, -1, 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("FsyncAppend n=-1: err = %v", err)
	}
	if _, err := PebbleSynced(dir, nil, PebbleShape{}, 0, 0); !errors.Is(err, ErrUnbounded) {
		t.Errorf("PebbleSynced unbounded: err = %v", err)
	}
	if _, err := PebbleSynced(dir, nil, PebbleShape{KeyBytes: 8}, 1, 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("PebbleSynced KeyBytes=8: err = %v", err)
	}
	if _, err := LoopbackHTTP(0, time.Second); !errors.Is(err, ErrInvalid) {
		t.Errorf("LoopbackHTTP conns=0: err = %v", err)
	}
	if _, err := LoopbackHTTP(1, 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("LoopbackHTTP d=0: err = %v", err)
	}
	if _, _, err := SeqWriteRead(dir, 0, 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("SeqWriteRead bytes=0: err = %v", err)
	}
}

func TestPebbleSynced_Shapes(t *testing.T) {
	tests := []struct {
		name    string
		opts    func() *pebble.Options
		shape   PebbleShape
		commits int
	}{
		{"defaults", nil, PebbleShape{}, 10},
		{"small values", DefaultPebbleOptions, PebbleShape{KeysPerCommit: 10, ValueBytes: 16, KeyBytes: 16}, 10},
		{"concurrent writers", SyncedThroughputPebbleOptions, PebbleShape{Writers: 4}, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := PebbleSynced(t.TempDir(), tt.opts, tt.shape, tt.commits, 0)
			if err != nil {
				t.Fatal(err)
			}
			s := tt.shape
			if err := s.validate(); err != nil {
				t.Fatal(err)
			}
			checkSane(t, r, int64(tt.commits*s.KeysPerCommit))
			if r.Commits != int64(tt.commits) || r.Latencies.Count() != int64(tt.commits) {
				t.Errorf("Commits = %d, latencies = %d, want %d", r.Commits, r.Latencies.Count(), tt.commits)
			}
			if want := r.Ops * int64(s.KeyBytes+s.ValueBytes); r.Bytes != want {
				t.Errorf("Bytes = %d, want %d", r.Bytes, want)
			}
		})
	}
}

func TestPebbleSynced_Duration(t *testing.T) {
	// A duration bound, with a count bound too: a loaded CI machine under
	// -race may not finish one commit in a short window, so the duration is
	// generous and the count keeps the test short on a quiet one.
	r, err := PebbleSynced(t.TempDir(), nil, PebbleShape{Writers: 2}, 40, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	checkSane(t, r, 0)
}

func TestPebbleScan_SeesEveryEntry(t *testing.T) {
	r, err := PebbleScan(t.TempDir(), nil, 2500, 100)
	if err != nil {
		t.Fatal(err)
	}
	checkSane(t, r, 2500)
	if r.Bytes != 2500*(minKeyBytes+100) {
		t.Errorf("Bytes = %d, want %d", r.Bytes, 2500*(minKeyBytes+100))
	}
}

func TestLoopbackHTTP_ServesRequests(t *testing.T) {
	r, err := LoopbackHTTP(2, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	checkSane(t, r, 0)
	if r.Bytes != r.Ops*int64(len(loopbackBody)) {
		t.Errorf("Bytes = %d for %d requests", r.Bytes, r.Ops)
	}
}

func TestLoopbackHTTP_Count(t *testing.T) {
	r, err := loopbackHTTP(3, 50, 0)
	if err != nil {
		t.Fatal(err)
	}
	checkSane(t, r, 50)
}

func TestSeqWriteRead_RoundTrip(t *testing.T) {
	const size = 3<<20 + 123 // not a whole number of chunks
	w, r, err := SeqWriteRead(t.TempDir(), size, 0)
	if err != nil {
		t.Fatal(err)
	}
	checkSane(t, w, 4)
	checkSane(t, r, 4)
	if w.Bytes != size || r.Bytes != size || r.Note == "" {
		t.Errorf("write %+v, read %+v", w, r)
	}
}
