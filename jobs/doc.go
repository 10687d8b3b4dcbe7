// Package jobs is syncd's BackgroundJobProvider (side-modules.md §2, api.md
// RPC store "jobs"): background AI jobs with atomic admission, duplicate
// suppression, content streaming and worker leases with fencing, kept as
// system events (domain "job") on the log with their state folded into the
// same batch.
//
// State lives in two keyspaces: PrefixJob (jobId → jobRecord) and
// PrefixJobChunk (jobId | u64 byte offset → chunkRecord) while a job
// streams. A chunk append writes only its chunk (plus the event and its
// origin index): the chunk record carries the job's progress after it
// (chunk count, chunksReceived, last activity), and every read of a job
// record, replay's fold included, takes the progress from the last chunk
// when that chunk ends past the record's ContentLen (loadJob). When a job
// finishes, its chunks are compacted into the job
// record: the terminal event carries the final content, the fold deletes
// the chunk keys, and the live path deletes the chunk events (they are
// redundant once the terminal event holds the content, so replay still
// equals live).
//
// Concurrency: admission (per-user and global limits, idempotency keys) is
// decided under the store's mutex against in-memory counters that include
// every admitted create whose batch is still committing, so racing creates
// never exceed the limits. Writes to one job are serialized by the job's own
// mutex, held until the batch is durable; different jobs share fsyncs
// through the log's group commit. Answers to reads come from the durable
// view.
//
// Clocks: lease calls carry the host's nowMs and expiry (as the TypeScript
// interface does); idle timeouts, retention, last_activity_at and the lease
// check of worker writes follow syncd's own clock (Config.Now).
package jobs
