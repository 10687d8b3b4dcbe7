package api_test

import (
	"context"
	"testing"

	"github.com/or3/syncd/internal/crashtest"
)

func TestSmoke_PushPull(t *testing.T) {
	e := startEnv(t, envOpts{})
	ctx := context.Background()
	alice := e.user("alice")
	ws := e.workspace(alice)
	res, err := e.c.Push(ctx, alice, ws, []crashtest.Op{crashtest.KVPut("d1", "k1", 1, "v")})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Results) != 1 || !res.Results[0].Success || res.ServerVersion != 1 {
		t.Fatalf("push: %+v", res)
	}
	all, err := e.c.PullAll(ctx, alice, ws)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || all[0].PK != "k1" {
		t.Fatalf("pull: %+v", all)
	}
}
