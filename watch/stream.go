package watch

import (
	"context"
	"net/http"
	"time"

	"github.com/or3/syncd/engine"
	"github.com/or3/syncd/syncerr"
)

// sink is how one transport writes a stream. change and heartbeat may
// buffer; flush sends what is buffered. Every write is bounded by
// Config.WriteTimeout.
type sink interface {
	change(version uint64, data []byte) error
	live(e *event) error // a live change, encoded once for every watcher
	flush() error
	heartbeat() error
	requiresSnapshot(oldest uint64) error
}

// ending says why a stream stopped, so the transport can close it the
// right way.
type ending int

const (
	endClientGone       ending = iota // the client went away
	endWriteFailed                    // a write failed or timed out (a stalled client)
	endRequiresSnapshot               // the cursor is behind retained history
	endHubClosed                      // Hub.Close
	endRefused                        // the user lost the read role
	endReadFailed                     // the log could not be read
)

func (e ending) String() string {
	return [...]string{"client gone", "write failed", "requires snapshot", "hub closed", "refused", "read failed"}[e]
}

// stream is one watcher's delivery loop, run on the request's goroutine.
type stream struct {
	h    *Hub
	w    *watcher
	sink sink
	// pos is the last version the stream has dealt with: sent, or skipped
	// because it is invisible to the user. Everything ≤ pos is done.
	pos      uint64
	behind   bool // the log holds changes after pos that the queue does not
	recycled []*batch
	p        *parked // a hijacked SSE stream with no goroutine while idle
}

// run delivers the stream until it ends: it catches up from the log after
// the cursor, then sends live changes from the watcher's queue, going back
// to the log whenever the queue overflowed or showed a gap. The watcher
// must be registered before run, so no commit falls between the log and
// the queue.
func (s *stream) run(ctx context.Context) (ending, error) {
	beat := time.NewTimer(s.h.beatInterval())
	defer beat.Stop()
	s.behind = true // start from the cursor
	for {
		// Checked on every turn, not only when idle, so a stream kept busy
		// by a steady flow of pushes still notices the client leaving, the
		// hub closing, and its heartbeat (which re-checks membership).
		select {
		case <-ctx.Done():
			return endClientGone, nil
		case <-s.h.done:
			return endHubClosed, nil
		case <-beat.C:
			if end, err := s.beat(ctx); err != nil {
				return end, err
			}
			beat.Reset(s.h.beatInterval())
		default:
		}
		idle, end, err := s.turn(ctx)
		if err != nil || end != endNone {
			return end, err
		}
		if !idle {
			continue
		}
		select {
		case <-s.w.wake:
		case <-beat.C:
			if end, err := s.beat(ctx); err != nil {
				return end, err
			}
			beat.Reset(s.h.beatInterval())
		case <-ctx.Done():
			return endClientGone, nil
		case <-s.h.done:
			return endHubClosed, nil
		}
	}
}

// turn does one round of a stream's work: the catch-up from the log when
// it is behind, else the changes queued since the last turn. idle reports
// that nothing was queued.
func (s *stream) turn(ctx context.Context) (idle bool, end ending, err error) {
	if s.behind {
		if end, err := s.catchUp(ctx); err != nil || end != endNone {
			return false, end, err
		}
		s.behind = false
	}
	q, missed := s.w.take(s.recycled)
	s.recycled = nil // the watcher owns it now
	if missed {
		s.behind = true
		return false, endNone, nil
	}
	if len(q) == 0 {
		return true, endNone, nil
	}
	gap, err := s.deliver(q)
	s.recycle(q)
	if err != nil {
		return false, endWriteFailed, err
	}
	if gap {
		s.h.gaps.Add(1)
		s.behind = true
	}
	return false, endNone, nil
}

// recycle keeps a delivered queue's slice for the next take, unless a
// burst grew it: idle watchers stay small.
func (s *stream) recycle(q []*batch) {
	clear(q)
	if cap(q) <= 16 {
		s.recycled = q[:0]
	}
}

// endNone is catchUp's "caught up, carry on".
const endNone ending = -1

// failed classifies an engine error met mid-stream: the client left (the
// request's context ended), the user may no longer read (401, 403), or the
// read itself failed (storage unavailable, ...), which the client retries.
func failed(ctx context.Context, err error) ending {
	if ctx.Err() != nil {
		return endClientGone
	}
	if e, ok := syncerr.As(err); ok && (e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden) {
		return endRefused
	}
	return endReadFailed
}

// beat re-checks the user's read role and sends a heartbeat.
func (s *stream) beat(ctx context.Context) (ending, error) {
	var err error
	if !s.h.engineCall(func() { err = s.h.eng.Authorize(ctx, s.w.ws, s.w.user, false) }) {
		return endHubClosed, errClosed
	}
	if err != nil {
		return failed(ctx, err), err
	}
	if err := s.sink.heartbeat(); err != nil {
		return endWriteFailed, err
	}
	return endNone, nil
}

// catchUp replays the log after pos through Pull, page by page, until a
// page says there is no more. Pull reads one durable view per page and
// holds none in between.
func (s *stream) catchUp(ctx context.Context) (ending, error) {
	limit := s.h.cfg.CatchUpPage
	for {
		var resp engine.PullResponse
		var err error
		s.h.pulls.Add(1)
		ok := s.h.engineCall(func() {
			resp, err = s.h.eng.Pull(ctx, s.w.user, engine.PullRequest{
				Scope:  engine.Scope{WorkspaceID: s.w.ws},
				Cursor: int64(s.pos),
				Limit:  &limit,
			})
		})
		if !ok {
			return endHubClosed, nil
		}
		if err != nil {
			return failed(ctx, err), err
		}
		if resp.RequiresSnapshot {
			return endRequiresSnapshot, s.sink.requiresSnapshot(resp.OldestRetainedVersion)
		}
		var buf []byte
		for i := range resp.Changes {
			c := &resp.Changes[i]
			buf = appendChange(buf[:0], c)
			if err := s.sink.change(c.ServerVersion, buf); err != nil {
				return endWriteFailed, err
			}
		}
		if resp.NextCursor > s.pos {
			s.pos = resp.NextCursor
		}
		if err := s.sink.flush(); err != nil {
			return endWriteFailed, err
		}
		if !resp.HasMore {
			return endNone, nil
		}
		select {
		case <-ctx.Done():
			return endClientGone, nil
		case <-s.h.done:
			return endHubClosed, nil
		default:
		}
	}
}

// deliver sends the queued live changes after pos and flushes. Changes at
// or below pos were already sent by the catch-up; changes the user may not
// see advance pos without a write. A change beyond pos+1 means a version
// never reached the queue (a commit that errored after reaching the disk
// is replayed by recovery without a notification): it reports gap, and
// the stream reads the hole from the log.
func (s *stream) deliver(q []*batch) (gap bool, err error) {
	defer func() {
		if ferr := s.sink.flush(); err == nil {
			err = ferr
		}
	}()
	for _, b := range q {
		for i := range b.events {
			e := &b.events[i]
			v := e.change.ServerVersion
			if v <= s.pos {
				continue
			}
			if v != s.pos+1 {
				return true, nil
			}
			s.pos = v
			if !engine.Visible(&e.change, s.w.user) {
				continue
			}
			if err := s.sink.live(e); err != nil {
				return false, err
			}
		}
	}
	return false, nil
}
