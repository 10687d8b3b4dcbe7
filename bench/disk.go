package bench

import (
	"fmt"
	"time"
)

// In-process Pebble (the raw baselines and the engine figure) treats a
// failed WAL write as fatal and would end the harness without a report,
// so these run only when the scratch disk has room for them: a margin
// plus what they can write at this rate for their duration.
const (
	diskMargin    = 512 << 20
	diskWriteRate = 200 << 20 // bytes/s, above what this class of disk sustains
)

// needDisk returns an error naming the shortfall when the scratch
// directory has less than bytes (plus the margin) free.
func (r *run) needDisk(what string, bytes uint64) error {
	free, err := diskFree(r.scratch)
	if err != nil {
		return fmt.Errorf("%s: cannot tell the free space of %s: %w", what, r.scratch, err)
	}
	if need := bytes + diskMargin; free < need {
		return fmt.Errorf("%s skipped: %d MiB free on %s, it needs about %d MiB (disk full?)", what, free>>20, r.scratch, need>>20)
	}
	return nil
}

// forDuration is what a write-bound measurement of d can write.
func forDuration(d time.Duration) uint64 { return uint64(d.Seconds()*diskWriteRate) + 128<<20 }
