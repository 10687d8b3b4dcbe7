package engine

import "testing"

func TestPush_MonotonicVersions(t *testing.T) {
	h := newHarness(t)
	res := h.push("ws-1", "alice", put("threads", "t1", 1, "h1", newOpID(), thread("t1", "a")), put("threads", "t2", 1, "h1", newOpID(), thread("t2", "b")))
	if res.Results[0].ServerVersion != 1 || res.Results[1].ServerVersion != 2 || res.ServerVersion != 2 {
		t.Fatalf("versions: %+v", res)
	}
	if h.logCount("ws-1") != 2 {
		t.Fatalf("log rows %d", h.logCount("ws-1"))
	}
	p := h.pull("ws-1", "alice", 0, 10)
	if len(p.Changes) != 2 || p.NextCursor != 2 || p.HasMore {
		t.Fatalf("pull: %+v", p)
	}
}
