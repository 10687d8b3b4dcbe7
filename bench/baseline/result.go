package baseline

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is what one measurement produced, baseline or benchmark alike, so
// the two print and divide the same way.
type Result struct {
	// Name says what was measured, e.g. "fsync-append-4k".
	Name string
	// Ops counts the units of work: appends, keys, requests, entries. The
	// unit is the one the matching syncd figure counts, so OpsPerSec of both
	// divide meaningfully.
	Ops int64
	// Bytes is the payload moved, or 0 where bytes mean nothing.
	Bytes int64
	// Commits counts durable commits (fsyncs asked for) when the measurement
	// groups several ops into one; 0 otherwise.
	Commits int64
	// Elapsed is the wall time the ops took, excluding setup and teardown.
	Elapsed time.Duration
	// Latencies holds per-op (or, where Commits is set, per-commit)
	// latencies; it may be nil.
	Latencies *Histogram
	// Note carries what a reader needs to trust the figure (write stalls,
	// whether a read came from the page cache); it may be empty.
	Note string
}

// OpsPerSec returns Ops divided by Elapsed in seconds, or 0 when nothing was
// timed.
func (r Result) OpsPerSec() float64 { return perSec(r.Ops, r.Elapsed) }

// BytesPerSec returns Bytes divided by Elapsed in seconds, or 0 when nothing
// was timed.
func (r Result) BytesPerSec() float64 { return perSec(r.Bytes, r.Elapsed) }

// CommitsPerSec returns Commits divided by Elapsed in seconds, or 0 when
// nothing was timed.
func (r Result) CommitsPerSec() float64 { return perSec(r.Commits, r.Elapsed) }

func perSec(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// String renders the result on one line for a person:
// "fsync-append-4k: 4172 ops/s, 16.3 MiB/s (8344 ops in 2s) n=8344 p50=238µs ...".
func (r Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s ops/s", r.Name, fmtRate(r.OpsPerSec()))
	if r.Bytes > 0 {
		fmt.Fprintf(&b, ", %s", fmtBytesRate(r.BytesPerSec()))
	}
	if r.Commits > 0 && r.Commits != r.Ops {
		fmt.Fprintf(&b, ", %s commits/s", fmtRate(r.CommitsPerSec()))
	}
	fmt.Fprintf(&b, " (%d ops in %s)", r.Ops, roundDur(r.Elapsed))
	if r.Latencies != nil && r.Latencies.Count() > 0 {
		fmt.Fprintf(&b, " %s", r.Latencies)
	}
	if r.Note != "" {
		fmt.Fprintf(&b, " [%s]", r.Note)
	}
	return b.String()
}

// Ratio returns measured/baseline: 0.73 means syncd reached 73% of the
// physical limit. It returns 0 when baseline is not positive, so a missing
// baseline never reads as an infinitely good result.
func Ratio(measured, baseline float64) float64 {
	if baseline <= 0 {
		return 0
	}
	return measured / baseline
}

// Report writes three aligned lines to w: the measured result, the baseline
// result (each with its name and note), and their ratio in ops/s, and in
// bytes/s and p50/p99 latency when both sides have them, e.g.
//
//	push  measured    233.6k ops/s   233.5 MiB/s  p50=1.2ms p99=4ms   [push-100x1k]
//	push  baseline    320.0k ops/s   319.8 MiB/s  p50=480µs p99=3ms   [pebble-synced-100x1k: stalls=0 (0s) …]
//	push  ratio     233.6k ops/s = 0.73x baseline (320.0k ops/s)  bytes/s 0.73x  p50 2.50x  p99 1.33x
//
// A latency ratio above 1 means slower than the baseline. Write errors are
// ignored: a report is best effort, like fmt.Println.
func Report(w io.Writer, name string, measured, baseline Result) {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	row := func(kind string, r Result) {
		fmt.Fprintf(tw, "%s\t%s\t%8s ops/s\t%12s\t%s\t[%s]\n", name, kind,
			fmtRate(r.OpsPerSec()), fmtBytesRateOrDash(r.BytesPerSec()),
			latencySummary(r.Latencies), nameAndNote(r))
	}
	row("measured", measured)
	row("baseline", baseline)
	// The ratio line's tail is one unterminated cell, so it takes no part in
	// the column widths and the first two columns still line up.
	fmt.Fprintf(tw, "%s\tratio\t%s ops/s = %.2fx baseline (%s ops/s)", name,
		fmtRate(measured.OpsPerSec()), Ratio(measured.OpsPerSec(), baseline.OpsPerSec()),
		fmtRate(baseline.OpsPerSec()))
	if measured.Bytes > 0 && baseline.Bytes > 0 {
		fmt.Fprintf(tw, "  bytes/s %.2fx", Ratio(measured.BytesPerSec(), baseline.BytesPerSec()))
	}
	if hasLatencies(measured) && hasLatencies(baseline) {
		fmt.Fprintf(tw, "  p50 %.2fx  p99 %.2fx",
			Ratio(float64(measured.Latencies.Percentile(50)), float64(baseline.Latencies.Percentile(50))),
			Ratio(float64(measured.Latencies.Percentile(99)), float64(baseline.Latencies.Percentile(99))))
	}
	fmt.Fprintln(tw)
	_ = tw.Flush() // writes to a bytes.Buffer cannot fail
	_, _ = w.Write(buf.Bytes())
}

func nameAndNote(r Result) string {
	if r.Note == "" {
		return r.Name
	}
	return r.Name + ": " + r.Note
}

func hasLatencies(r Result) bool { return r.Latencies != nil && r.Latencies.Count() > 0 }

func latencySummary(h *Histogram) string {
	if h == nil || h.Count() == 0 {
		return "-"
	}
	return fmt.Sprintf("p50=%s p99=%s", roundDur(h.Percentile(50)), roundDur(h.Percentile(99)))
}

// fmtRate prints a rate with three significant digits and a k/M suffix.
func fmtRate(v float64) string {
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%.3gG", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%.3gM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	case v >= 1e3:
		return fmt.Sprintf("%.2fk", v/1e3)
	}
	return fmt.Sprintf("%.3g", v)
}

func fmtBytesRate(v float64) string {
	switch {
	case v >= 1<<30:
		return fmt.Sprintf("%.2f GiB/s", v/(1<<30))
	case v >= 1<<20:
		return fmt.Sprintf("%.1f MiB/s", v/(1<<20))
	case v >= 1<<10:
		return fmt.Sprintf("%.1f KiB/s", v/(1<<10))
	}
	return fmt.Sprintf("%.0f B/s", v)
}

func fmtBytesRateOrDash(v float64) string {
	if v <= 0 {
		return "-"
	}
	return fmtBytesRate(v)
}

// Env describes the machine for a report header without naming it:
// "linux/amd64 2 CPU (GOMAXPROCS 2) AMD EPYC go1.26.8". Figures from
// different Env lines are not comparable.
func Env() string {
	s := fmt.Sprintf("%s/%s %d CPU (GOMAXPROCS %d)", runtime.GOOS, runtime.GOARCH,
		runtime.NumCPU(), runtime.GOMAXPROCS(0))
	if m := cpuModel(); m != "" {
		s += " " + m
	}
	return s + " " + runtime.Version()
}

// cpuModel returns the processor's model name where the OS tells it
// cheaply (Linux), else "".
func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for line := range strings.Lines(string(data)) {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
