package fs

import (
	"os"
	"syscall"
)

// syncFileRangeWrite is SYNC_FILE_RANGE_WRITE: start writing the range's
// dirty pages back without waiting for them.
const syncFileRangeWrite = 2

// startWriteback asks the kernel to begin writing [off, off+n) of f to
// disk now, while the rest of the upload still streams in, so the fsync
// at the end waits only for the tail instead of the whole file. It is a
// hint: durability still comes from that fsync, and an error is ignored.
func startWriteback(f *os.File, off, n int64) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = syscall.SyncFileRange(int(fd), off, n, syncFileRangeWrite) // a hint; fsync decides
	})
}

// fadvWillNeed is POSIX_FADV_WILLNEED.
const fadvWillNeed = 3

// startReadahead asks the kernel to start reading [off, off+n) of f into
// the page cache now, so a download served with sendfile (which reads
// ahead only a little at a time) finds the pages there instead of
// waiting for the disk once per small window. A hint; errors are ignored.
func startReadahead(f *os.File, off, n int64) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_, _, _ = syscall.Syscall6(syscall.SYS_FADVISE64, fd, uintptr(off), uintptr(n), fadvWillNeed, 0, 0) // a hint
	})
}
