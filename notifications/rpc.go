package notifications

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/or3/syncd/syncerr"
)

// Call runs the notifications RPC method (api.md: POST
// /v1/rpc/notifications.{method}): emitBackgroundJobComplete([workspaceId,
// userId, threadId, jobId, messageId?]), emitBackgroundJobError([workspaceId,
// userId, threadId, jobId, error]) and create([{workspace_id, user_id,
// thread_id?, document_id?, type, title, body?, actions?}]). Each answers
// the notification id. Bad arguments are 400, an unknown method 404.
func (s *Store) Call(ctx context.Context, method string, args json.RawMessage) (any, error) {
	var v []json.RawMessage
	if err := json.Unmarshal(args, &v); err != nil {
		return nil, syncerr.Validation("arguments must be a JSON array")
	}
	for len(v) > 0 && isNull(v[len(v)-1]) {
		v = v[:len(v)-1]
	}
	switch method {
	case "create":
		if len(v) != 1 {
			return nil, syncerr.Validation("create takes one object argument")
		}
		var in Input
		dec := json.NewDecoder(bytes.NewReader(v[0]))
		if err := dec.Decode(&in); err != nil || bytes.TrimSpace(v[0])[0] != '{' {
			return nil, syncerr.Validation("argument 1 must be an object with string fields workspace_id, user_id, type, title")
		}
		in.JobID = ""
		return s.Create(ctx, in)
	case "emitBackgroundJobComplete", "emitBackgroundJobError":
		if len(v) < 4 || len(v) > 5 {
			return nil, syncerr.Validation("%s takes 4 or 5 arguments", method)
		}
		var a [5]string
		for i := range v {
			if isNull(v[i]) {
				continue
			}
			if json.Unmarshal(v[i], &a[i]) != nil {
				return nil, syncerr.Validation("argument %d must be a string", i+1)
			}
		}
		if method == "emitBackgroundJobComplete" {
			return s.EmitBackgroundJobComplete(ctx, a[0], a[1], a[2], a[3], a[4])
		}
		if len(v) != 5 {
			return nil, syncerr.Validation("emitBackgroundJobError takes 5 arguments")
		}
		return s.EmitBackgroundJobError(ctx, a[0], a[1], a[2], a[3], a[4])
	}
	return nil, syncerr.NotFound("unknown method notifications.%.64q", method)
}

func isNull(r json.RawMessage) bool {
	t := bytes.TrimSpace(r)
	return len(t) == 0 || string(t) == "null"
}
