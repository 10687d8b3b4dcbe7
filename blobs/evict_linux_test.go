package blobs_test

import (
	"os"
	"syscall"
)

// evict asks the kernel to drop path's cached pages (posix_fadvise
// DONTNEED), as the read baseline does for its file, so a download is
// measured from the disk too. It reports whether it could.
func evict(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer func() { _ = f.Close() }() // read-only
	const fadvDontNeed = 4
	_, _, errno := syscall.Syscall6(syscall.SYS_FADVISE64, f.Fd(), 0, 0, fadvDontNeed, 0, 0)
	return errno == 0
}
