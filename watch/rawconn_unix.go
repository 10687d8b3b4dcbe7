//go:build unix

package watch

import "syscall"

// nonBlockingWrites: a parked stream's fan-out writes straight to the
// socket without waiting (tryWrite).
const nonBlockingWrites = true

// tryWrite writes as much of p as the socket takes without waiting.
func tryWrite(rc syscall.RawConn, p []byte) (n int, err error) {
	var werr error
	err = rc.Write(func(fd uintptr) bool {
		for n < len(p) {
			m, e := syscall.Write(int(fd), p[n:])
			if m > 0 {
				n += m
			}
			switch {
			case e == syscall.EINTR:
			case e == syscall.EAGAIN:
				return true
			case e != nil:
				werr = e
				return true
			case m <= 0:
				return true
			}
		}
		return true
	})
	if werr != nil {
		return n, werr
	}
	return n, err
}

// peerClosed reads without waiting: end of stream or an error means the
// client is gone. Bytes it sent are dropped.
func peerClosed(rc syscall.RawConn) bool {
	closed := false
	var b [256]byte
	err := rc.Read(func(fd uintptr) bool {
		for range 16 {
			n, e := syscall.Read(int(fd), b[:])
			switch {
			case e == syscall.EINTR:
			case e == syscall.EAGAIN:
				return true
			case e != nil || n == 0:
				closed = true
				return true
			}
		}
		return true
	})
	return closed || err != nil
}
