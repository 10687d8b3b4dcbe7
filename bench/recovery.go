package bench

import (
	"context"
	"fmt"
	"time"
)

// recovery grows the log to at least n sync entries, kills syncd with
// SIGKILL right after the last acknowledged push (so the WAL holds the
// unflushed tail), restarts it on the same data directory and times the
// start to a 200 from /readyz. Every acknowledged op of the last filled
// workspace must still be there.
func (r *run) recovery(ctx context.Context, n int) error {
	const section = "crash recovery"
	name := fmt.Sprintf("start → /readyz after SIGKILL, %s log entries", fmtCount(n))
	if r.child == nil {
		r.rep.NotMeasured(section, name, "n/a", "targets a running daemon (--url): the harness does not kill it", nil)
		return nil
	}
	last := r.catchUp
	if missing := int64(n) - r.entries; missing > 0 {
		ws, err := r.newWorkspace(ctx, fmt.Sprintf("recovery-%d", n))
		if err != nil {
			return err
		}
		if err := r.fillWorkspace(ctx, ws, int(missing)); err != nil {
			return fmt.Errorf("growing the log to %d entries: %w", n, err)
		}
		last = ws
	}
	entries := r.entries
	r.child.kill()
	old := r.child
	t0 := time.Now()
	ch, err := startChild(ctx, old.bin, old.dataDir, old.token, 30*time.Minute)
	if err != nil {
		return fmt.Errorf("restart after SIGKILL: %w", err)
	}
	ready := time.Since(t0)
	listened := ch.listenedAt.Sub(ch.startedAt)
	r.child, r.pid = ch, ch.pid()
	r.cl.close()
	r.cl = newClient(ch.url, old.token, 256)

	fig := Figure{Section: section, Name: name, Unit: "s", Value: ready.Seconds(),
		Note: fmt.Sprintf("%d sync entries acknowledged before the kill; listening after %s", entries, listened.Round(time.Millisecond))}
	if r.emptyStart > 0 {
		fig.Baseline = r.emptyStart.Seconds()
		fig.BaselineName = "the same binary starting on an empty data dir"
	}
	r.rep.Add(fig)
	if last != nil {
		pulled, bad, err := r.pullVerify(ctx, last, nil)
		if err != nil {
			return fmt.Errorf("verify after restart: %w", err)
		}
		r.rep.Check(fmt.Sprintf("acknowledged ops survive SIGKILL (%s entries)", fmtCount(n)), bad == "",
			"%d changes of the last filled workspace pulled back after the restart%s", pulled, orBad(bad))
	}
	return nil
}
