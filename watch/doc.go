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
// goroutine (a parked SSE stream: on whichever goroutine owns it at the
// time, one at a time; see below). It catches up from the log after the client's cursor through
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
// watcher's queue under the watcher's own short lock; encoding a change
// happens once, lazily, on the first stream that sends it, into one buffer
// holding the SSE frame as an HTTP/1.1 chunk, of which the bare frame and
// the JSON (WebSocket) are slices: every watcher writes the same bytes.
// Nothing in the callback waits on a client.
//
// # Parked SSE streams
//
// Once its headers and first comment are flushed, an SSE stream's
// connection is hijacked from net/http and the stream is parked after its
// catch-up: no goroutine, no net/http buffers, only the connection, the
// watcher and a heartbeat timer. A commit takes the parked watchers it
// queued for and serves them in groups of 64 on short-lived goroutines:
// per watcher, the visible frames in one non-blocking write. What could
// block (a catch-up from the log, bytes the socket did not take, the
// heartbeat's role check) goes to an owner goroutine that writes with the
// WriteTimeout deadline and parks the stream again. A parked stream does
// not read: on Linux its socket sits in the hub's epoll set, whose one
// goroutine has the stream look (a non-blocking read) when the client
// hangs up; elsewhere that read runs at each heartbeat. See park.go and
// hangup_linux.go. A connection that
// cannot be hijacked (HTTP/2) keeps the stream on its request goroutine,
// as a WebSocket does.
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
// An idle parked SSE watcher costs its connection, two small structs and a
// timer: no goroutine, no buffer (queues are allocated on the first change
// and dropped after a burst), and no Pebble view (Pull holds one per page
// only). BenchmarkIdleWatchers compares the cost with a bare net/http SSE
// handler's. An unparked stream adds the request's goroutine and net/http's
// buffers; the engine's deep read path runs on short-lived goroutines
// (offStack) so that goroutine's stack stays small for the hours it idles.
// A WebSocket watcher adds coder/websocket's reading goroutine, which
// answers pings and the close handshake.
//
// # Membership
//
// The user's read role is checked when the stream opens (a refusal is an
// HTTP error, never a stream) and again at every heartbeat, so a member
// removed from the workspace stops receiving its changes within
// Config.Heartbeat.
package watch
