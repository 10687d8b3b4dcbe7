package jobs

import (
	"bytes"
	"testing"
	"time"

	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/syncerr"
)

// durableRecord is the stored bytes of job id's record.
func (h *harness) durableRecord(id string) []byte {
	h.t.Helper()
	v := h.db.View()
	defer v.Release()
	data, err := v.Get(JobKey(id))
	if err != nil || data == nil {
		h.t.Fatalf("job record of %s: %v", id, err)
	}
	return data
}

// A chunk append writes the chunk only; the job's progress (content
// length, chunk count, chunksReceived, last activity) comes from its last
// chunk, the same for reads, replay and a restart.
func TestChunk_ProgressFromLastChunk(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxChunks = 4 })
	id := h.create("user-1")
	before := h.durableRecord(id)

	h.clk.Advance(time.Second)
	if ok, err := h.s.UpdateJob(h.ctx, id, UpdateInput{ContentChunk: str("ab"), ChunksReceived: i64(1)}); !ok || err != nil {
		t.Fatal(ok, err)
	}
	h.clk.Advance(time.Second)
	if ok, err := h.s.UpdateJob(h.ctx, id, UpdateInput{ContentChunk: str("cd")}); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if !bytes.Equal(before, h.durableRecord(id)) {
		t.Fatal("a chunk append rewrote the job record")
	}
	want := func(content string, chunksReceived, lastActivity int64) {
		t.Helper()
		j := h.get(id)
		if j.Content != content || j.ChunksReceived != chunksReceived || j.LastActivityAt != lastActivity {
			t.Fatalf("got content %q chunksReceived %d lastActivityAt %d, want %q %d %d",
				j.Content, j.ChunksReceived, j.LastActivityAt, content, chunksReceived, lastActivity)
		}
	}
	want("abcd", 1, h.clk.Ms())
	h.diffAgainstReplay()

	// An update without a chunk writes the record, progress included; a
	// later chunk supersedes it again.
	h.clk.Advance(time.Second)
	if ok, err := h.s.UpdateJob(h.ctx, id, UpdateInput{ChunksReceived: i64(7), ToolCalls: []byte(`[{"name":"x","status":"loading"}]`)}); !ok || err != nil {
		t.Fatal(ok, err)
	}
	want("abcd", 7, h.clk.Ms())
	h.diffAgainstReplay()
	h.clk.Advance(time.Second)
	if ok, err := h.s.UpdateJob(h.ctx, id, UpdateInput{ContentChunk: str("é")}); !ok || err != nil {
		t.Fatal(ok, err)
	}
	want("abcdé", 7, h.clk.Ms())
	h.diffAgainstReplay()

	// A restart loads the same progress: the next chunk lands at the right
	// offset and the chunk cap still counts the chunks from before.
	last := h.clk.Ms()
	h.reopen()
	want("abcdé", 7, last)
	if ok, err := h.s.UpdateJob(h.ctx, id, UpdateInput{ContentChunk: str("f"), ChunksReceived: i64(9)}); !ok || err != nil {
		t.Fatal(ok, err)
	}
	_, err := h.s.UpdateJob(h.ctx, id, UpdateInput{ContentChunk: str("g")})
	wantCode(t, err, 413, syncerr.CodeOversized)
	want("abcdéf", 9, h.clk.Ms())
	h.diffAgainstReplay()

	// A stream opened after the restart reads the same content.
	st, err := h.s.OpenStream(h.ctx, id, "user-1", 0)
	if err != nil {
		t.Fatal(err)
	}
	var got string
	for got != "abcdéf" {
		ev, err := st.Next(h.ctx)
		if err != nil || ev.Kind != "chunk" {
			t.Fatalf("%+v %v", ev, err)
		}
		got += ev.Content
	}
	if ok, err := h.s.CompleteJob(h.ctx, id, got, nil); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if j := h.get(id); j.Status != StatusComplete || j.Content != "abcdéf" || j.ChunksReceived != 9 {
		t.Fatalf("%+v", j)
	}
	h.diffAgainstReplay()
}

// The tail read ignores a reset's content base when the record is newer.
func TestChunk_ProgressAfterReclaim(t *testing.T) {
	h := newHarness(t)
	id := h.create("user-1", func(in *CreateInput) { in.Execution = []byte(`{"contentBase":"base"}`) })
	now := h.clk.Ms()
	if j, err := h.s.ClaimJob(h.ctx, id, "w1", now, now+10); j == nil || err != nil {
		t.Fatal(j, err)
	}
	if ok, err := h.s.UpdateJob(h.ctx, id, UpdateInput{ContentChunk: str("lost output"), ChunksReceived: i64(3), LeaseOwner: str("w1")}); !ok || err != nil {
		t.Fatal(ok, err)
	}
	h.clk.Advance(time.Second)
	now = h.clk.Ms()
	j, err := h.s.ClaimJob(h.ctx, id, "w2", now, now+60_000)
	if j == nil || err != nil || j.Content != "base" || j.ChunksReceived != 0 {
		t.Fatalf("%+v %v", j, err)
	}
	h.reopen()
	if j := h.get(id); j.Content != "base" || j.ChunksReceived != 0 || j.LastActivityAt != now {
		t.Fatalf("%+v", j)
	}
	if ok, err := h.s.UpdateJob(h.ctx, id, UpdateInput{ContentChunk: str("+new"), LeaseOwner: str("w2")}); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if j := h.get(id); j.Content != "base+new" {
		t.Fatalf("%+v", j)
	}
	h.diffAgainstReplay()
}

// loadJob on a job that does not exist is not found, not an error.
func TestLoadJob_Missing(t *testing.T) {
	h := newHarness(t)
	v := h.db.View()
	defer v.Release()
	if rec, found, err := loadJob(v, "nope"); rec != nil || found || err != nil {
		t.Fatal(rec, found, err)
	}
	var _ synclog.Reader = v
}
