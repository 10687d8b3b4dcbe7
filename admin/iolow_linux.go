//go:build linux

package admin

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
)

// withIdleIO runs fn on an OS thread of its own in the idle I/O class
// (ioprio_set(IOPRIO_CLASS_IDLE)): the reads, writes, write-back it starts
// and fsyncs of a backup yield the disk to the live store's WAL writes and
// fsyncs whenever both wait (I/O schedulers that honour classes, such as
// mq-deadline and BFQ; elsewhere it changes nothing). The thread is never
// unlocked, so it ends with the goroutine and its class with it. A panic
// in fn is re-raised in the caller.
func withIdleIO(fn func() error) error {
	type result struct {
		err   error
		panic any
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		defer func() {
			if p := recover(); p != nil {
				done <- result{panic: p}
			}
		}()
		const ioprioWhoProcess, ioprioClassIdle, ioprioClassShift = 1, 3, 13
		// who 0 is the calling thread; failure (no permission, no such
		// call) leaves the default class.
		_, _, _ = syscall.Syscall(syscall.SYS_IOPRIO_SET, ioprioWhoProcess, 0, ioprioClassIdle<<ioprioClassShift)
		done <- result{err: fn()}
	}()
	r := <-done
	if r.panic != nil {
		panic(fmt.Sprintf("admin: backup: %v", r.panic))
	}
	return r.err
}

// dropCache tells the kernel the file's pages will not be read again
// (posix_fadvise DONTNEED): a backup's copies, once synced, would
// otherwise push the live store's sstables out of the page cache.
func dropCache(f *os.File) {
	const fadvDontNeed = 4
	_, _, _ = syscall.Syscall6(syscall.SYS_FADVISE64, f.Fd(), 0, 0, fadvDontNeed, 0, 0)
}
