package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

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

// Nesting levels of a push body (the top object is level 1): checkJSON's
// MaxJSONDepth bounds the whole body, so a member value at level L may
// itself nest MaxJSONDepth-L+1 levels.
const (
	levelTopMember = 2 // scope, ops, extras
	levelScopeMem  = 3
	levelOpMember  = 4 // payload, stamp, outbox fields
	levelStampMem  = 5
)

func depthAt(level int) int { return MaxJSONDepth - level + 1 }

// decodePushFast decodes a push body in one pass: it checks everything
// checkJSON and decodePush check (JSON grammar, UTF-8, nesting, numbers
// within float64, strict types), compacts each payload and notes its
// interesting members (engine.ScanPayload), and counts the compacted ops
// array. It accepts only bodies that both accept and decode to the same
// batch (except that payloads arrive compacted and pre-scanned, which the
// engine treats exactly as the bytes received); for anything else — a
// malformed body, a wrong type, a duplicate member, an escaped key, more
// than 100 ops — ok is false and the caller runs checkJSON and decodePush,
// whose answers are the reference.
func decodePushFast(body []byte) (batch engine.PushBatch, ok bool) {
	d := fastDec{b: body}
	i := d.ws(0)
	if i >= len(body) || body[i] != '{' {
		return batch, false
	}
	var seen uint8
	end, _, ok := d.object(i, func(key []byte, v int) (int, int, bool) {
		switch string(key) {
		case "scope":
			if seen&1 != 0 {
				return 0, 0, false
			}
			seen |= 1
			return d.scope(v, &batch.Scope)
		case "ops":
			if seen&2 != 0 {
				return 0, 0, false
			}
			seen |= 2
			end, n, ok := d.ops(v, &batch.Ops)
			batch.OpsBytes = n
			return end, n, ok
		}
		return d.skip(v, depthAt(levelTopMember))
	})
	if !ok || seen != 3 || d.ws(end) != len(body) {
		return engine.PushBatch{}, false
	}
	return batch, true
}

// fastDec is decodePushFast's scanner over one body.
type fastDec struct{ b []byte }

func (d *fastDec) ws(i int) int {
	for i < len(d.b) {
		if c := d.b[i]; c != ' ' && c != '\n' && c != '\t' && c != '\r' {
			break
		}
		i++
	}
	return i
}

// skip validates the value at b[v] and returns its end and compacted
// length.
func (d *fastDec) skip(v, maxDepth int) (int, int, bool) {
	return engine.SkipJSON(d.b, v, maxDepth)
}

// object walks the object at b[i] == '{': member gets each raw key (keys
// with escapes are refused) and the index of its value, and returns the
// value's end and compacted length. object returns the end of the object
// and its compacted length.
func (d *fastDec) object(i int, member func(key []byte, v int) (int, int, bool)) (int, int, bool) {
	b := d.b
	if i >= len(b) || b[i] != '{' {
		return 0, 0, false
	}
	n := 2 // {}
	i = d.ws(i + 1)
	if i < len(b) && b[i] == '}' {
		return i + 1, n, true
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return 0, 0, false
		}
		kEnd, _, ok := engine.SkipJSON(b, i, 0)
		if !ok {
			return 0, 0, false
		}
		key := b[i+1 : kEnd-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			return 0, 0, false
		}
		i = d.ws(kEnd)
		if i >= len(b) || b[i] != ':' {
			return 0, 0, false
		}
		i = d.ws(i + 1)
		end, vn, ok := member(key, i)
		if !ok {
			return 0, 0, false
		}
		n += len(key) + 3 + vn // "key":value
		i = d.ws(end)
		if i >= len(b) {
			return 0, 0, false
		}
		switch b[i] {
		case ',':
			n++
			i = d.ws(i + 1)
		case '}':
			return i + 1, n, true
		default:
			return 0, 0, false
		}
	}
}

// str decodes the string (or null, as "") at b[v]; any other type is
// refused.
func (d *fastDec) str(v int, dst *string) (int, int, bool) {
	b := d.b
	if v < len(b) && b[v] == 'n' {
		if len(b)-v >= 4 && string(b[v:v+4]) == "null" {
			*dst = ""
			return v + 4, 4, true
		}
		return 0, 0, false
	}
	if v >= len(b) || b[v] != '"' {
		return 0, 0, false
	}
	end, _, ok := engine.SkipJSON(b, v, 0)
	if !ok {
		return 0, 0, false
	}
	raw := b[v+1 : end-1]
	if bytes.IndexByte(raw, '\\') < 0 {
		*dst = string(raw)
	} else if json.Unmarshal(b[v:end], dst) != nil {
		return 0, 0, false
	}
	return end, end - v, true
}

func (d *fastDec) scope(v int, sc *engine.Scope) (int, int, bool) {
	var seen uint8
	return d.object(v, func(key []byte, v int) (int, int, bool) {
		switch string(key) {
		case "workspaceId":
			if seen&1 != 0 {
				return 0, 0, false
			}
			seen |= 1
			return d.str(v, &sc.WorkspaceID)
		case "projectId":
			if seen&2 != 0 {
				return 0, 0, false
			}
			seen |= 2
			return d.str(v, &sc.ProjectID)
		}
		return d.skip(v, depthAt(levelScopeMem))
	})
}

// ops decodes the ops array at b[v] (at most MaxPushOps elements, each an
// object).
func (d *fastDec) ops(v int, dst *[]engine.PendingOp) (int, int, bool) {
	b := d.b
	if v >= len(b) || b[v] != '[' {
		return 0, 0, false
	}
	ops := make([]engine.PendingOp, 0, 16)
	n := 2 // []
	i := d.ws(v + 1)
	if i < len(b) && b[i] == ']' {
		*dst = ops
		return i + 1, n, true
	}
	for {
		if len(ops) == engine.MaxPushOps {
			return 0, 0, false // decodePush answers the exact error
		}
		ops = append(ops, engine.PendingOp{})
		end, on, ok := d.op(i, &ops[len(ops)-1])
		if !ok {
			return 0, 0, false
		}
		n += on
		i = d.ws(end)
		if i >= len(b) {
			return 0, 0, false
		}
		switch b[i] {
		case ',':
			n++
			i = d.ws(i + 1)
		case ']':
			*dst = ops
			return i + 1, n, true
		default:
			return 0, 0, false
		}
	}
}

func (d *fastDec) op(v int, op *engine.PendingOp) (int, int, bool) {
	var seen uint8
	end, n, ok := d.object(v, func(key []byte, v int) (int, int, bool) {
		bit := uint8(0)
		switch string(key) {
		case "tableName":
			bit = 1
		case "operation":
			bit = 2
		case "pk":
			bit = 4
		case "payload":
			bit = 8
		case "stamp":
			bit = 16
		default:
			return d.skip(v, depthAt(levelOpMember))
		}
		if seen&bit != 0 {
			return 0, 0, false
		}
		seen |= bit
		switch bit {
		case 1:
			return d.str(v, &op.TableName)
		case 2:
			return d.str(v, &op.Operation)
		case 4:
			return d.str(v, &op.PK)
		case 8:
			return d.payload(v, op)
		default:
			return d.stamp(v, &op.Stamp)
		}
	})
	// The stamp is required (decodePush: "ops[i].stamp is required").
	return end, n, ok && seen&16 != 0
}

// payload takes the payload at b[v]: null is no payload (as in
// decodePush); an object is scanned and compacted once; anything else is
// kept as received, for the engine's per-op answer.
func (d *fastDec) payload(v int, op *engine.PendingOp) (int, int, bool) {
	b := d.b
	maxDepth := depthAt(levelOpMember)
	if v < len(b) && b[v] == '{' {
		if end, compact, scan, ok := engine.ScanPayload(b, v, maxDepth); ok {
			op.Payload, op.Scan = compact, scan
			return end, len(compact), true
		}
	}
	end, n, ok := engine.SkipJSON(b, v, maxDepth)
	if !ok {
		return 0, 0, false
	}
	if raw := b[v:end]; !isNull(raw) {
		op.Payload = append([]byte(nil), raw...)
	}
	return end, n, true
}

func (d *fastDec) stamp(v int, st *engine.Stamp) (int, int, bool) {
	if v >= len(d.b) || d.b[v] != '{' {
		return 0, 0, false
	}
	var seen uint8
	end, n, ok := d.object(v, func(key []byte, v int) (int, int, bool) {
		bit := uint8(0)
		switch string(key) {
		case "deviceId":
			bit = 1
		case "opId":
			bit = 2
		case "hlc":
			bit = 4
		case "clock":
			bit = 8
		default:
			return d.skip(v, depthAt(levelStampMem))
		}
		if seen&bit != 0 {
			return 0, 0, false
		}
		seen |= bit
		switch bit {
		case 1:
			return d.str(v, &st.DeviceID)
		case 2:
			return d.str(v, &st.OpID)
		case 4:
			return d.str(v, &st.HLC)
		default:
			return d.clock(v, &st.Clock)
		}
	})
	// clock is required (decodePush: "...clock is required").
	return end, n, ok && seen&8 != 0
}

// clock decodes a plain integer literal within ±(2^53−1); fractions,
// exponents and null are left to decodePush.
func (d *fastDec) clock(v int, dst *int64) (int, int, bool) {
	end, n, ok := engine.SkipJSON(d.b, v, 0)
	if !ok || end-v > 17 {
		return 0, 0, false
	}
	lit := d.b[v:end]
	for _, c := range lit {
		if c != '-' && (c < '0' || c > '9') {
			return 0, 0, false
		}
	}
	x, err := strconv.ParseInt(string(lit), 10, 64)
	if err != nil || x > maxSafeInt || x < -maxSafeInt {
		return 0, 0, false
	}
	*dst = x
	return end, n, true
}
