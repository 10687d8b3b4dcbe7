//go:build unix

package admin

import (
	"os"
	"syscall"
)

// sharedInode reports whether fi's file has other hard links: in a backup,
// a file the checkpoint (or the blob copy) hard-linked from the live store,
// whose data the store already made durable.
func sharedInode(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Nlink > 1
}
