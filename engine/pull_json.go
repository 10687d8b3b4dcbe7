package engine

import (
	"context"
	"strconv"

	synclog "github.com/or3/syncd/log"
)

// PullJSON answers a pull exactly as Pull does, but as the JSON body of
// the PullResponse, appended to dst. It encodes each change straight from
// the log's iterator (no intermediate records, no copies of payloads but
// the one into the answer), which is what makes pull run near the raw
// Pebble scan rate.
func (e *Engine) PullJSON(ctx context.Context, user string, req PullRequest, dst []byte) ([]byte, error) {
	ws, limit, filter, err := e.pullArgs(ctx, user, req)
	if err != nil {
		return nil, err
	}
	v, err := e.view()
	if err != nil {
		return nil, err
	}
	defer v.Release()
	cursor := uint64(req.Cursor)
	ctr, err := readCounter(v, ws)
	if err != nil {
		return nil, err
	}
	oldest := ctr.Floor + 1
	if cursor+1 < oldest || cursor > ctr.Counter { // behind retention, or from another region (pullView)
		return appendPullTail(append(dst, `{"changes":[`...), cursor, false, oldest, true), nil
	}
	it, err := v.NewIter(synclog.ChangeKey(ws, cursor+1), synclog.PrefixEnd(synclog.ChangePrefix(ws)))
	if err != nil {
		return nil, readErr(err)
	}
	defer it.Close()
	dst = append(dst, `{"changes":[`...)
	next, hasMore, n, first := cursor, false, 0, true
	var rec synclog.ChangeRecord
	for ok := it.First(); ok; ok = it.Next() {
		if n == limit {
			hasMore = true
			break
		}
		n++
		key := it.Key()
		r := synclog.ReadKey(key)
		r.Str()
		ver := r.U64()
		if r.Err() != nil {
			return nil, readErr(&synclog.CorruptionError{Key: append([]byte(nil), key...), Err: r.Err()})
		}
		next = ver
		// The record aliases the iterator's memory: encode it before Next.
		if err := synclog.DecodeChangeAliased(key, it.Value(), &rec); err != nil {
			return nil, readErr(err)
		}
		if !visible(&rec, user, filter) {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendChangeFields(dst, ver, rec.Table, rec.PK, opName(rec.Op), rec.Payload, rec.DeviceID, rec.OpID, rec.HLC, rec.Clock)
	}
	if err := it.Error(); err != nil {
		return nil, readErr(err)
	}
	return appendPullTail(dst, next, hasMore, oldest, false), nil
}

func appendPullTail(dst []byte, next uint64, hasMore bool, oldest uint64, requiresSnapshot bool) []byte {
	dst = append(dst, `],"nextCursor":`...)
	dst = strconv.AppendUint(dst, next, 10)
	dst = append(dst, `,"hasMore":`...)
	dst = strconv.AppendBool(dst, hasMore)
	dst = append(dst, `,"oldestRetainedVersion":`...)
	dst = strconv.AppendUint(dst, oldest, 10)
	dst = append(dst, `,"requiresSnapshot":`...)
	dst = strconv.AppendBool(dst, requiresSnapshot)
	return append(dst, '}')
}
