//go:build !linux

package blobs_test

// evict is not supported here: downloads may read from the page cache.
func evict(string) bool { return false }
