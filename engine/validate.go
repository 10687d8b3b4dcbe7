package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/or3/syncd/crdt"
	"github.com/or3/syncd/syncerr"
)

// Limits of sync-contract §2–3 and api.md Decisions 2.
const (
	MaxPushOps        = 100
	MaxPushBatchBytes = 2 << 20
	MaxPayloadBytes   = 262144
	MaxPullLimit      = 1000
	DefaultPullLimit  = 100
	MaxTablesFilter   = 50
	maxIDLen          = 256
	maxPKLen          = 1024
	maxTableLen       = 128
	maxHLCLen         = 512
	// maxSafeInt is JavaScript's Number.MAX_SAFE_INTEGER.
	maxSafeInt = 1<<53 - 1
)

// NormalizeScope trims and checks the workspace id.
func NormalizeScope(s Scope) (string, error) {
	ws := strings.TrimSpace(s.WorkspaceID)
	if ws == "" || len(ws) > maxIDLen {
		return "", syncerr.Validation("scope.workspaceId must be 1..256 characters")
	}
	if len(s.ProjectID) > maxIDLen {
		return "", syncerr.Validation("scope.projectId must be at most 256 characters")
	}
	return ws, nil
}

// checkBatchShape rejects a malformed batch whole (sync-contract §3.2 host
// validation; api.md Decisions 2): too many ops, too many bytes, or an op
// whose fields are outside the wire schema's bounds. Per-op rules (UUID,
// table, payload) are per-op results instead.
//
// preps, when not nil, holds each op's prepared payload (the compacted
// length is then known without another pass).
func checkBatchShape(b *PushBatch, preps []prepared) error {
	if len(b.Ops) > MaxPushOps {
		return syncerr.Validation("batch size %d exceeds maximum of %d ops", len(b.Ops), MaxPushOps)
	}
	size := b.OpsBytes
	if size == 0 {
		// Unknown size (a caller other than the HTTP decoder, e.g. a test or
		// an RPC): PushBatch.OpsBytes promises that the engine then counts
		// the compacted payloads, which are the bulk of any batch, so the
		// 2 MiB rule still bounds what one push can write.
		for i := range b.Ops {
			if preps != nil && preps[i].scan.ok {
				size += len(preps[i].compact)
			} else {
				size += compactLen(b.Ops[i].Payload)
			}
		}
	}
	if size > MaxPushBatchBytes {
		return syncerr.Validation("batch of %d bytes exceeds the %d-byte limit", size, MaxPushBatchBytes)
	}
	for i := range b.Ops {
		op := &b.Ops[i]
		switch {
		case op.TableName == "" || len(op.TableName) > maxTableLen:
			return syncerr.Validation("ops[%d].tableName must be 1..128 characters", i)
		case op.PK == "" || len(op.PK) > maxPKLen:
			return syncerr.Validation("ops[%d].pk must be 1..1024 characters", i)
		case op.Operation == "":
			return syncerr.Validation("ops[%d].operation is required", i)
		case op.Stamp.Clock < 0 || op.Stamp.Clock > maxSafeInt:
			return syncerr.Validation("ops[%d].stamp.clock must be a safe integer >= 0", i)
		case op.Stamp.HLC == "" || len(op.Stamp.HLC) > maxHLCLen:
			return syncerr.Validation("ops[%d].stamp.hlc must be 1..512 characters", i)
		case op.Stamp.OpID == "" || len(op.Stamp.OpID) > maxIDLen:
			return syncerr.Validation("ops[%d].stamp.opId must be 1..256 characters", i)
		}
		dev := strings.TrimSpace(op.Stamp.DeviceID)
		if dev == "" || len(dev) > maxIDLen {
			return syncerr.Validation("ops[%d].stamp.deviceId must be 1..256 characters", i)
		}
		op.Stamp.DeviceID = dev
	}
	return nil
}

// compactLen is len of json.Compact(raw) for valid JSON, without building
// it: every byte except the whitespace between tokens.
func compactLen(raw []byte) int {
	n, inStr, esc := 0, false, false
	for _, c := range raw {
		switch {
		case inStr:
			n++
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
		default:
			n++
			inStr = c == '"'
		}
	}
	return n
}

// IsUUID reports whether s is a UUID as sync-contract §3.2 step 3 defines
// it: case-insensitive 8-4-4-4-12 hex, version nibble 1–8, variant nibble
// 8, 9, a or b.
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
			continue
		}
		if !isHex(c) {
			return false
		}
	}
	if v := s[14]; v < '1' || v > '8' {
		return false
	}
	switch s[19] {
	case '8', '9', 'a', 'b', 'A', 'B':
	default:
		return false
	}
	return true
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// opError is a per-op failure.
type opError struct {
	code string
	msg  string
}

func perOp(code, format string, args ...any) *opError {
	return &opError{code: code, msg: fmt.Sprintf(format, args...)}
}

// payloadInfo is what validation learns about a put payload.
type payloadInfo struct {
	compact     []byte            // compacted payload, nil when absent or null
	fields      [numFields][]byte // raw values of the interesting top-level members; nil when absent
	softDeleted bool
}

// prepared is one op's payload after the single scanning pass: compacted,
// validated and its interesting members located (scan.ok), or known to be
// absent or null, or neither (then validation takes the general path).
type prepared struct {
	compact []byte
	scan    PayloadScan
	null    bool
}

// preparePayload runs the single pass over op's payload, or takes the one
// the decoder ran (op.Scan).
func preparePayload(op *PendingOp) prepared {
	raw := op.Payload
	if op.Scan.ok {
		return prepared{compact: raw, scan: op.Scan}
	}
	if len(raw) == 0 || string(raw) == "null" {
		return prepared{null: true}
	}
	i := skipWS(raw, 0)
	end, compact, scan, ok := ScanPayload(raw, i, crdt.MaxJSONDepth)
	if !ok || skipWS(raw, end) != len(raw) {
		return prepared{}
	}
	return prepared{compact: compact, scan: scan}
}

// fingerprintPayload is the payload bytes to fingerprint: the compacted
// ones when the scan succeeded (canonical JSON ignores whitespace, so the
// fingerprint is the same), else the payload as received.
func (p *prepared) fingerprintPayload(op *PendingOp) []byte {
	if p.scan.ok {
		return p.compact
	}
	return op.Payload
}

// validateOp applies the per-op rules of sync-contract §3.2 step 3 and the
// api.md overrides to one op (the representative of its opId group).
func validateOp(ws string, op *PendingOp) (*payloadInfo, *opError) {
	p := preparePayload(op)
	info := &payloadInfo{}
	if operr := validatePrepared(ws, op, &p, info); operr != nil {
		return nil, operr
	}
	return info, nil
}

// validatePrepared is validateOp over an already prepared payload; it
// fills info.
func validatePrepared(ws string, op *PendingOp, p *prepared, info *payloadInfo) *opError {
	if !IsUUID(op.Stamp.OpID) {
		return perOp(syncerr.CodeValidation, "op_id must be a UUID")
	}
	if !ValidTable(op.TableName) {
		return perOp(syncerr.CodeValidation, "Invalid table: %s", op.TableName)
	}
	switch op.Operation {
	case "put", "delete":
	case "patch":
		return perOp(syncerr.CodeValidation, "patch operations are not supported")
	default:
		return perOp(syncerr.CodeValidation, "Invalid operation: %s", op.Operation)
	}
	if p.null {
		if op.Operation == "put" {
			return perOp(syncerr.CodeValidation, "payload must be an object")
		}
		return nil
	}
	if !p.scan.ok {
		return validateGeneral(ws, op, info)
	}
	// The scan proved the payload a valid UTF-8 JSON object; the rest is
	// validateGeneral's, in its order.
	if len(p.compact) > MaxPayloadBytes {
		return perOp(syncerr.CodeOversized, "Payload too large for %s: exceeds %d bytes", op.TableName, MaxPayloadBytes)
	}
	info.compact = p.compact
	for slot := range info.fields {
		info.fields[slot] = p.scan.field(p.compact, slot)
	}
	return checkFields(ws, op, info)
}

// validateGeneral validates a payload the single pass did not accept:
// json.Compact, then the checks in the spec's order.
func validateGeneral(ws string, op *PendingOp, info *payloadInfo) *opError {
	raw := bytes.TrimSpace(op.Payload)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		if op.Operation == "put" {
			return perOp(syncerr.CodeValidation, "payload must be an object")
		}
		return nil
	}
	var buf bytes.Buffer
	buf.Grow(len(raw))
	if err := json.Compact(&buf, raw); err != nil {
		return perOp(syncerr.CodeValidation, "payload is not valid JSON")
	}
	if buf.Len() > MaxPayloadBytes {
		return perOp(syncerr.CodeOversized, "Payload too large for %s: exceeds %d bytes", op.TableName, MaxPayloadBytes)
	}
	if buf.Bytes()[0] != '{' {
		return perOp(syncerr.CodeValidation, "payload must be an object")
	}
	if !utf8.Valid(buf.Bytes()) {
		return perOp(syncerr.CodeValidation, "payload must be valid UTF-8")
	}
	info.compact = buf.Bytes()
	fields, err := topLevelFields(info.compact)
	if err != nil {
		return perOp(syncerr.CodeValidation, "payload must be an object: %v", err)
	}
	for slot, name := range fieldNames {
		info.fields[slot] = fields[name]
	}
	return checkFields(ws, op, info)
}

// checkFields applies the rules on the interesting top-level members.
func checkFields(ws string, op *PendingOp, info *payloadInfo) *opError {
	if d := info.fields[fieldDeleted]; d != nil {
		switch string(d) {
		case "true":
			info.softDeleted = op.Operation == "put"
		case "false":
		default:
			return perOp(syncerr.CodeValidation, "'deleted' must be a boolean")
		}
	}
	if info.fields[fieldUnderscoreID] != nil {
		return perOp(syncerr.CodeValidation, "'_id' is immutable")
	}
	if w := info.fields[fieldWorkspaceID]; w != nil {
		if s, isStr := jsonString(w); !isStr || s != ws {
			return perOp(syncerr.CodeValidation, "'workspace_id' is immutable")
		}
	}
	pkField := PKField(op.TableName)
	slot := fieldID
	if pkField == "hash" {
		slot = fieldHash
	}
	if v := info.fields[slot]; v != nil {
		if s, isStr := jsonString(v); !isStr || s != op.PK {
			return perOp(syncerr.CodeValidation, "'%s' must match operation pk", pkField)
		}
	}
	return nil
}

// interestingFields are the top-level payload fields validation and
// ownership look at; topLevelFields returns only these.
var interestingFields = map[string]bool{"deleted": true, "_id": true, "workspace_id": true, "id": true, "hash": true, "user_id": true}

// topLevelFields returns the raw JSON values of the interesting top-level
// members of obj, which must be a compacted, valid JSON object (validateOp
// ran json.Compact on it). It scans with snapshot.go's skipString and
// skipValue instead of decoding: a 1 KiB message
// payload costs a pass over its bytes, not a map of every field.
func topLevelFields(obj []byte) (map[string][]byte, error) {
	out := map[string][]byte{}
	if len(obj) < 2 || obj[0] != '{' {
		return nil, errNotObject
	}
	i := 1
	for i < len(obj) && obj[i] != '}' {
		if obj[i] != '"' {
			return nil, errNotObject
		}
		kEnd, ok := skipString(obj, i)
		if !ok || kEnd >= len(obj) || obj[kEnd] != ':' {
			return nil, errNotObject
		}
		rawKey := obj[i:kEnd]
		vStart := kEnd + 1
		vEnd, ok := skipValue(obj, vStart)
		if !ok {
			return nil, errNotObject
		}
		key, ok := jsonString(rawKey)
		if !ok {
			return nil, errNotObject
		}
		if interestingFields[key] {
			out[key] = obj[vStart:vEnd]
		}
		i = vEnd
		if i < len(obj) && obj[i] == ',' {
			i++
		}
	}
	return out, nil
}

var errNotObject = errors.New("not a JSON object")

// jsonString decodes a raw JSON string value.
func jsonString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// safeNonNegInt reports whether n is an integer in [0, 2^53-1].
func safeNonNegInt(f float64) bool {
	return f >= 0 && f <= maxSafeInt && f == math.Trunc(f)
}
