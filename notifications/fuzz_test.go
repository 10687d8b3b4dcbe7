package notifications

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/or3/syncd/engine"
	"github.com/or3/syncd/syncerr"
)

// fakeSync accepts members "u" of workspace "w" and checks each write is a
// valid JSON object owned by its recipient.
type fakeSync struct{ t *testing.T }

func (f fakeSync) Authorize(ctx context.Context, ws, user string, write bool) error {
	if ws != "w" || user != "u" {
		return syncerr.Forbidden("not a member")
	}
	return nil
}

func (f fakeSync) ServerWrite(ctx context.Context, op engine.ServerOp) (engine.OpResult, error) {
	var m map[string]any
	if err := json.Unmarshal(op.Payload, &m); err != nil || m["user_id"] != op.Owner || m["id"] != op.PK || op.Table != "notifications" {
		f.t.Fatalf("bad write %+v: %v", op, err)
	}
	return engine.OpResult{Success: true}, nil
}

// FuzzCall: no argument array panics, answers 500, or writes a malformed
// row.
func FuzzCall(f *testing.F) {
	for _, s := range []string{
		`[{"workspace_id":"w","user_id":"u","type":"t","title":"x","actions":[{"id":"a"}]}]`,
		`["w","u","t","j","m"]`, `["w","u","t","j"]`, `["w","u","t","j","boom"]`, `[]`, `{}`, `[null]`,
		`[{"workspace_id":"w","user_id":"u","type":"t","title":"x","body":"\u00e9","actions":null}]`,
	} {
		for _, m := range []string{"create", "emitBackgroundJobComplete", "emitBackgroundJobError"} {
			f.Add(m, s)
		}
	}
	f.Fuzz(func(t *testing.T, method, args string) {
		s, _ := New(fakeSync{t}, Config{})
		_, err := s.Call(context.Background(), method, json.RawMessage(args))
		if err != nil {
			if se, ok := syncerr.As(err); !ok || se.Status < 400 || se.Status >= 500 {
				t.Fatalf("%s(%s): %v", method, args, err)
			}
		}
	})
}
