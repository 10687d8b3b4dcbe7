package admin

import (
	"bytes"
	"context"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/or3/syncd/engine"
	synclog "github.com/or3/syncd/log"
	"pgregory.net/rapid"
)

func TestAppendOpIndexRecord(t *testing.T) {
	for _, ws := range []string{"", "w", strings.Repeat("w", 31), strings.Repeat("w", 32), strings.Repeat("w", 255), strings.Repeat("w", 256), strings.Repeat("w", 70000)} {
		for _, v := range []uint64{0, 1, 127, 128, 255, 256, 65535, 65536, 1<<32 - 1, 1 << 32, 1<<64 - 1} {
			want := synclog.MustEncode(&synclog.OpIndexRecord{Workspace: ws, Version: v, Fingerprint: "fp-" + ws[:min(len(ws), 40)]})
			got := appendOpIndexRecord(nil, ws, v, "fp-"+ws[:min(len(ws), 40)])
			if !bytes.Equal(got, want) {
				t.Fatalf("ws %d bytes, v %d: got %x, want %x", len(ws), v, got, want)
			}
		}
	}
}

// genLog draws a change log rich in the cases the fold distinguishes:
// several workspaces and tables (notifications name owners), puts and
// deletes on few keys, revisions that tie (even between different
// payloads), soft deletes, op_ids used twice, nil and empty payloads.
func genLog(t *rapid.T) map[string][]synclog.ChangeRecord {
	payloads := [][]byte{nil, {}, []byte(`{"x":1}`), []byte(`{"x":2}`), []byte(`{"deleted":true}`), []byte(`{"deleted":false,"user_id":"u2"}`),
		[]byte(`{"user_id":"u1","n":"a\"deleted\""}`), []byte(`{"a":{"deleted":true}}`)}
	out := map[string][]synclog.ChangeRecord{}
	n := rapid.IntRange(1, 60).Draw(t, "n")
	for i := 0; i < n; i++ {
		ws := rapid.SampledFrom([]string{"w1", "w2", "workspace-three"}).Draw(t, "ws")
		rec := synclog.ChangeRecord{
			Table:       rapid.SampledFrom([]string{"kv", "notifications", "messages"}).Draw(t, "table"),
			PK:          rapid.SampledFrom([]string{"a", "b", "c"}).Draw(t, "pk"),
			Op:          rapid.SampledFrom([]uint8{synclog.OpPut, synclog.OpPut, synclog.OpDelete}).Draw(t, "op"),
			Clock:       rapid.Int64Range(0, 3).Draw(t, "clock"),
			HLC:         rapid.SampledFrom([]string{"", "0001:0000:d1", "0002:0000:d2"}).Draw(t, "hlc"),
			DeviceID:    rapid.SampledFrom([]string{"d1", "d2"}).Draw(t, "dev"),
			OpID:        fmt.Sprintf("op-%d", rapid.IntRange(0, 40).Draw(t, "op")),
			Fingerprint: rapid.SampledFrom([]string{"", "f1", "f2"}).Draw(t, "fp"),
			CreatedAtMs: rapid.Int64Range(1, 1000).Draw(t, "at"),
		}
		if rec.Op == synclog.OpPut {
			rec.Payload = rapid.SampledFrom(payloads).Draw(t, "payload")
		}
		out[ws] = append(out[ws], rec)
	}
	return out
}

// buildLog writes the log and the state the shared fold derives from it
// (exactly what replay writes) into a fresh store.
func buildLog(t testing.TB, dir string, logs map[string][]synclog.ChangeRecord) *synclog.DB {
	db, err := synclog.Open(synclog.Config{Dir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	b := db.NewBatch()
	defer b.Close()
	for _, ws := range []string{"w1", "w2", "workspace-three"} { // replay order: by encoded workspace
		for i := range logs[ws] {
			rec := logs[ws][i]
			v := uint64(i + 1)
			if err := b.SetRecord(synclog.ChangeKey(ws, v), &rec); err != nil {
				t.Fatal(err)
			}
			if err := engine.FoldChange(b, ws, v, &rec); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := db.Commit(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	return db
}

func checkSync(t testing.TB, db *synclog.DB) VerifyReport {
	v := db.View()
	defer v.Release()
	rep := VerifyReport{OK: true, Problems: []string{}}
	if err := verifySync(context.Background(), v, &synclog.FolderMux{Change: engine.FoldChange}, &rep, 0, nil); err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestVerifyStream_EqualsSharedFold: on random logs whose state the
// engine's fold wrote, the streaming check finds nothing; after any one
// change to any sync state key (a value byte flipped, a key deleted, a
// key added) it reports a problem.
func TestVerifyStream_EqualsSharedFold(t *testing.T) {
	dir := t.TempDir()
	run := 0
	rapid.Check(t, func(rt *rapid.T) {
		run++
		logs := genLog(rt)
		db := buildLog(t, fmt.Sprintf("%s/%d", dir, run), logs)
		open := true
		defer func() {
			if open {
				_ = db.Close()
			}
		}()
		if rep := checkSync(t, db); !rep.OK {
			rt.Fatalf("clean state reported: %v", rep.Problems)
		}
		// Pick one sync state key and damage it.
		var keys [][]byte
		v := db.View()
		for _, p := range syncKeyspaces {
			_ = scan(v, p, func(k, _ []byte) error { keys = append(keys, append([]byte(nil), k...)); return nil })
		}
		val := func(k []byte) []byte { x, _ := v.Get(k); return x }
		i := rapid.IntRange(0, len(keys)-1).Draw(rt, "key")
		k := keys[i]
		old := val(k)
		v.Release()
		pdb := db.Pebble()
		var what string
		switch rapid.IntRange(0, 2).Draw(rt, "damage") {
		case 0:
			if len(old) == 0 {
				return
			}
			nv := append([]byte(nil), old...)
			j := rapid.IntRange(0, len(nv)-1).Draw(rt, "byte")
			nv[j] ^= byte(rapid.IntRange(1, 255).Draw(rt, "xor"))
			what = fmt.Sprintf("flipped byte %d of %q", j, k)
			_ = pdb.Set(k, nv, pebble.Sync)
		case 1:
			what = fmt.Sprintf("deleted %q", k)
			_ = pdb.Delete(k, pebble.Sync)
		case 2:
			nk := append(append([]byte(nil), k...), 'z')
			what = fmt.Sprintf("added %q", nk)
			_ = pdb.Set(nk, old, pebble.Sync)
		}
		// The DB publishes views only after its own commits: read the
		// damage through a fresh store over the same files.
		open = false
		if err := db.Close(); err != nil {
			rt.Fatal(err)
		}
		db2, err := synclog.Open(synclog.Config{Dir: fmt.Sprintf("%s/%d", dir, run), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			rt.Fatal(err)
		}
		defer db2.Close()
		if rep := checkSync(t, db2); rep.OK {
			rt.Fatalf("%s: not detected", what)
		}
	})
}

// TestVerifyStream_EntityHashCollisions runs the property with entity ids
// that collide all the time.
func TestVerifyStream_EntityHashCollisions(t *testing.T) {
	weakEntityHash = true
	defer func() { weakEntityHash = false }()
	TestVerifyStream_EqualsSharedFold(t)
}

// TestVerify_ProgressIsSerialized: verify's two passes report progress
// from two goroutines; the callback (a progress bar, an NDJSON stream) is
// never called concurrently (the race detector watches the calls when they
// overlap), and the last report is the total.
func TestVerify_ProgressIsSerialized(t *testing.T) {
	logs := map[string][]synclog.ChangeRecord{}
	for i := 0; i < 9000; i++ {
		logs["w1"] = append(logs["w1"], synclog.ChangeRecord{Table: "kv", PK: fmt.Sprintf("k%d", i%5000), Op: synclog.OpPut,
			Payload: []byte(fmt.Sprintf(`{"n":%d}`, i)), Clock: int64(i), HLC: "h", DeviceID: "d", OpID: fmt.Sprintf("op-%d", i), CreatedAtMs: 1})
	}
	db := buildLog(t, t.TempDir(), logs)
	defer db.Close()
	// As many system events, so both passes report.
	b := db.NewBatch()
	for i := 0; i < 9000; i++ {
		if err := b.SetRecord(synclog.SystemKey(uint64(i+1)), &synclog.SystemEvent{Type: "test.tick", AtMs: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Commit(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	b.Close()
	mux := &synclog.FolderMux{Change: engine.FoldChange}
	mux.Handle("test", func(*synclog.Batch, uint64, *synclog.SystemEvent) error { return nil })
	var calls []int64 // appended without a lock on purpose
	rep, err := Verify(context.Background(), db, mux, t.TempDir()+"/replay", func(done, total int64) {
		calls = append(calls, done)
	})
	if err != nil || !rep.OK || rep.Mode != "full" || rep.ChangeEntries != 9000 || rep.SystemEvents != 9000 || rep.Rows != 5000 {
		t.Fatalf("%+v %v", rep, err)
	}
	if len(calls) < 4 || calls[len(calls)-1] != 18000 {
		t.Fatalf("progress calls %v", calls)
	}
}

// TestAppendRow: rowIs accepts exactly synclog's encoding of the row an
// entity implies, for every integer and string width the encoder picks,
// and rejects any changed byte.
func TestAppendRow(t *testing.T) {
	c := &syncChecker{seed: maphash.MakeSeed()}
	rapid.Check(t, func(rt *rapid.T) {
		ints := rapid.SampledFrom([]int64{0, 1, 127, 128, 255, 256, 65535, 65536, 1<<32 - 1, 1 << 32, 1<<63 - 1, -1, -32, -33, -128, -129, -32768, -32769, -1 << 31, -1<<31 - 1, -1 << 63})
		strs := rapid.SampledFrom([]string{"", "a", strings.Repeat("s", 31), strings.Repeat("s", 32), strings.Repeat("s", 255), strings.Repeat("s", 256), strings.Repeat("s", 65536)})
		rev := func(label string) synclog.Revision {
			return synclog.Revision{Clock: ints.Draw(rt, label+"clock"), HLC: strs.Draw(rt, label+"hlc"), OpID: strs.Draw(rt, label+"op"), Fingerprint: strs.Draw(rt, label+"fp")}
		}
		e := ent{hasPut: rapid.Bool().Draw(rt, "hasPut"), hasTomb: rapid.Bool().Draw(rt, "hasTomb")}
		var payload []byte
		if e.hasPut {
			e.put, e.softDel = rev("put"), rapid.Bool().Draw(rt, "soft")
			if !rapid.Bool().Draw(rt, "nilPayload") {
				payload = bytes.Repeat([]byte{'p'}, rapid.SampledFrom([]int{0, 1, 255, 256, 65535, 65536}).Draw(rt, "payLen"))
			}
			e.payNil, e.payLen, e.payHash = payload == nil, len(payload), maphash.Bytes(c.seed, payload)
		}
		if e.hasTomb {
			e.tomb = rev("tomb")
		}
		e.serverVersion = uint64(ints.Draw(rt, "sv"))
		e.deviceID, e.owner = strs.Draw(rt, "dev"), strs.Draw(rt, "owner")
		e.created, e.updated, e.deleted = ints.Draw(rt, "c"), ints.Draw(rt, "u"), ints.Draw(rt, "d")
		winner, kind := e.winner()
		row := synclog.RowRecord{Winner: winner, WinnerKind: kind, HasPut: e.hasPut, Put: e.put, Payload: payload, SoftDel: e.softDel,
			HasTomb: e.hasTomb, Tomb: e.tomb, ServerVersion: e.serverVersion, DeviceID: e.deviceID, CreatedAtMs: e.created,
			UpdatedAtMs: e.updated, DeletedAtMs: e.deleted, Owner: e.owner}
		want := synclog.MustEncode(&row)
		if _, ok := c.rowIs(&e, want, nil); !ok {
			rt.Fatalf("rejected its own encoding %x", want)
		}
		bad := append([]byte(nil), want...)
		i := rapid.IntRange(0, len(bad)-1).Draw(rt, "byte")
		bad[i] ^= byte(rapid.IntRange(1, 255).Draw(rt, "xor"))
		if _, ok := c.rowIs(&e, bad, nil); ok { // a payload byte changes the payload's hash
			rt.Fatalf("accepted byte %d changed", i)
		}
		if _, ok := c.rowIs(&e, want[:len(want)-1], nil); ok {
			rt.Fatal("accepted a truncated row")
		}
	})
}
