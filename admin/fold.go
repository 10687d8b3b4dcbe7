package admin

import (
	"fmt"

	synclog "github.com/or3/syncd/log"
)

// Domains are the system-event domains this package folds.
var Domains = []string{"admin", "settings", "audit"}

// Register registers Fold on m for every domain in Domains.
func Register(m *synclog.FolderMux) {
	for _, d := range Domains {
		m.Handle(d, Fold)
	}
}

// Fold applies one admin, settings or audit event to the state keyspaces
// through b. The write path calls it right after appending the event and
// replay calls it in sequence order; it reads only its own keyspaces and
// takes its only time from ev.AtMs.
func Fold(b *synclog.Batch, seq uint64, ev *synclog.SystemEvent) error {
	key := synclog.SystemKey(seq)
	var err error
	switch ev.Type {
	case evGrant:
		var x grantBody
		if err = synclog.Decode(key, ev.Body, &x); err == nil {
			err = b.SetRecord(grantKey(x.UserID), &grantRecord{CreatedAtMs: ev.AtMs, CreatedByUserID: x.CreatedByUserID})
		}
	case evRevoke:
		var x grantBody
		if err = synclog.Decode(key, ev.Body, &x); err == nil {
			err = b.Delete(grantKey(x.UserID))
		}
	case evSettingSet:
		var x settingBody
		if err = synclog.Decode(key, ev.Body, &x); err == nil {
			err = b.SetRecord(settingKey(x.WorkspaceID, x.Key), &settingRecord{Value: x.Value, UpdatedAtMs: ev.AtMs, UpdatedBy: ev.Actor})
		}
	case evAudit:
		var x auditBody
		if err = synclog.Decode(key, ev.Body, &x); err == nil {
			err = foldAudit(b, seq, ev, &x)
		}
	default:
		return fmt.Errorf("admin: fold: unknown event type %q", ev.Type)
	}
	if err != nil {
		return fmt.Errorf("admin: fold %s (seq %d): %w", ev.Type, seq, err)
	}
	return nil
}
