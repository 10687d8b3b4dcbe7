package jobs

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/syncerr"
)

// Two workers race for one job: exactly one wins, every time.
func TestClaimJob_RaceExactlyOneWins(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxGlobal, c.MaxPerUser = 1000, 1000 })
	for round := 0; round < 30; round++ {
		id := h.create("user-1")
		now := h.clk.Ms()
		var wins atomic.Int32
		var winner atomic.Value
		var wg sync.WaitGroup
		for w := 0; w < 2; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				owner := fmt.Sprintf("worker-%d", w)
				var j *Job
				var err error
				if w == 0 {
					j, err = h.s.ClaimJob(h.ctx, id, owner, now, now+60000)
				} else {
					j, err = h.s.ClaimNextJob(h.ctx, owner, now, now+60000)
					for j != nil && j.ID != id && err == nil { // an older job of an earlier round
						j, err = h.s.ClaimNextJob(h.ctx, owner, now, now+60000)
					}
				}
				if err != nil {
					t.Error(err)
				}
				if j != nil {
					wins.Add(1)
					winner.Store(owner)
				}
			}(w)
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("round %d: %d winners", round, wins.Load())
		}
		if j := h.get(id); *j.LeaseOwner != winner.Load().(string) || j.Attempts != 1 {
			t.Fatalf("round %d: %+v", round, j)
		}
	}
}

// A worker paused past its lease: another worker takes the job over; every
// write of the paused worker is 409 and lands nowhere, the new owner's land.
func TestLease_PausedWorkerIsFenced(t *testing.T) {
	h := newHarness(t)
	id := h.create("user-1", func(in *CreateInput) {
		in.Execution = []byte(`{"version":1,"contentBase":"A"}`)
	})
	now := h.clk.Ms()
	if j, _ := h.s.ClaimJob(h.ctx, id, "w1", now, now+10000); j == nil {
		t.Fatal("claim")
	}
	if ok, err := h.s.UpdateJob(h.ctx, id, UpdateInput{ContentChunk: str("A-w1"), LeaseOwner: str("w1")}); !ok || err != nil {
		t.Fatal(ok, err)
	}
	// w1 pauses; its lease runs out on syncd's clock and at the host's now.
	h.clk.Advance(11 * time.Second)
	now = h.clk.Ms()
	_, err := h.s.UpdateJob(h.ctx, id, UpdateInput{ContentChunk: str("late"), LeaseOwner: str("w1")})
	wantCode(t, err, 409, syncerr.CodeConflict) // expired, even before anyone took over
	j, err := h.s.ClaimNextJob(h.ctx, "w2", now, now+10000)
	if err != nil || j == nil || j.ID != id || j.Attempts != 2 || j.Content != "A" {
		t.Fatalf("takeover %+v %v", j, err)
	}
	before := h.db.NextSystemSeq()
	for name, f := range map[string]func() error{
		"update": func() error {
			_, err := h.s.UpdateJob(h.ctx, id, UpdateInput{ContentChunk: str("x"), LeaseOwner: str("w1")})
			return err
		},
		"complete": func() error { _, err := h.s.CompleteJob(h.ctx, id, "w1 final", str("w1")); return err },
		"fail":     func() error { _, err := h.s.FailJob(h.ctx, id, "w1", str("w1")); return err },
		"exec":     func() error { _, err := h.s.UpdateJobExecution(h.ctx, id, []byte(`{}`), "w1"); return err },
	} {
		if err := f(); err == nil || !strings.Contains(err.Error(), "lease lost") {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if ok, _ := h.s.RenewJobLease(h.ctx, id, "w1", now, now+10000); ok {
		t.Fatal("w1 renewed")
	}
	if h.db.NextSystemSeq() != before+1 {
		t.Fatal("fenced writes logged events")
	}
	if ok, err := h.s.UpdateJob(h.ctx, id, UpdateInput{ContentChunk: str("-w2"), LeaseOwner: str("w2")}); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if ok, err := h.s.CompleteJob(h.ctx, id, "A-w2 done", str("w2")); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if j := h.get(id); j.Content != "A-w2 done" || j.Status != StatusComplete || j.LeaseOwner != nil {
		t.Fatalf("%+v", j)
	}
	h.diffAgainstReplay()
}

// A checkpoint under a live lease, then a crash: the next worker resumes
// from the checkpoint's contentBase, so nothing is repeated.
func TestLease_ResumeFromCheckpoint(t *testing.T) {
	h := newHarness(t)
	id := h.create("user-1")
	now := h.clk.Ms()
	h.s.ClaimJob(h.ctx, id, "w1", now, now+1000)
	h.s.UpdateJob(h.ctx, id, UpdateInput{ContentChunk: str("part one. "), LeaseOwner: str("w1")})
	if ok, err := h.s.UpdateJobExecution(h.ctx, id, []byte(`{"version":1,"contentBase":"part one. "}`), "w1"); !ok || err != nil {
		t.Fatal(ok, err)
	}
	h.s.UpdateJob(h.ctx, id, UpdateInput{ContentChunk: str("part tw"), LeaseOwner: str("w1")})
	j, _ := h.s.ClaimNextJob(h.ctx, "w2", now+1000, now+61000)
	if j == nil || j.Content != "part one. " {
		t.Fatalf("%+v", j)
	}
	// updateJobExecution without a lease is 409; on an unknown job 404.
	id2 := h.create("user-1")
	_, err := h.s.UpdateJobExecution(h.ctx, id2, []byte(`{}`), "w1")
	wantCode(t, err, 409, syncerr.CodeConflict)
	_, err = h.s.UpdateJobExecution(h.ctx, "nope", []byte(`{}`), "w1")
	wantCode(t, err, 404, syncerr.CodeNotFound)
}

// Restart recovery: jobs in flight when syncd stops are there after it
// starts again; one whose lease expired and that carries execution input
// is claimed by a new worker, with its content and attempts intact.
func TestRestart_RecoversExpiredLease(t *testing.T) {
	h := newHarness(t)
	id := h.create("user-1", func(in *CreateInput) { in.IdempotencyKey = "m1" })
	noExec := h.create("user-1", func(in *CreateInput) { in.Execution = nil; in.Kind = "workflow" })
	now := h.clk.Ms()
	h.s.ClaimJob(h.ctx, id, "dead-worker", now, now+5000)
	h.s.UpdateJob(h.ctx, id, UpdateInput{ContentChunk: str("abc"), ChunksReceived: i64(1), LeaseOwner: str("dead-worker")})
	h.reopen()
	if n, _ := h.s.GetActiveJobCount(h.ctx); n != 2 {
		t.Fatalf("active after restart %d", n)
	}
	if j, _ := h.s.ClaimNextJob(h.ctx, "new-worker", now+1000, now+60000); j != nil {
		t.Fatal("claimed a live lease")
	}
	j, err := h.s.ClaimNextJob(h.ctx, "new-worker", now+5000, now+60000)
	if err != nil || j == nil || j.ID != id || j.Attempts != 2 || *j.LeaseOwner != "new-worker" {
		t.Fatalf("%+v %v", j, err)
	}
	if j, _ := h.s.ClaimNextJob(h.ctx, "other", now+5000, now+60000); j != nil {
		t.Fatalf("claimed %s without execution / twice", j.ID)
	}
	_ = noExec
	// Limits count the recovered jobs.
	for i := 0; i < 3; i++ {
		h.create("user-1")
	}
	_, err = h.s.CreateJob(h.ctx, CreateInput{UserID: "user-1", ThreadID: "t", MessageID: "m", Model: "x", Execution: execInput})
	wantCode(t, err, 429, syncerr.CodeRateLimited)
	h.diffAgainstReplay()
}

// Admission under 50 concurrent creates never exceeds the limits.
func TestCreateJob_ConcurrentAdmission(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxGlobal, c.MaxPerUser = 12, 3 })
	var wg sync.WaitGroup
	var ok, refused atomic.Int32
	perUser := make([]atomic.Int32, 10)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			u := i % 10
			_, err := h.s.CreateJob(h.ctx, CreateInput{UserID: fmt.Sprintf("u%d", u), ThreadID: "t", MessageID: fmt.Sprint(i), Model: "x", Execution: execInput})
			if err == nil {
				ok.Add(1)
				perUser[u].Add(1)
				return
			}
			if se, _ := syncerr.As(err); se == nil || se.Status != 429 {
				t.Error(err)
			}
			refused.Add(1)
		}(i)
	}
	wg.Wait()
	if ok.Load() != 12 || refused.Load() != 38 {
		t.Fatalf("admitted %d refused %d", ok.Load(), refused.Load())
	}
	for u := range perUser {
		if perUser[u].Load() > 3 {
			t.Fatalf("user %d has %d", u, perUser[u].Load())
		}
	}
	// The durable state agrees.
	h.reopen()
	if n, _ := h.s.GetActiveJobCount(h.ctx); n != 12 {
		t.Fatalf("durable active %d", n)
	}
	// Concurrent duplicates of one key make one job.
	ids := make([]string, 20)
	h2 := newHarness(t)
	for i := range ids {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			id, err := h2.s.CreateJob(h.ctx, CreateInput{UserID: "u", ThreadID: "t", MessageID: "m", Model: "x", IdempotencyKey: "k", Execution: execInput})
			if err != nil {
				t.Error(err)
			}
			ids[i] = id
		}(i)
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("duplicates: %v", ids)
		}
	}
}

// Chunks are compacted into the job record when it finishes: no chunk
// keys and no chunk events remain, and replay still equals live.
func TestFinish_CompactsChunks(t *testing.T) {
	h := newHarness(t)
	ids := []string{h.create("user-1"), h.create("user-1"), h.create("user-1")}
	for i := 0; i < 20; i++ {
		for _, id := range ids {
			h.s.UpdateJob(h.ctx, id, UpdateInput{ContentChunk: str(fmt.Sprintf("c%d.", i)), ChunksReceived: i64(int64(i + 1))})
		}
	}
	h.s.UpdateJob(h.ctx, ids[0], UpdateInput{ToolCalls: []byte(`[{"name":"search","status":"complete"}]`)})
	h.s.CompleteJob(h.ctx, ids[0], "final", nil)
	h.s.FailJob(h.ctx, ids[1], "boom", nil)
	h.s.AbortJob(h.ctx, ids[2], "user-1")
	v := h.db.View()
	defer v.Release()
	for _, p := range []byte{synclog.PrefixJobChunk} {
		it, _ := v.NewIter([]byte{p}, []byte{p + 1})
		if it.First() {
			t.Fatalf("chunk key left: %q", it.Key())
		}
		it.Close()
	}
	it, _ := v.NewIter([]byte{synclog.PrefixSystem}, []byte{synclog.PrefixSystem + 1})
	events := 0
	for ok := it.First(); ok; ok = it.Next() {
		var ev synclog.SystemEvent
		synclog.Decode(it.Key(), it.Value(), &ev)
		if ev.Type == evChunk {
			t.Fatal("chunk event left after finish")
		}
		events++
	}
	it.Close()
	if events != 3+1+3 {
		t.Fatalf("%d events", events)
	}
	want := strings.Repeat("", 0)
	for i := 0; i < 20; i++ {
		want += fmt.Sprintf("c%d.", i)
	}
	if j := h.get(ids[1]); j.Content != want || j.ChunksReceived != 20 || *j.Error != "boom" {
		t.Fatalf("%+v", j)
	}
	if j := h.get(ids[0]); j.Content != "final" || string(j.ToolCalls) != `[{"name":"search","status":"complete"}]` {
		t.Fatalf("%+v", j)
	}
	h.diffAgainstReplay()
}

// Replay equals live over a mixed workload (and after a restart the
// indexes come back from the same state).
func TestReplay_EqualsLive(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxGlobal, c.MaxPerUser = 100, 100 })
	var ids []string
	for i := 0; i < 12; i++ {
		ids = append(ids, h.create(fmt.Sprintf("u%d", i%3), func(in *CreateInput) {
			if i%4 == 0 {
				in.IdempotencyKey = fmt.Sprint("k", i)
			}
		}))
	}
	now := h.clk.Ms()
	for i, id := range ids {
		switch i % 6 {
		case 0:
			h.s.ClaimJob(h.ctx, id, "w", now, now+100)
			h.s.UpdateJob(h.ctx, id, UpdateInput{ContentChunk: str("x"), LeaseOwner: str("w")})
			h.s.ClaimJob(h.ctx, id, "w2", now+100, now+1000)
		case 1:
			h.s.UpdateJob(h.ctx, id, UpdateInput{ContentChunk: str("héllo"), WorkflowState: []byte(`{"a":1}`)})
		case 2:
			h.s.UpdateJob(h.ctx, id, UpdateInput{ContentChunk: str("y")})
			h.s.CompleteJob(h.ctx, id, "done", nil)
		case 3:
			h.s.AbortJob(h.ctx, id, fmt.Sprintf("u%d", i%3))
		case 4:
			h.s.ClaimJob(h.ctx, id, "w", now, now+100)
			h.s.RenewJobLease(h.ctx, id, "w", now+50, now+500)
			h.s.UpdateJobExecution(h.ctx, id, []byte(`{"contentBase":"z"}`), "w")
		}
	}
	h.clk.Advance(6 * time.Minute)
	h.s.CleanupExpired(h.ctx)
	h.diffAgainstReplay()
}

// The attempts count is a fencing token: a worker that lost its lease and
// whose owner name claimed again cannot write under its old claim.
func TestLease_AttemptFencingToken(t *testing.T) {
	h := newHarness(t)
	id := h.create("user-1")
	now := h.clk.Ms()
	first, _ := h.s.ClaimJob(h.ctx, id, "host-a", now-2000, now-1000) // expired at once
	second, _ := h.s.ClaimJob(h.ctx, id, "host-a", now, now+60000)    // same owner name
	if first == nil || second == nil || second.Attempts != 2 {
		t.Fatal(first, second)
	}
	old := first.Attempts
	_, err := h.s.UpdateJob(h.ctx, id, UpdateInput{ContentChunk: str("stale"), LeaseOwner: str("host-a"), Attempt: &old})
	wantCode(t, err, 409, syncerr.CodeConflict)
	_, err = h.s.CompleteJob(h.ctx, id, "stale", str("host-a"), old)
	wantCode(t, err, 409, syncerr.CodeConflict)
	cur := second.Attempts
	if ok, err := h.s.UpdateJob(h.ctx, id, UpdateInput{ContentChunk: str("fresh"), LeaseOwner: str("host-a"), Attempt: &cur}); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if ok, err := h.s.CompleteJob(h.ctx, id, "fresh", str("host-a"), cur); !ok || err != nil {
		t.Fatal(ok, err)
	}
}
