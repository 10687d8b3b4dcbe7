package engine

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"math"
	"slices"
	"strings"

	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/syncerr"
)

// Canonical storage limits (sync-contract §3.9).
const (
	MaxCanonicalLimit     = 500
	DefaultCanonicalLimit = 100
	MaxCanonicalCursor    = 2048
	maxCanonicalHashRaw   = 256
	// canonicalExamineSlack bounds the rows a page examines beyond its
	// items (deleted rows are skipped).
	canonicalExamineSlack = 4096
)

// Canonical storage kinds.
const (
	KindLiveMetadata       = "live_metadata"
	KindReferenceEdges     = "reference_edges"
	KindActiveReservations = "active_reservations"
)

// CanonicalRequest is the canonical-storage body. Limit and Now are nil
// when absent.
type CanonicalRequest struct {
	Scope  Scope  `json:"scope"`
	Kind   string `json:"kind"`
	Limit  *int64 `json:"limit,omitempty"`
	Cursor string `json:"cursor,omitempty"`
	Hash   string `json:"hash,omitempty"`
	// HashSet says a hash filter was supplied (an empty one is a 400).
	HashSet bool   `json:"-"`
	Now     *int64 `json:"now,omitempty"`
}

// CanonicalItem is one item of a page: metadata, reference or reservation.
type CanonicalItem struct {
	Kind          string `json:"kind"`
	Hash          string `json:"hash"`
	SizeBytes     *int64 `json:"sizeBytes,omitempty"`
	StorageID     string `json:"storageId,omitempty"`
	UpdatedAt     *int64 `json:"updatedAt,omitempty"`
	SourceTable   string `json:"sourceTable,omitempty"`
	SourceID      string `json:"sourceId,omitempty"`
	ReservationID string `json:"reservationId,omitempty"`
	ExpiresAt     *int64 `json:"expiresAt,omitempty"`
}

// CanonicalPage answers a canonical-storage query.
type CanonicalPage struct {
	Items      []CanonicalItem `json:"items"`
	HasMore    bool            `json:"hasMore"`
	NextCursor string          `json:"nextCursor,omitempty"`
}

// Reservation is one active upload reservation, as the intents module
// reports it.
type Reservation struct {
	ID        string
	Hash      string // normalized
	SizeBytes int64  // reserved bytes
	ExpiresAt int64  // epoch seconds
}

// Reservations lists a workspace's active reservations for the
// active_reservations pages. The intents module implements it (the
// daemon adapts it); it reads from r, the same durable view as the page.
type Reservations interface {
	// ActiveReservations returns the reservations of ws with id > afterID,
	// ordered by id, that are active at nowSec with reserved bytes > 0 and
	// match hash when hash is not "": at most limit, and whether more
	// exist.
	ActiveReservations(r synclog.Reader, ws, hash, afterID string, nowSec int64, limit int) ([]Reservation, bool, error)
}

// SetReservations installs the reservations source (the daemon wires the
// intents module here after both exist).
func (e *Engine) SetReservations(r Reservations) { e.reservations = r }

// NormalizeHash is the canonical form of a content hash: a sha256: or md5:
// prefix stripped (any case), trimmed, lowercased.
func NormalizeHash(h string) string {
	s := strings.TrimSpace(h)
	ls := strings.ToLower(s)
	switch {
	case strings.HasPrefix(ls, "sha256:"):
		s = s[len("sha256:"):]
	case strings.HasPrefix(ls, "md5:"):
		s = s[len("md5:"):]
	}
	return strings.ToLower(strings.TrimSpace(s))
}

// canonCursor is a decoded canonical-storage cursor, bound to the kind and
// the normalized hash filter.
type canonCursor struct {
	V     int    `json:"v"`
	Kind  string `json:"k"`
	Hash  string `json:"h,omitempty"`
	Table string `json:"t,omitempty"`
	After string `json:"a"`           // last pk (or intent id) done
	Edge  string `json:"e,omitempty"` // last hash emitted inside row After
	InRow bool   `json:"r,omitempty"` // row After is only partly emitted
}

func encodeCanonCursor(c canonCursor) string {
	c.V = 1
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCanonCursor parses a cursor and checks its binding.
func decodeCanonCursor(s, kind, hash string) (canonCursor, error) {
	bad := syncerr.Validation("Invalid canonical storage cursor")
	var c canonCursor
	if len(s) > MaxCanonicalCursor {
		return c, bad
	}
	b, err := decodeOpaque(s)
	if err != nil {
		return c, bad
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if dec.Decode(&c) != nil || dec.More() || c.V != 1 || c.Kind != kind || c.Hash != hash {
		return c, bad
	}
	if kind == KindReferenceEdges && c.Table != "messages" && c.Table != "posts" {
		return c, bad
	}
	if kind != KindReferenceEdges && (c.Table != "" || c.Edge != "" || c.InRow) {
		return c, bad
	}
	return c, nil
}

// CanonicalStorage answers one page of canonical storage (sync-contract
// §3.9) from materialized state only — rows and intents, never the change
// log (read role).
func (e *Engine) CanonicalStorage(ctx context.Context, user string, req CanonicalRequest) (CanonicalPage, error) {
	ws, err := NormalizeScope(req.Scope)
	if err != nil {
		return CanonicalPage{}, err
	}
	switch req.Kind {
	case KindLiveMetadata, KindReferenceEdges, KindActiveReservations:
	default:
		return CanonicalPage{}, syncerr.Validation("kind must be live_metadata, reference_edges or active_reservations")
	}
	limit := DefaultCanonicalLimit
	if req.Limit != nil {
		if *req.Limit < 1 || *req.Limit > MaxCanonicalLimit {
			return CanonicalPage{}, syncerr.Validation("Canonical storage page size must be between 1 and %d", MaxCanonicalLimit)
		}
		limit = int(*req.Limit)
	}
	nowSec := e.cfg.Now().Unix()
	if req.Now != nil {
		if *req.Now < 0 || *req.Now > maxSafeInt {
			return CanonicalPage{}, syncerr.Validation("Invalid canonical storage time")
		}
		nowSec = *req.Now
	}
	var hash string
	if req.HashSet || req.Hash != "" {
		if len(req.Hash) > maxCanonicalHashRaw {
			return CanonicalPage{}, syncerr.Validation("Invalid canonical storage hash")
		}
		if hash = NormalizeHash(req.Hash); hash == "" {
			return CanonicalPage{}, syncerr.Validation("Invalid canonical storage hash")
		}
	}
	var cur *canonCursor
	if req.Cursor != "" {
		c, err := decodeCanonCursor(req.Cursor, req.Kind, hash)
		if err != nil {
			return CanonicalPage{}, err
		}
		cur = &c
	}
	if _, err := e.authorize(ctx, ws, user, false); err != nil {
		return CanonicalPage{}, err
	}
	v, err := e.view()
	if err != nil {
		return CanonicalPage{}, err
	}
	defer v.Release()
	var page CanonicalPage
	switch req.Kind {
	case KindLiveMetadata:
		page, err = liveMetadata(v, ws, hash, cur, limit)
	case KindReferenceEdges:
		page, err = referenceEdges(v, ws, hash, cur, limit)
	default:
		page, err = e.activeReservations(v, ws, hash, cur, nowSec, limit)
	}
	if err != nil {
		return CanonicalPage{}, readErr(err)
	}
	if page.Items == nil {
		page.Items = []CanonicalItem{}
	}
	return page, nil
}

// liveMetadata pages live file_meta rows in stored-hash order.
func liveMetadata(v *synclog.View, ws, hash string, cur *canonCursor, limit int) (CanonicalPage, error) {
	var page CanonicalPage
	prefix := synclog.RowPrefix(ws, "file_meta")
	lower := prefix
	if cur != nil {
		lower = append(synclog.RowKey(ws, "file_meta", cur.After), 0)
	}
	it, err := v.NewIter(lower, synclog.PrefixEnd(prefix))
	if err != nil {
		return page, err
	}
	defer it.Close()
	budget := limit + canonicalExamineSlack
	last := ""
	for ok := it.First(); ok; ok = it.Next() {
		pk := string(it.Key()[len(prefix):])
		if budget == 0 {
			page.HasMore = true
			break
		}
		budget--
		if hash != "" && NormalizeHash(pk) != hash {
			last = pk
			continue
		}
		var row synclog.RowRecord
		if err := synclog.DecodeRow(it.Key(), it.Value(), &row); err != nil {
			return page, err
		}
		if rowDeleted(&row) || !row.HasPut {
			last = pk
			continue
		}
		if len(page.Items) == limit {
			page.HasMore = true
			break
		}
		item, err := metadataItem(pk, &row)
		if err != nil {
			return page, err
		}
		page.Items = append(page.Items, item)
		last = pk
	}
	if err := it.Error(); err != nil {
		return page, err
	}
	if page.HasMore {
		page.NextCursor = encodeCanonCursor(canonCursor{Kind: KindLiveMetadata, Hash: hash, After: last})
	}
	return page, nil
}

func metadataItem(pk string, row *synclog.RowRecord) (CanonicalItem, error) {
	var p struct {
		SizeBytes  json.RawMessage `json:"size_bytes"`
		SizeBytes2 json.RawMessage `json:"sizeBytes"`
		StorageID  json.RawMessage `json:"storage_id"`
		StorageID2 json.RawMessage `json:"storageId"`
	}
	if err := json.Unmarshal(row.Payload, &p); err != nil {
		return CanonicalItem{}, syncerr.Internal(err, "Invalid canonical file size")
	}
	raw := p.SizeBytes
	if len(raw) == 0 || string(raw) == "null" {
		raw = p.SizeBytes2
	}
	var f float64
	if json.Unmarshal(raw, &f) != nil || f < 0 || f > maxSafeInt || f != math.Trunc(f) {
		return CanonicalItem{}, syncerr.Internal(nil, "Invalid canonical file size")
	}
	size := int64(f)
	updated := row.UpdatedAtMs / 1000
	item := CanonicalItem{Kind: "metadata", Hash: NormalizeHash(pk), SizeBytes: &size, UpdatedAt: &updated}
	for _, s := range []json.RawMessage{p.StorageID, p.StorageID2} {
		var id string
		if json.Unmarshal(s, &id) == nil && id != "" {
			item.StorageID = id
			break
		}
	}
	return item, nil
}

// referenceEdges pages the file references of live messages and posts:
// one edge per distinct normalized hash of a row's file_hashes, ordered
// by (sourceTable, sourceId, hash). A page may stop inside a row.
func referenceEdges(v *synclog.View, ws, hash string, cur *canonCursor, limit int) (CanonicalPage, error) {
	var page CanonicalPage
	tables := []string{"messages", "posts"}
	start := 0
	if cur != nil {
		start = slices.Index(tables, cur.Table)
	}
	budget := limit + canonicalExamineSlack
	var last canonCursor
	last.Kind, last.Hash = KindReferenceEdges, hash
	for ti := start; ti < len(tables); ti++ {
		table := tables[ti]
		prefix := synclog.RowPrefix(ws, table)
		lower := prefix
		if cur != nil && ti == start {
			lower = synclog.RowKey(ws, table, cur.After)
			if !cur.InRow {
				lower = append(lower, 0)
			}
		}
		it, err := v.NewIter(lower, synclog.PrefixEnd(prefix))
		if err != nil {
			return page, err
		}
		for ok := it.First(); ok; ok = it.Next() {
			pk := string(it.Key()[len(prefix):])
			if budget == 0 {
				it.Close()
				page.HasMore = true
				page.NextCursor = encodeCanonCursor(last)
				return page, nil
			}
			budget--
			var row synclog.RowRecord
			if err := synclog.DecodeRow(it.Key(), it.Value(), &row); err != nil {
				it.Close()
				return page, err
			}
			var hashes []string
			if !rowDeleted(&row) && row.HasPut {
				hashes = fileHashes(row.Payload)
			}
			after := ""
			if cur != nil && ti == start && cur.InRow && pk == cur.After {
				after = cur.Edge
			}
			for _, h := range hashes {
				if h <= after && after != "" {
					continue
				}
				if hash != "" && h != hash {
					continue
				}
				if len(page.Items) == limit {
					it.Close()
					page.HasMore = true
					page.NextCursor = encodeCanonCursor(last)
					return page, nil
				}
				page.Items = append(page.Items, CanonicalItem{Kind: "reference", Hash: h, SourceTable: table, SourceID: pk})
				last.Table, last.After, last.Edge, last.InRow = table, pk, h, true
			}
			last.Table, last.After, last.Edge, last.InRow = table, pk, "", false
		}
		if err := it.Close(); err != nil {
			return page, err
		}
	}
	return page, nil
}

// fileHashes reads a row's file_hashes (a JSON-array string, or an array)
// and returns its hashes normalized, non-empty, deduplicated and sorted.
// A malformed value contributes none.
func fileHashes(payload []byte) []string {
	if !bytes.Contains(payload, []byte(`"file_hashes"`)) {
		return nil
	}
	var p struct {
		FileHashes json.RawMessage `json:"file_hashes"`
	}
	if json.Unmarshal(payload, &p) != nil || len(p.FileHashes) == 0 {
		return nil
	}
	raw := p.FileHashes
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil
		}
		raw = []byte(s)
	}
	var list []string
	if json.Unmarshal(raw, &list) != nil {
		return nil
	}
	out := make([]string, 0, len(list))
	for _, h := range list {
		if n := NormalizeHash(h); n != "" && len(h) <= maxCanonicalHashRaw {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// activeReservations pages the active upload reservations by intent id.
func (e *Engine) activeReservations(v *synclog.View, ws, hash string, cur *canonCursor, nowSec int64, limit int) (CanonicalPage, error) {
	var page CanonicalPage
	if e.reservations == nil {
		return page, nil
	}
	after := ""
	if cur != nil {
		after = cur.After
	}
	res, more, err := e.reservations.ActiveReservations(v, ws, hash, after, nowSec, limit)
	if err != nil {
		return page, err
	}
	for _, r := range res {
		size, exp := r.SizeBytes, r.ExpiresAt
		page.Items = append(page.Items, CanonicalItem{Kind: "reservation", ReservationID: r.ID, Hash: r.Hash, SizeBytes: &size, ExpiresAt: &exp})
	}
	if more && len(res) > 0 {
		page.HasMore = true
		page.NextCursor = encodeCanonCursor(canonCursor{Kind: KindActiveReservations, Hash: hash, After: res[len(res)-1].ID})
	}
	return page, nil
}
