package engine

// Canonical storage scenarios of sync-contract §5 (78–81) and §3.9's
// validation.

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/or3/syncd/intents"
	synclog "github.com/or3/syncd/log"
)

func fileMeta(hash string, size int, storageID string) map[string]any {
	return map[string]any{"hash": hash, "name": "f", "mime_type": "image/png", "kind": "image", "size_bytes": size,
		"storage_id": storageID, "deleted": false, "created_at": 1, "updated_at": 1, "clock": 1}
}

func i64(n int64) *int64 { return &n }

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func (h *harness) canon(req CanonicalRequest) CanonicalPage {
	h.t.Helper()
	if req.Scope.WorkspaceID == "" {
		req.Scope.WorkspaceID = "ws-1"
	}
	page, err := h.eng.CanonicalStorage(context.Background(), "alice", req)
	if err != nil {
		h.t.Fatalf("canonical %+v: %v", req, err)
	}
	return page
}

// canonAll pages a whole kind with limit 1 and renders every item.
func (h *harness) canonAll(req CanonicalRequest) []string {
	h.t.Helper()
	req.Limit = i64(1)
	var out []string
	for {
		page := h.canon(req)
		if len(page.Items) > 1 {
			h.t.Fatalf("page of %d items", len(page.Items))
		}
		for _, it := range page.Items {
			switch it.Kind {
			case "metadata":
				out = append(out, fmt.Sprintf("%s:%d:%s", it.Hash, *it.SizeBytes, it.StorageID))
			case "reference":
				out = append(out, it.SourceTable+":"+it.SourceID+":"+it.Hash)
			default:
				out = append(out, fmt.Sprintf("%s:%s:%d:%d", it.ReservationID, it.Hash, *it.SizeBytes, *it.ExpiresAt))
			}
		}
		if !page.HasMore {
			if page.NextCursor != "" {
				h.t.Fatal("nextCursor without hasMore")
			}
			return out
		}
		req.Cursor = page.NextCursor
	}
}

// Scenario 78.
func TestCanonical_LiveMetadataPaging(t *testing.T) {
	h := newHarness(t)
	for _, f := range []struct {
		hash string
		size int
	}{{"sha256:AAAA", 1}, {"sha256:bbbb", 2}, {"sha256:cccc", 3}} {
		h.push("ws-1", "alice", put("file_meta", f.hash, 1, "1:0:dA", newOpID(), fileMeta(f.hash, f.size, "obj-"+f.hash[7:])))
	}
	h.push("ws-1", "alice", del("file_meta", "sha256:cccc", 2, "2:0:dA", newOpID()))
	got := h.canonAll(CanonicalRequest{Kind: KindLiveMetadata})
	if fmt.Sprint(got) != "[aaaa:1:obj-AAAA bbbb:2:obj-bbbb]" {
		t.Fatalf("live metadata %v", got)
	}
	// Scenario 32: a losing delete leaves the row live after the log is collected.
	h.push("ws-1", "alice", del("file_meta", "sha256:AAAA", 0, "0:0:dA", newOpID()))
	h.collectHistory("ws-1", 5)
	got = h.canonAll(CanonicalRequest{Kind: KindLiveMetadata, Hash: "SHA256:aaaa "})
	if fmt.Sprint(got) != "[aaaa:1:obj-AAAA]" {
		t.Fatalf("filtered %v", got)
	}
	page := h.canon(CanonicalRequest{Kind: KindLiveMetadata, Hash: "sha256:aaaa"})
	if it := page.Items[0]; it.UpdatedAt == nil || *it.UpdatedAt != h.clock.now().Add(-3601*time.Second).Unix() {
		t.Fatalf("updatedAt %+v", it)
	}
}

// Scenario 79.
func TestCanonical_ReferenceEdges(t *testing.T) {
	h := newHarness(t)
	h.push("ws-1", "alice",
		put("messages", "message-1", 1, "1:0:dA", newOpID(), map[string]any{"id": "message-1", "file_hashes": `["sha256:C","b","sha256:a","b",""]`}),
		put("posts", "post-1", 1, "1:0:dA", newOpID(), map[string]any{"id": "post-1", "file_hashes": `["a"]`}),
		put("posts", "post-0", 1, "1:0:dA", newOpID(), map[string]any{"id": "post-0", "file_hashes": `["z"]`}),
		put("messages", "message-2", 1, "1:0:dA", newOpID(), map[string]any{"id": "message-2", "file_hashes": "not json"}))
	h.push("ws-1", "alice", del("posts", "post-0", 2, "2:0:dA", newOpID()))
	got := h.canonAll(CanonicalRequest{Kind: KindReferenceEdges})
	if fmt.Sprint(got) != "[messages:message-1:a messages:message-1:b messages:message-1:c posts:post-1:a]" {
		t.Fatalf("edges %v", got)
	}
	// Bigger pages give the same edges.
	page := h.canon(CanonicalRequest{Kind: KindReferenceEdges, Limit: i64(2)})
	if len(page.Items) != 2 || !page.HasMore {
		t.Fatalf("page %+v", page)
	}
	page = h.canon(CanonicalRequest{Kind: KindReferenceEdges, Limit: i64(2), Cursor: page.NextCursor})
	if len(page.Items) != 2 || page.Items[1].SourceTable != "posts" || page.HasMore {
		t.Fatalf("page 2 %+v", page)
	}
	if got := h.canonAll(CanonicalRequest{Kind: KindReferenceEdges, Hash: "A"}); fmt.Sprint(got) != "[messages:message-1:a posts:post-1:a]" {
		t.Fatalf("filtered edges %v", got)
	}
}

// Scenario 80 and the rest of §3.9's validation: each refusal is a 400
// that changes nothing.
func TestCanonical_CursorBindingAndBadInput(t *testing.T) {
	h := newHarness(t)
	for _, hash := range []string{"sha256:01", "sha256:02", "sha256:03"} {
		h.push("ws-1", "alice", put("file_meta", hash, 1, "1:0:dA", newOpID(), fileMeta(hash, 1, "o")))
	}
	page := h.canon(CanonicalRequest{Kind: KindLiveMetadata, Limit: i64(1)})
	cur := page.NextCursor
	hashed := h.canon(CanonicalRequest{Kind: KindLiveMetadata, Limit: i64(1), Hash: "01"})
	if hashed.HasMore {
		t.Fatalf("filtered page %+v", hashed)
	}
	raw := []byte(`{"v":1,"k":"live_metadata","a":"x","zz":1}`)
	cases := []struct {
		name string
		req  CanonicalRequest
		msg  string
	}{
		{"other kind", CanonicalRequest{Kind: KindReferenceEdges, Cursor: cur}, "Invalid canonical storage cursor"},
		{"other hash", CanonicalRequest{Kind: KindLiveMetadata, Cursor: cur, Hash: "02"}, "Invalid canonical storage cursor"},
		{"garbage cursor", CanonicalRequest{Kind: KindLiveMetadata, Cursor: "%%%"}, "Invalid canonical storage cursor"},
		{"oversized cursor", CanonicalRequest{Kind: KindLiveMetadata, Cursor: strings.Repeat("A", MaxCanonicalCursor+1)}, "Invalid canonical storage cursor"},
		{"unknown cursor field", CanonicalRequest{Kind: KindLiveMetadata, Cursor: b64(raw)}, "Invalid canonical storage cursor"},
		{"limit 501", CanonicalRequest{Kind: KindLiveMetadata, Limit: i64(501)}, "between 1 and 500"},
		{"limit 0", CanonicalRequest{Kind: KindLiveMetadata, Limit: i64(0)}, "between 1 and 500"},
		{"limit -1", CanonicalRequest{Kind: KindLiveMetadata, Limit: i64(-1)}, "between 1 and 500"},
		{"now -1", CanonicalRequest{Kind: KindActiveReservations, Now: i64(-1)}, "time"},
		{"empty hash", CanonicalRequest{Kind: KindLiveMetadata, Hash: " sha256: ", HashSet: true}, "hash"},
		{"long hash", CanonicalRequest{Kind: KindLiveMetadata, Hash: strings.Repeat("a", 257)}, "hash"},
		{"bad kind", CanonicalRequest{Kind: "everything"}, "kind"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.req.Scope.WorkspaceID = "ws-1"
			_, err := h.eng.CanonicalStorage(context.Background(), "alice", c.req)
			wantStatus(t, err, http.StatusBadRequest)
			if !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("message %q, want %q", err, c.msg)
			}
		})
	}
	// A 256-character hash is fine; the good cursor still works; viewers read.
	h.canon(CanonicalRequest{Kind: KindLiveMetadata, Hash: strings.Repeat("a", 256)})
	if p := h.canon(CanonicalRequest{Kind: KindLiveMetadata, Limit: i64(1), Cursor: cur}); p.Items[0].Hash != "02" {
		t.Fatalf("after bad input %+v", p)
	}
	if _, err := h.eng.CanonicalStorage(context.Background(), "victor", CanonicalRequest{Scope: Scope{WorkspaceID: "ws-1"}, Kind: KindLiveMetadata}); err != nil {
		t.Fatalf("viewer: %v", err)
	}
	_, err := h.eng.CanonicalStorage(context.Background(), "mallory", CanonicalRequest{Scope: Scope{WorkspaceID: "ws-1"}, Kind: KindLiveMetadata})
	wantStatus(t, err, http.StatusForbidden)
}

// A file size that is not a safe non-negative integer is a 500 "Invalid
// canonical file size".
func TestCanonical_InvalidFileSize(t *testing.T) {
	h := newHarness(t)
	h.push("ws-1", "alice", put("file_meta", "sha256:01", 1, "1:0:dA", newOpID(), fileMeta("sha256:01", -5, "o")))
	_, err := h.eng.CanonicalStorage(context.Background(), "alice", CanonicalRequest{Scope: Scope{WorkspaceID: "ws-1"}, Kind: KindLiveMetadata})
	wantStatus(t, err, http.StatusInternalServerError)
}

// intentSource adapts the intents store for the engine (the daemon's
// adapter, repeated here).
type intentSource struct{ s *intents.Store }

func (a intentSource) ActiveReservations(r synclog.Reader, ws, hash, after string, now int64, limit int) ([]Reservation, bool, error) {
	res, more, err := a.s.ActiveReservations(r, ws, hash, after, now, limit)
	out := make([]Reservation, len(res))
	for i, x := range res {
		out[i] = Reservation{ID: x.ID, Hash: x.Hash, SizeBytes: x.SizeBytes, ExpiresAt: x.ExpiresAt}
	}
	return out, more, err
}

// Scenario 81.
func TestCanonical_ActiveReservations(t *testing.T) {
	h := newHarness(t)
	h.clock.set(time.Unix(50, 0))
	store, err := intents.New(intents.Config{DB: h.db, Roles: h.roles, Now: h.clock.now})
	if err != nil {
		t.Fatal(err)
	}
	h.eng.SetReservations(intentSource{store})
	reserve := func(id, hash string, exp int64) {
		t.Helper()
		if _, err := store.Reserve(context.Background(), "alice", intents.ReserveRequest{IntentID: id, WorkspaceID: "ws-1", Hash: hash, MimeType: "image/png", SizeBytes: 12, ExpiresAt: &exp}); err != nil {
			t.Fatal(err)
		}
	}
	reserve("i-active", "sha256:AA", 200)
	reserve("i-expired", "sha256:bb", 99)
	reserve("i-cancelled", "sha256:cc", 200)
	reserve("i-dup", "sha256:aa", 200) // same hash: reserves nothing
	reserve("i-other", "sha256:dd", 300)
	if _, err := store.Cancel(context.Background(), "alice", intents.CancelRequest{WorkspaceID: "ws-1", IntentID: "i-cancelled"}); err != nil {
		t.Fatal(err)
	}
	got := h.canonAll(CanonicalRequest{Kind: KindActiveReservations, Now: i64(100)})
	if fmt.Sprint(got) != "[i-active:aa:12:200 i-other:dd:12:300]" {
		t.Fatalf("reservations %v", got)
	}
	if got := h.canonAll(CanonicalRequest{Kind: KindActiveReservations, Now: i64(100), Hash: "AA"}); fmt.Sprint(got) != "[i-active:aa:12:200]" {
		t.Fatalf("filtered %v", got)
	}
	if got := h.canonAll(CanonicalRequest{Kind: KindActiveReservations, Now: i64(250)}); fmt.Sprint(got) != "[i-other:dd:12:300]" {
		t.Fatalf("at 250: %v", got)
	}
}
