package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// requestTimeout bounds every request the load client sends, so a stuck
// daemon fails a phase instead of hanging the run.
const requestTimeout = 30 * time.Second

// client talks to one syncd over HTTP with the service token.
type client struct {
	base  string
	token string
	http  *http.Client
}

func newClient(base, token string, conns int) *client {
	tr := &http.Transport{
		Proxy:               nil, // loopback benchmark: ignore proxy settings
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &client{base: strings.TrimRight(base, "/"), token: token, http: &http.Client{Transport: tr, Timeout: requestTimeout}}
}

func (c *client) close() { c.http.CloseIdleConnections() }

// statusError is a non-2xx answer.
type statusError struct {
	Status int
	Body   string
}

func (e *statusError) Error() string {
	body := e.Body
	if len(body) > 300 {
		body = body[:300] + "…"
	}
	return fmt.Sprintf("HTTP %d: %s", e.Status, strings.TrimSpace(body))
}

// answers holds the buffers answers are read into; decoding copies what
// it keeps.
var answers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// do sends body (raw JSON, or nil) to path as user and decodes a 2xx
// answer into out (when non-nil).
func (c *client) do(ctx context.Context, method, path, user string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if user != "" {
		req.Header.Set("X-Syncd-User", user)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	// A push answer is as large as its request: read it into a buffer the
	// client's requests reuse, not a new one grown by io.ReadAll each time.
	buf := answers.Get().(*bytes.Buffer)
	defer answers.Put(buf)
	buf.Reset()
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return err
	}
	data := buf.Bytes()
	if resp.StatusCode/100 != 2 {
		return &statusError{Status: resp.StatusCode, Body: string(data)}
	}
	if out != nil {
		if err := decodeAnswer(data, out); err != nil {
			return fmt.Errorf("decode %s answer: %w", path, err)
		}
	}
	return nil
}

// rpc calls POST /v1/rpc/{call} with the positional args.
func (c *client) rpc(ctx context.Context, call string, out any, args ...any) error {
	if args == nil {
		args = []any{}
	}
	body, err := json.Marshal(args)
	if err != nil {
		return err
	}
	var env struct {
		OK     bool            `json:"ok"`
		Result json.RawMessage `json:"result"`
	}
	if err := c.do(ctx, http.MethodPost, "/v1/rpc/"+call, "", body, &env); err != nil {
		return fmt.Errorf("rpc %s: %w", call, err)
	}
	if !env.OK {
		return fmt.Errorf("rpc %s: ok=false", call)
	}
	if out != nil {
		return json.Unmarshal(env.Result, out)
	}
	return nil
}

// createUser is auth.getOrCreateUser.
func (c *client) createUser(ctx context.Context, subject string) (string, error) {
	var ref struct {
		UserID string `json:"userId"`
	}
	err := c.rpc(ctx, "auth.getOrCreateUser", &ref, map[string]string{
		"provider": "bench", "providerUserId": subject, "displayName": subject})
	if err == nil && ref.UserID == "" {
		err = fmt.Errorf("auth.getOrCreateUser: no userId")
	}
	return ref.UserID, err
}

// defaultWorkspace is auth.getOrCreateDefaultWorkspace.
func (c *client) defaultWorkspace(ctx context.Context, user string) (string, error) {
	var ws struct {
		WorkspaceID string `json:"workspaceId"`
	}
	err := c.rpc(ctx, "auth.getOrCreateDefaultWorkspace", &ws, user)
	return ws.WorkspaceID, err
}

// createWorkspace is auth.createWorkspace; user becomes its owner.
func (c *client) createWorkspace(ctx context.Context, user, name string) (string, error) {
	var ws struct {
		WorkspaceID string `json:"workspaceId"`
	}
	err := c.rpc(ctx, "auth.createWorkspace", &ws, map[string]string{"userId": user, "name": name})
	if err == nil && ws.WorkspaceID == "" {
		err = fmt.Errorf("auth.createWorkspace: no workspaceId")
	}
	return ws.WorkspaceID, err
}

// opResult is one push result (the fields the harness reads).
type opResult struct {
	OpID          string `json:"opId"`
	Success       bool   `json:"success"`
	ServerVersion uint64 `json:"serverVersion"`
	Applied       *bool  `json:"applied"`
	ErrorCode     string `json:"errorCode"`
	Error         string `json:"error"`
}

type pushResult struct {
	Results       []opResult `json:"results"`
	ServerVersion uint64     `json:"serverVersion"`
}

// push sends a pre-encoded PushBatch body.
func (c *client) push(ctx context.Context, user string, body []byte) (pushResult, error) {
	var res pushResult
	err := c.do(ctx, http.MethodPost, "/v1/sync/push", user, body, &res)
	return res, err
}

// change is one pulled change (the fields the harness checks).
type change struct {
	ServerVersion uint64 `json:"serverVersion"`
	TableName     string `json:"tableName"`
	PK            string `json:"pk"`
	Op            string `json:"op"`
	Stamp         struct {
		OpID string `json:"opId"`
	} `json:"stamp"`
}

type pullResponse struct {
	Changes          []change `json:"changes"`
	NextCursor       uint64   `json:"nextCursor"`
	HasMore          bool     `json:"hasMore"`
	RequiresSnapshot bool     `json:"requiresSnapshot"`
}

func (c *client) pull(ctx context.Context, user, ws string, cursor uint64, limit int) (pullResponse, error) {
	body := fmt.Appendf(nil, `{"scope":{"workspaceId":%q},"cursor":%d,"limit":%d}`, ws, cursor, limit)
	var res pullResponse
	err := c.do(ctx, http.MethodPost, "/v1/sync/pull", user, body, &res)
	return res, err
}

// ready reports whether /readyz answers 200.
func (c *client) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/readyz: %s", resp.Status)
	}
	return nil
}

// metrics reads syncd's /metrics and returns the value of every sample
// line without labels or with its labels as part of the name, e.g.
// "syncd_watchers" and `syncd_push_ops_total{result="applied"}`.
func (c *client) metrics(ctx context.Context) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/metrics: %s", resp.Status)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
	}
	return m, sc.Err()
}

// snapshotPage is one page of POST /v1/sync/snapshot.
type snapshotPage struct {
	Items         []json.RawMessage `json:"items"`
	NextPageToken *string           `json:"nextPageToken"`
	HighWatermark uint64            `json:"highWatermark"`
}

func (c *client) snapshot(ctx context.Context, user, ws, token string, pageSize int) (snapshotPage, error) {
	body := fmt.Appendf(nil, `{"scope":{"workspaceId":%q},"pageSize":%d`, ws, pageSize)
	if token != "" {
		body = fmt.Appendf(body, `,"pageToken":%q`, token)
	}
	body = append(body, '}')
	var res snapshotPage
	err := c.do(ctx, http.MethodPost, "/v1/sync/snapshot", user, body, &res)
	return res, err
}
