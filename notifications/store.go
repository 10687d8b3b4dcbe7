package notifications

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/or3/syncd/engine"
	"github.com/or3/syncd/syncerr"
)

// Sync is what notifications need of the sync engine (*engine.Engine).
type Sync interface {
	ServerWrite(ctx context.Context, op engine.ServerOp) (engine.OpResult, error)
	Authorize(ctx context.Context, ws, user string, write bool) error
}

// Config configures a Store.
type Config struct {
	// Now is syncd's clock (created_at/updated_at, in seconds as the
	// notifications table keeps them). Default time.Now.
	Now func() time.Time
	// NewID mints notification ids for create. Default random UUIDv4.
	NewID func() string
}

// Bounds of one notification.
const (
	maxIDLen      = 256
	maxTypeLen    = 128
	maxTitleLen   = 1024
	maxBodyLen    = 16 << 10
	maxActionsLen = 32 << 10
	table         = "notifications"
)

// Store writes notifications.
type Store struct {
	sync Sync
	cfg  Config
}

// New returns a Store writing through sync.
func New(sync Sync, cfg Config) (*Store, error) {
	if sync == nil {
		return nil, errors.New("notifications: nil engine")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.NewID == nil {
		cfg.NewID = uuid.NewString
	}
	return &Store{sync: sync, cfg: cfg}, nil
}

// Input is a notification to create (the snake_case fields of §4.1).
type Input struct {
	WorkspaceID string          `json:"workspace_id"`
	UserID      string          `json:"user_id"`
	ThreadID    string          `json:"thread_id,omitempty"`
	DocumentID  string          `json:"document_id,omitempty"`
	Type        string          `json:"type"`
	Title       string          `json:"title"`
	Body        string          `json:"body,omitempty"`
	Actions     json.RawMessage `json:"actions,omitempty"`
	// JobID is kept in the row by the job emitters.
	JobID string `json:"job_id,omitempty"`
}

// Action is a NotificationAction.
type Action struct {
	ID     string            `json:"id"`
	Label  string            `json:"label"`
	Kind   string            `json:"kind"`
	Target map[string]string `json:"target"`
	Data   map[string]string `json:"data,omitempty"`
}

// Create writes a new notification and returns its id.
func (s *Store) Create(ctx context.Context, in Input) (string, error) {
	return s.write(ctx, s.cfg.NewID(), in)
}

// EmitBackgroundJobComplete notifies userID that job's response is ready
// (side-modules §4.3).
func (s *Store) EmitBackgroundJobComplete(ctx context.Context, ws, userID, threadID, jobID, messageID string) (string, error) {
	if err := checkID("jobId", jobID, true); err != nil {
		return "", err
	}
	id := derivedID(ws, userID, jobID, "ai.message.received")
	a := Action{ID: derivedID(id, "action"), Label: "Open chat", Kind: "navigate", Target: map[string]string{"threadId": threadID}}
	if messageID != "" {
		a.Data = map[string]string{"messageId": messageID}
	}
	actions, _ := json.Marshal([]Action{a})
	return s.write(ctx, id, Input{
		WorkspaceID: ws, UserID: userID, ThreadID: threadID, Type: "ai.message.received",
		Title: "AI response ready", Body: "Your background response is ready.", Actions: actions, JobID: jobID,
	})
}

// EmitBackgroundJobError notifies userID that job failed.
func (s *Store) EmitBackgroundJobError(ctx context.Context, ws, userID, threadID, jobID, msg string) (string, error) {
	if err := checkID("jobId", jobID, true); err != nil {
		return "", err
	}
	return s.write(ctx, derivedID(ws, userID, jobID, "ai.background.error"), Input{
		WorkspaceID: ws, UserID: userID, ThreadID: threadID, Type: "ai.background.error",
		Title: "Background response failed", Body: truncate("Failed: "+msg, maxBodyLen), JobID: jobID,
	})
}

func (s *Store) write(ctx context.Context, id string, in Input) (string, error) {
	if err := validate(&in); err != nil {
		return "", err
	}
	// The recipient must belong to the workspace.
	if err := s.sync.Authorize(ctx, in.WorkspaceID, in.UserID, false); err != nil {
		if se, ok := syncerr.As(err); ok && (se.Status == 401 || se.Status == 403) {
			return "", syncerr.Forbidden("recipient is not a member of the workspace")
		}
		return "", err
	}
	now := s.cfg.Now().Unix()
	row := map[string]any{
		"id": id, "user_id": in.UserID, "type": in.Type, "title": in.Title,
		"deleted": false, "created_at": now, "updated_at": now,
	}
	if in.ThreadID != "" {
		row["thread_id"] = in.ThreadID
	}
	if in.DocumentID != "" {
		row["document_id"] = in.DocumentID
	}
	if in.Body != "" {
		row["body"] = in.Body
	}
	if in.Actions != nil {
		row["actions"] = in.Actions
	}
	if in.JobID != "" {
		row["job_id"] = in.JobID
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(row); err != nil {
		return "", syncerr.Internal(err, "notifications: encode")
	}
	if _, err := s.sync.ServerWrite(ctx, engine.ServerOp{
		Workspace: in.WorkspaceID, Table: table, PK: id, Operation: "put",
		Payload: bytes.TrimSpace(buf.Bytes()), Owner: in.UserID,
	}); err != nil {
		return "", err
	}
	return id, nil
}

func validate(in *Input) error {
	in.WorkspaceID = strings.TrimSpace(in.WorkspaceID)
	if err := firstErr(
		checkID("workspace_id", in.WorkspaceID, true), checkID("user_id", in.UserID, true),
		checkID("thread_id", in.ThreadID, false), checkID("document_id", in.DocumentID, false),
		checkLen("type", in.Type, 1, maxTypeLen), checkLen("title", in.Title, 1, maxTitleLen),
		checkLen("body", in.Body, 0, maxBodyLen),
	); err != nil {
		return err
	}
	if in.Actions != nil {
		if string(bytes.TrimSpace(in.Actions)) == "null" {
			in.Actions = nil
			return nil
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, in.Actions); err != nil || buf.Len() == 0 || buf.Bytes()[0] != '[' {
			return syncerr.Validation("actions must be a JSON array")
		}
		if buf.Len() > maxActionsLen {
			return syncerr.Oversized("actions exceed %d bytes", maxActionsLen)
		}
		in.Actions = buf.Bytes()
	}
	return nil
}

func checkID(name, v string, required bool) error {
	if (required && v == "") || len(v) > maxIDLen || !utf8.ValidString(v) {
		return syncerr.Validation("%s must be 1..%d characters", name, maxIDLen)
	}
	return nil
}

func checkLen(name, v string, lo, hi int) error {
	if len(v) < lo || len(v) > hi || !utf8.ValidString(v) {
		return syncerr.Validation("%s must be %d..%d bytes of UTF-8", name, lo, hi)
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// derivedID is a version-8 UUID from SHA-256 of the parts: the same job
// outcome always names the same notification.
func derivedID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	var u uuid.UUID
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x80
	u[8] = u[8]&0x3f | 0x80
	return u.String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
