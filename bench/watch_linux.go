package bench

import (
	"errors"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// reactor reads the SSE streams whose sockets are in its epoll set
// (level-triggered): per ready socket, one read of whatever is there,
// parsed in place. A thousand streams cost the client one read per
// delivery and a wake-up per burst, where a goroutine per stream costs a
// netpoller wake-up, a goroutine switch and a second read that finds
// nothing (the bench client shares the machine's cores with syncd).
type reactor struct {
	mu   sync.Mutex // held while a stream is read, and to remove one
	epfd int
	set  *os.File // epfd, kept open for the process's life
	wait syscall.RawConn
	byFD map[int32]*watcher
	buf  []byte
}

var reactors struct {
	once sync.Once
	rs   []*reactor
	next atomic.Uint32
}

// startEpollReader hands conn's socket to a reactor; false when there is
// none (no epoll), and the caller reads conn itself. conn is closed either
// way once the socket is the reactor's.
func startEpollReader(w *watcher, conn net.Conn) bool {
	reactors.once.Do(func() {
		n := max(1, min(2, runtime.GOMAXPROCS(0)))
		if v, err := strconv.Atoi(os.Getenv("SYNCD_BENCH_SSE_READERS")); err == nil && v > 0 {
			n = v
		}
		for range n {
			fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
			if err != nil {
				return
			}
			// The set itself waits in Go's netpoller (an epoll set is
			// pollable): a blocking epoll_wait would keep the runtime's
			// sysmon polling every 20 µs to retake the reader's P.
			if syscall.SetNonblock(fd, true) != nil {
				_ = syscall.Close(fd)
				return
			}
			f := os.NewFile(uintptr(fd), "epoll")
			raw, err := f.SyscallConn()
			if err != nil {
				_ = f.Close()
				return
			}
			rd := &reactor{epfd: fd, set: f, wait: raw, byFD: map[int32]*watcher{}, buf: make([]byte, 64<<10)}
			reactors.rs = append(reactors.rs, rd)
			go rd.loop()
		}
	})
	if len(reactors.rs) == 0 {
		return false
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	// A duplicate of the socket outside Go's netpoller (closing conn takes
	// its descriptor out of the runtime's epoll set): syncd's writes wake
	// only the reactor, not the runtime's poller as well.
	fd := -1
	if err := raw.Control(func(s uintptr) {
		fd, err = syscall.Dup(int(s))
	}); err != nil || fd < 0 {
		return false
	}
	syscall.CloseOnExec(fd)
	_ = conn.Close()
	if err := syscall.SetNonblock(fd, true); err != nil {
		_ = syscall.Close(fd)
		return true // w gets nothing more: its check reports it
	}
	rd := reactors.rs[int(reactors.next.Add(1))%len(reactors.rs)]
	rd.mu.Lock()
	defer rd.mu.Unlock()
	w.fd, w.rd = fd, rd
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(fd)}
	if err := syscall.EpollCtl(rd.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		_ = syscall.Close(fd)
		w.fd = -1
		s := "epoll: " + err.Error()
		w.bad.CompareAndSwap(nil, &s)
		return true
	}
	rd.byFD[int32(fd)] = w
	return true
}

func (rd *reactor) loop() {
	evs := make([]syscall.EpollEvent, 256)
	for {
		var n int
		var werr error
		err := rd.wait.Read(func(fd uintptr) bool {
			for {
				n, werr = epollPoll(int(fd), evs)
				if !errors.Is(werr, syscall.EINTR) {
					return n > 0 || werr != nil // else wait until the set is readable
				}
			}
		})
		if err == nil {
			err = werr
		}
		if err != nil {
			panic("bench: epoll_wait: " + err.Error())
		}
		for i := range n {
			rd.mu.Lock()
			if w := rd.byFD[evs[i].Fd]; w != nil {
				rd.read(w)
			}
			rd.mu.Unlock()
		}
	}
}

// epollPoll is epoll_wait without waiting. It and the reads are raw
// system calls: none of them can block (the sockets are non-blocking), and
// the runtime's bookkeeping around a system call (and its sysmon, woken
// to watch Ps in system calls) would cost more than the call.
func epollPoll(epfd int, evs []syscall.EpollEvent) (int, error) {
	r, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&evs[0])), uintptr(len(evs)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// read takes what w's socket holds (under rd.mu).
func (rd *reactor) read(w *watcher) {
	r, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(w.fd), uintptr(unsafe.Pointer(&rd.buf[0])), uintptr(len(rd.buf)))
	if e == syscall.EAGAIN || e == syscall.EINTR {
		return
	}
	n := int(r)
	if e != 0 {
		n = 0
	}
	if n > 0 && w.received(rd.buf[:n], time.Now().UnixNano()) {
		return
	}
	rd.drop(w) // end of stream, an error, or the stream is over
}

// remove ends w's stream.
func (rd *reactor) remove(w *watcher) {
	rd.mu.Lock()
	rd.drop(w)
	rd.mu.Unlock()
}

// drop closes w's socket (under rd.mu, so no read can meet a reused
// descriptor number).
func (rd *reactor) drop(w *watcher) {
	if w.fd < 0 {
		return
	}
	_ = syscall.EpollCtl(rd.epfd, syscall.EPOLL_CTL_DEL, w.fd, nil)
	delete(rd.byFD, int32(w.fd))
	_ = syscall.Close(w.fd)
	w.fd = -1
}
