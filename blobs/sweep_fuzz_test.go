package blobs

import (
	"io"
	"log/slog"
	"math"
	"testing"

	synclog "github.com/or3/syncd/log"
)

// FuzzFoldPending: the fold of blob.pending / blob.swept decodes any body
// without panicking, and keeps its rule (a pending record's sweep time
// only moves later; a sweep drops only a record it saw); pending keys
// parse back to the workspace and hash they were built from, and any
// other bytes parse or fail without panicking.
func FuzzFoldPending(f *testing.F) {
	good := synclog.MustEncode(&pendingBody{Workspace: "w", Hash: "ab", P: Pending{StorageID: "wk/ab/ab", SweepAtMs: 5}})
	f.Add(true, good, "w", "ab", int64(5), []byte{synclog.PrefixBlobUpload, 0, 1, 'w', 'a'})
	f.Add(false, good, "", "", int64(-1), []byte{synclog.PrefixBlobUpload, 0xff, 0xff})
	f.Add(true, []byte{0x93, 0xc0}, "ws\x00", "h", int64(1<<62), []byte{})
	f.Add(false, []byte("not msgpack"), "x", "", int64(0), []byte{synclog.PrefixBlobUpload})
	db, err := synclog.Open(synclog.Config{Dir: f.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = db.Close() })
	f.Fuzz(func(t *testing.T, pending bool, body []byte, ws, hash string, at int64, key []byte) {
		if len(ws) > 1000 {
			ws = ws[:1000]
		}
		if len(hash) > 1000 {
			hash = hash[:1000] // real hashes are at most a few hundred bytes
		}
		if at == math.MinInt64 {
			at++ // at-1 below must be earlier
		}
		if gw, gh, err := parsePendingKey(pendingKey(ws, hash)); err != nil || gw != ws || gh != hash {
			t.Fatalf("pending key of (%q, %q) parses as (%q, %q, %v)", ws, hash, gw, gh, err)
		}
		_, _, _ = parsePendingKey(key)

		typ := evSwept
		if pending {
			typ = evPending
		}
		b := db.NewBatch()
		defer b.Close()
		_ = Fold(b, 1, &synclog.SystemEvent{Type: typ, Body: body}) // arbitrary bytes: an error, never a panic

		// The rule, on a well-formed body.
		b2 := db.NewBatch()
		defer b2.Close()
		fold := func(typ string, sweepAt int64) {
			ev := &synclog.SystemEvent{Type: typ, Body: synclog.MustEncode(&pendingBody{Workspace: ws, Hash: hash, P: Pending{SweepAtMs: sweepAt}})}
			if err := Fold(b2, 1, ev); err != nil {
				t.Fatal(err)
			}
		}
		get := func() (Pending, bool) {
			var p Pending
			found, err := synclog.GetRecord(b2, pendingKey(ws, hash), &p)
			if err != nil {
				t.Fatal(err)
			}
			return p, found
		}
		fold(evPending, at)
		fold(evPending, at-1) // an earlier time never wins
		if p, found := get(); !found || p.SweepAtMs != at {
			t.Fatalf("after pending %d then %d: %+v %v", at, at-1, p, found)
		}
		fold(evSwept, at-1) // a sweep that saw an earlier time keeps the record
		if _, found := get(); !found {
			t.Fatal("a sweep of an older time dropped a newer record")
		}
		fold(evSwept, at)
		if _, found := get(); found {
			t.Fatal("a sweep of the current time kept the record")
		}
	})
}
