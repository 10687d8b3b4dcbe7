package engine

import (
	"context"
	"sort"
	"strings"

	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/syncerr"
)

// normalizeTables validates a table filter: ≤ 50 names, each trimmed and
// allowlisted; returns the sorted, deduplicated set (nil = all tables).
func normalizeTables(tables []string) ([]string, error) {
	if len(tables) == 0 {
		return nil, nil
	}
	if len(tables) > MaxTablesFilter {
		return nil, syncerr.Validation("tables may list at most %d names", MaxTablesFilter)
	}
	seen := map[string]bool{}
	out := make([]string, 0, len(tables))
	for _, t := range tables {
		t = strings.TrimSpace(t)
		if t == "" || len(t) > maxTableLen {
			return nil, syncerr.Validation("table names must be 1..128 characters")
		}
		if !ValidTable(t) {
			return nil, syncerr.Validation("Invalid table: %s", t)
		}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	sort.Strings(out)
	return out, nil
}

// visible applies pull's visibility rules to a log entry for user:
// notifications only to their owner, legacy non-UUID op ids never, and the
// table filter.
func visible(rec *synclog.ChangeRecord, user string, tables map[string]bool) bool {
	if tables != nil && !tables[rec.Table] {
		return false
	}
	if rec.Table == tableNotifications && (rec.Owner == "" || rec.Owner != user) {
		return false
	}
	return IsUUID(rec.OpID)
}

// Visible reports whether a committed change is visible to user (pull's
// rules), for watchers fed by the subscription.
func Visible(c *Change, user string) bool {
	if c.TableName == tableNotifications && (c.Owner == "" || c.Owner != user) {
		return false
	}
	return IsUUID(c.Stamp.OpID)
}

// Pull returns the changes of a workspace after a cursor (sync-contract
// §3.4 with api.md's limit rule), read from the durable view.
func (e *Engine) Pull(ctx context.Context, user string, req PullRequest) (PullResponse, error) {
	ws, limit, filter, err := e.pullArgs(ctx, user, req)
	if err != nil {
		return PullResponse{}, err
	}
	v, err := e.view()
	if err != nil {
		return PullResponse{}, err
	}
	defer v.Release()
	return pullView(v, ws, user, uint64(req.Cursor), limit, filter)
}

// pullArgs validates a pull request and authorizes the read.
func (e *Engine) pullArgs(ctx context.Context, user string, req PullRequest) (ws string, limit int, filter map[string]bool, err error) {
	ws, err = NormalizeScope(req.Scope)
	if err != nil {
		return "", 0, nil, err
	}
	limit = DefaultPullLimit
	if req.Limit != nil {
		limit = *req.Limit
		if limit < 1 || limit > MaxPullLimit {
			return "", 0, nil, syncerr.Validation("limit must be an integer between 1 and %d", MaxPullLimit)
		}
	}
	if req.Cursor < 0 || req.Cursor > maxSafeInt {
		return "", 0, nil, syncerr.Validation("cursor must be a safe integer >= 0")
	}
	tables, err := normalizeTables(req.Tables)
	if err != nil {
		return "", 0, nil, err
	}
	if _, err := e.authorize(ctx, ws, user, false); err != nil {
		return "", 0, nil, err
	}
	if tables != nil {
		filter = map[string]bool{}
		for _, t := range tables {
			filter[t] = true
		}
	}
	return ws, limit, filter, nil
}

// pullView reads one pull window from a view. Retention and the window are
// read from the same view, so a concurrent GC cannot open a silent gap
// (sync-contract §6 item 18).
func pullView(v *synclog.View, ws, user string, cursor uint64, limit int, filter map[string]bool) (PullResponse, error) {
	ctr, err := readCounter(v, ws)
	if err != nil {
		return PullResponse{}, err
	}
	oldest := ctr.Floor + 1
	resp := PullResponse{Changes: make([]SyncChange, 0, min(limit, 256)), NextCursor: cursor, OldestRetainedVersion: oldest}
	if cursor+1 < oldest {
		resp.RequiresSnapshot = true
		return resp, nil
	}
	// A cursor beyond this region's counter was never issued here: it
	// comes from another region (cursors are region-local server_versions,
	// model.md §6) and is provably invalid — never answer it with a silent
	// gap (ARCHITECTURE.md "Failover").
	if cursor > ctr.Counter {
		resp.RequiresSnapshot = true
		return resp, nil
	}
	it, err := v.NewIter(synclog.ChangeKey(ws, cursor+1), synclog.PrefixEnd(synclog.ChangePrefix(ws)))
	if err != nil {
		return PullResponse{}, readErr(err)
	}
	defer it.Close()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		if n == limit {
			resp.HasMore = true
			break
		}
		n++
		r := synclog.ReadKey(it.Key())
		r.Str()
		ver := r.U64()
		if r.Err() != nil {
			return PullResponse{}, readErr(&synclog.CorruptionError{Key: append([]byte(nil), it.Key()...), Err: r.Err()})
		}
		resp.NextCursor = ver
		var rec synclog.ChangeRecord
		if err := synclog.Decode(it.Key(), it.Value(), &rec); err != nil {
			return PullResponse{}, readErr(err)
		}
		if !visible(&rec, user, filter) {
			continue
		}
		resp.Changes = append(resp.Changes, changeOf(ver, &rec))
	}
	if err := it.Error(); err != nil {
		return PullResponse{}, readErr(err)
	}
	return resp, nil
}
