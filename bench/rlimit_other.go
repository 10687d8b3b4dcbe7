//go:build !unix

package bench

// RaiseOpenFiles is a no-op where there is no RLIMIT_NOFILE.
func RaiseOpenFiles() (soft, hard uint64, err error) { return 0, 0, nil }
