//go:build !unix

package watch

import "syscall"

// nonBlockingWrites: elsewhere every write of a parked stream goes
// through an owner goroutine's blocking, deadline-bound write.
const nonBlockingWrites = false

func tryWrite(syscall.RawConn, []byte) (int, error) { return 0, nil }

func peerClosed(syscall.RawConn) bool { return false }
