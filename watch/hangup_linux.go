package watch

import (
	"errors"
	"sync"
	"syscall"
)

// hangups notices parked streams whose client hung up, which no goroutine
// reads: their sockets are in an epoll set of the hub's, watched by one
// goroutine, which asks the stream's owner to look (a non-blocking read)
// when the peer shuts down, resets or sends anything. Without it (other
// systems, or no epoll) a hang-up is noticed at the next heartbeat.
type hangups struct {
	mu   sync.Mutex
	epfd int // -1 before the first stream and after Close
	byFD map[int32]*stream
}

// epollET is EPOLLET (syscall's constant is negative).
const epollET = 1 << 31

// watch adds s's socket to the set, starting the set and its goroutine on
// the first stream.
func (hu *hangups) watch(h *Hub, s *stream) {
	if s.p.out.raw == nil {
		return
	}
	hu.mu.Lock()
	defer hu.mu.Unlock()
	if hu.byFD == nil {
		if h.closed() {
			return
		}
		fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			h.log.Warn("watch: no epoll set for hang-ups; noticed at heartbeats instead", "err", err)
			hu.byFD = map[int32]*stream{} // do not try again
			hu.epfd = -1
			return
		}
		hu.epfd, hu.byFD = fd, map[int32]*stream{}
		go hu.loop(h, fd)
	}
	if hu.epfd < 0 {
		return
	}
	_ = s.p.out.raw.Control(func(fd uintptr) {
		ev := syscall.EpollEvent{Events: syscall.EPOLLRDHUP | syscall.EPOLLIN | epollET, Fd: int32(fd)}
		if syscall.EpollCtl(hu.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev) == nil {
			hu.byFD[int32(fd)] = s
			s.p.fd = int32(fd)
		}
	})
}

// forget removes s before its connection closes (closing the socket takes
// it out of the epoll set).
func (hu *hangups) forget(s *stream) {
	if s.p.fd < 0 {
		return
	}
	hu.mu.Lock()
	if hu.byFD[s.p.fd] == s {
		delete(hu.byFD, s.p.fd)
	}
	hu.mu.Unlock()
}

// loop waits for hang-ups until the hub closes. An event for a socket
// number reused since is harmless: the stream it now names looks and
// finds its client there.
func (hu *hangups) loop(h *Hub, epfd int) {
	evs := make([]syscall.EpollEvent, 64)
	for {
		n, err := syscall.EpollWait(epfd, evs, 500)
		if h.closed() {
			hu.mu.Lock()
			hu.epfd = -1
			_ = syscall.Close(epfd)
			hu.mu.Unlock()
			return
		}
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			h.log.Warn("watch: epoll wait failed; hang-ups noticed at heartbeats instead", "err", err)
			hu.mu.Lock()
			hu.epfd = -1
			_ = syscall.Close(epfd)
			hu.mu.Unlock()
			return
		}
		for i := range n {
			hu.mu.Lock()
			s := hu.byFD[evs[i].Fd]
			hu.mu.Unlock()
			if s != nil {
				s.p.checkPeer.Store(true)
				if s.w.poke() {
					// Owned now: a hang-up ends here without blocking (no
					// goroutine per stream when many clients leave at once).
					if s.p.checkPeer.Swap(false) && s.p.out.peerClosed() {
						s.finish(endClientGone, nil)
					} else {
						go s.own()
					}
				}
			}
		}
	}
}
