//go:build !linux

package baseline

import (
	"errors"
	"os"
)

// evictCache cannot drop a file's cached pages portably outside Linux; the
// read that follows is then a warm one, and says so.
func evictCache(*os.File) error {
	return errors.New("baseline: page-cache eviction unsupported on this OS")
}
