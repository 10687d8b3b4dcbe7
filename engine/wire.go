package engine

import (
	"encoding/json"
	"strconv"
)

// The wire types of sync-contract §2, camelCase, as OR3 sends them. The HTTP
// layer decodes request bodies into these types strictly (wrong JSON types
// are a 400 there); the engine validates values.

// Scope is SyncScope.
type Scope struct {
	WorkspaceID string `json:"workspaceId"`
	ProjectID   string `json:"projectId,omitempty"` // accepted and ignored
}

// Stamp is ChangeStamp.
type Stamp struct {
	DeviceID string `json:"deviceId"`
	OpID     string `json:"opId"`
	HLC      string `json:"hlc"`
	Clock    int64  `json:"clock"`
}

// PendingOp is one push element. The outbox bookkeeping fields of the
// client (id, createdAt, attempts, status, …) are accepted and ignored.
type PendingOp struct {
	TableName string          `json:"tableName"`
	Operation string          `json:"operation"`
	PK        string          `json:"pk"`
	Payload   json.RawMessage `json:"payload,omitempty"`
	Stamp     Stamp           `json:"stamp"`
	// Scan is set by a decoder that already ran ScanPayload over the
	// payload; Payload then holds the compacted bytes ScanPayload returned,
	// and the engine does not scan them again. Zero: not scanned.
	Scan PayloadScan `json:"-"`
}

// PushBatch is a push request.
type PushBatch struct {
	Scope Scope       `json:"scope"`
	Ops   []PendingOp `json:"ops"`
	// OpsBytes is the size of the compacted ops array as received, set by
	// the decoder (api.md Overrides: the 2 MiB rule). 0 means unknown, and
	// the engine then sums the compacted payloads instead.
	OpsBytes int `json:"-"`
}

// Revision is SnapshotRevision, also used in push winners.
type Revision struct {
	Clock int64  `json:"clock"`
	HLC   string `json:"hlc"`
	OpID  string `json:"opId"`
}

// Winner is PushWinner: the current state of a key an op lost against.
type Winner struct {
	Kind            string          `json:"kind"` // "put" | "delete"
	Payload         json.RawMessage `json:"payload,omitempty"`
	Revision        Revision        `json:"revision"`
	ServerDeletedAt *int64          `json:"serverDeletedAt,omitempty"`
}

// OpResult is one element of PushResult.results.
type OpResult struct {
	OpID          string          `json:"opId"`
	Success       bool            `json:"success"`
	ServerVersion uint64          `json:"serverVersion,omitempty"`
	Applied       *bool           `json:"applied,omitempty"`
	WasExisting   *bool           `json:"wasExisting,omitempty"`
	Replayed      bool            `json:"replayed,omitempty"`
	TableName     string          `json:"tableName,omitempty"`
	Operation     string          `json:"operation,omitempty"`
	Payload       json.RawMessage `json:"payload,omitempty"`
	Winner        *Winner         `json:"winner,omitempty"`
	Error         string          `json:"error,omitempty"`
	ErrorCode     string          `json:"errorCode,omitempty"`
}

// PushResult answers a push.
type PushResult struct {
	Results       []OpResult `json:"results"`
	ServerVersion uint64     `json:"serverVersion"`
}

// PullRequest is a pull request. Limit is nil when absent (→ 100).
type PullRequest struct {
	Scope  Scope    `json:"scope"`
	Cursor int64    `json:"cursor"`
	Limit  *int     `json:"limit,omitempty"`
	Tables []string `json:"tables,omitempty"`
}

// SyncChange is one pulled change.
type SyncChange struct {
	ServerVersion uint64          `json:"serverVersion"`
	TableName     string          `json:"tableName"`
	PK            string          `json:"pk"`
	Op            string          `json:"op"`
	Payload       json.RawMessage `json:"payload,omitempty"`
	Stamp         Stamp           `json:"stamp"`
}

// PullResponse answers a pull.
type PullResponse struct {
	Changes               []SyncChange `json:"changes"`
	NextCursor            uint64       `json:"nextCursor"`
	HasMore               bool         `json:"hasMore"`
	OldestRetainedVersion uint64       `json:"oldestRetainedVersion"`
	RequiresSnapshot      bool         `json:"requiresSnapshot"`
}

// CursorRequest is the update-cursor body.
type CursorRequest struct {
	Scope    Scope  `json:"scope"`
	DeviceID string `json:"deviceId"`
	Version  int64  `json:"version"`
}

// AppendJSON appends r as JSON, byte for byte what encoding/json writes
// with HTML escaping off, without reflection: the push handler answers
// with it. Payloads are copied as they are: the engine only returns
// payloads it compacted and validated (or stored so).
func (r *PushResult) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"results":`...)
	if r.Results == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i := range r.Results {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = r.Results[i].appendJSON(dst)
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `,"serverVersion":`...)
	dst = strconv.AppendUint(dst, r.ServerVersion, 10)
	return append(dst, '}')
}

func (o *OpResult) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"opId":`...)
	dst = AppendJSONString(dst, o.OpID)
	dst = append(dst, `,"success":`...)
	dst = strconv.AppendBool(dst, o.Success)
	if o.ServerVersion != 0 {
		dst = append(dst, `,"serverVersion":`...)
		dst = strconv.AppendUint(dst, o.ServerVersion, 10)
	}
	if o.Applied != nil {
		dst = append(dst, `,"applied":`...)
		dst = strconv.AppendBool(dst, *o.Applied)
	}
	if o.WasExisting != nil {
		dst = append(dst, `,"wasExisting":`...)
		dst = strconv.AppendBool(dst, *o.WasExisting)
	}
	if o.Replayed {
		dst = append(dst, `,"replayed":true`...)
	}
	if o.TableName != "" {
		dst = append(dst, `,"tableName":`...)
		dst = AppendJSONString(dst, o.TableName)
	}
	if o.Operation != "" {
		dst = append(dst, `,"operation":`...)
		dst = AppendJSONString(dst, o.Operation)
	}
	if len(o.Payload) > 0 {
		dst = append(dst, `,"payload":`...)
		dst = append(dst, o.Payload...)
	}
	if w := o.Winner; w != nil {
		dst = append(dst, `,"winner":{"kind":`...)
		dst = AppendJSONString(dst, w.Kind)
		if len(w.Payload) > 0 {
			dst = append(dst, `,"payload":`...)
			dst = append(dst, w.Payload...)
		}
		dst = append(dst, `,"revision":{"clock":`...)
		dst = strconv.AppendInt(dst, w.Revision.Clock, 10)
		dst = append(dst, `,"hlc":`...)
		dst = AppendJSONString(dst, w.Revision.HLC)
		dst = append(dst, `,"opId":`...)
		dst = AppendJSONString(dst, w.Revision.OpID)
		dst = append(dst, '}')
		if w.ServerDeletedAt != nil {
			dst = append(dst, `,"serverDeletedAt":`...)
			dst = strconv.AppendInt(dst, *w.ServerDeletedAt, 10)
		}
		dst = append(dst, '}')
	}
	if o.Error != "" {
		dst = append(dst, `,"error":`...)
		dst = AppendJSONString(dst, o.Error)
	}
	if o.ErrorCode != "" {
		dst = append(dst, `,"errorCode":`...)
		dst = AppendJSONString(dst, o.ErrorCode)
	}
	return append(dst, '}')
}
