package log

// Op kinds of a sync entry.
const (
	OpPut    uint8 = 1
	OpDelete uint8 = 2
)

// ChangeRecord is one sync-op entry of a workspace's change log (an event):
// the op exactly as accepted, whether or not it won the merge.
type ChangeRecord struct {
	_msgpack struct{} `msgpack:",as_array"`

	Table    string
	PK       string
	Op       uint8
	Payload  []byte // the payload JSON as received (compacted); nil when absent or null
	Clock    int64
	HLC      string
	DeviceID string
	OpID     string
	// Fingerprint is the canonical fingerprint of the op (sync-contract §3.2).
	Fingerprint string
	// CreatedAtMs is the server receipt time in the accepting region.
	CreatedAtMs int64
	// UserID is the acting user whose push carried the op ("" for
	// server-authored ops).
	UserID string
	// Owner is the owning user of a notification op ("" otherwise).
	Owner string
	// OriginRegion and OriginSeq name where the op was accepted. Both are
	// empty for ops this region accepted itself: their origin sequence is
	// in the origin index.
	OriginRegion string
	OriginSeq    uint64
}

// Revision is the serialized revision of a register (crdt.Revision).
type Revision struct {
	_msgpack struct{} `msgpack:",as_array"`

	Clock       int64
	HLC         string
	OpID        string
	Fingerprint string
}

// RowRecord is the materialized state of one synced entity: the CRDT
// register (winner, greatest put, greatest delete) plus region-local
// bookkeeping that is not part of the merge.
type RowRecord struct {
	_msgpack struct{} `msgpack:",as_array"`

	Winner     Revision
	WinnerKind uint8 // OpPut or OpDelete
	HasPut     bool
	Put        Revision
	Payload    []byte // payload of the greatest put
	SoftDel    bool   // the greatest put carried deleted:true
	HasTomb    bool
	Tomb       Revision

	// Region-local, not part of the merge.
	ServerVersion uint64 // version of the op that installed the winner
	DeviceID      string // device of the winning op
	CreatedAtMs   int64  // receipt time of the first op that created the row
	UpdatedAtMs   int64  // receipt time of the op that installed the winner
	DeletedAtMs   int64  // receipt time of the delete that installed the winner (0 if live)
	Owner         string // notification owner (user_id of the greatest put)
}

// TombRecord is a tombstone: the greatest delete of a key, with the region's
// receipt time, kept until tombstone GC.
type TombRecord struct {
	_msgpack struct{} `msgpack:",as_array"`

	Rev           Revision
	ServerVersion uint64
	DeletedAtMs   int64 // server receipt time of the winning delete (server_deleted_at)
	CreatedAtMs   int64 // first delete of the key
}

// OpIndexRecord locates a processed op_id.
type OpIndexRecord struct {
	_msgpack struct{} `msgpack:",as_array"`

	Workspace   string
	Version     uint64
	Fingerprint string
}

// CounterRecord is a workspace's sequence state.
type CounterRecord struct {
	_msgpack struct{} `msgpack:",as_array"`

	// Counter is the highest server_version allocated.
	Counter uint64
	// Floor is the highest version whose entry history GC collected; the
	// oldest retained version is Floor+1.
	Floor uint64
}

// CursorRecord is a device cursor.
type CursorRecord struct {
	_msgpack struct{} `msgpack:",as_array"`

	Owner       string
	LastSeen    uint64
	UpdatedAtMs int64
}

// SystemEvent is one event of the system sequence. Body is the msgpack of
// the type-specific payload, owned by the module named in Type's prefix
// (e.g. "ws.create", "cursor.set", "job.chunk").
type SystemEvent struct {
	_msgpack struct{} `msgpack:",as_array"`

	Type  string
	AtMs  int64
	Actor string
	Body  []byte

	OriginRegion string
	OriginSeq    uint64
}
