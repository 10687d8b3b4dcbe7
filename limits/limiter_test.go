package limits

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/syncerr"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// testClock is a clock tests move by hand.
type testClock struct{ ns atomic.Int64 }

func newTestClock() *testClock {
	c := &testClock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *testClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *testClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func openDB(t testing.TB, dir string) *synclog.DB {
	t.Helper()
	db, err := synclog.Open(synclog.Config{Dir: dir, Logger: quiet, MemTableSize: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func openLimiter(t testing.TB, db *synclog.DB, clock *testClock) *Limiter {
	t.Helper()
	l, err := Open(Config{DB: db, Now: clock.Now, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func mustCheck(t *testing.T, l *Limiter, key string, windowMs, max int64) Result {
	t.Helper()
	r, err := l.CheckAndRecord(key, windowMs, max)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func ptr(v int64) *int64 { return &v }

func eqResult(a, b Result) bool {
	if a.Allowed != b.Allowed || a.Remaining != b.Remaining {
		return false
	}
	if (a.RetryAfterMs == nil) != (b.RetryAfterMs == nil) {
		return false
	}
	return a.RetryAfterMs == nil || *a.RetryAfterMs == *b.RetryAfterMs
}

// Scenario 56: max 2, window 60 s: three calls (the spec uses two provider
// instances; here two goroutines share one limiter, which is what syncd
// is) → {true,1}, {true,0}, {false,0,retryAfterMs:60000}.
func TestRateLimit_Scenario56_ThirdCallBlocked(t *testing.T) {
	clock := newTestClock()
	db := openDB(t, t.TempDir())
	defer db.Close()
	l := openLimiter(t, db, clock)
	want := []Result{{Allowed: true, Remaining: 1}, {Allowed: true, Remaining: 0}, {Allowed: false, Remaining: 0, RetryAfterMs: ptr(60000)}}
	for i, w := range want {
		if got := mustCheck(t, l, "daily:user:u1", 60000, 2); !eqResult(got, w) {
			t.Fatalf("call %d: got %+v want %+v", i+1, got, w)
		}
	}
}

// Scenario 57: after the window → allowed, remaining 1, count reset to 1.
// The window ends exactly at start + windowMs (Go decision of §3.2).
func TestRateLimit_Scenario57_WindowResets(t *testing.T) {
	clock := newTestClock()
	db := openDB(t, t.TempDir())
	defer db.Close()
	l := openLimiter(t, db, clock)
	mustCheck(t, l, "k", 60000, 2)
	mustCheck(t, l, "k", 60000, 2)
	clock.Advance(60*time.Second - time.Millisecond)
	if r := mustCheck(t, l, "k", 60000, 2); r.Allowed {
		t.Fatalf("1 ms before the window ends: %+v", r)
	}
	clock.Advance(time.Millisecond)
	if r := mustCheck(t, l, "k", 60000, 2); !r.Allowed || r.Remaining != 1 {
		t.Fatalf("at the window's end: %+v", r)
	}
	if w, _ := l.Peek("k"); w.Count != 1 || w.StartMs != clock.Now().UnixMilli() {
		t.Fatalf("window %+v", w)
	}
}

// Scenario 58: blocked calls neither count nor extend the window.
func TestRateLimit_Scenario58_BlockedNotCounted(t *testing.T) {
	clock := newTestClock()
	db := openDB(t, t.TempDir())
	defer db.Close()
	l := openLimiter(t, db, clock)
	mustCheck(t, l, "k", 60000, 1)
	start, _ := l.Peek("k")
	for i := 1; i <= 5; i++ {
		clock.Advance(10 * time.Second)
		r := mustCheck(t, l, "k", 60000, 1)
		if r.Allowed || *r.RetryAfterMs != int64(60000-i*10000) {
			t.Fatalf("blocked call %d: %+v", i, r)
		}
	}
	if w, _ := l.Peek("k"); w.Count != 1 || w.StartMs != start.StartMs {
		t.Fatalf("window moved: %+v → %+v", start, w)
	}
}

// Scenario 59: getStats on an unknown key and after one hit.
func TestRateLimit_Scenario59_Stats(t *testing.T) {
	clock := newTestClock()
	db := openDB(t, t.TempDir())
	defer db.Close()
	l := openLimiter(t, db, clock)
	st, err := l.GetStats("k", 60000, 5)
	if err != nil || st != (Stats{Limit: 5, Remaining: 5, ResetMs: 60000}) {
		t.Fatalf("unknown: %+v %v", st, err)
	}
	mustCheck(t, l, "k", 60000, 5)
	clock.Advance(15 * time.Second)
	st, _ = l.GetStats("k", 60000, 5)
	if st != (Stats{Limit: 5, Remaining: 4, ResetMs: 45000}) {
		t.Fatalf("after one hit: %+v", st)
	}
	// getStats counts nothing.
	if w, _ := l.Peek("k"); w.Count != 1 {
		t.Fatalf("count %d", w.Count)
	}
}

// Scenario 60: windowMs 0 or maxRequests 0 → configuration error (400).
func TestRateLimit_Scenario60_BadConfig(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	l := openLimiter(t, db, newTestClock())
	for _, c := range []struct {
		key      string
		win, max int64
	}{{"k", 0, 1}, {"k", 1, 0}, {"k", -1, 1}, {"k", 1 << 53, 1}, {"", 1, 1}, {string(make([]byte, MaxKeyLen+1)), 1, 1}, {"\xff", 1, 1}} {
		_, err := l.CheckAndRecord(c.key, c.win, c.max)
		se, ok := syncerr.As(err)
		if !ok || se.Status != 400 || !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

// Scenario 61: cleanup deletes windows idle more than 48 h only, at most
// 2,500 a run, and the deletions reach the log.
func TestRateLimit_Scenario61_Cleanup(t *testing.T) {
	clock := newTestClock()
	dir := t.TempDir()
	db := openDB(t, dir)
	l := openLimiter(t, db, clock)
	for i := 0; i < 2600; i++ {
		mustCheck(t, l, "old:"+itoa(i), 1000, 5)
	}
	clock.Advance(47 * time.Hour)
	mustCheck(t, l, "recent", 1000, 5)
	clock.Advance(time.Hour + time.Millisecond)
	if n := l.Cleanup(); n != 2500 {
		t.Fatalf("first run deleted %d", n)
	}
	if n := l.Cleanup(); n != 100 {
		t.Fatalf("second run deleted %d", n)
	}
	if n := l.Cleanup(); n != 0 || l.Len() != 1 {
		t.Fatalf("third run deleted %d, %d left", n, l.Len())
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = openDB(t, dir)
	defer db.Close()
	l = openLimiter(t, db, clock)
	if _, ok := l.Peek("recent"); !ok || l.Len() != 1 {
		t.Fatalf("after restart: %d windows", l.Len())
	}
}

// Scenario 62 (fail-open fallback) does not arise: the limiter is in
// process and never unreachable. What remains of it is that a failed
// flush loses nothing: the windows stay dirty and the next flush writes
// them.
func TestRateLimit_FlushFailureRetries(t *testing.T) {
	clock := newTestClock()
	dir := t.TempDir()
	db := openDB(t, dir)
	l := openLimiter(t, db, clock)
	mustCheck(t, l, "k", 60000, 5)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = l.Flush(ctx) // may or may not fail; the next one must leave it durable
	mustCheck(t, l, "k", 60000, 5)
	if err := l.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = openDB(t, dir)
	defer db.Close()
	l = openLimiter(t, db, clock)
	if w, _ := l.Peek("k"); w.Count != 2 {
		t.Fatalf("count after restart %d", w.Count)
	}
}

// Counts survive a restart: flushed windows are loaded on Open, and the
// limiter keeps deciding from them.
func TestRateLimit_CountsSurviveRestart(t *testing.T) {
	clock := newTestClock()
	dir := t.TempDir()
	db := openDB(t, dir)
	l := openLimiter(t, db, clock)
	l.Start()
	for i := 0; i < 3; i++ {
		mustCheck(t, l, "daily:user:u1", 60000, 3)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openDB(t, dir)
	defer db.Close()
	l = openLimiter(t, db, clock)
	if r := mustCheck(t, l, "daily:user:u1", 60000, 3); r.Allowed || *r.RetryAfterMs != 60000 {
		t.Fatalf("after restart: %+v", r)
	}
}

// The flusher writes at least once a second without Close: a process
// killed after that has the counts (a crash forgets at most the last
// second).
func TestRateLimit_FlusherWritesWithinASecond(t *testing.T) {
	clock := newTestClock()
	db := openDB(t, t.TempDir())
	defer db.Close()
	l, err := Open(Config{DB: db, Now: clock.Now, Logger: quiet, FlushEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	l.Start()
	defer l.Close()
	mustCheck(t, l, "k", 60000, 3)
	key := append([]byte{synclog.PrefixRateWindow}, "k"...)
	deadline := time.Now().Add(time.Second)
	for {
		v := db.View()
		data, err := v.Get(key)
		v.Release()
		if err != nil {
			t.Fatal(err)
		}
		if data != nil {
			var w Window
			if err := synclog.Decode(key, data, &w); err != nil || w.Count != 1 {
				t.Fatalf("%+v %v", w, err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("window not durable within a second")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Atomicity: many goroutines racing on one key are allowed exactly max
// times per window, and the allowed answers' remaining values are each
// seen exactly once.
func TestRateLimit_ConcurrentCallsNeverOverAdmit(t *testing.T) {
	clock := newTestClock()
	db := openDB(t, t.TempDir())
	defer db.Close()
	l := openLimiter(t, db, clock)
	const max, goroutines, each = 500, 16, 100
	var allowed atomic.Int64
	seen := make([]atomic.Int32, max)
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				r, err := l.CheckAndRecord("hot", 60000, max)
				if err != nil {
					t.Error(err)
					return
				}
				if r.Allowed {
					allowed.Add(1)
					seen[r.Remaining].Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if allowed.Load() != max {
		t.Fatalf("allowed %d of %d", allowed.Load(), goroutines*each)
	}
	for i := range seen {
		if seen[i].Load() != 1 {
			t.Fatalf("remaining %d answered %d times", i, seen[i].Load())
		}
	}
}

func TestRateLimit_RPC(t *testing.T) {
	clock := newTestClock()
	db := openDB(t, t.TempDir())
	defer db.Close()
	l := openLimiter(t, db, clock)
	call := func(method, args string) (string, error) {
		res, err := l.Call(context.Background(), method, json.RawMessage(args))
		if err != nil {
			return "", err
		}
		b, _ := json.Marshal(res)
		return string(b), nil
	}
	for _, c := range []struct{ method, args, want string }{
		{"checkAndRecord", `["k",{"windowMs":60000,"maxRequests":1}]`, `{"allowed":true,"remaining":0,"limit":1}`},
		{"checkAndRecord", `["k",{"windowMs":6e4,"maxRequests":1,"extra":true},null]`, `{"allowed":false,"remaining":0,"retryAfterMs":60000,"limit":1}`},
		{"getStats", `["k",{"windowMs":60000,"maxRequests":1}]`, `{"limit":1,"remaining":0,"resetMs":60000}`},
	} {
		got, err := call(c.method, c.args)
		if err != nil || got != c.want {
			t.Errorf("%s %s: %s %v", c.method, c.args, got, err)
		}
	}
	for _, args := range []string{`{}`, `["k"]`, `[1,{"windowMs":1,"maxRequests":1}]`, `["k",{"windowMs":"1","maxRequests":1}]`,
		`["k",{"windowMs":1.5,"maxRequests":1}]`, `["k",{"maxRequests":1}]`, `["k",{"windowMs":0,"maxRequests":1}]`, `["k",null]`, `["k",{}, 3]`} {
		_, err := call("checkAndRecord", args)
		if se, ok := syncerr.As(err); !ok || se.Status != 400 {
			t.Errorf("%s: %v", args, err)
		}
	}
	if _, err := call("nope", `[]`); err == nil {
		t.Error("unknown method")
	} else if se, _ := syncerr.As(err); se.Status != 404 {
		t.Errorf("unknown method: %v", err)
	}
}

func TestParseRule(t *testing.T) {
	b, r, err := ParseRule("sync:push=3/60s")
	if err != nil || b != BucketPush || r != (Rule{Max: 3, Window: time.Minute}) {
		t.Fatalf("%s %+v %v", b, r, err)
	}
	for _, bad := range []string{"sync:push", "sync:push=3", "nope=3/60s", "sync:push=0/60s", "sync:push=3/0s", "sync:push=x/60s"} {
		if _, _, err := ParseRule(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestBuckets_CheckAndBlocked(t *testing.T) {
	clock := newTestClock()
	db := openDB(t, t.TempDir())
	defer db.Close()
	b := NewBuckets(openLimiter(t, db, clock), map[string]Rule{BucketPush: {Max: 2, Window: time.Minute}})
	if _, ok := b.Check(BucketPull, "u"); ok {
		t.Fatal("unlimited bucket counted")
	}
	b.Check(BucketPush, "u")
	if blocked, _ := b.Blocked(BucketPush, "u"); blocked {
		t.Fatal("blocked early")
	}
	b.Check(BucketPush, "u")
	if blocked, ra := b.Blocked(BucketPush, "u"); !blocked || ra != time.Minute {
		t.Fatalf("blocked %v %v", blocked, ra)
	}
	if r, _ := b.Check(BucketPush, "other"); !r.Allowed {
		t.Fatal("subjects share a window")
	}
}

func itoa(i int) string { return jsonInt(i) }

func jsonInt(i int) string { b, _ := json.Marshal(i); return string(b) }

func FuzzDecodeArgs(f *testing.F) {
	f.Add([]byte(`["k",{"windowMs":60000,"maxRequests":2}]`))
	f.Add([]byte(`["k",{"windowMs":6e4,"maxRequests":2},null]`))
	f.Add([]byte(`["",{"windowMs":-1,"maxRequests":1e300}]`))
	f.Add([]byte(`[null,null]`))
	f.Add([]byte(`{"a":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		key, w, m, err := DecodeArgs(data)
		if err != nil {
			if se, ok := syncerr.As(err); !ok || se.Status != 400 {
				t.Fatalf("non-400 error %v", err)
			}
			return
		}
		if CheckConfig(key, w, m) != nil {
			t.Fatalf("accepted invalid %q %d %d", key, w, m)
		}
	})
}
