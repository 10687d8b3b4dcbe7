package bench

import (
	"fmt"
	"strings"
	"testing"
)

// chunk frames s as HTTP/1.1 chunks of at most n bytes.
func chunk(s string, n int) string {
	var b strings.Builder
	for len(s) > 0 {
		k := min(n, len(s))
		fmt.Fprintf(&b, "%x\r\n%s\r\n", k, s[:k])
		s = s[k:]
	}
	return b.String()
}

// TestSSEParser_ChunkedAnySplit: the epoll reader's parser gives the same
// events however the socket splits the chunked stream, down to one byte a
// read, and reports the last chunk as the stream's end.
func TestSSEParser_ChunkedAnySplit(t *testing.T) {
	long := strings.Repeat("x", 3000)
	stream := ": syncd watch\n\nid: 1\ndata: {\"a\":1}\n\n: heartbeat\n\nid: 2\ndata: " + long + "\n\nid: 3\ndata: y\n\n"
	body := chunk(stream, 700) + "0\r\n\r\n"
	for _, split := range []int{1, 2, 3, 7, 64, 4096} {
		var got []sseEvent
		p := sseParser{chunked: true, on: func(ev sseEvent) { got = append(got, ev) }}
		var err error
		for b := []byte(body); len(b) > 0 && err == nil; {
			k := min(split, len(b))
			err = p.feed(b[:k])
			b = b[k:]
		}
		if err != errStreamEnd {
			t.Errorf("split %d: err = %v, want the stream's end", split, err)
		}
		if len(got) != 3 || got[0].id != 1 || got[1].id != 2 || got[2].id != 3 {
			t.Errorf("split %d: got %+v", split, got)
		}
	}
}

// TestWatcher_ChecksOrder: a gap, a duplicate and a named event are each
// recorded as the watcher's problem.
func TestWatcher_ChecksOrder(t *testing.T) {
	for name, s := range map[string]string{
		"gap":       "id: 1\ndata: {}\n\nid: 3\ndata: {}\n\n",
		"duplicate": "id: 1\ndata: {}\n\nid: 1\ndata: {}\n\n",
		"event":     "event: requiresSnapshot\ndata: {}\n\n",
	} {
		w := &watcher{fd: -1}
		w.p.on = w.event
		w.received([]byte(s), 1)
		if w.bad.Load() == nil {
			t.Errorf("%s: not reported", name)
		}
	}
	w := &watcher{fd: -1}
	w.p.on = w.event
	if !w.received([]byte("id: 1\ndata: {}\n\nid: 2\ndata: {}\n\n"), 1) || w.bad.Load() != nil || w.count.Load() != 2 {
		t.Errorf("in order: bad %v, count %d", w.bad.Load(), w.count.Load())
	}
}
