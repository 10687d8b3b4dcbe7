package api

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/or3/syncd/engine"
	"github.com/or3/syncd/syncerr"
)

// Decoders of the sync bodies (sync-contract §2–3, camelCase) into the
// engine's wire types. They check JSON types and integer-ness only; value
// rules (lengths, UUIDs, tables, limits) are the engine's.

func decodeScope(o object) (engine.Scope, error) {
	so, err := o.object("scope", true)
	if err != nil {
		return engine.Scope{}, err
	}
	ws, err := so.str("workspaceId")
	if err != nil {
		return engine.Scope{}, err
	}
	pid, err := so.str("projectId")
	if err != nil {
		return engine.Scope{}, err
	}
	return engine.Scope{WorkspaceID: ws, ProjectID: pid}, nil
}

// decodePush decodes a PushBatch. Each op's payload stays raw (its bytes
// as received); the PendingOp outbox fields (id, createdAt, attempts,
// nextAttemptAt, status, lastError, …) are accepted and ignored. OpsBytes
// is the length of the compacted ops array as received (api.md Overrides).
func decodePush(body []byte) (engine.PushBatch, error) {
	var batch engine.PushBatch
	top, err := parseObject(body, "")
	if err != nil {
		return batch, err
	}
	if batch.Scope, err = decodeScope(top); err != nil {
		return batch, err
	}
	rawOps := top.raw("ops")
	if isNull(rawOps) {
		return batch, syncerr.Validation("ops is required (an array of operations)")
	}
	if rawOps[0] != '[' {
		return batch, syncerr.Validation("ops must be an array, not %s", jsonKind(rawOps))
	}
	// Refuse an over-long batch before decoding its elements, so a 3 MiB
	// body of tiny elements cannot make us allocate a million of them. The
	// message is the engine's own for the same rule.
	if n := countElements(rawOps); n > engine.MaxPushOps {
		return batch, syncerr.Validation("batch size %d exceeds maximum of %d ops", n, engine.MaxPushOps)
	}
	var compact bytes.Buffer
	compact.Grow(len(rawOps))
	if err := json.Compact(&compact, rawOps); err != nil {
		return batch, syncerr.Validation("ops: %v", err)
	}
	batch.OpsBytes = compact.Len()
	items, err := parseArray(rawOps, "ops")
	if err != nil {
		return batch, err
	}
	batch.Ops = make([]engine.PendingOp, len(items))
	for i, it := range items {
		if batch.Ops[i], err = decodeOp(it, fmt.Sprintf("ops[%d]", i)); err != nil {
			return batch, err
		}
	}
	return batch, nil
}

func decodeOp(raw json.RawMessage, path string) (engine.PendingOp, error) {
	var op engine.PendingOp
	o, err := parseObject(raw, path)
	if err != nil {
		return op, err
	}
	if op.TableName, err = o.str("tableName"); err != nil {
		return op, err
	}
	if op.Operation, err = o.str("operation"); err != nil {
		return op, err
	}
	if op.PK, err = o.str("pk"); err != nil {
		return op, err
	}
	// An absent payload and payload:null are the same op (sync-contract
	// §3.3); both reach the engine as nil.
	if p := o.raw("payload"); !isNull(p) {
		op.Payload = p
	}
	st, err := o.object("stamp", true)
	if err != nil {
		return op, err
	}
	if op.Stamp.DeviceID, err = st.str("deviceId"); err != nil {
		return op, err
	}
	if op.Stamp.OpID, err = st.str("opId"); err != nil {
		return op, err
	}
	if op.Stamp.HLC, err = st.str("hlc"); err != nil {
		return op, err
	}
	if op.Stamp.Clock, _, err = st.int("clock", true); err != nil {
		return op, err
	}
	return op, nil
}

// decodePull decodes a PullRequest. A missing or null limit stays nil (the
// engine's default); fileKindCapability and other extras are ignored.
func decodePull(body []byte) (engine.PullRequest, error) {
	var req engine.PullRequest
	top, err := parseObject(body, "")
	if err != nil {
		return req, err
	}
	if req.Scope, err = decodeScope(top); err != nil {
		return req, err
	}
	if req.Cursor, _, err = top.int("cursor", true); err != nil {
		return req, err
	}
	if err := nonNegative(req.Cursor, "cursor"); err != nil {
		return req, err
	}
	limit, present, err := top.int("limit", false)
	if err != nil {
		return req, err
	}
	if present {
		l := int(limit)
		req.Limit = &l
	}
	if req.Tables, err = top.strings("tables"); err != nil {
		return req, err
	}
	return req, nil
}

// decodeCursor decodes an update-cursor body {scope, deviceId, version}.
func decodeCursor(body []byte) (engine.CursorRequest, error) {
	var req engine.CursorRequest
	top, err := parseObject(body, "")
	if err != nil {
		return req, err
	}
	if req.Scope, err = decodeScope(top); err != nil {
		return req, err
	}
	if req.DeviceID, err = top.str("deviceId"); err != nil {
		return req, err
	}
	if req.Version, _, err = top.int("version", true); err != nil {
		return req, err
	}
	if err := nonNegative(req.Version, "version"); err != nil {
		return req, err
	}
	return req, nil
}

// countElements counts the elements of a well-formed JSON array.
func countElements(arr []byte) int {
	depth, n, empty := 0, 0, true
	for i := 0; i < len(arr); i++ {
		switch c := arr[i]; c {
		case '"':
			if depth == 1 {
				empty = false
			}
			for i++; i < len(arr) && arr[i] != '"'; i++ {
				if arr[i] == '\\' {
					i++
				}
			}
		case '[', '{':
			if depth == 1 {
				empty = false
			}
			depth++
		case ']', '}':
			depth--
		case ',':
			if depth == 1 {
				n++
			}
		case ' ', '\t', '\r', '\n':
		default:
			if depth == 1 {
				empty = false
			}
		}
	}
	if empty {
		return 0
	}
	return n + 1
}
