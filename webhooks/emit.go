package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
)

// SyncChange is one applied sync op as webhooks see it. The daemon turns
// the engine's post-commit notifications into these (this package does
// not import the engine).
type SyncChange struct {
	Workspace string
	Table     string
	PK        string
	Delete    bool
	// Existed reports whether the key had a live row before the op.
	Existed bool
	// UserID is the user whose push carried the op ("" when server-authored).
	UserID string
	// Owner is a notification's recipient ("" for other tables).
	Owner string
	// Payload is the row after the op (puts; may be nil).
	Payload json.RawMessage
	AtMs    int64
	// Version is the op's server_version and OpID its op id (0 and "" for
	// changes that come from no log entry, as some tests make). A versioned
	// change is enqueued at most once: ops at or below the workspace's
	// mark are skipped (catchup.go); its event id is derived from both; and
	// hooks created after AtMs do not receive it.
	Version uint64
	OpID    string
}

// Event families of api.md Decisions 9, by synced table.
var tableFamilies = map[string]string{"threads": "thread", "messages": "message", "posts": "document", "notifications": "notification"}

// EventType names the webhook event of an applied sync op, or "" when it
// fires none: thread/message/document .created|.updated|.deleted, and
// notification.created for a new notification. A put whose payload says
// deleted:true is a delete (OR3's soft delete).
func EventType(c *SyncChange) string {
	family, ok := tableFamilies[c.Table]
	if !ok {
		return ""
	}
	verb := "updated"
	switch {
	case c.Delete || softDeleted(c.Payload):
		verb = "deleted"
	case !c.Existed:
		verb = "created"
	}
	if family == "notification" && verb != "created" {
		return ""
	}
	return family + "." + verb
}

func softDeleted(p json.RawMessage) bool {
	if len(p) == 0 || !bytes.Contains(p, []byte(`"deleted"`)) {
		return false
	}
	var m struct {
		Deleted bool `json:"deleted"`
	}
	return json.Unmarshal(p, &m) == nil && m.Deleted
}

// OnSync hands committed sync changes to the enqueuer. It never blocks and
// never writes: it runs on the pushing request's goroutine (engine
// subscribers must not block). Past Config.QueueSize events are dropped
// and counted (Dropped), and the enqueuer then catches up from the change
// log (catchup.go), so a dropped event is late, not lost. While no webhook
// is enabled only the workspaces' progress is noted (nothing can fire).
//
// Changes of one workspace must arrive in version order (the engine's
// post-commit subscription guarantees it).
func (s *Store) OnSync(changes []SyncChange) {
	if len(changes) == 0 {
		return
	}
	s.qmu.Lock()
	if s.enabled.Load() == 0 {
		for i := range changes {
			if c := &changes[i]; c.Version > s.skipped[c.Workspace] {
				if s.skipped == nil {
					s.skipped = map[string]uint64{}
				}
				s.skipped[c.Workspace] = c.Version
			}
		}
		s.qmu.Unlock()
		return
	}
	room := s.cfg.QueueSize - len(s.queue)
	if room < len(changes) {
		s.dropped.Add(int64(len(changes) - max(room, 0)))
		changes = changes[:max(room, 0)]
		s.needCatchUp = true
	}
	s.queue = append(s.queue, changes...)
	s.qmu.Unlock()
	select {
	case s.qsig <- struct{}{}:
	default:
	}
}

// Pending is the number of sync events waiting for the enqueuer.
func (s *Store) Pending() int {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	return len(s.queue)
}

// enqueueBatch bounds the sync events turned into deliveries per commit;
// enqueueLinger is how long the enqueuer gathers events before a commit.
const (
	enqueueBatch  = 256
	enqueueLinger = 20 * time.Millisecond
)

// markFlushEvery bounds how often marks are written by themselves (when
// no deliveries carry them).
const markFlushEvery = time.Second

// DrainSync turns queued sync events into deliveries, committing up to
// enqueueBatch events' deliveries per batch (with the marks of every op
// processed so far), and returns how many events it took. First, when the
// store was just opened or the queue overflowed, it catches up from the
// change log. The enqueuer loop calls it; tests call it directly.
func (s *Store) DrainSync(ctx context.Context) (int, error) {
	return s.drain(ctx, false)
}

func (s *Store) drain(ctx context.Context, flush bool) (int, error) {
	total := 0
	for {
		s.qmu.Lock()
		if s.needCatchUp {
			s.needCatchUp = false
			s.qmu.Unlock()
			if err := s.catchUp(ctx); err != nil {
				s.qmu.Lock()
				s.needCatchUp = true
				s.qmu.Unlock()
				s.log.Warn("webhook catch-up from the change log failed; retrying later", "err", err)
				return total, err
			}
			continue
		}
		n := min(len(s.queue), enqueueBatch)
		batch := append([]SyncChange(nil), s.queue[:n]...)
		s.queue = s.queue[n:]
		var skipped map[string]uint64
		last := len(s.queue) == 0
		if last {
			// Progress noted while no hook was enabled follows everything
			// queued before it, which this batch ends.
			s.queue, skipped, s.skipped = nil, s.skipped, nil
		}
		s.qmu.Unlock()
		if n == 0 && skipped == nil && !flush {
			s.flushMarksIfDue(ctx)
			return total, nil
		}
		total += n
		if _, err := s.enqueueSync(ctx, batch, skipped, flush && last); err != nil {
			s.log.Warn("webhook deliveries not enqueued; catching up from the change log", "events", n, "err", err)
			return total, err
		}
		if n == 0 {
			return total, nil
		}
	}
}

// flushMarksIfDue writes pending marks when none were written for
// markFlushEvery.
func (s *Store) flushMarksIfDue(ctx context.Context) {
	if _, err := s.enqueueSync(ctx, nil, nil, false); err != nil && ctx.Err() == nil {
		s.log.Warn("webhook marks not written", "err", err)
	}
}

// enqueueSync writes the deliveries of changes to every matching hook,
// skipping versioned changes at or below their workspace's mark, and
// advances the marks (also to extra). The batch carries every pending
// mark when it carries a delivery, when flush is set, or when marks were
// last written markFlushEvery ago. When the commit fails the pending marks
// are forgotten and the next drain catches up from the change log, so
// nothing processed here is lost.
func (s *Store) enqueueSync(ctx context.Context, changes []SyncChange, extra map[string]uint64, flush bool) (int, error) {
	made := 0
	err := s.write(ctx, "", func(t *txn) error {
		hooks := s.sortedHooks()
		for i := range changes {
			c := &changes[i]
			if c.Version > 0 {
				if c.Version <= s.markOf(c.Workspace) {
					continue // enqueued already (catch-up, or before a restart)
				}
				s.advance(c.Workspace, c.Version)
			}
			typ := EventType(c)
			if typ == "" {
				continue
			}
			eventID := ""
			var data json.RawMessage // encoded once, shared by every hook's envelope
			for _, w := range hooks {
				if !matchesSync(w, c, typ) {
					continue
				}
				if data == nil {
					var err error
					if data, err = encodeJSON(projectData(c)); err != nil {
						return err
					}
					eventID = syncEventID(c)
				}
				body, err := envelope(typ, eventID, c.AtMs, c.Workspace, c.UserID, w.Scope, data)
				if err != nil {
					return err
				}
				if err := t.enqueue(w, eventID, typ, body); err != nil {
					return err
				}
				made++
			}
		}
		for ws, v := range extra {
			s.advance(ws, v)
		}
		if made > 0 || flush || (len(s.pend) > 0 && time.Since(s.marksAt) >= s.markEvery) {
			if err := t.writeMarks(); err != nil {
				return err
			}
			t.after = append(t.after, func() { s.marksAt = time.Now() })
		}
		return nil
	})
	if err != nil {
		s.mu.Lock()
		clear(s.pend)
		s.mu.Unlock()
		s.qmu.Lock()
		s.needCatchUp = true
		s.qmu.Unlock()
		return 0, err
	}
	if made > 0 {
		s.wake()
	}
	return made, nil
}

// matchesSync: admin hooks global or bound to the workspace; user hooks of
// the workspace — and for a notification only the recipient's own hooks,
// so no member sees another's notifications.
func matchesSync(w *Webhook, c *SyncChange, typ string) bool {
	if !matchesEvent(w, typ, w.Scope, c.Workspace) {
		return false
	}
	if c.Version > 0 && w.CreatedAtMs > c.AtMs {
		return false // registered after the op: catch-up must not send it history
	}
	if w.Scope == ScopeUser && c.Table == "notifications" && w.UserID != c.Owner {
		return false
	}
	return true
}

// envelope builds the signed body of §5.3: {event, event_id, timestamp,
// workspace_id, user_id (omitted for admin scope), scope, data}.
func envelope(typ, eventID string, atMs int64, workspace, user, scope string, data any) ([]byte, error) {
	ts := time.UnixMilli(atMs).UTC().Format("2006-01-02T15:04:05.000Z")
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	var err error
	if scope == ScopeAdmin {
		err = enc.Encode(struct {
			Event       string  `json:"event"`
			EventID     string  `json:"event_id"`
			Timestamp   string  `json:"timestamp"`
			WorkspaceID *string `json:"workspace_id"`
			Scope       string  `json:"scope"`
			Data        any     `json:"data"`
		}{typ, eventID, ts, nullable(workspace), scope, data})
	} else {
		err = enc.Encode(struct {
			Event       string  `json:"event"`
			EventID     string  `json:"event_id"`
			Timestamp   string  `json:"timestamp"`
			WorkspaceID *string `json:"workspace_id"`
			UserID      *string `json:"user_id"`
			Scope       string  `json:"scope"`
			Data        any     `json:"data"`
		}{typ, eventID, ts, nullable(workspace), nullable(user), scope, data})
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), err
}

// encodeJSON encodes v as compact JSON without HTML escaping.
func encodeJSON(v any) (json.RawMessage, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// maxContentChars is where message content is cut (§5.3).
const maxContentChars = 4096

// projectData is the event's data: the row with secrets stripped, message
// content cut to 4,096 characters, document content replaced by its
// length, and the key as "id" when the row has none.
func projectData(c *SyncChange) map[string]any {
	var row map[string]any
	if len(c.Payload) > 0 {
		d := json.NewDecoder(bytes.NewReader(c.Payload))
		d.UseNumber()
		_ = d.Decode(&row)
	}
	if row == nil {
		row = map[string]any{}
	}
	row = Sanitize(row).(map[string]any)
	if content, ok := row["content"].(string); ok {
		switch c.Table {
		case "messages":
			row["content"] = truncateChars(content, maxContentChars)
		case "posts":
			delete(row, "content")
			row["content_length"] = len([]rune(content))
		}
	}
	if _, ok := row["id"]; !ok {
		row["id"] = c.PK
	}
	if c.Delete {
		row["deleted"] = true
	}
	return row
}

// sensitive are the key names stripped from event data at any depth,
// compared with everything but letters and digits removed, lowercased.
var sensitive = map[string]bool{"apikey": true, "password": true, "token": true, "secret": true,
	"signingsecret": true, "authorization": true}

func normKey(k string) string {
	var b strings.Builder
	for _, r := range k {
		if r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// Sanitize strips sensitive keys (api_key, Authorization, signing-secret,
// …) from v at any depth.
func Sanitize(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			if sensitive[normKey(k)] {
				continue
			}
			out[k] = Sanitize(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = Sanitize(x)
		}
		return out
	}
	return v
}

// EventInput is an event the host asks syncd to deliver (admin.*,
// message.completed, custom hooks): emitEvent's argument.
type EventInput struct {
	Event       string
	WorkspaceID string
	UserID      string
	Scope       string // "" = both scopes' matching hooks
	Data        any
	// CustomHook, when set, delivers to admin hooks subscribed to it, with
	// data {args:[...]}.
	CustomHook string
}

// EmitEvent enqueues deliveries of a host event to every matching hook and
// returns its event id and how many deliveries were made.
func (s *Store) EmitEvent(ctx context.Context, in EventInput) (string, int, error) {
	if in.CustomHook == "" && (len(in.Event) > maxNameLen || !eventNameRE.MatchString(in.Event)) {
		return "", 0, validation("event is malformed")
	}
	if in.CustomHook != "" && (len(in.CustomHook) > maxNameLen || !hookNameRE.MatchString(in.CustomHook)) {
		return "", 0, validation("custom hook name is malformed")
	}
	if in.Scope != "" && in.Scope != ScopeUser && in.Scope != ScopeAdmin {
		return "", 0, validation("scope must be user or admin")
	}
	typ := in.Event
	if in.CustomHook != "" {
		typ = in.CustomHook
	}
	data := Sanitize(in.Data)
	if data == nil {
		data = map[string]any{}
	}
	eventID := uuid.NewString()
	made := 0
	err := s.write(ctx, in.UserID, func(t *txn) error {
		for _, w := range s.sortedHooks() {
			var match bool
			if in.CustomHook != "" {
				match = w.Enabled && w.Scope == ScopeAdmin && containsStr(w.CustomHooks, in.CustomHook)
			} else {
				match = (in.Scope == "" || in.Scope == w.Scope) && matchesEvent(w, typ, w.Scope, in.WorkspaceID)
			}
			if !match {
				continue
			}
			body, err := envelope(typ, eventID, t.atMs, in.WorkspaceID, in.UserID, w.Scope, data)
			if err != nil {
				return validation("event data does not encode: %v", err)
			}
			if len(body) > maxPayloadSize {
				return validation("event is larger than %d bytes", maxPayloadSize)
			}
			if err := t.enqueue(w, eventID, typ, body); err != nil {
				return err
			}
			made++
		}
		return nil
	})
	if err != nil {
		return "", 0, err
	}
	if made > 0 {
		s.wake()
	}
	return eventID, made, nil
}

// TestWebhook enqueues a webhook.test event ({ok:true,test:true}) to one
// webhook and returns the delivery (a disabled webhook's test is
// cancelled when the dispatcher takes it).
func (s *Store) TestWebhook(ctx context.Context, id string) (*Delivery, error) {
	var d *Delivery
	err := s.write(ctx, "", func(t *txn) error {
		w := s.hooks[id]
		if w == nil {
			return notFound(id)
		}
		body, err := envelope("webhook.test", uuid.NewString(), t.atMs, w.WorkspaceID, w.UserID, w.Scope,
			map[string]any{"ok": true, "test": true})
		if err != nil {
			return err
		}
		var ev map[string]any
		_ = json.Unmarshal(body, &ev)
		if err := t.enqueue(w, ev["event_id"].(string), "webhook.test", body); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.wake()
	logs, err := s.GetDeliveryLogs(ctx, id, 0)
	if err == nil && len(logs) > 0 {
		d = logs[0]
	}
	return d, err
}

func containsStr(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
