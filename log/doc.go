// Package log is syncd's event log on Pebble: the key layout of every
// keyspace, the msgpack record codec, the group committer that turns many
// concurrent writers into one synced Pebble commit, the durable read view
// that readers are confined to, and replay.
//
// The log is the source of truth. Events (sync-op entries, system events)
// are append-only; state (rows, tombstones, counters, cursors, memberships,
// jobs, ...) is what the events imply and is written in the same Pebble
// batch as the events, so the two never disagree. See ARCHITECTURE.md for
// the full key layout and ../shared/spec/model.md for the rules.
//
// Durable before visible: Pebble makes a batch readable before its WAL fsync
// returns, so no read path may use Pebble's live view. After each synced
// group commit the committer publishes a View (a Pebble snapshot taken right
// after the group was applied, before the next one, and published once its
// fsync returned; see committer.go); readers use DB.View. Only writers, under their
// own lock, read live state through DB.Live to decide conditional writes.
//
// The package shares its name with the standard library's log; syncd logs
// with log/slog, and files that need both import this package as synclog.
package log
