//go:build !unix

package log

import "time"

// cpuTime is unknown here.
func cpuTime() time.Duration { return 0 }
