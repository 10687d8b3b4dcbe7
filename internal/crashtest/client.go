package crashtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/google/uuid"
)

// Client is a minimal syncd HTTP client for tests: the service token, JSON
// bodies, and typed helpers for the calls tests make most.
type Client struct {
	Base  string // e.g. http://127.0.0.1:7420
	Token string
	HTTP  *http.Client
}

// NewClient returns a client with a 30 s request timeout.
func NewClient(base, token string) *Client {
	return &Client{Base: base, Token: token, HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// StatusError is a non-2xx answer.
type StatusError struct {
	Status int
	Body   string
}

func (e *StatusError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Status, e.Body) }

// Do sends method path with body (marshalled as JSON unless it is []byte
// or nil) as user (X-Syncd-User, omitted when ""), and decodes a 2xx answer
// into out (when non-nil). A non-2xx answer is a *StatusError.
func (c *Client) Do(ctx context.Context, method, path, user string, body, out any) error {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return err
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if user != "" {
		req.Header.Set("X-Syncd-User", user)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return &StatusError{Status: resp.StatusCode, Body: string(data)}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("decode %s answer %q: %w", path, data, err)
		}
	}
	return nil
}

// RPC calls /v1/rpc/{call} with args and decodes the envelope's result
// into out (when non-nil).
func (c *Client) RPC(ctx context.Context, call string, out any, args ...any) error {
	if args == nil {
		args = []any{}
	}
	var env struct {
		OK     bool            `json:"ok"`
		Result json.RawMessage `json:"result"`
	}
	if err := c.Do(ctx, http.MethodPost, "/v1/rpc/"+call, "", args, &env); err != nil {
		return err
	}
	if !env.OK {
		return fmt.Errorf("rpc %s: ok=false", call)
	}
	if out != nil {
		return json.Unmarshal(env.Result, out)
	}
	return nil
}

// CreateUser is auth.getOrCreateUser; it returns the user id.
func (c *Client) CreateUser(ctx context.Context, provider, subject string) (string, error) {
	var ref struct {
		UserID string `json:"userId"`
	}
	err := c.RPC(ctx, "auth.getOrCreateUser", &ref, map[string]string{"provider": provider, "providerUserId": subject})
	return ref.UserID, err
}

// DefaultWorkspace is auth.getOrCreateDefaultWorkspace; it returns the
// workspace id.
func (c *Client) DefaultWorkspace(ctx context.Context, userID string) (string, error) {
	var ws struct {
		WorkspaceID string `json:"workspaceId"`
	}
	err := c.RPC(ctx, "auth.getOrCreateDefaultWorkspace", &ws, userID)
	return ws.WorkspaceID, err
}

// Stamp, Op, OpResult, PushResult, Change and PullResponse mirror the wire
// types of sync-contract §2 (the parts tests read).
type Stamp struct {
	DeviceID string `json:"deviceId"`
	OpID     string `json:"opId"`
	HLC      string `json:"hlc"`
	Clock    int64  `json:"clock"`
}

// Op is a PendingOp.
type Op struct {
	TableName string          `json:"tableName"`
	Operation string          `json:"operation"`
	PK        string          `json:"pk"`
	Payload   json.RawMessage `json:"payload,omitempty"`
	Stamp     Stamp           `json:"stamp"`
}

// OpResult is one push result.
type OpResult struct {
	OpID          string `json:"opId"`
	Success       bool   `json:"success"`
	ServerVersion uint64 `json:"serverVersion"`
	Applied       *bool  `json:"applied"`
	Replayed      bool   `json:"replayed"`
	Error         string `json:"error"`
	ErrorCode     string `json:"errorCode"`
}

// PushResult answers a push.
type PushResult struct {
	Results       []OpResult `json:"results"`
	ServerVersion uint64     `json:"serverVersion"`
}

// Change is one pulled change.
type Change struct {
	ServerVersion uint64          `json:"serverVersion"`
	TableName     string          `json:"tableName"`
	PK            string          `json:"pk"`
	Op            string          `json:"op"`
	Payload       json.RawMessage `json:"payload"`
	Stamp         Stamp           `json:"stamp"`
}

// PullResponse answers a pull.
type PullResponse struct {
	Changes               []Change `json:"changes"`
	NextCursor            uint64   `json:"nextCursor"`
	HasMore               bool     `json:"hasMore"`
	OldestRetainedVersion uint64   `json:"oldestRetainedVersion"`
	RequiresSnapshot      bool     `json:"requiresSnapshot"`
}

// KVPut returns a put of a kv row with a fresh op id: the smallest valid
// op (sync-contract §3.2 required fields of kv).
func KVPut(device, pk string, clock int64, value string) Op {
	payload, _ := json.Marshal(map[string]any{
		"id": pk, "name": pk, "value": value, "created_at": 1, "updated_at": 1, "clock": clock,
	})
	return Op{
		TableName: "kv", Operation: "put", PK: pk, Payload: payload,
		Stamp: Stamp{DeviceID: device, OpID: uuid.NewString(), HLC: fmt.Sprintf("%013d:0000:%s", clock, device), Clock: clock},
	}
}

// Push pushes ops to ws as user.
func (c *Client) Push(ctx context.Context, user, ws string, ops []Op) (PushResult, error) {
	var res PushResult
	err := c.Do(ctx, http.MethodPost, "/v1/sync/push", user, map[string]any{
		"scope": map[string]string{"workspaceId": ws}, "ops": ops,
	}, &res)
	return res, err
}

// Pull pulls one page after cursor.
func (c *Client) Pull(ctx context.Context, user, ws string, cursor uint64, limit int) (PullResponse, error) {
	var res PullResponse
	err := c.Do(ctx, http.MethodPost, "/v1/sync/pull", user, map[string]any{
		"scope": map[string]string{"workspaceId": ws}, "cursor": cursor, "limit": limit,
	}, &res)
	return res, err
}

// PullAll pulls every change of ws from version 0.
func (c *Client) PullAll(ctx context.Context, user, ws string) ([]Change, error) {
	var all []Change
	cursor := uint64(0)
	for {
		page, err := c.Pull(ctx, user, ws, cursor, 1000)
		if err != nil {
			return nil, err
		}
		if page.RequiresSnapshot {
			return nil, fmt.Errorf("pull of %s from %d requires a snapshot", ws, cursor)
		}
		all = append(all, page.Changes...)
		if !page.HasMore {
			return all, nil
		}
		if page.NextCursor <= cursor {
			return nil, fmt.Errorf("pull of %s did not advance from %d", ws, cursor)
		}
		cursor = page.NextCursor
	}
}

// ServerVersion is GET /v1/sync/server-version.
func (c *Client) ServerVersion(ctx context.Context, user, ws string) (uint64, error) {
	var res struct {
		ServerVersion uint64 `json:"serverVersion"`
	}
	err := c.Do(ctx, http.MethodGet, "/v1/sync/server-version?workspaceId="+url.QueryEscape(ws), user, nil, &res)
	return res.ServerVersion, err
}
