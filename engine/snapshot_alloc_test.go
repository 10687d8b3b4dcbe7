package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// The JSON path allocates per page, not per row: a 500-row page whose
// payloads all need the pk/clock/hlc splice costs a bounded number of
// allocations (session lookup, iterator, token), whatever its size.
func TestSnapshotJSONParts_NoAllocationPerRow(t *testing.T) {
	h := newHarness(t)
	const rows = 1000
	body := strings.Repeat("lorem ipsum ", 80)
	for i := 0; i < rows; i += 100 {
		var ops []PendingOp
		for j := i; j < i+100; j++ {
			pk := fmt.Sprintf("m-%05d", j)
			// No hlc in the payload: every row takes the splice path.
			ops = append(ops, put("messages", pk, 1, fmt.Sprintf("%d:0:dA", j), newOpID(),
				map[string]any{"id": pk, "clock": 1, "thread_id": "t", "data": map[string]any{"content": body}}))
		}
		h.push("ws-1", "alice", ops...)
	}
	first, err := h.eng.Snapshot(context.Background(), "alice", SnapshotRequest{Scope: Scope{WorkspaceID: "ws-1"}, PageSize: 1})
	if err != nil || first.NextPageToken == nil {
		t.Fatalf("%v %v", err, first.NextPageToken)
	}
	req := SnapshotRequest{Scope: Scope{WorkspaceID: "ws-1"}, PageSize: 500, PageToken: *first.NextPageToken}
	head, items := make([]byte, 0, 4096), make([]byte, 0, 2<<20)
	allocs := testing.AllocsPerRun(20, func() {
		var err error
		head, items, err = h.eng.SnapshotJSONParts(context.Background(), "alice", req, head[:0], items[:0])
		if err != nil {
			t.Fatal(err)
		}
	})
	if n := strings.Count(string(items), `"kind":"row"`); n != 500 {
		t.Fatalf("%d rows in the page", n)
	}
	if allocs > 64 && !snapshotAllocRace {
		t.Fatalf("%.0f allocations for a page of 500 rows", allocs)
	}
	t.Logf("%.0f allocations per 500-row page", allocs)
}
