package jobs

import (
	"context"

	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/syncerr"
)

// StreamEvent is one event of a job stream (api.md Decisions 7).
type StreamEvent struct {
	// Kind is "chunk", "reset" or "done".
	Kind string
	// Offset is where Content starts (chunk) or where the regenerated
	// content resumes (reset: a re-claimed job's content went back to its
	// contentBase, so the viewer drops what it had after Offset).
	Offset int64
	// Content is the chunk's text.
	Content string
	// Status is the final status (done).
	Status string
}

// End is the byte offset after the event: the SSE id a viewer resumes
// from.
func (ev StreamEvent) End() int64 { return ev.Offset + int64(len(ev.Content)) }

// maxStreamEvent bounds the content of one stream event (a finished job's
// content is sent in pieces of this size).
const maxStreamEvent = 64 << 10

// Stream delivers a job's content from a byte offset: every byte once, in
// order, then done with the final status.
type Stream struct {
	s        *Store
	e        *entry
	id       string
	offset   int64
	attempts int64
	done     bool
}

// OpenStream opens the content stream of job id for userID from byte
// offset. An unknown job, or one userID does not own, is 404.
func (s *Store) OpenStream(ctx context.Context, id, userID string, offset int64) (*Stream, error) {
	if err := firstErr(checkID("jobId", id), checkID("userId", userID)); err != nil {
		return nil, err
	}
	if offset < 0 || offset > maxSafeInt {
		return nil, syncerr.Validation("offset must be a safe integer >= 0")
	}
	e := s.lookup(id)
	if e == nil {
		return nil, notFound(id)
	}
	rec, err := s.durableRecord(id)
	if err != nil {
		return nil, err
	}
	if rec == nil || rec.UserID != userID {
		return nil, notFound(id)
	}
	return &Stream{s: s, e: e, id: id, offset: offset, attempts: rec.Attempts}, nil
}

// Offset is the byte offset the stream has delivered up to.
func (st *Stream) Offset() int64 { return st.offset }

// Next returns the next event, waiting for one until ctx ends. After the
// done event it returns done again.
func (st *Stream) Next(ctx context.Context) (StreamEvent, error) {
	for {
		if st.done {
			return StreamEvent{}, syncerr.Gone("stream ended")
		}
		// Take the wake-up channel before reading, so a write that lands
		// after the read still wakes us.
		wake := *st.e.notify.Load()
		ev, ok, err := st.read()
		if err != nil || ok {
			return ev, err
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return StreamEvent{}, ctx.Err()
		}
	}
}

// read looks for the next event in the durable view.
func (st *Stream) read() (StreamEvent, bool, error) {
	p := st.e.progress.Load()
	if p != nil && p.status == StatusStreaming {
		// The fast path: the durable progress says where the content ends;
		// only chunks are read.
		if (p.attempts > st.attempts && st.offset > p.resetLen) || st.offset > p.contentLen {
			return st.reset(p.attempts, min(p.resetLen, p.contentLen)), true, nil
		}
		st.attempts = p.attempts
		if st.offset >= p.contentLen {
			return StreamEvent{}, false, nil
		}
		v, err := st.s.view()
		if err != nil {
			return StreamEvent{}, false, err
		}
		defer v.Release()
		return st.readChunks(v, p.contentLen)
	}
	v, err := st.s.view()
	if err != nil {
		return StreamEvent{}, false, err
	}
	defer v.Release()
	rec, found, err := loadJob(v, st.id)
	if err != nil {
		return StreamEvent{}, false, syncerr.Internal(err, "jobs: read")
	}
	if !found {
		// Deleted by retention while we streamed.
		st.done = true
		return StreamEvent{Kind: "done", Offset: st.offset, Status: StatusError}, true, nil
	}
	// A re-claim reset the content below what this viewer has, or the
	// viewer resumes past the content: go back to where it is regenerated.
	if (rec.Attempts > st.attempts && st.offset > rec.ResetLen) || st.offset > rec.ContentLen {
		return st.reset(rec.Attempts, min(rec.ResetLen, rec.ContentLen)), true, nil
	}
	st.attempts = rec.Attempts
	if rec.Status != StatusStreaming {
		if st.offset < int64(len(rec.Content)) {
			end := min(st.offset+maxStreamEvent, int64(len(rec.Content)))
			for end < int64(len(rec.Content)) && end > st.offset && !isRuneStart(rec.Content[end]) {
				end--
			}
			ev := StreamEvent{Kind: "chunk", Offset: st.offset, Content: rec.Content[st.offset:end]}
			st.offset = end
			return ev, true, nil
		}
		st.done = true
		return StreamEvent{Kind: "done", Offset: st.offset, Status: rec.Status}, true, nil
	}
	if st.offset >= rec.ContentLen {
		return StreamEvent{}, false, nil
	}
	return st.readChunks(v, rec.ContentLen)
}

func (st *Stream) reset(attempts, to int64) StreamEvent {
	st.attempts = attempts
	st.offset = to
	return StreamEvent{Kind: "reset", Offset: to}
}

// readChunks reads content from st.offset up to contentLen.
func (st *Stream) readChunks(v *synclog.View, contentLen int64) (StreamEvent, bool, error) {
	// Viewers sit on chunk boundaries: a point read finds the next chunk.
	// A viewer behind gets the chunks it missed in one event.
	var buf []byte
	for st.offset < contentLen && len(buf) < maxStreamEvent {
		data, err := v.Get(chunkKey(st.id, st.offset))
		if err != nil {
			return StreamEvent{}, false, syncerr.Internal(err, "jobs: read")
		}
		if data == nil {
			break
		}
		var c chunkRecord
		if err := synclog.Decode(chunkKey(st.id, st.offset), data, &c); err != nil {
			return StreamEvent{}, false, err
		}
		if buf == nil {
			buf = make([]byte, 0, len(c.Data))
		}
		buf = append(buf, c.Data...)
		st.offset += int64(len(c.Data))
	}
	if buf != nil {
		return StreamEvent{Kind: "chunk", Offset: st.offset - int64(len(buf)), Content: string(buf)}, true, nil
	}
	// A resume inside a chunk: the last chunk starting before offset.
	it, err := v.NewIter(chunkKey(st.id, 0), chunkKey(st.id, st.offset+1))
	if err != nil {
		return StreamEvent{}, false, syncerr.Internal(err, "jobs: read")
	}
	defer it.Close()
	if !it.Last() {
		return StreamEvent{}, false, it.Error()
	}
	r := synclog.ReadKey(it.Key())
	r.Str()
	start := int64(r.U64())
	var c chunkRecord
	if err := synclog.Decode(it.Key(), it.Value(), &c); err != nil {
		return StreamEvent{}, false, err
	}
	skip := st.offset - start
	if skip < 0 || skip >= int64(len(c.Data)) {
		return StreamEvent{}, false, nil
	}
	ev := StreamEvent{Kind: "chunk", Offset: st.offset, Content: c.Data[skip:]}
	st.offset = start + int64(len(c.Data))
	return ev, true, nil
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
