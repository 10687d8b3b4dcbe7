// Package webhooks owns webhook registrations and their deliveries
// (side-modules §5): the WebhookStore RPC methods, syncd's own delivery
// worker, and the events that applied sync ops fire (api.md Decisions 9).
//
// Everything is system events of domain "webhook" on the log, folded into
// keyspaces log.PrefixWebhook (registrations by id) and log.PrefixDelivery
// (delivery logs by webhook id, then a time-ordered UUIDv7), so the
// delivery queue survives restarts and replay rebuilds it. Writes are
// decided under one lock against the writer's batch and committed before
// it is released; the writer keeps an in-memory index of pending and
// in-flight deliveries so claims and the reaper never scan the log; reads
// come from the durable view.
//
// Secrets are generated as "whs_" + 64 hex (or given), returned once by
// createWebhook, and kept only encrypted (AES-256-GCM under SHA-256 of the
// configured key). A delivery is POSTed with X-OR3-Event, X-OR3-Event-ID,
// X-OR3-Timestamp (Unix seconds) and X-OR3-Signature: sha256=<hex
// HMAC-SHA256(secret, "<timestamp>.<body>")>.
//
// The queue: enqueue → pending (due now) or, past the per-webhook rate
// limit, cancelled; a claim marks due logs in_flight with the worker and
// claim time, which fence the outcome (a worker whose claim the reaper
// returned to pending cannot overwrite the log); failures retry after
// RetryDelays (0 s, 30 s, 2 min, 10 min, 30 min, 1 h; six tries, within
// Config.MaxRetry of creation); the reaper returns logs in flight for more
// than two minutes to pending; each finished delivery recomputes the
// webhook's health from its last three; old logs are purged.
//
// Applied sync ops reach the store through OnSync, which the daemon calls
// from the engine's post-commit subscription: OnSync only appends to a
// bounded in-memory queue, and a separate goroutine turns queued changes
// into deliveries, so webhook work never sits on a push's latency. No
// applied op's webhook is lost or doubled by a crash in between: each
// batch of deliveries also writes, per workspace, the server_version up to
// which ops are enqueued (the mark, keyspace log.PrefixWebhookMark). On
// start, and after the queue overflowed or an enqueue failed, the enqueuer
// reads the ops above each mark back from the workspace's change log,
// decides which were applied (and whether their key existed) by folding
// them into the register as it stood at the mark, exactly as the push did,
// and enqueues what is missing; ops at or below a mark are never enqueued
// again. Only ops this region accepted fire (model.md §6: the log records
// a replicated op's origin). A sync event's id is derived from its
// workspace, version and op id, so it is the same however it was
// enqueued. See catchup.go.
//
// Targets must be http(s) URLs of at most 2,048 bytes without credentials;
// private, loopback, link-local and metadata addresses are refused — when
// the URL is registered and again when the connection is made, so a name
// resolving to such an address later is refused too — unless
// Config.AllowPrivate (metadata endpoints stay refused even then).
// Redirects are not followed.
package webhooks
