package engine

import "testing"

// TestPull_CursorFromAnotherRegion: a cursor beyond this region's counter
// was never issued here (it came from another region, whose counter is
// further along): pull answers requiresSnapshot, never an empty window that
// would silently skip what this region has beyond the client's state.
func TestPull_CursorFromAnotherRegion(t *testing.T) {
	h := newHarness(t)
	h.push("ws-1", "alice", put("threads", "a", 1, "1:0:dA", newOpID(), thread("a", "x")))
	for _, c := range []struct {
		cursor int64
		snap   bool
	}{{0, false}, {1, false}, {2, true}, {1 << 40, true}} {
		res := h.pull("ws-1", "alice", c.cursor, 10)
		if res.RequiresSnapshot != c.snap || (c.snap && len(res.Changes) != 0) {
			t.Errorf("cursor %d: %+v, want requiresSnapshot %v", c.cursor, res, c.snap)
		}
	}
}
