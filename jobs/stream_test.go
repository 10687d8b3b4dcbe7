package jobs

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// collect reads events until done (or the timeout), applying resets, and
// returns the content and the events.
func collect(t *testing.T, st *Stream, have string, until func(ev StreamEvent) bool) (string, []StreamEvent) {
	t.Helper()
	content := []byte(have)
	var evs []StreamEvent
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		ev, err := st.Next(ctx)
		if err != nil {
			t.Fatalf("next: %v (have %q)", err, content)
		}
		evs = append(evs, ev)
		switch ev.Kind {
		case "reset":
			content = content[:ev.Offset]
		case "chunk":
			if ev.Offset != int64(len(content)) {
				t.Fatalf("chunk at %d, have %d bytes", ev.Offset, len(content))
			}
			content = append(content, ev.Content...)
		}
		if ev.Kind == "done" || (until != nil && until(ev)) {
			return string(content), evs
		}
	}
}

// A viewer watching a job that another worker re-claims is told where the
// regenerated content starts, so it ends with exactly the final content.
func TestStream_ResetOnReclaim(t *testing.T) {
	h := newHarness(t)
	id := h.create("user-1", func(in *CreateInput) {
		in.Execution = json.RawMessage(`{"contentBase":"Base. "}`)
	})
	now := h.clk.Ms()
	h.s.ClaimJob(h.ctx, id, "w1", now, now+1000)
	st, err := h.s.OpenStream(h.ctx, id, "user-1", 0)
	if err != nil {
		t.Fatal(err)
	}
	h.s.UpdateJob(h.ctx, id, UpdateInput{ContentChunk: str("Base. "), LeaseOwner: str("w1")})
	h.s.UpdateJob(h.ctx, id, UpdateInput{ContentChunk: str("first try"), LeaseOwner: str("w1")})
	got, _ := collect(t, st, "", func(ev StreamEvent) bool { return ev.End() == int64(len("Base. first try")) })
	if got != "Base. first try" {
		t.Fatalf("%q", got)
	}
	h.s.ClaimJob(h.ctx, id, "w2", now+1000, now+60000)
	h.s.UpdateJob(h.ctx, id, UpdateInput{ContentChunk: str("second"), LeaseOwner: str("w2")})
	h.s.CompleteJob(h.ctx, id, "Base. second", str("w2"))
	rest, evs := collect(t, st, got, nil)
	if evs[0].Kind != "reset" || evs[0].Offset != 6 {
		t.Fatalf("events %+v", evs)
	}
	if rest != "Base. second" {
		t.Fatalf("final %q", rest)
	}
	if last := evs[len(evs)-1]; last.Kind != "done" || last.Status != StatusComplete {
		t.Fatalf("%+v", last)
	}
}

// Resuming inside a chunk delivers the chunk's tail; past the content, a
// reset; on a job deleted mid-stream, done.
func TestStream_Offsets(t *testing.T) {
	h := newHarness(t)
	id := h.create("user-1")
	h.s.UpdateJob(h.ctx, id, UpdateInput{ContentChunk: str("hello ")})
	h.s.UpdateJob(h.ctx, id, UpdateInput{ContentChunk: str("world")})
	st, _ := h.s.OpenStream(h.ctx, id, "user-1", 3)
	got, evs := collect(t, st, "hel", func(ev StreamEvent) bool { return ev.End() == 11 })
	if evs[0].Offset != 3 || evs[0].Content != "lo " || got != "hello world" {
		t.Fatalf("%+v %q", evs, got)
	}
	st, _ = h.s.OpenStream(h.ctx, id, "user-1", 50)
	_, evs = collect(t, st, strings.Repeat("x", 50), func(ev StreamEvent) bool { return true })
	if evs[0].Kind != "reset" || evs[0].Offset != 0 {
		t.Fatalf("%+v", evs)
	}
	if _, err := h.s.OpenStream(h.ctx, id, "user-2", 0); err == nil {
		t.Fatal("foreign stream")
	}
	if _, err := h.s.OpenStream(h.ctx, id, "user-1", -1); err == nil {
		t.Fatal("negative offset")
	}
	st, _ = h.s.OpenStream(h.ctx, id, "user-1", 11)
	h.s.AbortJob(h.ctx, id, "user-1")
	h.clk.Advance(6 * time.Minute)
	h.s.CleanupExpired(h.ctx)
	_, evs = collect(t, st, got, nil)
	if evs[len(evs)-1].Kind != "done" {
		t.Fatalf("%+v", evs)
	}
}
