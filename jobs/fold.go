package jobs

import (
	"fmt"

	synclog "github.com/or3/syncd/log"
)

// Fold is the fold of the "job" domain: replay (through the daemon's
// FolderMux) and the live write path apply events with the same function,
// so replaying the log rebuilds PrefixJob and PrefixJobChunk byte for byte.
func Fold(b *synclog.Batch, seq uint64, ev *synclog.SystemEvent) error {
	body, id, err := decodeBody(seq, ev)
	if err != nil {
		return err
	}
	var rec *jobRecord
	if ev.Type != evCreate {
		rec = new(jobRecord)
		found, err := synclog.GetRecord(b, JobKey(id), rec)
		if err != nil {
			return err
		}
		if !found {
			if ev.Type == evDelete {
				return nil
			}
			return fmt.Errorf("jobs: %s of unknown job %q", ev.Type, id)
		}
	}
	_, err = applyEvent(b, rec, seq, ev.AtMs, body)
	return err
}

func decodeBody(seq uint64, ev *synclog.SystemEvent) (body any, id string, err error) {
	key := synclog.SystemKey(seq)
	switch ev.Type {
	case evCreate:
		var v createBody
		err = synclog.Decode(key, ev.Body, &v)
		return &v, v.Job.ID, err
	case evChunk:
		var v chunkBody
		err = synclog.Decode(key, ev.Body, &v)
		return &v, v.JobID, err
	case evUpdate:
		var v updateBody
		err = synclog.Decode(key, ev.Body, &v)
		return &v, v.JobID, err
	case evClaim:
		var v claimBody
		err = synclog.Decode(key, ev.Body, &v)
		return &v, v.JobID, err
	case evRenew:
		var v renewBody
		err = synclog.Decode(key, ev.Body, &v)
		return &v, v.JobID, err
	case evExec:
		var v execBody
		err = synclog.Decode(key, ev.Body, &v)
		return &v, v.JobID, err
	case evFinish:
		var v finishBody
		err = synclog.Decode(key, ev.Body, &v)
		return &v, v.JobID, err
	case evDelete:
		var v deleteBody
		err = synclog.Decode(key, ev.Body, &v)
		return &v, v.JobID, err
	}
	return nil, "", fmt.Errorf("jobs: unknown event type %q", ev.Type)
}

// applyEvent applies one event to rec (the job's current state; nil for a
// create) and writes the resulting state into b. It returns the new record
// (nil after a delete). rec is modified in place.
func applyEvent(b *synclog.Batch, rec *jobRecord, seq uint64, atMs int64, body any) (*jobRecord, error) {
	switch v := body.(type) {
	case *createBody:
		r := v.Job
		rec = &r
	case *chunkBody:
		if v.Offset != rec.ContentLen {
			return nil, fmt.Errorf("jobs: chunk of %q at offset %d, content is %d bytes", v.JobID, v.Offset, rec.ContentLen)
		}
		if err := b.SetRecord(chunkKey(rec.ID, v.Offset), &chunkRecord{Seq: seq, Data: v.Data}); err != nil {
			return nil, err
		}
		rec.ContentLen += int64(len(v.Data))
		rec.Chunks++
		if v.HasChunks {
			rec.ChunksReceived = v.ChunksReceived
		}
		rec.LastActivityMs = atMs
	case *updateBody:
		if v.HasChunks {
			rec.ChunksReceived = v.ChunksReceived
		}
		if v.HasToolCalls {
			rec.ToolCalls = v.ToolCalls
		}
		if v.HasWorkflow {
			rec.WorkflowState = v.WorkflowState
		}
		rec.LastActivityMs = atMs
	case *claimBody:
		rec.LeaseOwner = v.Owner
		rec.LeaseExpiresMs = v.ExpiresMs
		rec.Attempts++
		rec.LastActivityMs = atMs
		if v.Reset {
			p := chunkPrefix(rec.ID)
			if err := b.DeleteRange(p, synclog.PrefixEnd(p)); err != nil {
				return nil, err
			}
			rec.Chunks = 0
			if v.Base != "" {
				if err := b.SetRecord(chunkKey(rec.ID, 0), &chunkRecord{Data: v.Base}); err != nil {
					return nil, err
				}
				rec.Chunks = 1
			}
			rec.ContentLen = int64(len(v.Base))
			rec.ResetLen = rec.ContentLen
			rec.ChunksReceived = 0
		}
	case *renewBody:
		rec.LeaseExpiresMs = v.ExpiresMs
		rec.LastActivityMs = atMs
	case *execBody:
		rec.Execution = v.Execution
		rec.LastActivityMs = atMs
	case *finishBody:
		p := chunkPrefix(rec.ID)
		if err := b.DeleteRange(p, synclog.PrefixEnd(p)); err != nil {
			return nil, err
		}
		rec.Status = v.Status
		rec.Content = v.Content
		rec.ContentLen = int64(len(v.Content))
		rec.Chunks = 0
		rec.ChunksReceived = v.ChunksReceived
		rec.Error = v.Error
		rec.CompletedAtMs = atMs
		rec.LastActivityMs = atMs
		rec.LeaseOwner = ""
		rec.LeaseExpiresMs = 0
	case *deleteBody:
		p := chunkPrefix(v.JobID)
		if err := b.DeleteRange(p, synclog.PrefixEnd(p)); err != nil {
			return nil, err
		}
		return nil, b.Delete(JobKey(v.JobID))
	default:
		return nil, fmt.Errorf("jobs: unknown event body %T", body)
	}
	return rec, b.SetRecord(JobKey(rec.ID), rec)
}
