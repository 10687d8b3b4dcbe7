//go:build !unix

package admin

import "os"

// sharedInode cannot tell here: every file is fsynced.
func sharedInode(os.FileInfo) bool { return false }
