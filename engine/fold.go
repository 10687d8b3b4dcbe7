package engine

import (
	"bytes"
	"encoding/json"

	"github.com/or3/syncd/crdt"
	synclog "github.com/or3/syncd/log"
)

// foldOutcome is what folding one sync entry did.
type foldOutcome struct {
	applied     bool
	wasExisting bool
	row         synclog.RowRecord // the row after the fold
	rowExists   bool              // row holds an entity (it may be deleted)
}

// FoldChange derives state from one sync entry: counter, op_id index, row
// register and tombstone. The live push path and replay both call it, so
// replaying the log rebuilds exactly the state pushes wrote. It reads only
// through b and uses only values recorded in rec.
func FoldChange(b *synclog.Batch, ws string, v uint64, rec *synclog.ChangeRecord) error {
	_, err := foldChange(b, ws, v, rec)
	return err
}

func foldChange(b *synclog.Batch, ws string, v uint64, rec *synclog.ChangeRecord) (foldOutcome, error) {
	return foldChangeKnown(b, ws, v, rec, nil)
}

// known is what the push path has already read through the same batch for
// this op, so the fold need not read it again: the row (found or not) and
// that the op_id is not in the index. Replay passes nil.
type known struct {
	row      *synclog.RowRecord
	rowFound bool
	noIndex  bool
	// counterLater: the caller writes the workspace counter once for the
	// whole batch (push allocates a contiguous block), so the fold skips it.
	counterLater bool
	// softKnown: validation already read the put payload's top-level
	// deleted member (soft).
	softKnown, soft bool
}

func foldChangeKnown(b *synclog.Batch, ws string, v uint64, rec *synclog.ChangeRecord, k *known) (foldOutcome, error) {
	var out foldOutcome
	// Counter: the highest version allocated.
	if k == nil || !k.counterLater {
		if err := raiseCounter(b, ws, v); err != nil {
			return out, err
		}
	}
	// op_id index: the first entry of an opId keeps it.
	ikey := synclog.OpIndexKey(rec.OpID)
	var existing []byte
	if k == nil || !k.noIndex {
		var err error
		if existing, err = b.Get(ikey); err != nil {
			return out, err
		}
	}
	if existing == nil {
		if err := b.SetRecord(ikey, &synclog.OpIndexRecord{Workspace: ws, Version: v, Fingerprint: rec.Fingerprint}); err != nil {
			return out, err
		}
	}
	// The register.
	rkey := synclog.RowKey(ws, rec.Table, rec.PK)
	var row synclog.RowRecord
	var found bool
	if k != nil && k.row != nil {
		row, found = *k.row, k.rowFound
	} else {
		var err error
		if found, err = synclog.GetRecord(b, rkey, &row); err != nil {
			return out, err
		}
	}
	before := entityOf(&row, found)
	op := crdt.Op{Rev: revOf(rec)}
	if rec.Op == synclog.OpDelete {
		op.Kind = crdt.KindDelete
	} else {
		op.Kind = crdt.KindPut
		op.Payload = rec.Payload
		if k != nil && k.softKnown {
			op.SoftDeleted = k.soft
		} else {
			op.SoftDeleted = softDeleted(rec.Payload)
		}
	}
	after, res := before.Apply(op)
	out.applied = res.Applied
	out.wasExisting = !before.Empty()
	if res.Applied || res.PutChanged || res.TombChanged {
		if !found {
			row.CreatedAtMs = rec.CreatedAtMs
		}
		setEntity(&row, after)
		if res.Applied {
			row.ServerVersion = v
			row.DeviceID = rec.DeviceID
			row.UpdatedAtMs = rec.CreatedAtMs
			if op.Kind == crdt.KindDelete {
				row.DeletedAtMs = rec.CreatedAtMs
			} else {
				row.DeletedAtMs = 0
			}
		}
		if res.PutChanged && rec.Table == tableNotifications {
			row.Owner = payloadString(rec.Payload, "user_id")
		}
		if err := b.SetRecord(rkey, &row); err != nil {
			return out, err
		}
		found = true
	}
	out.row = row
	out.rowExists = found
	// The tombstone (sync-contract §4.4): every delete that beats it.
	if res.TombChanged {
		tkey := synclog.TombKey(ws, rec.Table, rec.PK)
		var tomb synclog.TombRecord
		tfound, err := synclog.GetRecord(b, tkey, &tomb)
		if err != nil {
			return out, err
		}
		if tfound {
			if err := b.Delete(synclog.TombByVersionKey(ws, tomb.ServerVersion)); err != nil {
				return out, err
			}
		} else {
			tomb.CreatedAtMs = rec.CreatedAtMs
		}
		tomb.Rev = logRev(op.Rev)
		tomb.ServerVersion = v
		tomb.DeletedAtMs = rec.CreatedAtMs
		if err := b.SetRecord(tkey, &tomb); err != nil {
			return out, err
		}
		if err := b.Set(synclog.TombByVersionKey(ws, v), []byte(synclog.EntityID(rec.Table, rec.PK))); err != nil {
			return out, err
		}
	}
	return out, nil
}

// raiseCounter makes ws's counter at least v.
func raiseCounter(b *synclog.Batch, ws string, v uint64) error {
	var ctr synclog.CounterRecord
	ckey := synclog.CounterKey(ws)
	if _, err := synclog.GetRecord(b, ckey, &ctr); err != nil {
		return err
	}
	if v <= ctr.Counter {
		return nil
	}
	ctr.Counter = v
	return b.SetRecord(ckey, &ctr)
}

func revOf(rec *synclog.ChangeRecord) crdt.Revision {
	return crdt.Revision{Clock: rec.Clock, HLC: rec.HLC, OpID: rec.OpID, Fingerprint: rec.Fingerprint}
}

func logRev(r crdt.Revision) synclog.Revision {
	return synclog.Revision{Clock: r.Clock, HLC: r.HLC, OpID: r.OpID, Fingerprint: r.Fingerprint}
}

func crdtRev(r synclog.Revision) crdt.Revision {
	return crdt.Revision{Clock: r.Clock, HLC: r.HLC, OpID: r.OpID, Fingerprint: r.Fingerprint}
}

// entityOf rebuilds the register from a stored row.
func entityOf(row *synclog.RowRecord, found bool) crdt.Entity {
	if !found {
		return crdt.Entity{}
	}
	var put *crdt.PutState
	if row.HasPut {
		put = &crdt.PutState{Rev: crdtRev(row.Put), Payload: row.Payload, SoftDeleted: row.SoftDel}
	}
	var tomb *crdt.Revision
	if row.HasTomb {
		t := crdtRev(row.Tomb)
		tomb = &t
	}
	return crdt.NewEntity(put, tomb)
}

func setEntity(row *synclog.RowRecord, e crdt.Entity) {
	row.Winner = logRev(e.Winner)
	row.WinnerKind = uint8(e.WinnerKind)
	row.HasPut = e.Put != nil
	if e.Put != nil {
		row.Put = logRev(e.Put.Rev)
		row.Payload = e.Put.Payload
		row.SoftDel = e.Put.SoftDeleted
	} else {
		row.Put, row.Payload, row.SoftDel = synclog.Revision{}, nil, false
	}
	row.HasTomb = e.Tomb != nil
	if e.Tomb != nil {
		row.Tomb = logRev(*e.Tomb)
	} else {
		row.Tomb = synclog.Revision{}
	}
}

// rowDeleted reports whether a stored row's winner is deleted.
func rowDeleted(row *synclog.RowRecord) bool {
	if row.WinnerKind == uint8(crdt.KindDelete) {
		return true
	}
	return row.SoftDel
}

// softDeleted reports whether a put payload says deleted:true at its top
// level.
func softDeleted(payload []byte) bool {
	if len(payload) == 0 || !bytes.Contains(payload, []byte(`"deleted"`)) {
		return false
	}
	fields, err := topLevelFields(payload)
	return err == nil && string(fields["deleted"]) == "true"
}

// payloadString returns a top-level string field of a payload, or "".
func payloadString(payload []byte, field string) string {
	if len(payload) == 0 {
		return ""
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(payload, &m) != nil {
		return ""
	}
	var s string
	if json.Unmarshal(m[field], &s) != nil {
		return ""
	}
	return s
}
