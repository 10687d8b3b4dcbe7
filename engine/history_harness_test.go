package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/syncerr"
)

// snapshotChain pages a whole snapshot chain for user and checks the
// invariants every chain must keep (sync-contract §3.7 rules 4, 8, 10):
// one snapshotId and watermark, ≤ pageSize items a page, a token on every
// page but the last, strictly ordered, no key twice.
func (h *harness) snapshotChain(ws, user string, pageSize int64, tables ...string) ([]SnapshotItem, uint64, int) {
	h.t.Helper()
	var all []SnapshotItem
	token, id := "", ""
	var hw uint64
	pages := 0
	for {
		res, err := h.eng.Snapshot(context.Background(), user, SnapshotRequest{Scope: Scope{WorkspaceID: ws}, PageSize: pageSize, PageToken: token, Tables: tables})
		if err != nil {
			h.t.Fatalf("snapshot page %d: %v", pages+1, err)
		}
		pages++
		if pages == 1 {
			id, hw = res.SnapshotID, res.HighWatermark
		} else if res.SnapshotID != id || res.HighWatermark != hw {
			h.t.Fatalf("page %d: snapshot %s@%d, want %s@%d", pages, res.SnapshotID, res.HighWatermark, id, hw)
		}
		if res.WorkspaceID != ws || int64(len(res.Items)) > pageSize {
			h.t.Fatalf("page %d: workspace %q, %d items (pageSize %d)", pages, res.WorkspaceID, len(res.Items), pageSize)
		}
		all = append(all, res.Items...)
		if res.NextPageToken == nil {
			break
		}
		token = *res.NextPageToken
		if len(token) > MaxSnapshotToken {
			h.t.Fatalf("token of %d characters", len(token))
		}
	}
	for i := 1; i < len(all); i++ {
		a, b := itemKey(all[i-1]), itemKey(all[i])
		if a >= b {
			h.t.Fatalf("items %d,%d out of order: %q then %q", i-1, i, a, b)
		}
		if all[i-1].TableName == all[i].TableName && all[i-1].PK == all[i].PK {
			h.t.Fatalf("key %s/%s twice", all[i].TableName, all[i].PK)
		}
	}
	return all, hw, pages
}

func itemKey(it SnapshotItem) string { return it.TableName + "\x00" + it.PK + "\x00" + it.Kind }

// itemStrings renders items as "table:pk:kind".
func itemStrings(items []SnapshotItem) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.TableName + ":" + it.PK + ":" + it.Kind
	}
	return out
}

// snapErr runs one snapshot request and returns its error.
func (h *harness) snapErr(user string, req SnapshotRequest) *syncerr.Error {
	h.t.Helper()
	_, err := h.eng.Snapshot(context.Background(), user, req)
	if err == nil {
		return nil
	}
	se, ok := syncerr.As(err)
	if !ok {
		h.t.Fatalf("snapshot: non-syncerr %v", err)
	}
	return se
}

func wantStatus(t testing.TB, err error, status int) {
	t.Helper()
	se, ok := syncerr.As(err)
	if !ok || se.Status != status {
		t.Fatalf("error %v, want status %d", err, status)
	}
}

// setCursor records device dev of user at v.
func (h *harness) setCursor(ws, user, dev string, v int64) {
	h.t.Helper()
	if err := h.eng.UpdateCursor(context.Background(), user, CursorRequest{Scope: Scope{WorkspaceID: ws}, DeviceID: dev, Version: v}); err != nil {
		h.t.Fatalf("cursor %s=%d: %v", dev, v, err)
	}
}

func (h *harness) cursorExists(ws, dev string) bool {
	h.t.Helper()
	v := h.db.View()
	defer v.Release()
	raw, err := v.Get(synclog.CursorKey(ws, dev))
	if err != nil {
		h.t.Fatal(err)
	}
	return raw != nil
}

func (h *harness) gcLog(ws string, retention int64) GCResult {
	h.t.Helper()
	res, err := h.eng.GCChangeLog(context.Background(), "alice", GCRequest{Scope: Scope{WorkspaceID: ws}, RetentionSeconds: retention})
	if err != nil {
		h.t.Fatalf("gc-change-log: %v", err)
	}
	return res
}

func (h *harness) gcTombs(ws string, retention int64) GCResult {
	h.t.Helper()
	res, err := h.eng.GCTombstones(context.Background(), "alice", GCRequest{Scope: Scope{WorkspaceID: ws}, RetentionSeconds: retention})
	if err != nil {
		h.t.Fatalf("gc-tombstones: %v", err)
	}
	return res
}

func (h *harness) floor(ws string) uint64 {
	h.t.Helper()
	v := h.db.View()
	defer v.Release()
	ctr, err := readCounter(v, ws)
	if err != nil {
		h.t.Fatal(err)
	}
	return ctr.Floor
}

// clientState is what a client holds after installing a snapshot and
// applying pulls with the client's resolution rules (sync-contract §4.6):
// one entry per key, the greatest revision winning, a delete winning a tie.
type clientState map[string]SnapshotItem

func revLess(a, b Revision) bool {
	if a.Clock != b.Clock {
		return a.Clock < b.Clock
	}
	if a.HLC != b.HLC {
		return a.HLC < b.HLC
	}
	return a.OpID < b.OpID
}

func (c clientState) install(items []SnapshotItem) {
	for _, it := range items {
		c[it.TableName+"\x00"+it.PK] = it
	}
}

// apply applies one pulled change if it beats what the client holds.
func (c clientState) apply(ch SyncChange) {
	key := ch.TableName + "\x00" + ch.PK
	rev := Revision{Clock: ch.Stamp.Clock, HLC: ch.Stamp.HLC, OpID: ch.Stamp.OpID}
	cur, ok := c[key]
	if ok && !revLess(cur.Revision, rev) {
		return
	}
	if ch.Op == "delete" {
		c[key] = SnapshotItem{Kind: "tombstone", TableName: ch.TableName, PK: ch.PK, Revision: rev}
		return
	}
	c[key] = SnapshotItem{Kind: "row", TableName: ch.TableName, PK: ch.PK, Revision: rev,
		Payload: snapshotPayload(ch.Payload, PKField(ch.TableName), ch.PK, rev.Clock, rev.HLC)}
}

// digest hashes a state: every key's kind, revision and (for rows) the
// payload, in key order. serverDeletedAt is left out (a pulled delete
// carries none).
func digestItems(items map[string]SnapshotItem) string {
	keys := make([]string, 0, len(items))
	for k := range items {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	sum := sha256.New()
	for _, k := range keys {
		it := items[k]
		fmt.Fprintf(sum, "%q|%s|%d|%q|%q|%s\n", k, it.Kind, it.Revision.Clock, it.Revision.HLC, it.Revision.OpID, it.Payload)
	}
	return hex.EncodeToString(sum.Sum(nil))
}

// serverDigest is the digest of ws's materialized state as user sees it,
// read from the current durable view.
func (h *harness) serverDigest(ws, user string) (string, int) {
	h.t.Helper()
	v := h.db.View()
	defer v.Release()
	prefix := synclog.RowPrefix(ws, "")
	it, err := v.NewIter(prefix, synclog.PrefixEnd(prefix))
	if err != nil {
		h.t.Fatal(err)
	}
	defer it.Close()
	items := map[string]SnapshotItem{}
	for ok := it.First(); ok; ok = it.Next() {
		id := string(it.Key()[len(prefix):])
		table, pk, _ := strings.Cut(id, "\x00")
		var row synclog.RowRecord
		if err := synclog.Decode(it.Key(), it.Value(), &row); err != nil {
			h.t.Fatal(err)
		}
		if item, ok := snapshotItem(table, pk, &row, user); ok {
			item.ServerDeletedAt = nil
			items[id] = item
		}
	}
	return digestItems(items), len(items)
}

func (c clientState) digest() string {
	m := make(map[string]SnapshotItem, len(c))
	for k, it := range c {
		it.ServerDeletedAt = nil
		m[k] = it
	}
	return digestItems(m)
}

// age moves the clock past a retention window of sec seconds.
func (h *harness) age(sec int64) { h.clock.add(time.Duration(sec+1) * time.Second) }
