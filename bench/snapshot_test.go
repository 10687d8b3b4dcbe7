package bench

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// snapshotPageJSON is a page as syncd writes it (token first), with n
// rows of ~1 KiB.
func snapshotPageJSON(n int, next string) []byte {
	tok := "null"
	if next != "" {
		tok = `"` + next + `"`
	}
	b := []byte(`{"nextPageToken":` + tok + `,"workspaceId":"ws-1","snapshotId":"0123456789abcdef0123456789abcdef","highWatermark":42,"items":[`)
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		pk := snapshotPK("abcd1234", i)
		b = fmt.Appendf(b, `{"kind":"row","tableName":"messages","pk":%q,"payload":{"id":%q,"clock":1,"hlc":"h","thread_id":"t","deleted":false,"index":%d,"data":{"content":%q}},"revision":{"clock":1,"hlc":"h","opId":"o"}}`,
			pk, pk, i, strings.Repeat("lorem \"ipsum\" dolor ", 50))
	}
	return append(b, "]}"...)
}

type scannedItem struct {
	table, pk, kind string
	payload         bool
}

func scanAll(b []byte, pageSize int) (pageScan, []scannedItem, error) {
	var p pageScan
	var items []scannedItem
	err := p.scan(b, pageSize, func(table, pk, kind []byte, hasPayload bool) {
		items = append(items, scannedItem{string(table), string(pk), string(kind), hasPayload})
	})
	return p, items, err
}

func TestPageScan_MatchesEncodingJSON(t *testing.T) {
	for _, b := range [][]byte{
		snapshotPageJSON(3, "tok_-1"),
		snapshotPageJSON(0, ""),
		[]byte(` { "items" : [ { "pk" : "a\"b\\", "kind":"tombstone" , "tableName":"t\u00e9", "revision":{"x":[1,{"y":"]"}]}, "serverDeletedAt": 5 } ] , "highWatermark": 7, "snapshotId":"s", "workspaceId":"w", "nextPageToken": null, "extra": [true,false,null,-1.5e3] } `),
	} {
		p, items, err := scanAll(b, 1000)
		if err != nil {
			t.Fatalf("%v: %s", err, b)
		}
		checkAgainstJSON(t, b, p, items)
	}
}

func checkAgainstJSON(t *testing.T, b []byte, p pageScan, items []scannedItem) {
	t.Helper()
	// The reference: encoding/json, member by member (case-sensitive keys,
	// the last of duplicate keys wins, as in the scanner).
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		t.Fatalf("scanner accepted what encoding/json refuses (%v): %s", err, b)
	}
	var ws, id string
	var hw uint64
	var next *string
	var refItems []map[string]json.RawMessage
	for _, f := range []struct {
		key string
		dst any
	}{{"workspaceId", &ws}, {"snapshotId", &id}, {"highWatermark", &hw}, {"nextPageToken", &next}, {"items", &refItems}} {
		if err := json.Unmarshal(top[f.key], f.dst); err != nil {
			t.Fatalf("scanner accepted a page whose %s encoding/json refuses (%v): %s", f.key, err, b)
		}
	}
	if string(p.ws) != ws || string(p.id) != id || p.hw != hw {
		t.Fatalf("header %q %q %d, encoding/json %q %q %d", p.ws, p.id, p.hw, ws, id, hw)
	}
	if (next == nil) != (p.next == nil) || next != nil && *next != string(p.next) {
		t.Fatalf("token %q, encoding/json %v", p.next, next)
	}
	if len(items) != len(refItems) {
		t.Fatalf("%d items, encoding/json %d", len(items), len(refItems))
	}
	for i, it := range refItems {
		var kind, table, pk string
		for _, f := range []struct {
			key string
			dst *string
		}{{"kind", &kind}, {"tableName", &table}, {"pk", &pk}} {
			if err := json.Unmarshal(it[f.key], f.dst); err != nil {
				t.Fatalf("item %d: scanner accepted a %s encoding/json refuses (%v): %s", i, f.key, err, b)
			}
		}
		payload := it["payload"]
		got := items[i]
		if got.kind != kind || got.table != table || got.pk != pk || got.payload != (len(payload) > 0 && payload[0] == '{') {
			t.Fatalf("item %d %+v, encoding/json %q %q %q %s", i, got, kind, table, pk, payload)
		}
	}
}

// FuzzPageScan: the harness's snapshot page scanner never panics, and
// what it accepts from valid JSON is what encoding/json reads.
func FuzzPageScan(f *testing.F) {
	f.Add(snapshotPageJSON(2, "abc"))
	f.Add(snapshotPageJSON(0, ""))
	f.Add([]byte(`{"items":[{"pk":"a\"b","kind":"row","tableName":"t","payload":{"a":[1,"\\"]}}],"highWatermark":1,"snapshotId":"s","workspaceId":"w","nextPageToken":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, items, err := scanAll(b, 1000)
		if err != nil || !json.Valid(b) {
			return
		}
		checkAgainstJSON(t, b, p, items)
	})
}

func TestSnapshotChecker_Order(t *testing.T) {
	c := newSnapshotChecker("ws", "abcd1234", 3)
	for _, i := range []int{0, 2, 1} {
		c.item([]byte("messages"), []byte(snapshotPK("abcd1234", i)), []byte("row"), true)
	}
	if c.finish() == "" {
		t.Fatal("out-of-order items passed")
	}
	c = newSnapshotChecker("ws", "abcd1234", 3)
	for _, i := range []int{0, 1, 1} {
		c.item([]byte("messages"), []byte(snapshotPK("abcd1234", i)), []byte("row"), true)
	}
	if c.finish() == "" {
		t.Fatal("a duplicate passed")
	}
	c = newSnapshotChecker("ws", "abcd1234", 3)
	for _, i := range []int{0, 1} {
		c.item([]byte("messages"), []byte(snapshotPK("abcd1234", i)), []byte("row"), true)
	}
	if c.finish() == "" {
		t.Fatal("a missing row passed")
	}
	c = newSnapshotChecker("ws", "abcd1234", 3)
	for _, i := range []int{0, 1, 2} {
		c.item([]byte("messages"), []byte(snapshotPK("abcd1234", i)), []byte("row"), true)
	}
	if p := c.finish(); p != "" {
		t.Fatal(p)
	}
}

// BenchmarkPageScan is the client's cost per page of 1,000 ~1 KiB rows.
func BenchmarkPageScan(b *testing.B) {
	page := snapshotPageJSON(1000, "tok")
	b.SetBytes(int64(len(page)))
	c := newSnapshotChecker("ws-1", "abcd1234", 1000)
	var p pageScan
	for b.Loop() {
		c.prevTable = nil
		if err := p.scan(page, 1000, c.item); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/row")
}
