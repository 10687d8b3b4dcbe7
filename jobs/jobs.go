package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"sort"
	"unicode/utf8"

	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/syncerr"
)

// CreateInput is createJob's argument object.
type CreateInput struct {
	UserID, ThreadID, MessageID, Model, Kind string
	// ToolCalls, WorkflowState and Execution are JSON values (nil: absent).
	ToolCalls, WorkflowState, Execution json.RawMessage
	IdempotencyKey                      string
}

// UpdateInput is updateJob's update object. Nil fields are absent.
type UpdateInput struct {
	ContentChunk   *string
	ChunksReceived *int64
	ToolCalls      json.RawMessage // nil: absent; "null" clears
	WorkflowState  json.RawMessage
	LeaseOwner     *string
	// Attempt, when set, is the fencing token: the job's attempts count at
	// the worker's claim. A write under an older claim is 409 even when
	// the same owner name claimed again (side-modules §9 item 8).
	Attempt *int64
}

// maxErrorBytes bounds a stored error message (longer ones are cut).
const maxErrorBytes = 4096

// CreateJob admits and creates a job (side-modules §2.4): an existing job
// with the same (user, idempotencyKey) is returned whatever its status;
// otherwise the global and per-user limits of streaming jobs are checked
// and the job is created streaming, all decided atomically.
func (s *Store) CreateJob(ctx context.Context, in CreateInput) (string, error) {
	if err := s.ready(); err != nil {
		return "", err
	}
	if err := firstErr(checkID("userId", in.UserID), checkID("threadId", in.ThreadID),
		checkID("messageId", in.MessageID), checkID("model", in.Model), checkOptID("idempotencyKey", in.IdempotencyKey)); err != nil {
		return "", err
	}
	if in.Kind != "" && in.Kind != "chat" && in.Kind != "workflow" {
		return "", syncerr.Validation("kind must be chat or workflow")
	}
	var err error
	if in.ToolCalls, err = s.checkJSON("tool_calls", in.ToolCalls); err != nil {
		return "", err
	}
	if in.WorkflowState, err = s.checkJSON("workflow_state", in.WorkflowState); err != nil {
		return "", err
	}
	if in.Execution, err = s.checkJSON("execution", in.Execution); err != nil {
		return "", err
	}
	in.ToolCalls, in.WorkflowState, in.Execution = nullToNil(in.ToolCalls), nullToNil(in.WorkflowState), nullToNil(in.Execution)
	// Step 2 of the Convex admission: streaming jobs that cannot be
	// recovered (no execution, not a workflow) are terminalised and stop
	// consuming capacity. They are found through an index, not a scan.
	s.terminalizeLegacy(ctx, 0)

	for {
		s.mu.Lock()
		var ie *idemEntry
		if in.IdempotencyKey != "" {
			if ie = s.idem[idemKey(in.UserID, in.IdempotencyKey)]; ie != nil {
				done := ie.done // read under s.mu; commitCreate clears it
				s.mu.Unlock()
				if done == nil {
					return ie.id, nil
				}
				select {
				case <-done:
				case <-ctx.Done():
					return "", syncerr.Unavailable(ctx.Err(), "request cancelled")
				}
				if ie.err == nil {
					return ie.id, nil
				}
				continue // the first create failed: decide again
			}
		}
		if s.active >= s.cfg.MaxGlobal {
			s.mu.Unlock()
			return "", syncerr.RateLimited(1, "Max concurrent background jobs reached (%d)", s.cfg.MaxGlobal)
		}
		if s.perUser[in.UserID] >= s.cfg.MaxPerUser {
			s.mu.Unlock()
			return "", syncerr.RateLimited(1, "Max concurrent background jobs per user reached (%d)", s.cfg.MaxPerUser)
		}
		id := newJobID()
		e := newEntry(id)
		e.mu.Lock() // held until the create is durable
		e.user, e.status, e.idemKey = in.UserID, StatusStreaming, in.IdempotencyKey
		s.jobs[id] = e
		s.active++
		s.pending++
		s.perUser[in.UserID]++
		if in.IdempotencyKey != "" {
			ie = &idemEntry{id: id, done: make(chan struct{})}
			s.idem[idemKey(in.UserID, in.IdempotencyKey)] = ie
		}
		s.mu.Unlock()
		return id, s.commitCreate(ctx, e, ie, in)
	}
}

func (s *Store) commitCreate(ctx context.Context, e *entry, ie *idemEntry, in CreateInput) (err error) {
	defer e.mu.Unlock()
	t := s.begin(nil, in.UserID)
	rec := jobRecord{
		ID: e.id, UserID: in.UserID, ThreadID: in.ThreadID, MessageID: in.MessageID, Model: in.Model,
		Kind: in.Kind, Status: StatusStreaming, ToolCalls: in.ToolCalls, WorkflowState: in.WorkflowState,
		Execution: in.Execution, IdempotencyKey: in.IdempotencyKey, StartedAtMs: t.atMs, LastActivityMs: t.atMs,
	}
	if rec.Kind == "" {
		rec.Kind = "chat"
	}
	if err = t.emit(evCreate, &createBody{Job: rec}); err == nil {
		err = t.commit(ctx)
	} else {
		t.b.Close()
	}
	s.mu.Lock()
	s.pending--
	if err != nil {
		delete(s.jobs, e.id)
		e.gone = true
		s.release(e.user)
		if ie != nil {
			delete(s.idem, idemKey(e.user, in.IdempotencyKey))
		}
	} else {
		s.setIndex(e, t.rec)
	}
	if ie != nil {
		ie.err = err
		close(ie.done)
		ie.done = nil
	}
	s.mu.Unlock()
	if err == nil {
		cp := *t.rec
		e.rec = &cp
		e.setProgress(&cp)
	}
	return err
}

// terminalizeLegacy fails up to limit (0: all) streaming jobs that cannot be
// recovered, with the "predates durable recovery" message. It returns how
// many it changed.
func (s *Store) terminalizeLegacy(ctx context.Context, limit int) int {
	s.mu.Lock()
	var legacy []*entry
	for _, e := range s.legacy {
		if limit == 0 || len(legacy) < limit {
			legacy = append(legacy, e)
		}
	}
	s.mu.Unlock()
	n := 0
	for _, e := range legacy {
		e.mu.Lock()
		if e.rec != nil && e.rec.Status == StatusStreaming && !e.rec.recoverable() {
			if err := s.finishLocked(ctx, e, StatusError, nil, msgLegacy, ""); err == nil {
				n++
			} else {
				s.log.Warn("could not terminalise a legacy job", "job", e.id, "err", err)
			}
		}
		e.mu.Unlock()
	}
	return n
}

// GetJob returns the job if it exists and userID owns it exactly (no
// wildcard), else nil. It reads the durable view.
func (s *Store) GetJob(ctx context.Context, id, userID string) (*Job, error) {
	if err := firstErr(checkID("jobId", id), checkID("userId", userID)); err != nil {
		return nil, err
	}
	j, err := s.GetJobInternal(ctx, id)
	if err != nil || j == nil || j.UserID != userID {
		return nil, err
	}
	return j, nil
}

// GetJobInternal returns the job without an owner check (the trusted host's
// internal read; side-modules §2.4 Go decision), or nil.
func (s *Store) GetJobInternal(ctx context.Context, id string) (*Job, error) {
	if err := checkID("jobId", id); err != nil {
		return nil, err
	}
	v, err := s.view()
	if err != nil {
		return nil, err
	}
	defer v.Release()
	rec, found, err := readJob(v, id)
	if err != nil {
		return nil, syncerr.Internal(err, "jobs: read")
	}
	if !found {
		return nil, nil
	}
	return toJob(rec), nil
}

// UpdateJob appends a content chunk and overwrites the other given fields
// of a streaming job. A finished job answers false (409 when the caller
// names a lease owner: its lease ended with the job). On a leased job the
// write needs the live lease's owner: a missing owner is a silent no-op
// (false), a wrong owner or an expired lease is 409 "lease lost".
func (s *Store) UpdateJob(ctx context.Context, id string, in UpdateInput) (bool, error) {
	if err := s.ready(); err != nil {
		return false, err
	}
	if err := checkID("jobId", id); err != nil {
		return false, err
	}
	if in.LeaseOwner != nil {
		if err := checkID("leaseOwner", *in.LeaseOwner); err != nil {
			return false, err
		}
	}
	if in.ContentChunk != nil {
		if len(*in.ContentChunk) > s.cfg.MaxChunkBytes {
			return false, syncerr.Oversized("contentChunk of %d bytes exceeds the %d-byte chunk limit", len(*in.ContentChunk), s.cfg.MaxChunkBytes)
		}
		if !utf8.ValidString(*in.ContentChunk) {
			return false, syncerr.Validation("contentChunk must be valid UTF-8")
		}
	}
	if in.ChunksReceived != nil && (*in.ChunksReceived < 0 || *in.ChunksReceived > maxSafeInt) {
		return false, syncerr.Validation("chunksReceived must be a safe integer >= 0")
	}
	var err error
	if in.ToolCalls, err = s.checkJSON("tool_calls", in.ToolCalls); err != nil {
		return false, err
	}
	if in.WorkflowState, err = s.checkJSON("workflow_state", in.WorkflowState); err != nil {
		return false, err
	}
	e, rec, err := s.lockJob(id)
	if err != nil {
		return false, err
	}
	defer e.mu.Unlock()
	if ok, err := s.fence(rec, in.LeaseOwner, in.Attempt); !ok || err != nil {
		return false, err
	}
	chunk := ""
	if in.ContentChunk != nil {
		chunk = *in.ContentChunk
	}
	if rec.ContentLen+int64(len(chunk)) > int64(s.cfg.MaxContentBytes) {
		return false, syncerr.Oversized("job content would exceed %d bytes", s.cfg.MaxContentBytes)
	}
	if chunk != "" && rec.Chunks >= int64(s.cfg.MaxChunks) {
		return false, syncerr.Oversized("a job holds at most %d content chunks", s.cfg.MaxChunks)
	}
	t := s.begin(rec, rec.UserID)
	defer t.b.Close()
	hasChunks := in.ChunksReceived != nil
	var n int64
	if hasChunks {
		n = *in.ChunksReceived
	}
	if chunk != "" {
		if err := t.emit(evChunk, &chunkBody{JobID: id, Offset: rec.ContentLen, Data: chunk, HasChunks: hasChunks, ChunksReceived: n}); err != nil {
			return false, err
		}
		hasChunks = false
	}
	if hasChunks || in.ToolCalls != nil || in.WorkflowState != nil || chunk == "" {
		u := &updateBody{JobID: id, HasChunks: hasChunks, ChunksReceived: n,
			HasToolCalls: in.ToolCalls != nil, ToolCalls: nullToNil(in.ToolCalls),
			HasWorkflow: in.WorkflowState != nil, WorkflowState: nullToNil(in.WorkflowState)}
		if err := t.emit(evUpdate, u); err != nil {
			return false, err
		}
	}
	if err := t.done(ctx, e); err != nil {
		return false, err
	}
	return true, nil
}

// lockJob returns id's entry locked, with its current record, or 404.
func (s *Store) lockJob(id string) (*entry, *jobRecord, error) {
	e := s.lookup(id)
	if e == nil {
		return nil, nil, notFound(id)
	}
	e.mu.Lock()
	if e.rec == nil {
		e.mu.Unlock()
		return nil, nil, notFound(id)
	}
	return e, e.rec, nil
}

// fence decides a worker write on rec (caller holds the job's mutex).
// ok false with a nil error is the silent no-op of the spec.
func (s *Store) fence(rec *jobRecord, owner *string, attempt *int64) (bool, error) {
	if rec.Status != StatusStreaming {
		if owner != nil {
			return false, leaseLost("job is %s", rec.Status)
		}
		return false, nil
	}
	if attempt != nil && *attempt != rec.Attempts {
		return false, leaseLost("claim %d was superseded by attempt %d", *attempt, rec.Attempts)
	}
	if rec.LeaseOwner == "" {
		return true, nil
	}
	if owner == nil {
		return false, nil
	}
	if *owner != rec.LeaseOwner {
		return false, leaseLost("Background job lease was superseded")
	}
	if rec.LeaseExpiresMs <= s.cfg.Now().UnixMilli() {
		return false, leaseLost("Background job lease expired")
	}
	return true, nil
}

// CompleteJob finishes a streaming job with finalContent (same fencing as
// UpdateJob).
func (s *Store) CompleteJob(ctx context.Context, id, finalContent string, leaseOwner *string, attempt ...int64) (bool, error) {
	if len(finalContent) > s.cfg.MaxContentBytes {
		return false, syncerr.Oversized("finalContent of %d bytes exceeds the %d-byte content limit", len(finalContent), s.cfg.MaxContentBytes)
	}
	if !utf8.ValidString(finalContent) {
		return false, syncerr.Validation("finalContent must be valid UTF-8")
	}
	return s.workerFinish(ctx, id, StatusComplete, &finalContent, "", leaseOwner, attempt)
}

// FailJob finishes a streaming job with an error (same fencing as
// UpdateJob). Its content is what was streamed.
func (s *Store) FailJob(ctx context.Context, id, msg string, leaseOwner *string, attempt ...int64) (bool, error) {
	return s.workerFinish(ctx, id, StatusError, nil, msg, leaseOwner, attempt)
}

func (s *Store) workerFinish(ctx context.Context, id, status string, content *string, msg string, leaseOwner *string, attempt []int64) (bool, error) {
	var token *int64
	if len(attempt) > 0 {
		token = &attempt[0]
	}
	if err := s.ready(); err != nil {
		return false, err
	}
	if err := checkID("jobId", id); err != nil {
		return false, err
	}
	if leaseOwner != nil {
		if err := checkID("leaseOwner", *leaseOwner); err != nil {
			return false, err
		}
	}
	e, rec, err := s.lockJob(id)
	if err != nil {
		return false, err
	}
	defer e.mu.Unlock()
	if ok, err := s.fence(rec, leaseOwner, token); !ok || err != nil {
		return false, err
	}
	actor := rec.UserID
	if leaseOwner != nil {
		actor = *leaseOwner
	}
	if err := s.finishLocked(ctx, e, status, content, msg, actor); err != nil {
		return false, err
	}
	return true, nil
}

// AbortJob aborts a streaming job owned exactly by userID. It is not
// fenced: the user's action wins over the worker.
func (s *Store) AbortJob(ctx context.Context, id, userID string) (bool, error) {
	if err := s.ready(); err != nil {
		return false, err
	}
	if err := firstErr(checkID("jobId", id), checkID("userId", userID)); err != nil {
		return false, err
	}
	e, rec, err := s.lockJob(id)
	if err != nil {
		if se, ok := syncerr.As(err); ok && se.Code == syncerr.CodeNotFound {
			return false, nil
		}
		return false, err
	}
	defer e.mu.Unlock()
	if rec.UserID != userID || rec.Status != StatusStreaming {
		return false, nil
	}
	if err := s.finishLocked(ctx, e, StatusAborted, nil, "", userID); err != nil {
		return false, err
	}
	return true, nil
}

// finishLocked moves the job to a terminal status (caller holds e.mu and
// has checked it streams). The chunks are compacted: the event carries the
// whole content, the fold deletes the chunk keys, and the chunk events,
// now redundant, are deleted from the log in the same batch.
func (s *Store) finishLocked(ctx context.Context, e *entry, status string, content *string, msg, actor string) error {
	t := s.begin(e.rec, actor)
	defer t.b.Close()
	var seqs []uint64
	streamed, _, err := readChunks(t.b, e.id, &seqs)
	if err != nil {
		return syncerr.Internal(err, "jobs: read chunks")
	}
	final := streamed
	if content != nil {
		final = *content
	}
	for _, seq := range seqs {
		if err := t.b.Delete(synclog.SystemKey(seq)); err != nil {
			return syncerr.Internal(err, "jobs: compact")
		}
	}
	body := &finishBody{JobID: e.id, Status: status, Content: final, ChunksReceived: e.rec.ChunksReceived,
		Error: truncate(msg, maxErrorBytes), Compacted: int64(len(seqs))}
	if err := t.emit(evFinish, body); err != nil {
		return err
	}
	return t.done(ctx, e)
}

// CheckJobAborted reports whether the worker should stop: true when the job
// was aborted or does not exist (side-modules §2.4 Go decision).
func (s *Store) CheckJobAborted(ctx context.Context, id string) (bool, error) {
	if err := checkID("jobId", id); err != nil {
		return false, err
	}
	rec, err := s.durableRecord(id)
	if err != nil {
		return false, err
	}
	return rec == nil || rec.Status == StatusAborted, nil
}

// GetActiveJobCount is the number of streaming jobs (durable ones; creates
// still committing are not counted).
func (s *Store) GetActiveJobCount(ctx context.Context) (int, error) {
	if err := s.ready(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active - s.pending, nil
}

// CleanupExpired fails streaming jobs idle longer than JobTimeout ("Job
// timed out") and legacy jobs, and deletes finished jobs whose completedAt
// is older than Retention, at most CleanupBatch per call, on syncd's clock.
// It returns how many jobs it changed.
func (s *Store) CleanupExpired(ctx context.Context) (int, error) {
	if err := s.ready(); err != nil {
		return 0, err
	}
	now := s.cfg.Now().UnixMilli()
	limit := s.cfg.CleanupBatch
	n := s.terminalizeLegacy(ctx, limit)
	type old struct {
		e           *entry
		completedAt int64
	}
	s.mu.Lock()
	var streaming []*entry
	var olds []old
	for _, e := range s.jobs {
		switch {
		case e.status == StatusStreaming:
			streaming = append(streaming, e)
		case e.status != "" && now-e.completedAt > s.cfg.Retention.Milliseconds():
			olds = append(olds, old{e, e.completedAt})
		}
	}
	s.mu.Unlock()
	sort.Slice(olds, func(i, j int) bool { return olds[i].completedAt < olds[j].completedAt })
	expired := make([]*entry, len(olds))
	for i := range olds {
		expired[i] = olds[i].e
	}
	for _, e := range streaming {
		if n >= limit {
			return n, nil
		}
		e.mu.Lock()
		if rec := e.rec; rec != nil && rec.Status == StatusStreaming && now-rec.LastActivityMs > s.cfg.JobTimeout.Milliseconds() {
			if err := s.finishLocked(ctx, e, StatusError, nil, msgTimedOut, ""); err != nil {
				e.mu.Unlock()
				return n, err
			}
			n++
		}
		e.mu.Unlock()
	}
	for _, e := range expired {
		if n >= limit {
			break
		}
		e.mu.Lock()
		if rec := e.rec; rec != nil && rec.Status != StatusStreaming && now-rec.CompletedAtMs > s.cfg.Retention.Milliseconds() {
			if err := s.write(ctx, e, "", evDelete, &deleteBody{JobID: e.id}); err != nil {
				e.mu.Unlock()
				return n, err
			}
			n++
		}
		e.mu.Unlock()
	}
	return n, nil
}

// checkJSON validates an optional JSON value: at most MaxJSONBytes, valid,
// compacted. nil stays nil.
func (s *Store) checkJSON(name string, raw json.RawMessage) (json.RawMessage, error) {
	if raw == nil {
		return nil, nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, syncerr.Validation("%s must be valid JSON", name)
	}
	if buf.Len() > s.cfg.MaxJSONBytes {
		return nil, syncerr.Oversized("%s of %d bytes exceeds the %d-byte limit", name, buf.Len(), s.cfg.MaxJSONBytes)
	}
	return buf.Bytes(), nil
}

func nullToNil(raw json.RawMessage) []byte {
	if raw == nil || string(raw) == "null" {
		return nil
	}
	return raw
}

func checkID(name, v string) error {
	if v == "" || len(v) > maxIDLen {
		return syncerr.Validation("%s must be 1..%d characters", name, maxIDLen)
	}
	return nil
}

func checkOptID(name, v string) error {
	if len(v) > maxIDLen {
		return syncerr.Validation("%s must be at most %d characters", name, maxIDLen)
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// truncate cuts s to at most n bytes at a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
