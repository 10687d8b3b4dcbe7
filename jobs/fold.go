package jobs

import (
	"fmt"

	synclog "github.com/or3/syncd/log"
)

// Fold is the fold of the "job" domain: replay (through the daemon's
// FolderMux) and the live write path apply events with the same function,
// so replaying the log rebuilds PrefixJob and PrefixJobChunk byte for byte.
func Fold(b *synclog.Batch, seq uint64, ev *synclog.SystemEvent) error {
	body, err := decodeBody(seq, ev)
	if err != nil {
		return err
	}
	var rec *jobRecord
	if ev.Type != evCreate {
		var found bool
		rec, found, err = loadJob(b, body.jobID())
		if err != nil {
			return err
		}
		if !found {
			if ev.Type == evDelete {
				return nil
			}
			return fmt.Errorf("jobs: %s of unknown job %q", ev.Type, body.jobID())
		}
	}
	_, err = applyEvent(b, rec, seq, ev.AtMs, body)
	return err
}

// newBody makes the empty body of each event type.
var newBody = map[string]func() jobEvent{
	evCreate: func() jobEvent { return new(createBody) },
	evChunk:  func() jobEvent { return new(chunkBody) },
	evUpdate: func() jobEvent { return new(updateBody) },
	evClaim:  func() jobEvent { return new(claimBody) },
	evRenew:  func() jobEvent { return new(renewBody) },
	evExec:   func() jobEvent { return new(execBody) },
	evFinish: func() jobEvent { return new(finishBody) },
	evDelete: func() jobEvent { return new(deleteBody) },
}

func decodeBody(seq uint64, ev *synclog.SystemEvent) (jobEvent, error) {
	mk := newBody[ev.Type]
	if mk == nil {
		return nil, fmt.Errorf("jobs: unknown event type %q", ev.Type)
	}
	body := mk()
	if err := synclog.Decode(synclog.SystemKey(seq), ev.Body, body); err != nil {
		return nil, err
	}
	return body, nil
}

// loadJob reads job id's record from r with its progress brought up to its
// last chunk. found is false when the job does not exist.
func loadJob(r synclog.Reader, id string) (rec *jobRecord, found bool, err error) {
	rec = new(jobRecord)
	if found, err = synclog.GetRecord(r, JobKey(id), rec); err != nil || !found {
		return nil, false, err
	}
	return rec, true, withTail(r, rec)
}

// withTail takes a streaming job's progress from its last chunk when the
// chunk ends past rec.ContentLen: chunk appends write only the chunk, which
// carries the progress as it was after it.
func withTail(r synclog.Reader, rec *jobRecord) (err error) {
	if rec.Status != StatusStreaming {
		return nil
	}
	p := chunkPrefix(rec.ID)
	it, err := r.NewIter(p, synclog.PrefixEnd(p))
	if err != nil {
		return err
	}
	defer func() {
		if cerr := it.Close(); err == nil {
			err = cerr
		}
	}()
	if !it.Last() {
		return it.Error()
	}
	kr := synclog.ReadKey(it.Key())
	kr.Str()
	off := int64(kr.U64())
	if err := kr.Err(); err != nil {
		return err
	}
	var c chunkRecord
	if err := synclog.Decode(it.Key(), it.Value(), &c); err != nil {
		return err
	}
	if end := off + int64(len(c.Data)); end > rec.ContentLen {
		rec.ContentLen, rec.Chunks, rec.ChunksReceived, rec.LastActivityMs = end, c.Chunks, c.ChunksReceived, c.AtMs
	}
	return nil
}

// applyEvent applies one event to rec (the job's current state; nil for a
// create) and writes the resulting state into b. It returns the new record
// (nil after a delete). rec is modified in place.
func applyEvent(b *synclog.Batch, rec *jobRecord, seq uint64, atMs int64, body jobEvent) (*jobRecord, error) {
	switch v := body.(type) {
	case *createBody:
		r := v.Job
		rec = &r
	case *chunkBody:
		if v.Offset != rec.ContentLen {
			return nil, fmt.Errorf("jobs: chunk of %q at offset %d, content is %d bytes", v.JobID, v.Offset, rec.ContentLen)
		}
		rec.ContentLen += int64(len(v.Data))
		rec.Chunks++
		if v.HasChunks {
			rec.ChunksReceived = v.ChunksReceived
		}
		rec.LastActivityMs = atMs
		// The job record is not rewritten: the chunk carries the progress
		// (see withTail).
		return rec, b.SetRecord(chunkKey(rec.ID, v.Offset), &chunkRecord{Seq: seq, Data: v.Data,
			Chunks: rec.Chunks, ChunksReceived: rec.ChunksReceived, AtMs: atMs})
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
				rec.Chunks = 1
				if err := b.SetRecord(chunkKey(rec.ID, 0), &chunkRecord{Data: v.Base, Chunks: 1, AtMs: atMs}); err != nil {
					return nil, err
				}
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
