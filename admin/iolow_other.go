//go:build !linux

package admin

import "os"

// withIdleIO runs fn (I/O classes are Linux's).
func withIdleIO(fn func() error) error { return fn() }

// dropCache does nothing here.
func dropCache(*os.File) {}
