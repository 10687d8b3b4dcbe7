package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
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

// snapshot times a snapshot bootstrap of the catch-up workspace (pages of
// 1,000) and samples syncd's RSS meanwhile, when the endpoint exists.
func (r *run) snapshot(ctx context.Context) error {
	const section = "snapshot"
	if r.catchUp == nil {
		r.rep.NotMeasured(section, "snapshot bootstrap", "n/a", "no catch-up workspace (its phase failed)", nil)
		return nil
	}
	s := r.catchUp
	page, err := r.cl.snapshot(ctx, s.user, s.id, "", 1000)
	var se *statusError
	if errors.As(err, &se) && (se.Status == http.StatusNotFound || se.Status == http.StatusMethodNotAllowed || se.Status == http.StatusNotImplemented) {
		r.rep.NotMeasured(section, "snapshot bootstrap time", "not available", fmt.Sprintf("POST /v1/sync/snapshot answered %d: not in this syncd yet", se.Status), nil)
		r.rep.NotMeasured(section, "snapshot peak RSS", "not available", "no snapshot endpoint", nil)
		return nil
	}
	if err != nil {
		return err
	}
	// Measure from scratch now that it exists: the first page above was a
	// probe.
	var peak atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	rss0, _ := procStatus(r.pid, "VmRSS")
	go func() {
		defer close(sampled)
		for {
			if v, err := procStatus(r.pid, "VmRSS"); err == nil && v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	start := time.Now()
	var firstPage time.Duration
	items, pages := 0, 0
	token := ""
	for {
		page, err = r.cl.snapshot(ctx, s.user, s.id, token, 1000)
		if err != nil {
			break
		}
		if pages == 0 {
			firstPage = time.Since(start)
		}
		items += len(page.Items)
		pages++
		if page.NextPageToken == nil || *page.NextPageToken == "" {
			break
		}
		token = *page.NextPageToken
	}
	elapsed := time.Since(start)
	close(stop)
	<-sampled
	if err != nil {
		return fmt.Errorf("snapshot page %d: %w", pages+1, err)
	}
	r.rep.Check("snapshot returns the catch-up workspace's rows", items > 0, "%d items in %d pages (watermark %d)", items, pages, page.HighWatermark)
	r.rep.Add(Figure{Section: section, Name: fmt.Sprintf("snapshot bootstrap of %s items", fmtCount(items)), Unit: "s", Value: elapsed.Seconds(),
		Note: "pages of 1,000"})
	rate := Figure{Section: section, Name: fmt.Sprintf("snapshot rows/s (%s rows)", fmtCount(items)), Unit: "rows/s", Value: float64(items) / elapsed.Seconds(),
		Note: "client in this process, syncd in another; pages of 1,000"}
	if items >= 1_000_000 {
		rate.Target = &Target{Op: ">=", Value: 200_000, Source: "issue 5, at 1M rows"}
	}
	r.rep.Add(rate)
	r.rep.Add(Figure{Section: section, Name: fmt.Sprintf("snapshot first page (%s-row workspace)", fmtCount(items)), Unit: "ms", Value: float64(firstPage.Microseconds()) / 1000,
		Target: &Target{Op: "<=", Value: 50, Source: "issue 5"}})
	if r.pid > 0 && peak.Load() > 0 {
		r.rep.Add(Figure{Section: section, Name: "syncd peak RSS during the snapshot", Unit: "MiB", Value: float64(peak.Load()) / 1024,
			Baseline: float64(rss0) / 1024, BaselineName: "syncd RSS before"})
		r.rep.Add(Figure{Section: section, Name: "syncd RSS growth during the snapshot", Unit: "MiB", Value: float64(peak.Load()-rss0) / 1024,
			Target: &Target{Op: "<=", Value: 64, Source: "issue 5"}})
	}
	return nil
}
