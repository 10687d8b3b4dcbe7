// Package limits is syncd's rate limiter (side-modules §3, model.md §2): a
// fixed window per key, decided atomically in memory and persisted as state
// through the log's committer.
//
// Each key's window lives in one of 64 in-memory shards, each under its own
// mutex, so CheckAndRecord is a hash, a lock and a map access: two racing
// calls on one key are serialized by the shard lock and can never both take
// the last slot. Blocked calls are not counted and do not move the window.
//
// Windows are state without events (keyspace log.PrefixRateWindow): a
// flusher writes the windows changed since its last run through the
// committer at least once a second, so a crash forgets at most the last
// second of counts, and Open loads them back, so counts survive a restart.
// They do not replicate (model.md §6): each region limits on its own.
// Windows idle longer than Config.IdleAfter are deleted on a schedule (the
// gc:rate-limits cron of side-modules §6).
//
// Buckets builds on the Limiter the per-subject limits syncd applies to its
// own endpoints (sync:push, sync:pull, … per user; auth:fail per IP).
package limits
