package intents

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/syncerr"
)

// Limits of side-modules §1.2.
const (
	// DefaultTTL is an intent's lifetime when the caller names no expiry.
	DefaultTTL = 900 * time.Second
	// MaxTTL bounds a caller-named expiry.
	MaxTTL = 24 * time.Hour
	// MaxFileBytes is the provider's hard cap on one file (100 MiB).
	MaxFileBytes = 104_857_600
	maxIDLen     = 256
	maxHashLen   = 256
	maxMimeLen   = 255
	maxSafeInt   = 1<<53 - 1
)

// Intent statuses.
const (
	StatusActive    = "active"
	StatusConsumed  = "consumed"
	StatusCancelled = "cancelled"
	StatusExpired   = "expired"
)

// Roles answers workspace membership ("owner", "editor", "viewer" or "").
type Roles interface {
	Role(ctx context.Context, workspaceID, userID string) (string, error)
}

// Config configures a Store.
type Config struct {
	// DB is the log. Required.
	DB *synclog.DB
	// Roles checks membership. Required.
	Roles Roles
	// DefaultQuotaBytes is the workspace quota when a call names none;
	// 0 means no quota.
	DefaultQuotaBytes int64
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// NewID mints intent ids. Default a random UUID.
	NewID func() string
	// Logger. Default slog.Default().
	Logger *slog.Logger
}

func (c *Config) validate() error {
	if c.DB == nil {
		return errors.New("intents: Config.DB is required")
	}
	if c.Roles == nil {
		return errors.New("intents: Config.Roles is required")
	}
	if c.DefaultQuotaBytes < 0 {
		return errors.New("intents: Config.DefaultQuotaBytes must be >= 0")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.NewID == nil {
		c.NewID = uuid.NewString
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Store is the upload-intent module.
type Store struct {
	cfg   Config
	db    *synclog.DB
	mu    sync.Mutex
	locks map[string]*wsLock
	cache usageCache // stored bytes per workspace (usage.go)
}

type wsLock struct {
	sync.Mutex
	refs int
}

// New returns a Store.
func New(cfg Config) (*Store, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Store{cfg: cfg, db: cfg.DB, locks: map[string]*wsLock{}}, nil
}

func (s *Store) lock(ws string) func() {
	s.mu.Lock()
	l := s.locks[ws]
	if l == nil {
		l = &wsLock{}
		s.locks[ws] = l
	}
	l.refs++
	s.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		s.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(s.locks, ws)
		}
		s.mu.Unlock()
	}
}

// ReserveRequest is reserveUploadIntent's argument (host-integration
// §1.2). IntentID and ExpiresAt (epoch seconds) are minted when absent;
// WorkspaceQuotaBytes overrides the configured default quota.
type ReserveRequest struct {
	IntentID            string
	WorkspaceID         string
	Hash                string
	MimeType            string
	SizeBytes           int64
	ExpiresAt           *int64
	WorkspaceQuotaBytes *int64
	// Also, when set, adds the caller's own events (appended and folded by
	// it) to the reservation's batch, so they commit with it or not at
	// all: the storage gateway's record of the upload URL it hands out.
	// It is called under the workspace lock once the reservation is
	// decided, and not at all when the reservation fails before that.
	Also func(*synclog.Batch) error
}

// ConsumeRequest is consumeUploadIntent's argument.
type ConsumeRequest struct {
	IntentID    string
	WorkspaceID string
	Hash        string
	MimeType    string
	SizeBytes   int64
	StorageID   string
	// Also adds the caller's events to the consumption's batch, as
	// ReserveRequest.Also does.
	Also func(*synclog.Batch) error
}

// CancelRequest is cancelUploadIntent's argument.
type CancelRequest struct {
	WorkspaceID string
	IntentID    string
}

// Intent is an intent as answered (times in epoch seconds).
type Intent struct {
	IntentID      string `json:"intentId"`
	WorkspaceID   string `json:"workspaceId"`
	UserID        string `json:"userId"`
	Hash          string `json:"hash"`
	MimeType      string `json:"mimeType"`
	SizeBytes     int64  `json:"sizeBytes"`
	ReservedBytes int64  `json:"reservedBytes"`
	ExpiresAt     int64  `json:"expiresAt"`
	Status        string `json:"status"`
	StorageID     string `json:"storageId,omitempty"`
	CreatedAt     int64  `json:"createdAt"`
}

func intentOf(r *Record) Intent {
	return Intent{IntentID: r.ID, WorkspaceID: r.Workspace, UserID: r.User, Hash: r.Hash, MimeType: r.Mime,
		SizeBytes: r.SizeBytes, ReservedBytes: r.ReservedBytes, ExpiresAt: r.ExpiresAt, Status: r.Status,
		StorageID: r.StorageID, CreatedAt: r.CreatedAt}
}

// NormalizeHash strips a sha256: or md5: prefix (any case), trims and
// lowercases (side-modules §1.2).
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

// NormalizeMime is the part before ';', trimmed and lowercased.
func NormalizeMime(m string) string {
	if i := strings.IndexByte(m, ';'); i >= 0 {
		m = m[:i]
	}
	return strings.ToLower(strings.TrimSpace(m))
}

func (s *Store) authorize(ctx context.Context, ws, user string) error {
	if user == "" {
		return syncerr.Unauthorized("no acting user")
	}
	role, err := s.cfg.Roles.Role(ctx, ws, user)
	if err != nil {
		return err
	}
	switch role {
	case "owner", "editor":
		return nil
	case "viewer":
		return syncerr.Forbidden("role viewer may not write")
	}
	return syncerr.Forbidden("user is not a member of this workspace")
}

func normalizeWS(ws string) (string, error) {
	ws = strings.TrimSpace(ws)
	if ws == "" || len(ws) > maxIDLen {
		return "", syncerr.Validation("workspaceId must be 1..256 characters")
	}
	return ws, nil
}

func normalizeID(id string) (string, error) {
	id = strings.TrimSpace(id)
	if id == "" || len(id) > maxIDLen {
		return "", syncerr.Validation("intentId must be 1..256 characters")
	}
	return id, nil
}

// Reserve creates an active intent and reserves its bytes against the
// workspace quota (write role). Over quota → 413 OVERSIZED; an intent id
// already used → 409.
func (s *Store) Reserve(ctx context.Context, user string, req ReserveRequest) (Intent, error) {
	ws, err := normalizeWS(req.WorkspaceID)
	if err != nil {
		return Intent{}, err
	}
	id := s.cfg.NewID()
	if req.IntentID != "" {
		if id, err = normalizeID(req.IntentID); err != nil {
			return Intent{}, err
		}
	}
	if len(req.Hash) > maxHashLen {
		return Intent{}, syncerr.Validation("hash must be at most %d characters", maxHashLen)
	}
	hash := NormalizeHash(req.Hash)
	if hash == "" {
		return Intent{}, syncerr.Validation("Invalid hash")
	}
	mime := NormalizeMime(req.MimeType)
	if mime == "" || len(mime) > maxMimeLen {
		return Intent{}, syncerr.Validation("Invalid MIME type")
	}
	if req.SizeBytes < 1 || req.SizeBytes > MaxFileBytes {
		return Intent{}, syncerr.Validation("sizeBytes must be an integer between 1 and %d", MaxFileBytes)
	}
	quota := s.cfg.DefaultQuotaBytes
	if req.WorkspaceQuotaBytes != nil {
		if *req.WorkspaceQuotaBytes < 1 || *req.WorkspaceQuotaBytes > maxSafeInt {
			return Intent{}, syncerr.Validation("Invalid workspace quota")
		}
		quota = *req.WorkspaceQuotaBytes
	}
	now := s.cfg.Now()
	nowSec := now.Unix()
	expires := now.Add(DefaultTTL).Unix()
	if req.ExpiresAt != nil {
		if *req.ExpiresAt <= nowSec || *req.ExpiresAt > now.Add(MaxTTL).Unix() {
			return Intent{}, syncerr.Validation("Invalid upload intent: expiresAt must be after now and at most %d s ahead", int64(MaxTTL/time.Second))
		}
		expires = *req.ExpiresAt
	}
	if err := s.authorize(ctx, ws, user); err != nil {
		return Intent{}, err
	}

	unlock := s.lock(ws)
	defer unlock()
	c := s.cache.take(ws)
	committed := true // false once a commit failed: the cache entry is then dropped
	defer func() {
		if committed {
			s.cache.put(ws, c)
		}
	}()
	b := s.db.NewBatch()
	defer b.Close()
	if existing, err := b.Get(synclog.NewKey(synclog.PrefixIntent).Raw(id)); err != nil {
		return Intent{}, syncerr.Internal(err, "read")
	} else if existing != nil {
		return Intent{}, syncerr.Conflict("Upload intent %s already exists", id)
	}
	if c, err = current(b, ws, c); err != nil {
		return Intent{}, syncerr.Internal(err, "read")
	}
	u := c.usage(hash, nowSec)
	reserved := req.SizeBytes
	if u.hashStored || u.hashReserved {
		reserved = 0
	}
	if projected := u.stored + u.reserved + reserved; quota > 0 && projected > quota {
		return Intent{}, syncerr.Oversized("Workspace storage quota exceeded (%d > %d bytes)", projected, quota)
	}
	rec := &Record{ID: id, Workspace: ws, User: user, Hash: hash, Mime: mime, SizeBytes: req.SizeBytes,
		ReservedBytes: reserved, ExpiresAt: expires, Status: StatusActive, CreatedAt: nowSec}
	expired := c.expired(now.UnixMilli() / 1000)
	if err := s.append(ctx, b, evReserve, user, now, rec, req.Also, expired); err != nil {
		committed = false
		return Intent{}, err
	}
	for _, x := range expired {
		delete(c.active, x)
	}
	c.active[id] = activeIntent{hash: hash, reserved: reserved, expiresAt: expires}
	return intentOf(rec), nil
}

// Consume marks an active intent consumed, once (write role): unknown, in
// another workspace or another user's → 404; no longer active, expired or
// not matching hash, MIME type and size → 409.
func (s *Store) Consume(ctx context.Context, user string, req ConsumeRequest) (Intent, error) {
	ws, err := normalizeWS(req.WorkspaceID)
	if err != nil {
		return Intent{}, err
	}
	id, err := normalizeID(req.IntentID)
	if err != nil {
		return Intent{}, err
	}
	if len(req.StorageID) > maxIDLen || len(req.Hash) > maxHashLen || len(req.MimeType) > maxMimeLen {
		return Intent{}, syncerr.Validation("hash, mimeType or storageId too long")
	}
	if err := s.authorize(ctx, ws, user); err != nil {
		return Intent{}, err
	}
	unlock := s.lock(ws)
	defer unlock()
	c := s.cache.take(ws)
	committed := true
	defer func() {
		if committed {
			s.cache.put(ws, c)
		}
	}()
	b := s.db.NewBatch()
	defer b.Close()
	now := s.cfg.Now()
	rec, err := s.owned(b, ws, id, user)
	if err != nil {
		return Intent{}, err
	}
	switch {
	case rec.Status != StatusActive:
		return Intent{}, syncerr.Conflict("Upload intent already consumed or cancelled")
	case rec.ExpiresAt <= now.Unix():
		return Intent{}, syncerr.Conflict("Upload intent expired")
	case NormalizeHash(req.Hash) != rec.Hash || NormalizeMime(req.MimeType) != rec.Mime || req.SizeBytes != rec.SizeBytes:
		return Intent{}, syncerr.Conflict("Upload metadata does not match intent")
	}
	rec.Status, rec.StorageID, rec.ConsumedAt = StatusConsumed, req.StorageID, now.Unix()
	if err := s.append(ctx, b, evConsume, user, now, &Record{ID: id, Workspace: ws, StorageID: req.StorageID}, req.Also, nil); err != nil {
		committed = false
		return Intent{}, err
	}
	if c != nil {
		delete(c.active, id)
	}
	return intentOf(rec), nil
}

// Cancel releases an active intent's reservation (write role): unknown or
// another user's → 404; no longer active → 409.
func (s *Store) Cancel(ctx context.Context, user string, req CancelRequest) (Intent, error) {
	ws, err := normalizeWS(req.WorkspaceID)
	if err != nil {
		return Intent{}, err
	}
	id, err := normalizeID(req.IntentID)
	if err != nil {
		return Intent{}, err
	}
	if err := s.authorize(ctx, ws, user); err != nil {
		return Intent{}, err
	}
	unlock := s.lock(ws)
	defer unlock()
	c := s.cache.take(ws)
	committed := true
	defer func() {
		if committed {
			s.cache.put(ws, c)
		}
	}()
	b := s.db.NewBatch()
	defer b.Close()
	now := s.cfg.Now()
	rec, err := s.owned(b, ws, id, user)
	if err != nil {
		return Intent{}, err
	}
	if rec.Status != StatusActive || rec.ExpiresAt <= now.Unix() {
		return Intent{}, syncerr.Conflict("Upload intent is not active")
	}
	rec.Status, rec.CancelledAt = StatusCancelled, now.Unix()
	if err := s.append(ctx, b, evCancel, user, now, &Record{ID: id, Workspace: ws}, nil, nil); err != nil {
		committed = false
		return Intent{}, err
	}
	if c != nil {
		delete(c.active, id)
	}
	return intentOf(rec), nil
}

// Get returns an intent of ws by id (404 when unknown or in another
// workspace), read from the durable view.
func (s *Store) Get(ctx context.Context, ws, id string) (Intent, error) {
	v := s.db.View()
	if v == nil {
		return Intent{}, syncerr.Unavailable(synclog.ErrUnhealthy, "storage unavailable, retry later")
	}
	defer v.Release()
	var rec Record
	found, err := synclog.GetRecord(v, intentKey(id), &rec)
	if err != nil {
		return Intent{}, syncerr.Internal(err, "read")
	}
	if !found || rec.Workspace != ws {
		return Intent{}, syncerr.NotFound("Upload intent not found")
	}
	return intentOf(&rec), nil
}

// owned reads intent id through b; unknown, another workspace's or another
// user's is a 404.
func (s *Store) owned(b *synclog.Batch, ws, id, user string) (*Record, error) {
	var rec Record
	found, err := synclog.GetRecord(b, intentKey(id), &rec)
	if err != nil {
		return nil, syncerr.Internal(err, "read")
	}
	if !found || rec.Workspace != ws || rec.User != user {
		return nil, syncerr.NotFound("Upload intent not found")
	}
	return &rec, nil
}

// append logs one intent event with its fold in b, then also's events
// (when set), and commits. expired, for a reservation, is the workspace's
// active intents expired at the event's time (nil: the fold finds them).
func (s *Store) append(ctx context.Context, b *synclog.Batch, typ, user string, now time.Time, rec *Record, also func(*synclog.Batch) error, expired []string) error {
	ev := &synclog.SystemEvent{Type: typ, AtMs: now.UnixMilli(), Actor: user, Body: synclog.MustEncode(rec)}
	seq := s.db.NextSystemSeq()
	if err := b.AppendEvent(synclog.SystemKey(seq), ev); err != nil {
		return syncerr.Internal(err, "append")
	}
	if err := fold(b, seq, ev, expired); err != nil {
		return syncerr.Internal(err, "fold")
	}
	if also != nil {
		if err := also(b); err != nil {
			if _, ok := syncerr.As(err); ok {
				return err
			}
			return syncerr.Internal(err, "append")
		}
	}
	if err := s.db.Commit(ctx, b); err != nil {
		switch {
		case errors.Is(err, synclog.ErrOverloaded):
			return syncerr.Unavailable(err, "server overloaded, retry later")
		case errors.Is(err, synclog.ErrUnhealthy), errors.Is(err, synclog.ErrClosed):
			return syncerr.Unavailable(err, "storage unavailable, retry later")
		}
		return syncerr.Internal(err, "commit failed")
	}
	return nil
}

// wsUsage is a workspace's storage use as quota counts it.
type wsUsage struct {
	stored       int64 // sizes of live file_meta rows
	reserved     int64 // reserved bytes of live intents
	hashStored   bool  // the hash is a live file_meta row
	hashReserved bool  // the hash is reserved by a live intent
}

// scanUsage is usage without the cache, from every file_meta row of ws
// (tests compare the two).
func scanUsage(r synclog.Reader, ws, hash string, nowSec int64) (wsUsage, error) {
	var u wsUsage
	e, err := scanStored(r, ws, 0)
	if err != nil {
		return u, err
	}
	u.stored, u.hashStored = e.stored, e.hashes[hash] > 0
	return u, addReserved(r, ws, hash, nowSec, &u)
}

// addReserved adds the reserved bytes of ws's intents live at nowSec.
func addReserved(r synclog.Reader, ws, hash string, nowSec int64, u *wsUsage) error {
	return eachActive(r, ws, func(rec *Record) (bool, error) {
		if rec.ExpiresAt > nowSec {
			u.reserved += rec.ReservedBytes
			if rec.Hash == hash && rec.ReservedBytes > 0 {
				u.hashReserved = true
			}
		}
		return true, nil
	})
}

// sizeOf reads a file_meta payload's size_bytes (0 when absent or bad).
func sizeOf(payload []byte) int64 {
	var p struct {
		SizeBytes json.RawMessage `json:"size_bytes"`
	}
	if !bytes.Contains(payload, []byte(`"size_bytes"`)) || json.Unmarshal(payload, &p) != nil {
		return 0
	}
	var f float64
	if json.Unmarshal(p.SizeBytes, &f) != nil || f < 0 || f > maxSafeInt || f != math.Trunc(f) {
		return 0
	}
	return int64(f)
}

// eachActive calls fn for every intent in ws's active index, in id order,
// until fn returns false.
func eachActive(r synclog.Reader, ws string, fn func(*Record) (bool, error)) error {
	return eachActiveFrom(r, ws, "", fn)
}

func eachActiveFrom(r synclog.Reader, ws, afterID string, fn func(*Record) (bool, error)) error {
	prefix := byWSPrefix(ws)
	lower := prefix
	if afterID != "" {
		lower = append(byWSKey(ws, afterID), 0)
	}
	it, err := r.NewIter(lower, synclog.PrefixEnd(prefix))
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		id := string(it.Key()[len(prefix):])
		var rec Record
		found, err := synclog.GetRecord(r, intentKey(id), &rec)
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("intents: index entry %q without a record: %w", id, synclog.ErrCorrupt)
		}
		more, err := fn(&rec)
		if err != nil || !more {
			return err
		}
	}
	return it.Error()
}

// Reservation is one active reservation (an active_reservations item).
type Reservation struct {
	ID        string
	Hash      string
	SizeBytes int64
	ExpiresAt int64
}

// ActiveReservations lists ws's reservations after afterID, by id, that
// are active at nowSec with reserved bytes > 0 and match hash (when not
// ""): at most limit, and whether more exist. It reads r (the caller's
// durable view).
func (s *Store) ActiveReservations(r synclog.Reader, ws, hash, afterID string, nowSec int64, limit int) ([]Reservation, bool, error) {
	var out []Reservation
	more := false
	err := eachActiveFrom(r, ws, afterID, func(rec *Record) (bool, error) {
		if rec.Status != StatusActive || rec.ExpiresAt <= nowSec || rec.ReservedBytes <= 0 || (hash != "" && rec.Hash != hash) {
			return true, nil
		}
		if len(out) == limit {
			more = true
			return false, nil
		}
		out = append(out, Reservation{ID: rec.ID, Hash: rec.Hash, SizeBytes: rec.ReservedBytes, ExpiresAt: rec.ExpiresAt})
		return true, nil
	})
	return out, more, err
}
