package engine

import (
	"context"
	"fmt"

	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/syncerr"
)

// ServerOp is a server-authored write (sync-contract §3.11): a
// notification, a file_meta row on storage commit, a kv entry.
type ServerOp struct {
	Workspace string
	Table     string
	PK        string
	Operation string // "put" or "delete"
	Payload   []byte // JSON object for a put
	// Owner is the owning user of a notification.
	Owner string
}

// ServerDevice is the device id of server-authored ops.
const ServerDevice = "server"

// ServerWrite logs and merges a server-authored op with a fresh UUID op_id
// and one version, through the same LWW path as client ops. Its clock is
// the key's current winning clock + 1, so it beats what is there now and a
// later client edit (which bumps the clock it saw) still beats it — unlike
// the existing providers' epoch-seconds clock (sync-contract §6 item 2).
func (e *Engine) ServerWrite(ctx context.Context, sop ServerOp) (OpResult, error) {
	if !ValidTable(sop.Table) {
		return OpResult{}, syncerr.Validation("Invalid table: %s", sop.Table)
	}
	if sop.PK == "" || len(sop.PK) > maxPKLen {
		return OpResult{}, syncerr.Validation("pk must be 1..1024 characters")
	}
	unlock := e.locks.lock(sop.Workspace)
	defer unlock()
	b := e.db.NewBatch()
	defer b.Close()

	opID := e.cfg.NewOpID()
	now := e.cfg.Now()
	var row synclog.RowRecord
	found, err := synclog.GetRecord(b, synclog.RowKey(sop.Workspace, sop.Table, sop.PK), &row)
	if err != nil {
		return OpResult{}, readErr(err)
	}
	clock := int64(1)
	if found {
		clock = row.Winner.Clock + 1
	}
	payload := sop.Payload
	if sop.Operation == "put" {
		if sop.Table == tableNotifications && sop.Owner != "" {
			if payload, err = setField(payload, "user_id", sop.Owner); err != nil {
				return OpResult{}, syncerr.Validation("payload must be an object")
			}
		}
		if payload, err = setField(payload, "clock", clock); err != nil {
			return OpResult{}, syncerr.Validation("payload must be an object")
		}
	} else {
		payload = nil
	}
	op := PendingOp{TableName: sop.Table, Operation: sop.Operation, PK: sop.PK, Payload: payload,
		Stamp: Stamp{DeviceID: ServerDevice, OpID: opID, Clock: clock, HLC: fmt.Sprintf("%013d:0000:server", now.UnixMilli())}}
	info, operr := validateOp(sop.Workspace, &op)
	if operr != nil {
		return OpResult{}, syncerr.Validation("%s", operr.msg)
	}
	g := &opGroup{opID: opID, idx: []int{0}}
	if g.fp, err = fingerprintOf(&op); err != nil {
		return OpResult{}, syncerr.Validation("%v", err)
	}
	ctr, err := readCounter(b, sop.Workspace)
	if err != nil {
		return OpResult{}, err
	}
	v := ctr.Counter + 1
	rec := &synclog.ChangeRecord{
		Table: sop.Table, PK: sop.PK, Op: opCode(sop.Operation), Payload: info.compact,
		Clock: clock, HLC: op.Stamp.HLC, DeviceID: ServerDevice, OpID: opID, Fingerprint: g.fp,
		CreatedAtMs: now.UnixMilli(), Owner: sop.Owner,
	}
	if sop.Table == tableNotifications && sop.Operation == "delete" && found {
		rec.Owner = row.Owner
	}
	if err := b.AppendEvent(synclog.ChangeKey(sop.Workspace, v), rec); err != nil {
		return OpResult{}, syncerr.Internal(err, "append")
	}
	out, err := foldChange(b, sop.Workspace, v, rec)
	if err != nil {
		return OpResult{}, readErr(err)
	}
	if err := e.db.Commit(ctx, b); err != nil {
		return OpResult{}, commitErr(err)
	}
	ch := Change{SyncChange: changeOf(v, rec), Owner: rec.Owner, Applied: out.applied, WasExisting: out.wasExisting}
	if out.applied {
		ch.RowPayload = out.row.Payload
	}
	e.notify(Committed{Workspace: sop.Workspace, Changes: []Change{ch}, Counter: v})
	res := OpResult{OpID: opID, Success: true, ServerVersion: v, Applied: boolp(out.applied),
		WasExisting: boolp(out.wasExisting), TableName: sop.Table, Operation: sop.Operation, Payload: info.compact}
	return res, nil
}

func fingerprintOf(op *PendingOp) (string, error) {
	return crdtFingerprint(op)
}
