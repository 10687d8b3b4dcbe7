package jobs

import (
	"testing"

	synclog "github.com/or3/syncd/log"
)

// FuzzFold folds arbitrary "job" events (type and body) over a store that
// holds one streaming job with chunks: a bad event is an error, never a
// panic, and nothing is committed.
func FuzzFold(f *testing.F) {
	h := newHarness(f)
	id := h.create("user-1")
	for _, c := range []string{"ab", "cd"} {
		if ok, err := h.s.UpdateJob(h.ctx, id, UpdateInput{ContentChunk: str(c), ChunksReceived: i64(1)}); !ok || err != nil {
			f.Fatal(ok, err)
		}
	}
	seeds := map[string]jobEvent{
		evCreate: &createBody{Job: jobRecord{ID: "j2", UserID: "u", Status: StatusStreaming}},
		evChunk:  &chunkBody{JobID: id, Offset: 4, Data: "ef", HasChunks: true, ChunksReceived: 3},
		evUpdate: &updateBody{JobID: id, HasToolCalls: true, ToolCalls: []byte(`[]`)},
		evClaim:  &claimBody{JobID: id, Owner: "w", ExpiresMs: 10, Reset: true, Base: "b"},
		evRenew:  &renewBody{JobID: id, ExpiresMs: 20},
		evExec:   &execBody{JobID: id, Execution: []byte(`{}`)},
		evFinish: &finishBody{JobID: id, Status: StatusComplete, Content: "abcd"},
		evDelete: &deleteBody{JobID: id},
	}
	for typ, body := range seeds {
		f.Add(typ, synclog.MustEncode(body))
	}
	f.Add(evChunk, []byte{0x95, 0xa1})
	f.Add("job.nope", []byte{0x90})
	f.Fuzz(func(t *testing.T, typ string, body []byte) {
		b := h.db.NewBatch()
		defer b.Close()
		_ = Fold(b, 1<<40, &synclog.SystemEvent{Type: typ, AtMs: 1, Body: body})
		if rec, found, err := loadJob(b, id); err == nil && found && rec.ID != id {
			t.Fatalf("loaded %q as %q", id, rec.ID)
		}
	})
}
