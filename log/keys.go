package log

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Keyspace prefixes. Every Pebble key starts with one of these bytes. The
// layout is documented in ARCHITECTURE.md; changing a value is a format
// change.
//
// Event keyspaces hold the append-only records. State keyspaces hold what
// the events imply; replaying every event rebuilds them byte for byte.
const (
	// PrefixMeta holds store metadata (format version, region, counters that
	// are not state of any module).
	PrefixMeta byte = 0x01

	// --- events ---

	// PrefixChange: sync-op entries, one per accepted op.
	// key: 0x10 | ws | u64 server_version → ChangeRecord.
	PrefixChange byte = 0x10
	// PrefixSystem: system events (users, workspaces, members, invites,
	// cursors, jobs, webhooks, audit, GC runs).
	// key: 0x20 | u64 system seq → SystemEvent.
	PrefixSystem byte = 0x20
	// PrefixOrigin: the region's own accepted events in origin order, for
	// replication. key: 0x21 | u64 originSeq → the event's key.
	PrefixOrigin byte = 0x21
	// PrefixApplied: how far remote origins have been applied.
	// key: 0x22 | region → u64 originSeq.
	PrefixApplied byte = 0x22

	// --- sync state (derived from PrefixChange) ---

	// PrefixOpIndex: op_id → where it was logged. key: 0x11 | opId → OpIndexRecord.
	PrefixOpIndex byte = 0x11
	// PrefixCounter: per-workspace counters. key: 0x12 | ws → CounterRecord.
	PrefixCounter byte = 0x12
	// PrefixRow: materialized entity per key. key: 0x13 | ws | table 0x00 pk → RowRecord.
	PrefixRow byte = 0x13
	// PrefixTomb: tombstones. key: 0x14 | ws | table 0x00 pk → TombRecord.
	PrefixTomb byte = 0x14
	// PrefixTombByVersion: tombstones by the version that installed them,
	// for GC paging. key: 0x15 | ws | u64 version → table 0x00 pk.
	PrefixTombByVersion byte = 0x15

	// --- system state (derived from PrefixSystem) ---

	// PrefixCursor: device cursors. key: 0x16 | ws | deviceId → CursorRecord.
	PrefixCursor byte = 0x16
	// PrefixUser: users. key: 0x30 | userId.
	PrefixUser byte = 0x30
	// PrefixAccount: auth accounts. key: 0x31 | provider | providerUserId → userId.
	PrefixAccount byte = 0x31
	// PrefixWorkspace: workspaces. key: 0x32 | ws.
	PrefixWorkspace byte = 0x32
	// PrefixMember: memberships by workspace. key: 0x33 | ws | userId → role.
	PrefixMember byte = 0x33
	// PrefixMemberByUser: memberships by user. key: 0x34 | userId | ws → role.
	PrefixMemberByUser byte = 0x34
	// PrefixInvite: invites. key: 0x35 | ws | inviteId; by token hash 0x36 | ws | sha256(tokenHash).
	PrefixInvite        byte = 0x35
	PrefixInviteByToken byte = 0x36
	// PrefixAdmin: deployment admin grants. key: 0x37 | userId.
	PrefixAdmin byte = 0x37
	// PrefixSettings: workspace settings. key: 0x38 | ws | key.
	PrefixSettings byte = 0x38
	// PrefixAudit: the audit index (admin module). key: 0x39 | u64 system
	// seq of an audit event → a short summary of it.
	PrefixAudit byte = 0x39
	// PrefixJob: background jobs. key: 0x40 | jobId; chunks 0x41 | jobId | u64 offset.
	PrefixJob      byte = 0x40
	PrefixJobChunk byte = 0x41
	// PrefixIntent: upload intents. key: 0x50 | intentId; by workspace 0x51 | ws | intentId.
	PrefixIntent     byte = 0x50
	PrefixIntentByWS byte = 0x51
	// PrefixBlob: blobs the storage gateway stored, by workspace and
	// normalized hash. key: 0x52 | ws | hash → blobs.Record.
	PrefixBlob byte = 0x52
	// PrefixBlobUpload: upload URLs the gateway issued whose objects the
	// abandoned-upload sweep checks once due. key: 0x53 | ws | hash →
	// blobs.Pending.
	PrefixBlobUpload byte = 0x53
	// PrefixWebhook: webhook registrations 0x60 | id; deliveries 0x61 | id.
	PrefixWebhook  byte = 0x60
	PrefixDelivery byte = 0x61
	// PrefixWebhookMark: per workspace, the server_version up to which
	// applied ops' webhook events are enqueued (written in the batch of
	// their deliveries; region-local progress like 0x22, state only, not
	// rebuilt by replay). key: 0x62 | ws → u64; 0x62 alone marks them
	// initialized.
	PrefixWebhookMark byte = 0x62
	// PrefixRateWindow: rate-limit windows (state only, no events, not
	// replicated; model.md §2). key: 0x70 | bucket key.
	PrefixRateWindow byte = 0x70
	// PrefixTest is reserved for tests of this package.
	PrefixTest byte = 0x7f
)

// stateKeyspaces are the prefixes rebuilt by replay.
var stateKeyspaces = []byte{
	PrefixOpIndex, PrefixCounter, PrefixRow, PrefixTomb, PrefixTombByVersion,
	PrefixCursor, PrefixUser, PrefixAccount, PrefixWorkspace, PrefixMember,
	PrefixMemberByUser, PrefixInvite, PrefixInviteByToken, PrefixAdmin,
	PrefixSettings, PrefixAudit, PrefixJob, PrefixJobChunk, PrefixIntent, PrefixIntentByWS, PrefixBlob, PrefixBlobUpload,
	PrefixWebhook, PrefixDelivery,
}

// StateKeyspaces returns the prefixes of every keyspace that replay rebuilds.
func StateKeyspaces() []byte { return append([]byte(nil), stateKeyspaces...) }

// ErrBadKey reports a key that does not parse in its keyspace.
var ErrBadKey = errors.New("log: malformed key")

// Key builds keys component by component. Variable-length components are
// length-prefixed (u16 big-endian) so that any byte may appear in them;
// the last component of a key may be written raw so that keys sort by it
// as plain strings (rows sort by table, then pk).
type Key []byte

// NewKey starts a key in the given keyspace.
func NewKey(prefix byte) Key { return Key{prefix} }

// Str appends a length-prefixed string component.
func (k Key) Str(s string) Key {
	k = binary.BigEndian.AppendUint16(k, uint16(len(s)))
	return append(k, s...)
}

// U64 appends a big-endian uint64 (sorts numerically).
func (k Key) U64(v uint64) Key { return binary.BigEndian.AppendUint64(k, v) }

// Raw appends bytes without a length (only as the last component).
func (k Key) Raw(s string) Key { return append(k, s...) }

// Byte appends one byte.
func (k Key) Byte(b byte) Key { return append(k, b) }

// KeyReader parses keys built with Key.
type KeyReader struct {
	b   []byte
	err error
}

// ReadKey starts parsing k after its prefix byte.
func ReadKey(k []byte) *KeyReader {
	if len(k) == 0 {
		return &KeyReader{err: ErrBadKey}
	}
	return &KeyReader{b: k[1:]}
}

// Str reads a length-prefixed string.
func (r *KeyReader) Str() string {
	if r.err != nil {
		return ""
	}
	if len(r.b) < 2 {
		r.err = ErrBadKey
		return ""
	}
	n := int(binary.BigEndian.Uint16(r.b))
	if len(r.b) < 2+n {
		r.err = ErrBadKey
		return ""
	}
	s := string(r.b[2 : 2+n])
	r.b = r.b[2+n:]
	return s
}

// U64 reads a big-endian uint64.
func (r *KeyReader) U64() uint64 {
	if r.err != nil {
		return 0
	}
	if len(r.b) < 8 {
		r.err = ErrBadKey
		return 0
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

// Rest returns the remaining bytes as a string.
func (r *KeyReader) Rest() string {
	s := string(r.b)
	r.b = nil
	return s
}

// Err reports the first parse error.
func (r *KeyReader) Err() error { return r.err }

// PrefixEnd returns the smallest key greater than every key with prefix p.
func PrefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil // no upper bound
}

// Common key builders for the sync keyspaces.

// ChangeKey is the key of workspace ws's sync entry at version v.
func ChangeKey(ws string, v uint64) []byte { return NewKey(PrefixChange).Str(ws).U64(v) }

// ChangePrefix is the prefix of every sync entry of ws.
func ChangePrefix(ws string) []byte { return NewKey(PrefixChange).Str(ws) }

// OpIndexKey is the key of op_id's index record.
func OpIndexKey(opID string) []byte { return NewKey(PrefixOpIndex).Raw(opID) }

// CounterKey is the key of ws's counter record.
func CounterKey(ws string) []byte { return NewKey(PrefixCounter).Str(ws) }

// EntityID names one synced entity inside a workspace: table 0x00 pk.
// Tables come from an allowlist and never contain 0x00, so keys sort by
// (table, pk) as plain strings.
func EntityID(table, pk string) string { return table + "\x00" + pk }

// SplitEntityID splits an EntityID.
func SplitEntityID(id string) (table, pk string, err error) {
	for i := 0; i < len(id); i++ {
		if id[i] == 0 {
			return id[:i], id[i+1:], nil
		}
	}
	return "", "", fmt.Errorf("%w: entity id without separator", ErrBadKey)
}

// RowKey is the key of a materialized entity.
func RowKey(ws, table, pk string) []byte {
	return NewKey(PrefixRow).Str(ws).Raw(EntityID(table, pk))
}

// RowPrefix is the prefix of every row of ws (optionally of one table when
// table is not empty).
func RowPrefix(ws, table string) []byte {
	k := NewKey(PrefixRow).Str(ws)
	if table != "" {
		k = k.Raw(table + "\x00")
	}
	return k
}

// TombKey is the key of a tombstone.
func TombKey(ws, table, pk string) []byte {
	return NewKey(PrefixTomb).Str(ws).Raw(EntityID(table, pk))
}

// TombByVersionKey indexes a tombstone by the version that installed it.
func TombByVersionKey(ws string, v uint64) []byte {
	return NewKey(PrefixTombByVersion).Str(ws).U64(v)
}

// CursorKey is the key of a device cursor.
func CursorKey(ws, device string) []byte { return NewKey(PrefixCursor).Str(ws).Raw(device) }

// SystemKey is the key of system event seq.
func SystemKey(seq uint64) []byte { return NewKey(PrefixSystem).U64(seq) }

// OriginKey is the key of the origin index entry originSeq.
func OriginKey(seq uint64) []byte { return NewKey(PrefixOrigin).U64(seq) }

// AppliedKey records how far a remote origin region has been applied.
func AppliedKey(region string) []byte { return NewKey(PrefixApplied).Raw(region) }

var (
	metaFormatKey    = []byte{PrefixMeta, 'f'}
	metaOriginSeqKey = []byte{PrefixMeta, 'o'}
	metaSystemSeqKey = []byte{PrefixMeta, 's'}
)
