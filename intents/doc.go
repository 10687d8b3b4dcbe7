// Package intents owns upload intents: one-time upload authorizations that
// reserve workspace storage quota (side-modules §1, host-integration §1.2,
// api.md Overrides). The sync endpoints /v1/sync/upload-intents/* and the
// storage module's presign-upload use this one implementation.
//
// # Events and state
//
// Each mutation is a system event of domain "intent" ("intent.reserve",
// "intent.consume", "intent.cancel") appended to a log batch and folded by
// Fold into the same batch: the intent record under PrefixIntent (by id)
// and, while it is active, an index entry under PrefixIntentByWS
// (ws | id). Fold takes its only clock from the event, so replay rebuilds
// the same bytes. A reserve's fold also retires the workspace's intents
// that expired before it (status "expired"), so the index holds only
// intents that may still count.
//
// # Decisions
//
// Quota, once-only consumption and cancellation are decided under a
// per-workspace lock against state read through the batch (which sees
// batches still pending in the committer), so of two concurrent
// reservations that together exceed the quota exactly one wins. Quota
// counts the sizes of live file_meta rows plus live reservations; a hash
// already stored or reserved reserves nothing (content dedupe). Expired
// intents (expiresAt <= now) count for nothing and can no longer be
// consumed.
package intents
