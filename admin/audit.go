package admin

//lint:file-ignore U1000 the _msgpack fields are msgpack's as_array markers, read by reflection

import (
	"context"
	"encoding/json"
	"strings"

	synclog "github.com/or3/syncd/log"
)

// evAudit is the one audit event type; the action is in its body.
const evAudit = "audit.record"

// auditBody is the body of an audit.record event.
type auditBody struct {
	_msgpack struct{} `msgpack:",as_array"`

	Action     string // "admin.grant", "member.role", "action.sync.gc-change-log", ...
	ActorType  string
	TargetType string // user | workspace | system
	TargetID   string
	Before     []byte // JSON; nil is null
	After      []byte // JSON; nil is null
	RequestID  string
}

// auditIndex is the index record of an audit event (PrefixAudit | seq).
type auditIndex struct {
	_msgpack struct{} `msgpack:",as_array"`

	Action     string
	Actor      string
	TargetType string
	TargetID   string
	AtMs       int64
}

func auditKey(seq uint64) []byte { return synclog.NewKey(synclog.PrefixAudit).U64(seq) }

func appendAudit(db *synclog.DB, b *synclog.Batch, atMs int64, actor Actor, action, targetType, targetID string, before, after any) error {
	return appendEvent(db, b, evAudit, atMs, actor.ID, &auditBody{
		Action: action, ActorType: actor.Type, TargetType: targetType, TargetID: targetID,
		Before: jsonOf(before), After: jsonOf(after), RequestID: actor.RequestID,
	})
}

func foldAudit(b *synclog.Batch, seq uint64, ev *synclog.SystemEvent, x *auditBody) error {
	return b.SetRecord(auditKey(seq), &auditIndex{
		Action: x.Action, Actor: ev.Actor, TargetType: x.TargetType, TargetID: x.TargetID, AtMs: ev.AtMs,
	})
}

// AuditEntry is one audit record as reads return it.
type AuditEntry struct {
	Seq        uint64          `json:"seq"`
	Action     string          `json:"action"`
	ActorID    string          `json:"actorId"`
	ActorType  string          `json:"actorType"`
	TargetType string          `json:"targetType,omitempty"`
	TargetID   string          `json:"targetId,omitempty"`
	Before     json.RawMessage `json:"before"`
	After      json.RawMessage `json:"after"`
	RequestID  string          `json:"requestId,omitempty"`
	CreatedAt  int64           `json:"createdAt"` // epoch ms
}

// AuditQuery filters ListAudit.
type AuditQuery struct {
	Before   uint64 // only entries with seq < Before (0: no bound): the page cursor
	SinceMs  int64  // only entries at or after this time
	Action   string // an action, or a prefix ending in "." ("member.")
	TargetID string
	ActorID  string
	Limit    int // default 50, at most MaxAuditLimit
}

// MaxAuditLimit caps one page of the audit log.
const MaxAuditLimit = 500

// AuditPage is one page of the audit log, newest first.
type AuditPage struct {
	Items      []AuditEntry `json:"items"`
	NextBefore uint64       `json:"nextBefore,omitempty"` // pass as Before for the next page; 0 at the end
}

// ListAudit reads the audit log, newest first, from the durable view.
func (s *Service) ListAudit(ctx context.Context, q AuditQuery) (AuditPage, error) {
	if q.Limit <= 0 {
		q.Limit = 50
	}
	q.Limit = min(q.Limit, MaxAuditLimit)
	page := AuditPage{Items: []AuditEntry{}}
	err := s.read(func(v *synclog.View) error {
		lower := []byte{synclog.PrefixAudit}
		upper := synclog.PrefixEnd(lower)
		if q.Before > 0 {
			upper = auditKey(q.Before)
		}
		it, err := v.NewIter(lower, upper)
		if err != nil {
			return err
		}
		defer it.Close()
		for ok := it.Last(); ok; ok = it.Prev() {
			seq := synclog.ReadKey(it.Key()).U64()
			var ix auditIndex
			if err := synclog.Decode(it.Key(), it.Value(), &ix); err != nil {
				return err
			}
			if q.SinceMs > 0 && ix.AtMs < q.SinceMs {
				break // seq order is time order within a region
			}
			if !matchAction(q.Action, ix.Action) || (q.TargetID != "" && ix.TargetID != q.TargetID) ||
				(q.ActorID != "" && ix.Actor != q.ActorID) {
				continue
			}
			if len(page.Items) == q.Limit {
				page.NextBefore = page.Items[len(page.Items)-1].Seq
				break
			}
			var ev synclog.SystemEvent
			if _, err := synclog.GetRecord(v, synclog.SystemKey(seq), &ev); err != nil {
				return err
			}
			var body auditBody
			if err := synclog.Decode(synclog.SystemKey(seq), ev.Body, &body); err != nil {
				return err
			}
			page.Items = append(page.Items, AuditEntry{
				Seq: seq, Action: body.Action, ActorID: ev.Actor, ActorType: body.ActorType,
				TargetType: body.TargetType, TargetID: body.TargetID, Before: rawOrNull(body.Before),
				After: rawOrNull(body.After), RequestID: body.RequestID, CreatedAt: ev.AtMs,
			})
		}
		return it.Error()
	})
	return page, err
}

func matchAction(want, got string) bool {
	switch {
	case want == "":
		return true
	case strings.HasSuffix(want, "."):
		return strings.HasPrefix(got, want)
	}
	return want == got
}

func rawOrNull(b []byte) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("null")
	}
	return json.RawMessage(b)
}

// RecordAction writes an audit record of a maintenance action in its own
// batch (actions span many commits; the record follows their outcome).
func (s *Service) RecordAction(ctx context.Context, actor Actor, action string, params, result any) error {
	return s.write(ctx, actor, func(t *txn) error {
		return t.audit("action."+action, "system", s.cfg.Region, params, result)
	})
}
