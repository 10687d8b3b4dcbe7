package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"strconv"

	"github.com/or3/syncd/syncerr"
)

// Call runs the jobs RPC method (api.md: POST /v1/rpc/jobs.{method}) with
// args, the JSON array of the TypeScript method's arguments:
// createJob([{userId, threadId, messageId, model, kind?, tool_calls?,
// workflow_state?, execution?, idempotencyKey?}]), getJob([jobId, userId]),
// updateJob([jobId, {contentChunk?, chunksReceived?, tool_calls?,
// workflow_state?, leaseOwner?, attempt?}]), completeJob([jobId,
// finalContent, leaseOwner?, attempt?]), failJob([jobId, error, leaseOwner?,
// attempt?]) (attempt: the optional fencing token, the attempts count the
// worker's claim returned), abortJob([jobId,
// userId]), checkJobAborted([jobId]), cleanupExpired([]),
// getActiveJobCount([]), claimJob([jobId, leaseOwner, nowMs,
// leaseExpiresAtMs]), claimNextJob([leaseOwner, nowMs, leaseExpiresAtMs]),
// renewJobLease([jobId, leaseOwner, nowMs, leaseExpiresAtMs]),
// updateJobExecution([jobId, execution, leaseOwner]) and
// getJobInternal([jobId]). Times are epoch milliseconds.
//
// Bad arguments are 400, an unknown method 404; unknown object keys and
// trailing nulls (JSON.stringify's undefined) are ignored.
func (s *Store) Call(ctx context.Context, method string, args json.RawMessage) (any, error) {
	m, ok := rpcMethods[method]
	if !ok {
		return nil, syncerr.NotFound("unknown method jobs.%.64q", method)
	}
	a, err := parseArgs(args, m.n)
	if err != nil {
		return nil, err
	}
	return m.fn(s, ctx, a)
}

type rpcMethod struct {
	n  int
	fn func(s *Store, ctx context.Context, a *args) (any, error)
}

// nullable turns a nil *Job into a JSON null (not a typed nil pointer
// inside an interface, which marshals the same but reads worse).
func nullable(j *Job, err error) (any, error) {
	if err != nil || j == nil {
		return nil, err
	}
	return j, nil
}

var rpcMethods = map[string]rpcMethod{
	"createJob": {1, func(s *Store, ctx context.Context, a *args) (any, error) {
		o := a.obj(0, true)
		in := CreateInput{
			UserID: o.str("userId", true), ThreadID: o.str("threadId", true), MessageID: o.str("messageId", true),
			Model: o.str("model", true), Kind: o.str("kind", false), IdempotencyKey: o.str("idempotencyKey", false),
			ToolCalls: o.raw("tool_calls", "toolCalls"), WorkflowState: o.raw("workflow_state", "workflowState"),
			Execution: o.raw("execution", ""),
		}
		if err := a.err(); err != nil {
			return nil, err
		}
		return s.CreateJob(ctx, in)
	}},
	"getJob": {2, func(s *Store, ctx context.Context, a *args) (any, error) {
		id, user := a.str(0, "jobId", true), a.str(1, "userId", true)
		if err := a.err(); err != nil {
			return nil, err
		}
		return nullable(s.GetJob(ctx, id, user))
	}},
	"getJobInternal": {1, func(s *Store, ctx context.Context, a *args) (any, error) {
		id := a.str(0, "jobId", true)
		if err := a.err(); err != nil {
			return nil, err
		}
		return nullable(s.GetJobInternal(ctx, id))
	}},
	"updateJob": {2, func(s *Store, ctx context.Context, a *args) (any, error) {
		id := a.str(0, "jobId", true)
		o := a.obj(1, true)
		in := UpdateInput{
			ContentChunk: o.optStr("contentChunk"), ChunksReceived: o.optInt("chunksReceived"),
			ToolCalls: o.raw("tool_calls", "toolCalls"), WorkflowState: o.raw("workflow_state", "workflowState"),
			LeaseOwner: o.optStr("leaseOwner"), Attempt: o.optInt("attempt"),
		}
		if err := a.err(); err != nil {
			return nil, err
		}
		return s.UpdateJob(ctx, id, in)
	}},
	"completeJob": {4, func(s *Store, ctx context.Context, a *args) (any, error) {
		id, content, owner := a.str(0, "jobId", true), a.str(1, "finalContent", true), a.optStr(2, "leaseOwner")
		attempt := a.optInt(3, "attempt")
		if err := a.err(); err != nil {
			return nil, err
		}
		return s.CompleteJob(ctx, id, content, owner, attempt...)
	}},
	"failJob": {4, func(s *Store, ctx context.Context, a *args) (any, error) {
		id, msg, owner := a.str(0, "jobId", true), a.str(1, "error", true), a.optStr(2, "leaseOwner")
		attempt := a.optInt(3, "attempt")
		if err := a.err(); err != nil {
			return nil, err
		}
		return s.FailJob(ctx, id, msg, owner, attempt...)
	}},
	"abortJob": {2, func(s *Store, ctx context.Context, a *args) (any, error) {
		id, user := a.str(0, "jobId", true), a.str(1, "userId", true)
		if err := a.err(); err != nil {
			return nil, err
		}
		return s.AbortJob(ctx, id, user)
	}},
	"checkJobAborted": {1, func(s *Store, ctx context.Context, a *args) (any, error) {
		id := a.str(0, "jobId", true)
		if err := a.err(); err != nil {
			return nil, err
		}
		return s.CheckJobAborted(ctx, id)
	}},
	"cleanupExpired": {0, func(s *Store, ctx context.Context, a *args) (any, error) {
		return s.CleanupExpired(ctx)
	}},
	"getActiveJobCount": {0, func(s *Store, ctx context.Context, a *args) (any, error) {
		return s.GetActiveJobCount(ctx)
	}},
	"claimJob": {4, func(s *Store, ctx context.Context, a *args) (any, error) {
		id, owner := a.str(0, "jobId", true), a.str(1, "leaseOwner", true)
		now, exp := a.int(2, "nowMs"), a.int(3, "leaseExpiresAtMs")
		if err := a.err(); err != nil {
			return nil, err
		}
		return nullable(s.ClaimJob(ctx, id, owner, now, exp))
	}},
	"claimNextJob": {3, func(s *Store, ctx context.Context, a *args) (any, error) {
		owner := a.str(0, "leaseOwner", true)
		now, exp := a.int(1, "nowMs"), a.int(2, "leaseExpiresAtMs")
		if err := a.err(); err != nil {
			return nil, err
		}
		return nullable(s.ClaimNextJob(ctx, owner, now, exp))
	}},
	"renewJobLease": {4, func(s *Store, ctx context.Context, a *args) (any, error) {
		id, owner := a.str(0, "jobId", true), a.str(1, "leaseOwner", true)
		now, exp := a.int(2, "nowMs"), a.int(3, "leaseExpiresAtMs")
		if err := a.err(); err != nil {
			return nil, err
		}
		return s.RenewJobLease(ctx, id, owner, now, exp)
	}},
	"updateJobExecution": {3, func(s *Store, ctx context.Context, a *args) (any, error) {
		id, owner := a.str(0, "jobId", true), a.str(2, "leaseOwner", true)
		exec := a.raw(1)
		if err := a.err(); err != nil {
			return nil, err
		}
		return s.UpdateJobExecution(ctx, id, exec, owner)
	}},
}

// Methods returns the names of the jobs RPC methods.
func Methods() []string {
	out := make([]string, 0, len(rpcMethods))
	for name := range rpcMethods {
		out = append(out, name)
	}
	return out
}

// args decodes a positional argument array; the first problem is kept.
type args struct {
	v     []json.RawMessage
	first error
}

func parseArgs(raw json.RawMessage, n int) (*args, error) {
	var v []json.RawMessage
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, syncerr.Validation("arguments must be a JSON array")
	}
	// Trailing nulls are what JSON.stringify makes of undefined.
	for len(v) > n && isNull(v[len(v)-1]) {
		v = v[:len(v)-1]
	}
	if len(v) > n {
		return nil, syncerr.Validation("expected at most %d arguments, got %d", n, len(v))
	}
	return &args{v: v}, nil
}

func isNull(r json.RawMessage) bool { return len(r) == 0 || string(bytes.TrimSpace(r)) == "null" }

func (a *args) fail(format string, x ...any) {
	if a.first == nil {
		a.first = syncerr.Validation(format, x...)
	}
}

func (a *args) err() error { return a.first }

func (a *args) at(i int) json.RawMessage {
	if i < len(a.v) && !isNull(a.v[i]) {
		return a.v[i]
	}
	return nil
}

func (a *args) str(i int, name string, required bool) string {
	r := a.at(i)
	if r == nil {
		if required {
			a.fail("argument %d (%s) is required", i+1, name)
		}
		return ""
	}
	var s string
	if json.Unmarshal(r, &s) != nil {
		a.fail("argument %d (%s) must be a string", i+1, name)
	}
	return s
}

func (a *args) optStr(i int, name string) *string {
	if a.at(i) == nil {
		return nil
	}
	s := a.str(i, name, true)
	return &s
}

func (a *args) int(i int, name string) int64 {
	r := a.at(i)
	if r == nil {
		a.fail("argument %d (%s) is required", i+1, name)
		return 0
	}
	n, ok := parseInt(r)
	if !ok {
		a.fail("argument %d (%s) must be an integer (epoch milliseconds)", i+1, name)
	}
	return n
}

// optInt is an optional integer argument, as a variadic slice (empty when
// absent).
func (a *args) optInt(i int, name string) []int64 {
	if a.at(i) == nil {
		return nil
	}
	return []int64{a.int(i, name)}
}

func (a *args) raw(i int) json.RawMessage { return a.at(i) }

func (a *args) obj(i int, required bool) *obj {
	o := &obj{a: a, name: strconv.Itoa(i + 1)}
	r := a.at(i)
	if r == nil {
		if required {
			a.fail("argument %d must be an object", i+1)
		}
		return o
	}
	if json.Unmarshal(r, &o.m) != nil || o.m == nil {
		a.fail("argument %d must be an object", i+1)
	}
	return o
}

// obj reads fields of an object argument.
type obj struct {
	a    *args
	name string
	m    map[string]json.RawMessage
}

func (o *obj) get(k string) json.RawMessage {
	if r, ok := o.m[k]; ok && !isNull(r) {
		return r
	}
	return nil
}

func (o *obj) str(k string, required bool) string {
	r := o.get(k)
	if r == nil {
		if required && o.m != nil {
			o.a.fail("%s is required", k)
		}
		return ""
	}
	var s string
	if json.Unmarshal(r, &s) != nil {
		o.a.fail("%s must be a string", k)
	}
	return s
}

func (o *obj) optStr(k string) *string {
	if o.get(k) == nil {
		return nil
	}
	s := o.str(k, true)
	return &s
}

func (o *obj) optInt(k string) *int64 {
	r := o.get(k)
	if r == nil {
		return nil
	}
	n, ok := parseInt(r)
	if !ok {
		o.a.fail("%s must be an integer", k)
	}
	return &n
}

// raw returns a JSON field as given (spelled k, or alt when k is absent).
// A present null is kept as "null" (it clears the field on update).
func (o *obj) raw(k, alt string) json.RawMessage {
	r, ok := o.m[k]
	if !ok && alt != "" {
		r, ok = o.m[alt]
	}
	if !ok {
		return nil
	}
	return r
}

// parseInt accepts a JSON number that is an integer within the safe range
// (1e3 is fine, 1.5 is not).
func parseInt(r json.RawMessage) (int64, bool) {
	var n json.Number
	if t := bytes.TrimSpace(r); len(t) == 0 || t[0] == '"' || json.Unmarshal(t, &n) != nil {
		return 0, false
	}
	if i, err := n.Int64(); err == nil {
		return i, i >= -maxSafeInt && i <= maxSafeInt
	}
	f, err := n.Float64()
	if err != nil || f != math.Trunc(f) || math.Abs(f) > maxSafeInt {
		return 0, false
	}
	return int64(f), true
}
