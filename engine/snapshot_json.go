package engine

import "strconv"

// AppendJSON appends the page as the JSON body the HTTP layer sends, the
// same bytes encoding/json (without HTML escaping) writes for r, but
// without reflection or re-validating each payload: payloads are stored
// compacted and valid, and snapshotPayload keeps them so.
func (r *SnapshotResponse) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"nextPageToken":`...)
	if r.NextPageToken == nil {
		dst = append(dst, "null"...)
	} else {
		dst = appendJSONString(dst, *r.NextPageToken)
	}
	dst = append(dst, `,"workspaceId":`...)
	dst = appendJSONString(dst, r.WorkspaceID)
	dst = append(dst, `,"snapshotId":`...)
	dst = appendJSONString(dst, r.SnapshotID)
	dst = append(dst, `,"highWatermark":`...)
	dst = strconv.AppendUint(dst, r.HighWatermark, 10)
	dst = append(dst, `,"items":[`...)
	for i := range r.Items {
		if i > 0 {
			dst = append(dst, ',')
		}
		it := &r.Items[i]
		dst = append(dst, `{"kind":`...)
		dst = appendJSONString(dst, it.Kind)
		dst = append(dst, `,"tableName":`...)
		dst = appendJSONString(dst, it.TableName)
		dst = append(dst, `,"pk":`...)
		dst = appendJSONString(dst, it.PK)
		if len(it.Payload) > 0 {
			dst = append(dst, `,"payload":`...)
			dst = append(dst, it.Payload...)
		}
		dst = append(dst, `,"revision":{"clock":`...)
		dst = strconv.AppendInt(dst, it.Revision.Clock, 10)
		dst = append(dst, `,"hlc":`...)
		dst = appendJSONString(dst, it.Revision.HLC)
		dst = append(dst, `,"opId":`...)
		dst = appendJSONString(dst, it.Revision.OpID)
		dst = append(dst, '}')
		if it.ServerDeletedAt != nil {
			dst = append(dst, `,"serverDeletedAt":`...)
			dst = strconv.AppendInt(dst, *it.ServerDeletedAt, 10)
		}
		dst = append(dst, '}')
	}
	return append(dst, "]}"...)
}
