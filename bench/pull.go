package bench

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/or3/syncd/bench/baseline"
)

// fillWorkspace pushes at least n OR3-shaped ops into s with 100-op
// batches from 8 clients (the fastest way in), in slices timed from the
// throughput measured so far.
func (r *run) fillWorkspace(ctx context.Context, s *wsState, n int) error {
	for done := int64(0); done < int64(n); {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// Push in slices of about a second so the total lands near n.
		slice := min(int64(n)-done, 20_000)
		before := r.wl.ackedOps.Load()
		_, _, _, _, err := r.load(ctx, []*wsState{s}, 8, 100, time.Duration(float64(slice)/float64(max(r.httpPush100x8, 2000))*float64(time.Second))+50*time.Millisecond)
		if err != nil {
			return err
		}
		done += r.wl.ackedOps.Load() - before
	}
	return nil
}

// pullCatchUp fills a workspace with PullBehind changes, then times a
// fresh client pulling all of them in pages of 1,000 (checking each
// acknowledged op), beside a raw Pebble scan of as many entries of the
// same size.
func (r *run) pullCatchUp(ctx context.Context) error {
	s, err := r.newWorkspace(ctx, "catch-up")
	if err != nil {
		return err
	}
	r.catchUp = s
	bytes0 := r.wl.bytesSent.Load()
	if err := r.fillWorkspace(ctx, s, r.sz.PullBehind); err != nil {
		return fmt.Errorf("filling the catch-up workspace: %w", err)
	}
	acked := len(s.sortedAcks())
	perChange := int(float64(r.wl.bytesSent.Load()-bytes0) / float64(max(acked, 1)))
	start := time.Now()
	var pages atomic.Int64
	n, bad, err := r.pullVerify(ctx, s, func(int) { pages.Add(1) })
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	r.rep.Check("catch-up pull returns every acknowledged op", bad == "" && n == int64(acked),
		"%d changes pulled in %d pages, %d acknowledged%s", n, pages.Load(), acked, orBad(bad))
	rate := float64(n) / elapsed.Seconds()
	err = r.needDisk("raw Pebble scan baseline", 3*uint64(n)*uint64(perChange+32))
	var scan baseline.Result
	if err == nil {
		scan, err = baseline.PebbleScan(r.scratch, syncdPebbleOptions, max(int(n), 1), perChange)
	}
	fig := Figure{Section: "pull", Name: fmt.Sprintf("pull catch-up, %s changes behind", fmtCount(acked)), Unit: "changes/s", Value: rate,
		Note: fmt.Sprintf("%s for %d changes in pages of 1,000 (%d B per change as pushed)", elapsed.Round(time.Millisecond), n, perChange)}
	if err == nil {
		fig.Baseline = scan.OpsPerSec()
		fig.BaselineName = fmt.Sprintf("raw Pebble scan of %d × %d B", n, perChange)
	}
	r.rep.Add(fig)
	timeFig := Figure{Section: "pull", Name: fmt.Sprintf("catch-up time, %s changes behind", fmtCount(acked)), Unit: "s", Value: elapsed.Seconds()}
	if err == nil && scan.Elapsed > 0 {
		timeFig.Baseline = scan.Elapsed.Seconds()
		timeFig.BaselineName = "raw Pebble scan of the same entries"
	}
	r.rep.Add(timeFig)
	return err
}
