package baseline

import (
	"os"

	"golang.org/x/sys/unix"
)

// evictCache asks the kernel to drop f's clean pages from the page cache, so
// the next read goes to the device. The file must have been fsynced: dirty
// pages are not dropped.
func evictCache(f *os.File) error {
	return unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
}
