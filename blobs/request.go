package blobs

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"

	"github.com/or3/syncd/syncerr"
)

const (
	maxSafeInt = 1<<53 - 1
	maxIDLen   = 256
	maxHashLen = 256
	maxMimeLen = 255
	maxNameLen = 1024
)

// optInt is an optional JSON integer: absent or null leaves Set false; a
// fraction, a string or a number beyond 2^53-1 fails to decode.
type optInt struct {
	Set bool
	V   int64
}

var errNotInt = errors.New("not an integer")

func (o *optInt) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*o = optInt{}
		return nil
	}
	// b is one JSON value (the decoder checked it): ParseFloat reads a
	// number exactly as encoding/json would and refuses every other
	// kind of value (a string starts with a quote).
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return errNotInt
	}
	if f != math.Trunc(f) || math.Abs(f) > maxSafeInt {
		return errNotInt
	}
	*o = optInt{Set: true, V: int64(f)}
	return nil
}

// decode decodes a request body; a type error names the field.
func decode(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return syncerr.Validation("%s has the wrong type", te.Field)
		}
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return syncerr.Validation("malformed JSON")
		}
		if errors.Is(err, errNotInt) {
			return syncerr.Validation("a numeric field is not an integer: %v", err)
		}
		return syncerr.Validation("invalid request body: %v", err)
	}
	return nil
}

func workspaceOf(ws string) (string, error) {
	ws = strings.TrimSpace(ws)
	if ws == "" || len(ws) > maxIDLen {
		return "", syncerr.Validation("workspaceId must be 1..256 characters")
	}
	return ws, nil
}

// PresignUploadRequest is presign-upload's body (camelCase).
type PresignUploadRequest struct {
	WorkspaceID         string `json:"workspaceId"`
	Hash                string `json:"hash"`
	MimeType            string `json:"mimeType"`
	SizeBytes           optInt `json:"sizeBytes"`
	ExpiresInMs         optInt `json:"expiresInMs"`
	Disposition         string `json:"disposition"`
	WorkspaceQuotaBytes optInt `json:"workspaceQuotaBytes"`
	// IntentID adopts an intent reserved through
	// /v1/sync/upload-intents/reserve instead of reserving again.
	IntentID string `json:"intentId"`
}

// PresignAnswer is a presign answer. URL is absolute (S3) or relative to
// syncd's base URL (fs); the transfer must carry Headers.
type PresignAnswer struct {
	URL         string            `json:"url"`
	Method      string            `json:"method"`
	Headers     map[string]string `json:"headers,omitempty"`
	ExpiresAt   int64             `json:"expiresAt"` // ms: when the URL stops working
	StorageID   string            `json:"storageId"`
	IntentID    string            `json:"intentId,omitempty"`
	Disposition string            `json:"disposition,omitempty"`
	// IntentExpiresAt (ms) is when the intent can no longer be committed.
	IntentExpiresAt int64 `json:"intentExpiresAt,omitempty"`
}

// PresignDownloadRequest is presign-download's body (camelCase).
type PresignDownloadRequest struct {
	WorkspaceID string `json:"workspaceId"`
	Hash        string `json:"hash"`
	StorageID   string `json:"storageId"`
	ExpiresInMs optInt `json:"expiresInMs"`
	Disposition string `json:"disposition"`
}

// CommitRequest is commit's body: the Convex commit body (snake_case).
type CommitRequest struct {
	WorkspaceID       string `json:"workspace_id"`
	IntentID          string `json:"intent_id"`
	Hash              string `json:"hash"`
	StorageID         string `json:"storage_id"`
	StorageProviderID string `json:"storage_provider_id"`
	MimeType          string `json:"mime_type"`
	SizeBytes         optInt `json:"size_bytes"`
	Name              string `json:"name"`
	Kind              string `json:"kind"`
	Width             optInt `json:"width"`
	Height            optInt `json:"height"`
	PageCount         optInt `json:"page_count"`
}

// DeleteRequest is delete's body (camelCase).
type DeleteRequest struct {
	WorkspaceID string `json:"workspaceId"`
	Hash        string `json:"hash"`
	StorageID   string `json:"storageId"`
}

// GCRequest is gc's body (snake_case).
type GCRequest struct {
	WorkspaceID      string `json:"workspace_id"`
	RetentionSeconds optInt `json:"retention_seconds"`
	Limit            optInt `json:"limit"`
}

// GCAnswer is gc's answer.
type GCAnswer struct {
	DeletedCount int `json:"deleted_count"`
	ScannedCount int `json:"scanned_count"`
}
