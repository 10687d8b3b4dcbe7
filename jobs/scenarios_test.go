package jobs

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/or3/syncd/syncerr"
)

// Scenario 40.
func TestCreateJob_WithExecutionAndKey(t *testing.T) {
	h := newHarness(t)
	id := h.create("user-1", func(in *CreateInput) { in.IdempotencyKey = "message-1" })
	j := h.get(id)
	if j.Status != StatusStreaming || j.Attempts != 0 || j.Content != "" || j.StartedAt != fixedStart.UnixMilli() || j.LastActivityAt != j.StartedAt {
		t.Fatalf("job %+v", j)
	}
	if string(j.Execution) != string(execInput) {
		t.Fatalf("execution %s", j.Execution)
	}
}

// Scenario 41.
func TestCreateJob_IdempotencyKeyReturnsSameJob(t *testing.T) {
	h := newHarness(t)
	a := h.create("user-1", func(in *CreateInput) { in.IdempotencyKey = "message-1" })
	b := h.create("user-1", func(in *CreateInput) { in.IdempotencyKey = "message-1" })
	if a != b {
		t.Fatalf("ids %s %s", a, b)
	}
	if n, _ := h.s.GetActiveJobCount(h.ctx); n != 1 {
		t.Fatalf("active %d", n)
	}
	// The key is per user: another user's identical key is another job.
	if c := h.create("user-2", func(in *CreateInput) { in.IdempotencyKey = "message-1" }); c == a {
		t.Fatal("idempotency key leaked across users")
	}
	// A finished job is still returned for its key (no duplicate job).
	if ok, err := h.s.CompleteJob(h.ctx, a, "done", nil); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if d := h.create("user-1", func(in *CreateInput) { in.IdempotencyKey = "message-1" }); d != a {
		t.Fatal("finished job's key created a new job")
	}
	// The key survives a restart.
	h.reopen()
	if d := h.create("user-1", func(in *CreateInput) { in.IdempotencyKey = "message-1" }); d != a {
		t.Fatal("key forgotten after restart")
	}
}

// Scenario 42.
func TestCreateJob_Limits(t *testing.T) {
	t.Run("global", func(t *testing.T) {
		h := newHarness(t)
		for i := 0; i < 20; i++ {
			h.create("user-" + string(rune('a'+i)))
		}
		_, err := h.s.CreateJob(h.ctx, CreateInput{UserID: "user-z", ThreadID: "t", MessageID: "m", Model: "x", Execution: execInput})
		wantCode(t, err, 429, syncerr.CodeRateLimited)
		if !strings.Contains(err.Error(), "Max concurrent background jobs reached (20)") {
			t.Fatal(err)
		}
	})
	t.Run("per user", func(t *testing.T) {
		h := newHarness(t)
		var ids []string
		for i := 0; i < 5; i++ {
			ids = append(ids, h.create("user-1"))
		}
		_, err := h.s.CreateJob(h.ctx, CreateInput{UserID: "user-1", ThreadID: "t", MessageID: "m", Model: "x", Execution: execInput})
		wantCode(t, err, 429, syncerr.CodeRateLimited)
		if !strings.Contains(err.Error(), "per user reached (5)") {
			t.Fatal(err)
		}
		// Finishing one frees a slot.
		if ok, err := h.s.FailJob(h.ctx, ids[0], "x", nil); !ok || err != nil {
			t.Fatal(ok, err)
		}
		h.create("user-1")
	})
}

// Scenario 43.
func TestCreateJob_TerminalizesLegacyJob(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxGlobal = 1 })
	legacy := h.create("user-1", func(in *CreateInput) { in.Execution = nil })
	id := h.create("user-2") // would not fit if the legacy job counted
	if j := h.get(legacy); j.Status != StatusError || j.Error == nil || *j.Error != msgLegacy {
		t.Fatalf("legacy %+v", j)
	}
	if h.get(id).Status != StatusStreaming {
		t.Fatal("new job")
	}
}

// Scenario 44.
func TestUpdateJob_ChunkVisibleToAnotherInstance(t *testing.T) {
	h := newHarness(t)
	id := h.create("user-1")
	if ok, err := h.s.UpdateJob(h.ctx, id, UpdateInput{ContentChunk: str("hello"), ChunksReceived: i64(1)}); !ok || err != nil {
		t.Fatal(ok, err)
	}
	other, err := New(h.db, h.cfg) // another provider instance over the same log
	if err != nil {
		t.Fatal(err)
	}
	j, err := other.GetJob(h.ctx, id, "user-1")
	if err != nil || j == nil || j.Content != "hello" || j.ChunksReceived != 1 {
		t.Fatalf("%+v %v", j, err)
	}
}

// Scenario 45.
func TestGetJob_OwnerOnly(t *testing.T) {
	h := newHarness(t)
	id := h.create("user-1")
	for _, u := range []string{"user-2", "*", "USER-1"} {
		if j, err := h.s.GetJob(h.ctx, id, u); j != nil || err != nil {
			t.Fatalf("%s: %+v %v", u, j, err)
		}
	}
	if j, _ := h.s.GetJob(h.ctx, "nope", "user-1"); j != nil {
		t.Fatal("unknown job")
	}
}

// Scenarios 46, 47.
func TestAbortJob(t *testing.T) {
	h := newHarness(t)
	id := h.create("user-1", func(in *CreateInput) { in.WorkflowState = json.RawMessage(`{"executionState":"running"}`) })
	if ok, _ := h.s.AbortJob(h.ctx, id, "user-2"); ok {
		t.Fatal("abort by another user")
	}
	h.clk.Advance(time.Second)
	if ok, err := h.s.AbortJob(h.ctx, id, "user-1"); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if a, _ := h.s.CheckJobAborted(h.ctx, id); !a {
		t.Fatal("not aborted")
	}
	if ok, _ := h.s.AbortJob(h.ctx, id, "user-1"); ok {
		t.Fatal("second abort")
	}
	j := h.get(id)
	if j.Status != StatusAborted || j.CompletedAt == nil || *j.CompletedAt != h.clk.Ms() || string(j.WorkflowState) != `{"executionState":"running"}` {
		t.Fatalf("%+v", j)
	}
	if ok, _ := h.s.AbortJob(h.ctx, "unknown", "user-1"); ok {
		t.Fatal("abort unknown")
	}
}

// Scenario 48, and writes after completion.
func TestFinish_NonStreamingIsNoOp(t *testing.T) {
	h := newHarness(t)
	id := h.create("user-1")
	if ok, err := h.s.CompleteJob(h.ctx, id, "final", nil); !ok || err != nil {
		t.Fatal(ok, err)
	}
	seq := h.db.NextSystemSeq()
	for name, f := range map[string]func() (bool, error){
		"complete": func() (bool, error) { return h.s.CompleteJob(h.ctx, id, "again", nil) },
		"fail":     func() (bool, error) { return h.s.FailJob(h.ctx, id, "x", nil) },
		"update":   func() (bool, error) { return h.s.UpdateJob(h.ctx, id, UpdateInput{ContentChunk: str("x")}) },
	} {
		if ok, err := f(); ok || err != nil {
			t.Fatalf("%s: %v %v", name, ok, err)
		}
	}
	// With a lease owner, the worker learns its lease ended: 409.
	_, err := h.s.UpdateJob(h.ctx, id, UpdateInput{ContentChunk: str("x"), LeaseOwner: str("w")})
	wantCode(t, err, 409, syncerr.CodeConflict)
	_, err = h.s.CompleteJob(h.ctx, id, "x", str("w"))
	wantCode(t, err, 409, syncerr.CodeConflict)
	if h.db.NextSystemSeq() != seq+1 {
		t.Fatal("a refused write logged an event")
	}
	if j := h.get(id); j.Content != "final" || j.Status != StatusComplete {
		t.Fatalf("%+v", j)
	}
}

// Scenario 49.
func TestClaimJob(t *testing.T) {
	h := newHarness(t)
	id := h.create("user-1")
	now := h.clk.Ms()
	j, err := h.s.ClaimJob(h.ctx, id, "worker-1", now, now+30000)
	if err != nil || j == nil || *j.LeaseOwner != "worker-1" || j.Attempts != 1 || *j.LeaseExpiresAt != now+30000 {
		t.Fatalf("%+v %v", j, err)
	}
	if j, err := h.s.ClaimJob(h.ctx, id, "worker-2", now+1, now+30000); j != nil || err != nil {
		t.Fatalf("second claim %+v %v", j, err)
	}
	// Expiry before now: the lease is max(1, exp-now) = 1 ms.
	id2 := h.create("user-1")
	if j, _ := h.s.ClaimJob(h.ctx, id2, "worker-1", now, now-5); j == nil || *j.LeaseExpiresAt != now+1 {
		t.Fatalf("%+v", j)
	}
}

// Scenario 50.
func TestClaimJob_ReclaimResetsToContentBase(t *testing.T) {
	h := newHarness(t)
	id := h.create("user-1", func(in *CreateInput) {
		in.Execution = json.RawMessage(`{"version":1,"contentBase":"Hello, "}`)
	})
	now := h.clk.Ms()
	h.s.ClaimJob(h.ctx, id, "worker-1", now, now+1000)
	h.s.UpdateJob(h.ctx, id, UpdateInput{ContentChunk: str("Hello, wor"), ChunksReceived: i64(3), LeaseOwner: str("worker-1")})
	j, err := h.s.ClaimJob(h.ctx, id, "worker-2", now+1000, now+31000)
	if err != nil || j == nil || j.Attempts != 2 || j.Content != "Hello, " || j.ChunksReceived != 0 {
		t.Fatalf("%+v %v", j, err)
	}
	if g := h.get(id); g.Content != "Hello, " {
		t.Fatalf("content %q", g.Content)
	}
	h.diffAgainstReplay()
}

// Scenario 51.
func TestRenewJobLease(t *testing.T) {
	h := newHarness(t)
	id := h.create("user-1")
	h.s.ClaimJob(h.ctx, id, "worker-1", 10, 40)
	if ok, err := h.s.RenewJobLease(h.ctx, id, "worker-1", 20, 50); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if j := h.get(id); *j.LeaseExpiresAt != 50 {
		t.Fatalf("expiry %d", *j.LeaseExpiresAt)
	}
	if ok, _ := h.s.RenewJobLease(h.ctx, id, "worker-2", 21, 60); ok {
		t.Fatal("renew by non-owner")
	}
	if ok, _ := h.s.RenewJobLease(h.ctx, id, "worker-1", 50, 90); ok {
		t.Fatal("renew after expiry")
	}
}

// Scenario 52.
func TestUpdateJob_SupersededLeaseLost(t *testing.T) {
	h := newHarness(t)
	id := h.create("user-1")
	now := h.clk.Ms()
	h.s.ClaimJob(h.ctx, id, "worker-old", now-2000, now-1000) // already expired
	if j, _ := h.s.ClaimJob(h.ctx, id, "worker-new", now, now+60000); j == nil {
		t.Fatal("reclaim")
	}
	_, err := h.s.UpdateJob(h.ctx, id, UpdateInput{ContentChunk: str("stale"), LeaseOwner: str("worker-old")})
	wantCode(t, err, 409, syncerr.CodeConflict)
	if !strings.Contains(err.Error(), "lease lost") {
		t.Fatal(err)
	}
	// Without an owner on a leased job: silent no-op.
	if ok, err := h.s.UpdateJob(h.ctx, id, UpdateInput{ContentChunk: str("anon")}); ok || err != nil {
		t.Fatal(ok, err)
	}
	if ok, err := h.s.UpdateJob(h.ctx, id, UpdateInput{ContentChunk: str("new"), LeaseOwner: str("worker-new")}); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if c := h.get(id).Content; c != "new" {
		t.Fatalf("content %q", c)
	}
}

// Scenario 53.
func TestClaimNextJob_OldestEligible(t *testing.T) {
	h := newHarness(t)
	h.create("user-1", func(in *CreateInput) { in.Execution = nil; in.Kind = "workflow" }) // no execution
	h.clk.Advance(time.Millisecond)
	leased := h.create("user-1")
	h.clk.Advance(time.Millisecond)
	older := h.create("user-1")
	h.clk.Advance(time.Millisecond)
	h.create("user-1")
	now := h.clk.Ms()
	h.s.ClaimJob(h.ctx, leased, "w0", now, now+60000)
	j, err := h.s.ClaimNextJob(h.ctx, "w1", now, now+60000)
	if err != nil || j == nil || j.ID != older {
		t.Fatalf("%+v %v", j, err)
	}
}

// Scenario 54.
func TestCleanupExpired(t *testing.T) {
	h := newHarness(t)
	idle := h.create("user-1")
	done := h.create("user-1")
	h.s.CompleteJob(h.ctx, done, "ok", nil)
	h.clk.Advance(5*time.Minute + time.Millisecond)
	n, err := h.s.CleanupExpired(h.ctx)
	if err != nil || n != 2 {
		t.Fatal(n, err)
	}
	if j := h.get(idle); j.Status != StatusError || *j.Error != msgTimedOut || *j.CompletedAt != h.clk.Ms() {
		t.Fatalf("%+v", j)
	}
	if h.get(done) != nil {
		t.Fatal("retained past retention")
	}
	// The timed-out job is deleted one retention later.
	h.clk.Advance(5*time.Minute + time.Millisecond)
	if n, _ := h.s.CleanupExpired(h.ctx); n != 1 || h.get(idle) != nil {
		t.Fatal(n)
	}
	h.diffAgainstReplay()
}

// A lease renewal keeps a healthy job from timing out.
func TestCleanupExpired_RenewedJobStays(t *testing.T) {
	h := newHarness(t)
	id := h.create("user-1")
	now := h.clk.Ms()
	h.s.ClaimJob(h.ctx, id, "w", now, now+600000)
	h.clk.Advance(4 * time.Minute)
	h.s.RenewJobLease(h.ctx, id, "w", h.clk.Ms(), h.clk.Ms()+600000)
	h.clk.Advance(4 * time.Minute)
	if n, _ := h.s.CleanupExpired(h.ctx); n != 0 {
		t.Fatal("renewed job timed out")
	}
}

// Scenario 55.
func TestCheckJobAborted_UnknownIsTrue(t *testing.T) {
	h := newHarness(t)
	if a, err := h.s.CheckJobAborted(h.ctx, "nope"); !a || err != nil {
		t.Fatal(a, err)
	}
	id := h.create("user-1")
	if a, _ := h.s.CheckJobAborted(h.ctx, id); a {
		t.Fatal("streaming job aborted")
	}
}

// The janitor cleans up without the host calling cleanupExpired.
func TestJanitor_CleansUp(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.CleanupEvery = 10 * time.Millisecond })
	id := h.create("user-1")
	h.s.Start()
	defer h.s.Close()
	h.clk.Advance(6 * time.Minute)
	deadline := time.Now().Add(5 * time.Second)
	for h.get(id).Status == StatusStreaming {
		if time.Now().After(deadline) {
			t.Fatal("janitor did not time the job out")
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.s.Close()
	h.s.Close() // idempotent
}
