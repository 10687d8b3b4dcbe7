package jobs

import (
	synclog "github.com/or3/syncd/log"
)

// Job statuses (side-modules §2.3).
const (
	StatusStreaming = "streaming"
	StatusComplete  = "complete"
	StatusError     = "error"
	StatusAborted   = "aborted"
)

// Messages of the state machine.
const (
	msgTimedOut = "Job timed out"
	msgLegacy   = "Background job predates durable recovery. Retry the message."
)

// Event types (domain "job").
const (
	evCreate = "job.create"
	evChunk  = "job.chunk"
	evUpdate = "job.update"
	evClaim  = "job.claim"
	evRenew  = "job.renew"
	evExec   = "job.exec"
	evFinish = "job.finish"
	evDelete = "job.delete"
)

// jobRecord is a job's state at PrefixJob | jobId. While the job streams its
// content lives in chunk records; Content holds it once the job finished.
//
// A chunk append does not rewrite this record: the chunk record carries the
// progress fields (ContentLen, Chunks, ChunksReceived, LastActivityMs) as
// they are after it, and loadJob takes them from the last chunk when it
// ends past ContentLen (withTail). Every other event writes the whole
// record, progress included.
type jobRecord struct {
	_msgpack struct{} `msgpack:",as_array"`

	ID             string
	UserID         string
	ThreadID       string
	MessageID      string
	Model          string
	Kind           string
	Status         string
	ContentLen     int64
	Content        string // terminal jobs only
	ChunksReceived int64
	ToolCalls      []byte // JSON, nil when absent
	WorkflowState  []byte // JSON, nil when absent
	Execution      []byte // JSON, nil when absent
	IdempotencyKey string
	LeaseOwner     string
	LeaseExpiresMs int64 // 0: no lease
	Attempts       int64
	StartedAtMs    int64
	LastActivityMs int64
	CompletedAtMs  int64 // 0 while streaming
	Error          string
	// ResetLen is the content length right after the last re-claim reset
	// (the execution's contentBase), so a stream can tell a viewer where
	// the regenerated content starts.
	ResetLen int64
	// Chunks counts the chunk records of a streaming job (bounded by
	// Config.MaxChunks, so compaction stays one bounded batch).
	Chunks int64
}

func (r *jobRecord) recoverable() bool { return len(r.Execution) > 0 || r.Kind == "workflow" }

// chunkRecord is one content chunk at PrefixJobChunk | jobId | u64 offset.
// Seq is the system event that appended it (0 for a reset's content base),
// so compaction can delete the event once the job finished. Chunks,
// ChunksReceived and AtMs are the job's progress right after the chunk
// (its ContentLen is the chunk's end): the job record is not rewritten per
// chunk.
type chunkRecord struct {
	_msgpack struct{} `msgpack:",as_array"`

	Seq            uint64
	Data           string
	Chunks         int64
	ChunksReceived int64
	AtMs           int64
}

type createBody struct {
	_msgpack struct{} `msgpack:",as_array"`
	Job      jobRecord
}

type chunkBody struct {
	_msgpack       struct{} `msgpack:",as_array"`
	JobID          string
	Offset         int64
	Data           string
	HasChunks      bool
	ChunksReceived int64
}

type updateBody struct {
	_msgpack       struct{} `msgpack:",as_array"`
	JobID          string
	HasChunks      bool
	ChunksReceived int64
	HasToolCalls   bool
	ToolCalls      []byte
	HasWorkflow    bool
	WorkflowState  []byte
}

type claimBody struct {
	_msgpack  struct{} `msgpack:",as_array"`
	JobID     string
	Owner     string
	ExpiresMs int64
	Reset     bool
	Base      string
}

type renewBody struct {
	_msgpack  struct{} `msgpack:",as_array"`
	JobID     string
	ExpiresMs int64
}

type execBody struct {
	_msgpack  struct{} `msgpack:",as_array"`
	JobID     string
	Execution []byte
}

type finishBody struct {
	_msgpack       struct{} `msgpack:",as_array"`
	JobID          string
	Status         string
	Content        string
	ChunksReceived int64
	Error          string
	// Compacted counts the chunk events the live path deleted with this
	// event (log.compact of model.md §4).
	Compacted int64
}

type deleteBody struct {
	_msgpack struct{} `msgpack:",as_array"`
	JobID    string
}

// jobEvent is the body of a "job" domain event.
type jobEvent interface{ jobID() string }

func (b *createBody) jobID() string { return b.Job.ID }
func (b *chunkBody) jobID() string  { return b.JobID }
func (b *updateBody) jobID() string { return b.JobID }
func (b *claimBody) jobID() string  { return b.JobID }
func (b *renewBody) jobID() string  { return b.JobID }
func (b *execBody) jobID() string   { return b.JobID }
func (b *finishBody) jobID() string { return b.JobID }
func (b *deleteBody) jobID() string { return b.JobID }

// JobKey is the key of a job record.
func JobKey(id string) []byte { return synclog.NewKey(synclog.PrefixJob).Raw(id) }

// chunkPrefix is the prefix of a job's chunk keys.
func chunkPrefix(id string) []byte { return synclog.NewKey(synclog.PrefixJobChunk).Str(id) }

// chunkKey is the key of the chunk starting at byte offset off.
func chunkKey(id string, off int64) []byte {
	return synclog.NewKey(synclog.PrefixJobChunk).Str(id).U64(uint64(off))
}
