package engine

import (
	"context"
	"encoding/json"
	"testing"

	synclog "github.com/or3/syncd/log"
)

// FuzzPush decodes the input as a JSON PushBatch and pushes it into ws-1 of
// one harness that lives for the whole fuzz worker, so inputs also meet the
// state (and replays) earlier inputs left. Whatever the input, Push must not
// panic; it either refuses the whole batch and writes nothing, or answers
// one result per op, allocates exactly one version per new op, logs each at
// its version, and lets rejected ops consume none.
func FuzzPush(f *testing.F) {
	for _, seed := range []string{
		`{"ops":[]}`,
		`{"ops":[{"tableName":"threads","operation":"put","pk":"t1","payload":{"id":"t1","title":"a","deleted":false},"stamp":{"deviceId":"dA","opId":"3f1c0e9a-8d2b-4c1e-9a7f-2b6d5e4c3a21","hlc":"1:0:dA","clock":1}}]}`,
		`{"ops":[{"tableName":"threads","operation":"delete","pk":"t1","stamp":{"deviceId":"dA","opId":"4f1c0e9a-8d2b-4c1e-9a7f-2b6d5e4c3a21","hlc":"2:0:dA","clock":2}}]}`,
		`{"ops":[{"tableName":"threads","operation":"put","pk":"t2","payload":{"b":1,"a":2},"stamp":{"deviceId":"dA","opId":"5f1c0e9a-8d2b-4c1e-9a7f-2b6d5e4c3a21","hlc":"1","clock":1}},{"tableName":"threads","operation":"put","pk":"t2","payload":{"a":2,"b":1},"stamp":{"deviceId":"dA","opId":"5f1c0e9a-8d2b-4c1e-9a7f-2b6d5e4c3a21","hlc":"1","clock":1}}]}`,
		`{"ops":[{"tableName":"threads","operation":"put","pk":"t3","payload":{"id":"t3"},"stamp":{"deviceId":"dA","opId":"6f1c0e9a-8d2b-4c1e-9a7f-2b6d5e4c3a21","hlc":"1","clock":6}},{"tableName":"threads","operation":"delete","pk":"t3","stamp":{"deviceId":"dA","opId":"6f1c0e9a-8d2b-4c1e-9a7f-2b6d5e4c3a21","hlc":"1","clock":7}}]}`,
		`{"ops":[{"tableName":"evil","operation":"put","pk":"x","payload":{},"stamp":{"deviceId":"d","opId":"not-a-uuid","hlc":"h","clock":0}},{"tableName":"notifications","operation":"put","pk":"n1","payload":{"id":"n1","user_id":"bob"},"stamp":{"deviceId":"d","opId":"7f1c0e9a-8d2b-4c1e-9a7f-2b6d5e4c3a21","hlc":"h","clock":0}}]}`,
		`{"ops":[{"tableName":"notifications","operation":"put","pk":"n2","payload":{"id":"n2","title":"x"},"stamp":{"deviceId":"d","opId":"8f1c0e9a-8d2b-4c1e-9a7f-2b6d5e4c3a21","hlc":"h","clock":0}},{"tableName":"notifications","operation":"delete","pk":"n2","stamp":{"deviceId":"d","opId":"9f1c0e9a-8d2b-4c1e-9a7f-2b6d5e4c3a21","hlc":"i","clock":1}}]}`,
		`{"ops":[{"tableName":"file_meta","operation":"put","pk":"sha256:ab","payload":{"hash":"sha256:ab","ref_count":9,"deleted":"yes"},"stamp":{"deviceId":"d","opId":"af1c0e9a-8d2b-4c1e-9a7f-2b6d5e4c3a21","hlc":"h","clock":0}},{"tableName":"kv","operation":"patch","pk":"k","payload":[1,2],"stamp":{"deviceId":"d","opId":"bf1c0e9a-8d2b-4c1e-9a7f-2b6d5e4c3a21","hlc":"h","clock":0}}]}`,
		`{"ops":[{"tableName":"kv","operation":"put","pk":"k","payload":{"id":"k","_id":1,"workspace_id":"ws-2"},"stamp":{"deviceId":" d ","opId":"cf1c0e9a-8d2b-4c1e-9a7f-2b6d5e4c3a21","hlc":"h","clock":9007199254740991}},{"tableName":"kv","operation":"put","pk":"k","payload":null,"stamp":{"deviceId":"d","opId":"df1c0e9a-8d2b-4c1e-9a7f-2b6d5e4c3a21","hlc":"h","clock":-1}}]}`,
	} {
		f.Add([]byte(seed))
	}
	h := newHarness(f)
	const ws = "ws-1"
	execs := 0
	f.Fuzz(func(t *testing.T, data []byte) {
		var batch PushBatch
		if json.Unmarshal(data, &batch) != nil {
			return
		}
		batch.Scope = Scope{WorkspaceID: ws}
		hh := *h
		hh.t = t
		before := hh.counter(ws)
		res, err := h.eng.Push(context.Background(), "alice", batch)
		after := hh.counter(ws)
		if err != nil {
			if after != before {
				t.Fatalf("refused batch (%v) moved the counter %d → %d", err, before, after)
			}
			return
		}
		if len(res.Results) != len(batch.Ops) {
			t.Fatalf("%d results for %d ops", len(res.Results), len(batch.Ops))
		}
		if res.ServerVersion != after {
			t.Fatalf("response version %d, counter %d", res.ServerVersion, after)
		}
		fresh := map[string]uint64{} // opId → version of ops this push logged
		for i, r := range res.Results {
			if r.OpID != batch.Ops[i].Stamp.OpID {
				t.Fatalf("result %d for op %q, want %q", i, r.OpID, batch.Ops[i].Stamp.OpID)
			}
			if !r.Success {
				if r.ErrorCode == "" || r.ServerVersion != 0 {
					t.Fatalf("failed result %d: %+v", i, r)
				}
				continue
			}
			if r.ServerVersion == 0 || r.ServerVersion > after {
				t.Fatalf("result %d version %d, counter %d", i, r.ServerVersion, after)
			}
			if r.Replayed {
				if r.ServerVersion > before {
					t.Fatalf("replay %d at new version %d", i, r.ServerVersion)
				}
				continue
			}
			if r.ServerVersion <= before {
				t.Fatalf("new op %d at old version %d", i, r.ServerVersion)
			}
			if v, ok := fresh[r.OpID]; ok && v != r.ServerVersion {
				t.Fatalf("op %s at versions %d and %d", r.OpID, v, r.ServerVersion)
			}
			fresh[r.OpID] = r.ServerVersion
		}
		// Exactly one version per new op: rejected ops consumed none.
		if uint64(len(fresh)) != after-before {
			t.Fatalf("%d new ops, counter moved %d → %d", len(fresh), before, after)
		}
		// The log above `before` is exactly those ops at their versions.
		v := h.db.View()
		defer v.Release()
		it, err := v.NewIter(synclog.ChangeKey(ws, before+1), synclog.PrefixEnd(synclog.ChangePrefix(ws)))
		if err != nil {
			t.Fatal(err)
		}
		defer it.Close()
		next := before + 1
		for ok := it.First(); ok; ok = it.Next() {
			r := synclog.ReadKey(it.Key())
			r.Str()
			ver := r.U64()
			var rec synclog.ChangeRecord
			if err := synclog.Decode(it.Key(), it.Value(), &rec); err != nil {
				t.Fatal(err)
			}
			if ver != next || fresh[rec.OpID] != ver {
				t.Fatalf("log entry v%d (want v%d) holds op %s acknowledged at v%d", ver, next, rec.OpID, fresh[rec.OpID])
			}
			next++
		}
		if next != after+1 {
			t.Fatalf("log ends at v%d, counter %d", next-1, after)
		}
		// Now and then, the whole log: counter == number of entries.
		if execs++; execs%500 == 0 {
			if n := hh.logCount(ws); uint64(n) != after {
				t.Fatalf("%d log entries, counter %d", n, after)
			}
		}
	})
}
