package engine

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/or3/syncd/crdt"
	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/syncerr"
)

// Snapshot limits (sync-contract §3.7).
const (
	MaxSnapshotPageSize = 1000
	MaxSnapshotToken    = 4096
	// SnapshotTTL is how long a snapshot session (and its pinned view)
	// lives after its first page.
	SnapshotTTL = 3600 * time.Second
	// DefaultMaxSnapshotSessions bounds the open sessions; the next first
	// page answers 503 until one ends.
	DefaultMaxSnapshotSessions = 1024
	// snapshotExamineSlack bounds the keys one page examines beyond its
	// items (other users' notifications are skipped), so a page is
	// O(pageSize) even in a workspace full of invisible rows.
	snapshotExamineSlack = 4096
)

// SnapshotRequest is the snapshot body. PageSize is validated by the engine
// (1..1000); PageToken "" starts a chain.
type SnapshotRequest struct {
	Scope     Scope    `json:"scope"`
	PageSize  int64    `json:"pageSize"`
	PageToken string   `json:"pageToken,omitempty"`
	Tables    []string `json:"tables,omitempty"`
}

// SnapshotItem is one item: a live row or a tombstone.
type SnapshotItem struct {
	Kind            string          `json:"kind"` // "row" | "tombstone"
	TableName       string          `json:"tableName"`
	PK              string          `json:"pk"`
	Payload         json.RawMessage `json:"payload,omitempty"`
	Revision        Revision        `json:"revision"`
	ServerDeletedAt *int64          `json:"serverDeletedAt,omitempty"`
}

// SnapshotResponse is one page of a chain. NextPageToken comes first, so
// a client reading the JSON as it arrives can ask for the next page before
// it has read this one's items.
type SnapshotResponse struct {
	NextPageToken *string        `json:"nextPageToken"`
	WorkspaceID   string         `json:"workspaceId"`
	SnapshotID    string         `json:"snapshotId"`
	HighWatermark uint64         `json:"highWatermark"`
	Items         []SnapshotItem `json:"items"`
}

// snapSession is one open snapshot chain: the durable view taken by its
// first page, pinned until the chain expires. The view is the state at
// the watermark, so every page reads exactly that state whatever is
// pushed meanwhile, and an open session costs no copy: only what Pebble
// keeps for the pinned snapshot.
type snapSession struct {
	id      [16]byte
	ws      string
	user    string
	tables  []string // normalized; all tables when the request named none
	hw      uint64
	view    *synclog.View
	expires time.Time
	// store is the Pebble instance the view belongs to: after the log
	// recovers from a storage failure it reopens Pebble, and a view of the
	// old instance must not be read.
	store any
}

// snapSessions is the in-memory session table. Sessions do not survive a
// restart: a continuation after one answers 410 and the client starts over.
type snapSessions struct {
	mu     sync.Mutex
	m      map[[16]byte]*snapSession
	max    int
	closed bool
}

func (s *snapSessions) init(max int) {
	s.m = map[[16]byte]*snapSession{}
	s.max = max
}

// add registers a session; it fails when the table is full or closed.
func (s *snapSessions) add(ss *snapSession) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || len(s.m) >= s.max {
		return false
	}
	s.m[ss.id] = ss
	return true
}

// acquire returns the live session id with an extra view reference the
// caller releases, or nil when it is unknown or expired at now (an expired
// one is dropped here).
func (s *snapSessions) acquire(id [16]byte, now time.Time) (*snapSession, *synclog.View) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.m[id]
	if ss == nil {
		return nil, nil
	}
	if !now.Before(ss.expires) {
		delete(s.m, id)
		ss.view.Release()
		return nil, nil
	}
	return ss, ss.view.Ref()
}

// drop removes session id and releases its view.
func (s *snapSessions) drop(id [16]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss := s.m[id]; ss != nil {
		delete(s.m, id)
		ss.view.Release()
	}
}

// sweep drops the sessions expired at now and releases their views; pages
// in flight keep their own reference. It returns how many it dropped.
func (s *snapSessions) sweep(now time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id, ss := range s.m {
		if !now.Before(ss.expires) {
			delete(s.m, id)
			ss.view.Release()
			n++
		}
	}
	return n
}

// closeAll releases every session and refuses new ones.
func (s *snapSessions) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for id, ss := range s.m {
		delete(s.m, id)
		ss.view.Release()
	}
}

func (s *snapSessions) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// SnapshotSessions is the number of open snapshot sessions (a metric).
func (e *Engine) SnapshotSessions() int { return e.snaps.len() }

// snapToken is a decoded page token: the session and the last key emitted.
type snapToken struct {
	id    [16]byte
	table int // index into allTables
	pk    string
}

const snapTokenVersion = 1

// encodeSnapToken writes version | id | table index | pk, base64url.
func encodeSnapToken(t snapToken) string {
	return string(appendSnapToken(nil, t))
}

// appendSnapToken appends encodeSnapToken(t) to dst.
func appendSnapToken(dst []byte, t snapToken) []byte {
	var raw [18 + maxPKLen]byte
	b := append(raw[:0], snapTokenVersion)
	b = append(b, t.id[:]...)
	b = append(b, byte(t.table))
	b = append(b, t.pk...)
	return base64.RawURLEncoding.AppendEncode(dst, b)
}

// decodeSnapToken parses a page token; any malformed token is a 400.
func decodeSnapToken(s string) (snapToken, error) {
	var t snapToken
	bad := syncerr.Validation("Invalid snapshot page token")
	if len(s) == 0 || len(s) > MaxSnapshotToken {
		return t, bad
	}
	b, err := decodeOpaque(s)
	if err != nil || len(b) < 18 || b[0] != snapTokenVersion || int(b[17]) >= len(allTables) || len(b)-18 > maxPKLen {
		return t, bad
	}
	copy(t.id[:], b[1:17])
	t.table = int(b[17])
	t.pk = string(b[18:])
	return t, nil
}

// Snapshot answers one page of a snapshot-v1 chain (sync-contract §3.7).
// The first page takes the durable view and pins it in a session; every
// page reads the rows keyspace of that view in (table, pk) order, so the
// items are exactly the state at the watermark (the view's counter). A
// page costs O(pageSize): it seeks to the token's key and reads on.
func (e *Engine) Snapshot(ctx context.Context, user string, req SnapshotRequest) (SnapshotResponse, error) {
	ss, view, tok, err := e.snapshotSession(ctx, user, req)
	if err != nil {
		return SnapshotResponse{}, err
	}
	defer view.Release()
	resp := SnapshotResponse{WorkspaceID: ss.ws, SnapshotID: hex.EncodeToString(ss.id[:]), HighWatermark: ss.hw}
	items, next, err := snapshotPage(view, ss, tok, int(req.PageSize))
	if err != nil {
		return SnapshotResponse{}, readErr(err)
	}
	resp.Items = items
	if next != nil {
		s := encodeSnapToken(*next)
		resp.NextPageToken = &s
	}
	return resp, nil
}

// snapshotSession validates a snapshot request and returns its session
// with a view reference the caller releases, and the decoded token (nil
// on a first page, which opens the session).
func (e *Engine) snapshotSession(ctx context.Context, user string, req SnapshotRequest) (*snapSession, *synclog.View, *snapToken, error) {
	ws, err := NormalizeScope(req.Scope)
	if err != nil {
		return nil, nil, nil, err
	}
	if req.PageSize < 1 || req.PageSize > MaxSnapshotPageSize {
		return nil, nil, nil, syncerr.Validation("pageSize must be an integer between 1 and %d", MaxSnapshotPageSize)
	}
	var tok *snapToken
	if req.PageToken != "" {
		t, err := decodeSnapToken(req.PageToken)
		if err != nil {
			return nil, nil, nil, err
		}
		tok = &t
	}
	tables, err := normalizeTables(req.Tables)
	if err != nil {
		if bad, ok := invalidTable(req.Tables); ok {
			return nil, nil, nil, syncerr.Validation("Invalid snapshot table: %s", bad)
		}
		return nil, nil, nil, err
	}
	supplied := tables != nil
	if tables == nil {
		tables = allTables
	}
	if _, err := e.authorize(ctx, ws, user, false); err != nil {
		return nil, nil, nil, err
	}
	now := e.cfg.Now()
	if tok == nil {
		ss, err := e.openSnapshot(ws, user, tables, now)
		if err != nil {
			return nil, nil, nil, err
		}
		return ss, ss.view.Ref(), nil, nil
	}
	ss, view := e.snaps.acquire(tok.id, now)
	if ss == nil {
		return nil, nil, nil, syncerr.Gone("Snapshot expired or unavailable")
	}
	var refuse error
	switch {
	case ss.store != any(e.db.Pebble()):
		e.snaps.drop(ss.id)
		refuse = syncerr.Gone("Snapshot expired or unavailable")
	case ss.ws != ws:
		refuse = syncerr.Forbidden("Snapshot belongs to another workspace")
	case ss.user != user:
		refuse = syncerr.Gone("Snapshot expired or unavailable")
	case supplied && !slices.Equal(ss.tables, tables):
		refuse = syncerr.Validation("Snapshot table filter cannot change between pages")
	case !slices.Contains(ss.tables, allTables[tok.table]):
		refuse = syncerr.Validation("Invalid snapshot page token")
	}
	if refuse != nil {
		view.Release()
		return nil, nil, nil, refuse
	}
	return ss, view, tok, nil
}

// SnapshotJSON answers one page exactly as Snapshot does, but as the JSON
// body of the SnapshotResponse appended to dst (the bytes AppendJSON
// writes). See SnapshotJSONParts.
func (e *Engine) SnapshotJSON(ctx context.Context, user string, req SnapshotRequest, dst []byte) ([]byte, error) {
	var headBuf [256]byte
	base := len(dst)
	head, out, err := e.SnapshotJSONParts(ctx, user, req, headBuf[:0], dst)
	if err != nil {
		return nil, err
	}
	// Move the items up and put the head before them.
	out = append(out, head...)
	copy(out[base+len(head):], out[base:len(out)-len(head)])
	copy(out[base:], head)
	return out, nil
}

// SnapshotJSONParts answers one page as SnapshotJSON does, in two parts
// whose concatenation is the body: head (appended to head: the object's
// opening through the items array's bracket, with the next page token
// first) and items (appended to items: the items and the closing
// brackets). The token is known only once the page is read, so the parts
// let the HTTP layer send it first without moving the items. Each row is
// encoded straight from the view's iterator — no copy of the record, no
// intermediate item, no allocation per row.
func (e *Engine) SnapshotJSONParts(ctx context.Context, user string, req SnapshotRequest, head, items []byte) ([]byte, []byte, error) {
	ss, view, tok, err := e.snapshotSession(ctx, user, req)
	if err != nil {
		return nil, nil, err
	}
	defer view.Release()
	n := 0
	next, err := snapshotScan(view, ss, tok, int(req.PageSize), true, func(table, pk string, row *synclog.RowRecord, kind crdt.Kind) {
		if n > 0 {
			items = append(items, ',')
		}
		n++
		items = appendSnapshotItemJSON(items, table, pk, row, kind)
	})
	if err != nil {
		return nil, nil, readErr(err)
	}
	items = append(items, "]}"...)
	head = append(head, `{"nextPageToken":`...)
	if next == nil {
		head = append(head, "null"...)
	} else {
		head = append(head, '"')
		head = appendSnapToken(head, *next)
		head = append(head, '"')
	}
	head = append(head, `,"workspaceId":`...)
	head = appendJSONString(head, ss.ws)
	head = append(head, `,"snapshotId":"`...)
	head = hex.AppendEncode(head, ss.id[:])
	head = append(head, `","highWatermark":`...)
	head = strconv.AppendUint(head, ss.hw, 10)
	head = append(head, `,"items":[`...)
	return head, items, nil
}

// appendSnapshotItemJSON appends one item as AppendJSON writes it.
func appendSnapshotItemJSON(dst []byte, table, pk string, row *synclog.RowRecord, kind crdt.Kind) []byte {
	if kind == crdt.KindPut {
		dst = append(dst, `{"kind":"row","tableName":`...)
	} else {
		dst = append(dst, `{"kind":"tombstone","tableName":`...)
	}
	dst = appendJSONString(dst, table)
	dst = append(dst, `,"pk":`...)
	dst = appendJSONString(dst, pk)
	if kind == crdt.KindPut {
		dst = append(dst, `,"payload":`...)
		dst = appendSnapshotPayload(dst, row.Payload, PKField(table), pk, row.Winner.Clock, row.Winner.HLC)
	}
	dst = append(dst, `,"revision":{"clock":`...)
	dst = strconv.AppendInt(dst, row.Winner.Clock, 10)
	dst = append(dst, `,"hlc":`...)
	dst = appendJSONString(dst, row.Winner.HLC)
	dst = append(dst, `,"opId":`...)
	dst = appendJSONString(dst, row.Winner.OpID)
	dst = append(dst, '}')
	if kind == crdt.KindDelete {
		dst = append(dst, `,"serverDeletedAt":`...)
		dst = strconv.AppendInt(dst, serverDeletedAt(row), 10)
	}
	return append(dst, '}')
}

// invalidTable returns the first name of tables that is not an
// allowlisted table after trimming.
func invalidTable(tables []string) (string, bool) {
	for _, t := range tables {
		if tt := strings.TrimSpace(t); !ValidTable(tt) {
			return tt, true
		}
	}
	return "", false
}

// openSnapshot starts a session: the current durable view and its counter
// are the watermark and the item set, taken together by construction.
func (e *Engine) openSnapshot(ws, user string, tables []string, now time.Time) (*snapSession, error) {
	e.snaps.sweep(now)
	v, err := e.view()
	if err != nil {
		return nil, err
	}
	ctr, err := readCounter(v, ws)
	if err != nil {
		v.Release()
		return nil, err
	}
	ss := &snapSession{ws: ws, user: user, tables: tables, hw: ctr.Counter, view: v, expires: now.Add(SnapshotTTL), store: e.db.Pebble()}
	if _, err := rand.Read(ss.id[:]); err != nil {
		v.Release()
		return nil, syncerr.Internal(err, "snapshot id")
	}
	if !e.snaps.add(ss) {
		v.Release()
		return nil, syncerr.Unavailable(nil, "too many open snapshot sessions, retry later")
	}
	return ss, nil
}

// snapshotPage reads up to pageSize items of ss from v after tok. It
// returns the token of the next page, or nil when the chain is finished.
func snapshotPage(v *synclog.View, ss *snapSession, tok *snapToken, pageSize int) ([]SnapshotItem, *snapToken, error) {
	items := make([]SnapshotItem, 0, min(pageSize, 256))
	next, err := snapshotScan(v, ss, tok, pageSize, false, func(table, pk string, row *synclog.RowRecord, kind crdt.Kind) {
		item, _ := snapshotItem(table, pk, row, ss.user)
		items = append(items, item)
	})
	if err != nil {
		return nil, nil, err
	}
	return items, next, nil
}

// snapshotScan calls emit for up to pageSize visible items of ss in v
// after tok, in key order, and returns the token of the next page (nil
// when the chain is finished). With aliased, the row and pk passed to
// emit alias the iterator's memory and are valid only during the call.
func snapshotScan(v *synclog.View, ss *snapSession, tok *snapToken, pageSize int, aliased bool,
	emit func(table, pk string, row *synclog.RowRecord, kind crdt.Kind)) (*snapToken, error) {
	all := synclog.RowPrefix(ss.ws, "")
	it, err := v.NewIter(all, synclog.PrefixEnd(all))
	if err != nil {
		return nil, err
	}
	defer it.Close()
	budget := pageSize + snapshotExamineSlack
	emitted := 0
	var last snapToken
	last.id = ss.id
	lastPK := []byte(nil) // the pk of last, copied when it is needed
	startTable := 0
	if tok != nil {
		startTable = slices.Index(ss.tables, allTables[tok.table])
	}
	finish := func() *snapToken {
		last.pk = string(lastPK)
		return &last
	}
	var row synclog.RowRecord
	for ti := startTable; ti < len(ss.tables); ti++ {
		table := ss.tables[ti]
		tprefix := synclog.RowPrefix(ss.ws, table)
		lower := tprefix
		if tok != nil && ti == startTable {
			lower = append(synclog.RowKey(ss.ws, table, tok.pk), 0) // the key right after
		}
		upper := synclog.PrefixEnd(tprefix)
		tIdx := slices.Index(allTables, table)
		for ok := it.SeekGE(lower); ok && bytes.Compare(it.Key(), upper) < 0; ok = it.Next() {
			if budget == 0 {
				// Examined enough: the next page continues after the last
				// key examined (which may be an invisible row).
				return finish(), nil
			}
			budget--
			pkb := it.Key()[len(tprefix):]
			var err error
			if aliased {
				err = synclog.DecodeRowAliased(it.Key(), it.Value(), &row)
			} else {
				err = synclog.DecodeRow(it.Key(), it.Value(), &row)
			}
			if err != nil {
				return nil, err
			}
			kind := snapshotKindFor(table, &row, ss.user)
			if kind == 0 {
				last.table, lastPK = tIdx, append(lastPK[:0], pkb...)
				continue
			}
			if emitted == pageSize {
				// One more visible item exists: the chain goes on.
				return finish(), nil
			}
			var pk string
			if aliased {
				pk = unsafeString(pkb)
			} else {
				pk = string(pkb)
			}
			emit(table, pk, &row, kind)
			emitted++
			last.table, lastPK = tIdx, append(lastPK[:0], pkb...)
		}
		if err := it.Error(); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// snapshotKindFor is how a row appears in user's snapshot: KindPut (a row
// item), KindDelete (a tombstone item), or 0 (not at all: an empty
// register, or another user's or an ownerless notification).
func snapshotKindFor(table string, row *synclog.RowRecord, user string) crdt.Kind {
	if table == tableNotifications && (row.Owner == "" || row.Owner != user) {
		return 0
	}
	switch {
	case !row.HasPut && !row.HasTomb:
		return 0
	case row.WinnerKind == uint8(crdt.KindDelete) || row.SoftDel && row.WinnerKind == uint8(crdt.KindPut):
		return crdt.KindDelete
	}
	return crdt.KindPut
}

// snapshotItem is how a stored row appears in user's snapshot: a row item
// when its winner is live, a tombstone item when deleted (a row and a
// tombstone with one revision resolve to the tombstone), nothing for an
// empty register or another user's (or an ownerless) notification.
func snapshotItem(table, pk string, row *synclog.RowRecord, user string) (SnapshotItem, bool) {
	if table == tableNotifications && (row.Owner == "" || row.Owner != user) {
		return SnapshotItem{}, false
	}
	kind := entityOf(row, true).SnapshotKind()
	rev := Revision{Clock: row.Winner.Clock, HLC: row.Winner.HLC, OpID: row.Winner.OpID}
	switch kind {
	case crdt.KindPut:
		return SnapshotItem{Kind: "row", TableName: table, PK: pk, Revision: rev,
			Payload: snapshotPayload(row.Payload, PKField(table), pk, rev.Clock, rev.HLC)}, true
	case crdt.KindDelete:
		at := serverDeletedAt(row)
		return SnapshotItem{Kind: "tombstone", TableName: table, PK: pk, Revision: rev, ServerDeletedAt: &at}, true
	}
	return SnapshotItem{}, false
}

// snapshotPayload is the stored payload with the pk field set and clock
// and hlc set to the winning revision (sync-contract §3.7 rule 6). When
// the payload already says so it is returned as is; otherwise those three
// members are written first and the payload's other members follow with
// their bytes unchanged. One pass, no allocation on the fast path: pages
// of 1 KiB rows spend most of their time here.
func snapshotPayload(payload []byte, pkField, pk string, clock int64, hlc string) []byte {
	var clockBuf [20]byte
	clockRaw := strconv.AppendInt(clockBuf[:0], clock, 10)
	// spans of the members to drop: [start, end) including a separator.
	var drop [3][2]int
	nDrop, good := 0, 0
	ok := eachTopMember(payload, func(rawKey, val []byte, start, end int) {
		var isOurs, isGood bool
		switch {
		case rawKeyIs(rawKey, pkField):
			isOurs, isGood = true, rawStringEquals(val, pk)
		case rawKeyIs(rawKey, "clock"):
			isOurs, isGood = true, bytes.Equal(val, clockRaw)
		case rawKeyIs(rawKey, "hlc"):
			isOurs, isGood = true, rawStringEquals(val, hlc)
		}
		if !isOurs {
			return
		}
		if isGood {
			good++
		}
		if nDrop < len(drop) {
			drop[nDrop] = [2]int{start, end}
		}
		nDrop++
	})
	if ok && good == 3 && nDrop == 3 {
		return payload
	}
	out := make([]byte, 0, len(payload)+len(pk)+len(hlc)+48)
	out = append(out, '{')
	out = appendJSONString(out, pkField)
	out = append(out, ':')
	out = appendJSONString(out, pk)
	out = append(out, `,"clock":`...)
	out = append(out, clockRaw...)
	out = append(out, `,"hlc":`...)
	out = appendJSONString(out, hlc)
	if !ok || nDrop > len(drop) {
		if ok {
			// Duplicate keys (never stored by push): keep the rest through
			// the slow path.
			return snapshotPayloadSlow(payload, pkField, out)
		}
		return append(out, '}')
	}
	// Copy the members between the dropped spans.
	body := payload[bytes.IndexByte(payload, '{')+1 : bytes.LastIndexByte(payload, '}')]
	base := bytes.IndexByte(payload, '{') + 1
	pos := 0
	for i := 0; i < nDrop; i++ {
		out = appendMembers(out, body[pos:drop[i][0]-base])
		pos = drop[i][1] - base
	}
	out = appendMembers(out, body[pos:])
	return append(out, '}')
}

// appendSnapshotPayload appends snapshotPayload(payload, pkField, pk,
// clock, hlc) to dst without allocating: the payload itself when it
// already says so, else the three members and then the payload's other
// members' bytes, copied once.
func appendSnapshotPayload(dst, payload []byte, pkField, pk string, clock int64, hlc string) []byte {
	var clockBuf [20]byte
	clockRaw := strconv.AppendInt(clockBuf[:0], clock, 10)
	var drop [3][2]int
	nDrop, good := 0, 0
	ok := eachTopMember(payload, func(rawKey, val []byte, start, end int) {
		key := rawKey[1 : len(rawKey)-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			var k string
			if json.Unmarshal(rawKey, &k) != nil {
				return
			}
			key = []byte(k)
		}
		var isGood bool
		switch {
		case string(key) == pkField:
			isGood = rawStringEquals(val, pk)
		case string(key) == "clock":
			isGood = bytes.Equal(val, clockRaw)
		case string(key) == "hlc":
			isGood = rawStringEquals(val, hlc)
		default:
			return
		}
		if isGood {
			good++
		}
		if nDrop < len(drop) {
			drop[nDrop] = [2]int{start, end}
		}
		nDrop++
	})
	switch {
	case ok && good == 3 && nDrop == 3:
		return append(dst, payload...)
	case !ok || nDrop > len(drop):
		// Not an object, or duplicate keys (push stores neither).
		return append(dst, snapshotPayload(payload, pkField, pk, clock, hlc)...)
	}
	dst = append(dst, '{')
	dst = appendJSONString(dst, pkField)
	dst = append(dst, ':')
	dst = appendJSONString(dst, pk)
	dst = append(dst, `,"clock":`...)
	dst = append(dst, clockRaw...)
	dst = append(dst, `,"hlc":`...)
	dst = appendJSONString(dst, hlc)
	base := bytes.IndexByte(payload, '{') + 1
	body := payload[base:bytes.LastIndexByte(payload, '}')]
	pos := 0
	for i := 0; i < nDrop; i++ {
		dst = appendMembers(dst, body[pos:drop[i][0]-base])
		pos = drop[i][1] - base
	}
	dst = appendMembers(dst, body[pos:])
	return append(dst, '}')
}

// trimMembers trims the separators around a run of members.
func trimMembers(run []byte) []byte {
	isSep := func(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ',' }
	for len(run) > 0 && isSep(run[0]) {
		run = run[1:]
	}
	for len(run) > 0 && isSep(run[len(run)-1]) {
		run = run[:len(run)-1]
	}
	return run
}

// appendMembers appends a run of members (possibly with leading or
// trailing separators) to out, after a comma.
func appendMembers(out, run []byte) []byte {
	run = trimMembers(run)
	if len(run) == 0 {
		return out
	}
	out = append(out, ',')
	return append(out, run...)
}

// snapshotPayloadSlow rebuilds an object with duplicate keys: head holds
// the three fields; every other member follows.
func snapshotPayloadSlow(payload []byte, pkField string, head []byte) []byte {
	members, _ := topMembers(payload)
	for _, m := range members {
		if m.key == pkField || m.key == "clock" || m.key == "hlc" {
			continue
		}
		head = append(head, ',')
		head = append(head, m.rawKey...)
		head = append(head, ':')
		head = append(head, m.val...)
	}
	return append(head, '}')
}

// rawKeyIs reports whether a raw JSON key token (with quotes) is key.
func rawKeyIs(rawKey []byte, key string) bool {
	if len(rawKey) == len(key)+2 && string(rawKey[1:len(rawKey)-1]) == key {
		return true
	}
	if bytes.IndexByte(rawKey, '\\') < 0 {
		return false
	}
	var k string
	return json.Unmarshal(rawKey, &k) == nil && k == key
}

// eachTopMember calls fn for every top-level member of a JSON object with
// its raw key, raw value and the member's span [start, end) (from the key
// to just before the next member's key, or to the closing brace). It
// reports false for anything but a well-formed object.
func eachTopMember(b []byte, fn func(rawKey, val []byte, start, end int)) bool {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return skipWS(b, i+1) == len(b)
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return false
		}
		start := i
		kend, ok := skipString(b, i)
		if !ok {
			return false
		}
		rawKey := b[i:kend]
		i = skipWS(b, kend)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipWS(b, i+1)
		vend, ok := skipValue(b, i)
		if !ok {
			return false
		}
		val := b[i:vend]
		i = skipWS(b, vend)
		if i >= len(b) {
			return false
		}
		switch b[i] {
		case '}':
			fn(rawKey, val, start, i)
			return skipWS(b, i+1) == len(b)
		case ',':
			next := skipWS(b, i+1)
			fn(rawKey, val, start, next)
			i = next
		default:
			return false
		}
	}
}

// member is one top-level member of a JSON object: its decoded key, the
// key's raw token and the value's raw bytes.
type member struct {
	key    string
	rawKey []byte
	val    []byte
}

// topMembers splits a JSON object into its top-level members without
// decoding the values. It reports false for anything but a well-formed
// object.
func topMembers(b []byte) ([]member, bool) {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, false
	}
	i = skipWS(b, i+1)
	var out []member
	if i < len(b) && b[i] == '}' {
		return out, skipWS(b, i+1) == len(b)
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return nil, false
		}
		kend, ok := skipString(b, i)
		if !ok {
			return nil, false
		}
		rawKey := b[i:kend]
		var key string
		if bytes.IndexByte(rawKey, '\\') < 0 {
			key = string(rawKey[1 : len(rawKey)-1])
		} else if json.Unmarshal(rawKey, &key) != nil {
			return nil, false
		}
		i = skipWS(b, kend)
		if i >= len(b) || b[i] != ':' {
			return nil, false
		}
		i = skipWS(b, i+1)
		vend, ok := skipValue(b, i)
		if !ok {
			return nil, false
		}
		out = append(out, member{key: key, rawKey: rawKey, val: b[i:vend]})
		i = skipWS(b, vend)
		if i >= len(b) {
			return nil, false
		}
		if b[i] == '}' {
			return out, skipWS(b, i+1) == len(b)
		}
		if b[i] != ',' {
			return nil, false
		}
		i = skipWS(b, i+1)
	}
}

// rawStringEquals reports whether the raw JSON value is the string s.
func rawStringEquals(raw []byte, s string) bool {
	if len(raw) < 2 || raw[0] != '"' {
		return false
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1:len(raw)-1]) == s
	}
	var got string
	return json.Unmarshal(raw, &got) == nil && got == s
}

// appendJSONString appends s as a JSON string without HTML escaping, as
// encoding/json would (invalid UTF-8 and U+2028/2029 go the slow way).
func appendJSONString(dst []byte, s string) []byte {
	simple := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			simple = false
			break
		}
	}
	if simple {
		dst = append(dst, '"')
		dst = append(dst, s...)
		return append(dst, '"')
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return append(dst, bytes.TrimRight(buf.Bytes(), "\n")...)
}

// unsafeString views b as a string without copying (b must not change
// while the string is in use).
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
