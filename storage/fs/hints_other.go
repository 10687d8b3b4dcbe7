//go:build !linux

package fs

import "os"

// startWriteback is a no-op where sync_file_range does not exist; the
// fsync at the end of Put writes everything back.
func startWriteback(*os.File, int64, int64) {}

// startReadahead is a no-op where posix_fadvise is not available.
func startReadahead(*os.File, int64, int64) {}
