package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	synclog "github.com/or3/syncd/log"
)

// TestApplyRemote_SystemFold: a replicated system event is folded and
// logged with its origin; a fold that fails halfway is rejected with
// nothing of it written, and the origin's applied sequence still advances;
// a domain that does not replicate is skipped.
func TestApplyRemote_SystemFold(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	marker := []byte{synclog.PrefixTest, 'm'}
	h.eng.SetRemoteSystemFold(func(b *synclog.Batch, seq uint64, ev *synclog.SystemEvent) (bool, error) {
		switch ev.Type {
		case "user.create":
			return true, b.Set(marker, []byte(ev.Actor))
		case "user.bad":
			_ = b.Set(append(marker, 'x'), []byte("half"))
			return true, errors.New("fold failed")
		}
		return false, nil
	})
	mk := func(seq uint64, typ, actor string) RemoteEvent {
		val, _ := synclog.Encode(&synclog.SystemEvent{Type: typ, AtMs: 1, Actor: actor})
		return RemoteEvent{Seq: seq, Key: synclog.SystemKey(seq), Value: val}
	}
	st, err := h.eng.ApplyRemote(ctx, "eu", []RemoteEvent{mk(1, "user.bad", "a"), mk(2, "cursor.set", "b"), mk(3, "user.create", "c"), {Seq: 4}})
	if err != nil {
		t.Fatal(err)
	}
	if st.Applied != 1 || st.Rejected != 1 || st.Skipped != 2 || st.Last != 4 {
		t.Fatalf("stats %+v", st)
	}
	v := h.db.View()
	defer v.Release()
	if got, _ := v.Get(marker); string(got) != "c" {
		t.Fatalf("fold result %q", got)
	}
	if got, _ := v.Get(append(marker, 'x')); got != nil {
		t.Fatalf("a failed fold left %q behind", got)
	}
	applied, _ := h.eng.Applied()
	if applied["eu"] != 4 {
		t.Fatalf("applied %v", applied)
	}
	// Replayed: nothing changes.
	if st, err := h.eng.ApplyRemote(ctx, "eu", []RemoteEvent{mk(3, "user.create", "z")}); err != nil || st.Duplicates != 1 {
		t.Fatalf("replay %+v %v", st, err)
	}
	// A gap is refused.
	if _, err := h.eng.ApplyRemote(ctx, "eu", []RemoteEvent{mk(6, "user.create", "z")}); !errors.Is(err, ErrOriginGap) {
		t.Fatalf("gap: %v", err)
	}
}

// FuzzDecodeRemote: decoding a remote event never panics, and what it
// accepts as a sync entry is one the fold can take.
func FuzzDecodeRemote(f *testing.F) {
	rec, _ := synclog.Encode(&synclog.ChangeRecord{Table: "threads", PK: "a", Op: synclog.OpPut, Payload: []byte(`{"id":"a"}`), OpID: "x", Fingerprint: "f"})
	f.Add(synclog.ChangeKey("ws", 1), rec)
	sys, _ := synclog.Encode(&synclog.SystemEvent{Type: "user.create"})
	f.Add(synclog.SystemKey(1), sys)
	f.Add([]byte{0x10}, []byte{0x91})
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, key, value []byte) {
		it := decodeRemote("eu", RemoteEvent{Seq: 1, Key: key, Value: value})
		if it.kind == 0 {
			r := &it.rec
			if !ValidTable(r.Table) || r.PK == "" || r.OpID == "" || r.Fingerprint == "" || it.ws == "" || r.OriginRegion != "eu" {
				t.Fatalf("accepted %+v", it)
			}
			// The origin spliced into the record as logged decodes as the
			// record with its origin.
			if raw := withOrigin(it.value, r); raw != nil {
				var got synclog.ChangeRecord
				if err := synclog.Decode(key, raw, &got); err != nil || !reflect.DeepEqual(got, *r) {
					t.Fatalf("withOrigin: %+v %v, want %+v", got, err, *r)
				}
			}
		}
	})
}

// TestWithOrigin_SameAsEncode: splicing the origin into a record as its
// origin logged it gives exactly the bytes encoding the record with its
// origin would (every length class of the region and the sequence).
func TestWithOrigin_SameAsEncode(t *testing.T) {
	for _, region := range []string{"r", "eu-west-1", strings.Repeat("x", 31), strings.Repeat("y", 32), strings.Repeat("z", 64)} {
		for _, seq := range []uint64{1, 127, 128, 255, 256, 65535, 65536, 1<<32 - 1, 1 << 32, 1<<64 - 1} {
			rec := synclog.ChangeRecord{Table: "threads", PK: "a", Op: synclog.OpPut, Payload: []byte(`{"id":"a"}`),
				Clock: 3, HLC: "h", DeviceID: "d", OpID: "x", Fingerprint: "f", CreatedAtMs: 1_750_000_000_000, UserID: "u"}
			logged, _ := synclog.Encode(&rec)
			rec.OriginRegion, rec.OriginSeq = region, seq
			want, _ := synclog.Encode(&rec)
			if got := withOrigin(logged, &rec); !bytes.Equal(got, want) {
				t.Fatalf("%s %d: % x, want % x", region, seq, got, want)
			}
		}
	}
	if withOrigin([]byte{0x9e, 0xa0, 0x01}, &synclog.ChangeRecord{OriginRegion: "r", OriginSeq: 1}) != nil {
		t.Fatal("spliced a record that has an origin")
	}
}

// FuzzValidJSONObject: the remote payload check accepts exactly what
// json.Valid accepts as an object starting at the first byte.
func FuzzValidJSONObject(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, ` {}`, `{} `, `{"a":[1,2,{"b":null}],"c":"\u00e9\n","d":-0.5e+3,"e":true,"f":false}`,
		`{"a":01}`, `{"a":1.}`, `{"a":"\x"}`, `{"a":"` + "\x01" + `"}`, `{"a" 1}`, `{"a":1,}`, `[]`, `{"a":"\ud800"}`,
		`{"a":1e}`, `{"a":-}`, `{"a":tru}`, `{,}`, `{"a":1}x`, "{\"\xff\":1}", `{"a":[}`, strings.Repeat(`{"a":`, 10001) + "1" + strings.Repeat("}", 10001)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want := len(b) > 0 && b[0] == '{' && json.Valid(b)
		if got := validJSONObject(b); got != want {
			t.Fatalf("validJSONObject(%q) = %v, json.Valid says %v", b, got, want)
		}
	})
}

// TestApplyRemote_ConcurrentOrigins: appliers of several origins calling
// at once (their calls are combined) while local pushes go on apply
// everything, with versions gap-free per workspace and notified in version
// order, and end with the digests of applying the origins one after
// another and pushing afterwards.
func TestApplyRemote_ConcurrentOrigins(t *testing.T) {
	ctx := context.Background()
	origins := []string{"o1", "o2", "o3"}
	wss := []string{"ws-1", "ws-A", "ws-B"}
	// Each origin accepts 200 ops over the three workspaces (10-op pushes,
	// overlapping keys).
	logs := map[string][]OriginEvent{}
	for oi, o := range origins {
		src := newHarness(t)
		for n := 0; n < 20; n++ {
			ops := make([]PendingOp, 10)
			for i := range ops {
				pk := fmt.Sprint("k", (n*10+i)%37)
				ops[i] = put("threads", pk, int64(n+1), fmt.Sprintf("%013d:%04d:%s", 1_750_000_000_000+n, i, o), fmt.Sprintf("00000000-0000-4000-8000-%04d%04d%04d", oi, n, i), thread(pk, o))
			}
			src.push(wss[n%len(wss)], "alice", ops...)
		}
		evs, err := src.eng.ReadOrigin(0, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 200 {
			t.Fatalf("%s accepted %d of 200 ops", o, len(evs))
		}
		logs[o] = evs
	}
	var local []PendingOp // pushed here meanwhile, over the same keys
	for n := 0; n < 20; n++ {
		pk := fmt.Sprint("k", n)
		local = append(local, put("threads", pk, int64(n%5+1), fmt.Sprintf("%013d:0000:here", 1_750_000_000_000+n), fmt.Sprintf("00000000-0000-4000-9000-%012d", n), thread(pk, "here")))
	}
	apply := func(h *harness, o string, evs []OriginEvent) {
		in := make([]RemoteEvent, len(evs))
		for i, ev := range evs {
			in[i] = RemoteEvent{Seq: ev.Seq, Key: ev.Key, Value: ev.Value}
		}
		st, err := h.eng.ApplyRemote(ctx, o, in)
		if err != nil {
			t.Error(err)
		} else if st.Last != evs[len(evs)-1].Seq {
			t.Errorf("%s applied to %d, want %d", o, st.Last, evs[len(evs)-1].Seq)
		}
	}

	seq := newHarness(t)
	for _, o := range origins {
		apply(seq, o, logs[o])
	}
	for n, op := range local {
		seq.push(wss[n%len(wss)], "alice", op)
	}

	conc := newHarness(t)
	var mu sync.Mutex
	last := map[string]uint64{}
	conc.eng.Subscribe(func(c Committed) {
		mu.Lock()
		defer mu.Unlock()
		for _, ch := range c.Changes {
			if ch.ServerVersion != last[c.Workspace]+1 {
				t.Errorf("%s: notified version %d after %d", c.Workspace, ch.ServerVersion, last[c.Workspace])
			}
			last[c.Workspace] = ch.ServerVersion
		}
		if c.Counter != last[c.Workspace] {
			t.Errorf("notification of %s from %q: counter %d, last version %d", c.Workspace, c.OriginRegion, c.Counter, last[c.Workspace])
		}
	})
	var wg sync.WaitGroup
	for _, o := range origins {
		wg.Add(1)
		go func() { // in runs of 7 events, as messages arrive
			defer wg.Done()
			evs := logs[o]
			for i := 0; i < len(evs); i += 7 {
				apply(conc, o, evs[i:min(i+7, len(evs))])
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n, op := range local {
			if res := conc.push(wss[n%len(wss)], "alice", op); !res.Results[0].Success {
				t.Errorf("local push refused: %+v", res.Results[0])
			}
		}
	}()
	wg.Wait()
	applied, err := conc.eng.Applied()
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range origins {
		if applied[o] != uint64(len(logs[o])) {
			t.Fatalf("%s applied to %d of %d", o, applied[o], len(logs[o]))
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, ws := range wss {
		a, err1 := seq.eng.Digest(ctx, ws)
		b, err2 := conc.eng.Digest(ctx, ws)
		if err1 != nil || err2 != nil || a.Digest != b.Digest || a.Rows == 0 {
			t.Fatalf("%s: digest %+v %v, one after another %+v %v", ws, b, err2, a, err1)
		}
		v := conc.db.View()
		ctr, err := readCounter(v, ws)
		v.Release()
		if err != nil || ctr.Counter != last[ws] {
			t.Fatalf("%s: counter %d, greatest version notified %d (%v)", ws, ctr.Counter, last[ws], err)
		}
	}
}
