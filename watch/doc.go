// Package watch delivers a workspace's committed sync changes to clients in
// real time, over Server-Sent Events (api.md GET /v1/sync/watch) and
// WebSocket (GET /v1/sync/ws). It owns the fan-out from the engine's
// post-commit subscription to the open streams; the HTTP layer owns
// authentication of the token and the resolution of user, workspace and
// cursor, and calls Hub.ServeSSE or Hub.ServeWS.
//
// # One stream
//
// A stream is a watcher registered in the Hub plus a loop on the request's
// goroutine. It catches up from the log after the client's cursor through
// engine.Pull pages (pull's visibility rules and retention check), then
// sends the live changes queued for it, in version order. Every change the
// user may see is sent exactly once:
//
//   - No gap. The watcher is registered before the first Pull. The engine
//     publishes a commit's durable view before it notifies subscribers, so
//     a commit notified before registration is in the Pull's view, and one
//     notified after is in the queue.
//   - No duplicate. The stream keeps pos, the last version it has dealt
//     with (sent, or skipped as invisible: an invisible change still
//     advances pos), and drops queued changes at or below it.
//   - A queued change beyond pos+1 (a version that reached the disk but was
//     never notified, as after a commit error and recovery) sends the
//     stream back to the log for the hole instead of skipping it.
//
// # Fan-out and bounds
//
// The engine calls Hub's callback under the workspace's commit lock, so it
// must not block. The callback copies the commit once into a batch shared
// by every watcher of the workspace, and appends a pointer to each
// watcher's queue under the watcher's own short lock; encoding a change to
// JSON happens once, lazily, on the first stream that sends it. Nothing in
// the callback waits on a client.
//
// A watcher's queue holds at most Config.BufferPerWatcher changes. A
// watcher whose queue would overflow (a slow reader, a burst) drops the
// queue and is flagged; its stream then catches up from the log from pos,
// exactly as after a reconnect, and resumes from the queue. This keeps
// both the memory bound and the no-gap rule without disconnecting a client
// that is merely slow. A client that stops reading altogether is cut off
// by the write deadline (Config.WriteTimeout): its stream ends and it
// resumes from its Last-Event-ID (SSE) or last serverVersion (WebSocket)
// when it reconnects. Either way pushes and other watchers never wait.
//
// An idle SSE watcher costs the request's goroutine (net/http's), a small
// struct, a one-token wake channel and a ticker: no goroutine of ours, no
// buffer (queues are allocated on the first change and dropped after a
// burst), and no Pebble view (Pull holds one per page only). The engine's
// deep read path runs on short-lived goroutines (offStack) and changes are
// encoded by a shallow hand-written encoder, so the request goroutine's
// stack stays small for the hours it idles. BenchmarkIdleWatchers compares
// the cost with a bare net/http SSE handler's. A WebSocket watcher adds
// coder/websocket's reading goroutine, which answers pings and the close
// handshake.
//
// # Membership
//
// The user's read role is checked when the stream opens (a refusal is an
// HTTP error, never a stream) and again at every heartbeat, so a member
// removed from the workspace stops receiving its changes within
// Config.Heartbeat.
package watch
