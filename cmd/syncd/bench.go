package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/or3/syncd/bench"
)

// runBench is `syncd bench`: the benchmark harness of package bench. It
// starts this same binary as the syncd under test (or targets --url) and
// writes the report into --out. Exit status: 0 for a complete report
// (whatever the targets say: timings are not failures), 1 for a partial
// one or a failed correctness check, 2 for bad flags.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("syncd bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg        bench.Config
		recovery   string
		cell       time.Duration
		pullBehind int
		snapRows   int
		only       string
		watchers   int
		batches    string
		clients    string
		fanout     string
		quick      = fs.Bool("quick", false, "small sizes for CI (about 1.5 minutes)")
		noProgress = fs.Bool("no-progress", false, "no progress bar")
		bareSSE    = fs.Bool("bare-sse-server", false, "internal: serve the bare SSE baseline (the harness starts it)")
		floorSSE   = fs.Bool("fanout-floor-server", false, "internal: serve the fan-out floor baseline (the harness starts it)")
	)
	fs.StringVar(&cfg.Out, "out", "", "report directory (report.md, report.json, charts); required")
	fs.StringVar(&cfg.URL, "url", "", "benchmark a running syncd at this base URL instead of starting one")
	fs.StringVar(&cfg.Token, "token", os.Getenv("SYNCD_TOKEN"), "service token of the --url daemon (env SYNCD_TOKEN)")
	fs.IntVar(&cfg.PID, "pid", 0, "process id of the --url daemon, for its RSS figures (same machine)")
	fs.StringVar(&cfg.DataDir, "data-dir", "", "where the child syncd's data and the baselines' scratch files go (default: the temp dir)")
	fs.DurationVar(&cfg.Timeout, "timeout", 0, "bound on the whole run (default 4m quick, 90m full)")
	fs.DurationVar(&cell, "cell", 0, "duration of each push-throughput cell (default 1.5s quick, 20s full)")
	fs.IntVar(&pullBehind, "pull-behind", 0, "changes the catch-up client is behind (default 20000 quick, 1000000 full)")
	fs.IntVar(&snapRows, "snapshot-rows", 0, "rows (~1 KiB each) of the workspace the snapshot phase bootstraps (default 20000 quick, 1000000 full)")
	fs.StringVar(&only, "only", "", "comma-separated phases to run, e.g. snapshot (of "+strings.Join(bench.Phases, ",")+"; default all)")
	fs.IntVar(&watchers, "idle-watchers", 0, "idle SSE watchers for the RSS figure (default 2000 quick, 10000 full)")
	fs.StringVar(&recovery, "recovery-entries", "", "comma-separated log sizes for crash recovery (default 1000000,10000000; quick 50000); none skips the phase")
	fs.StringVar(&batches, "batches", "", "comma-separated ops per push batch of the throughput cells (default 1,10,100)")
	fs.StringVar(&clients, "clients", "", "comma-separated concurrent clients of the throughput cells (default 1,8,64)")
	fs.StringVar(&fanout, "fanout", "", "comma-separated watch fan-out cases WATCHERS@PUSHES_PER_S (default 100@200,1000@20,10000@2; quick 20@20); none skips them")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: syncd bench --out DIR [--quick] [--url URL --token T [--pid N]] [flags]\n\n"+
			"Runs OR3-shaped HTTP workloads against a syncd in another process and writes a report\n"+
			"(figures beside same-run baselines, targets, correctness checks, charts) into DIR.\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "syncd bench: unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		fs.Usage()
		return 2
	}
	if *bareSSE {
		if err := bench.ServeBareSSE(ctx, stderr); err != nil {
			fmt.Fprintf(stderr, "syncd bench --bare-sse-server: %v\n", err)
			return 1
		}
		return 0
	}
	if *floorSSE {
		if err := bench.ServeFanoutFloor(ctx, stderr); err != nil {
			fmt.Fprintf(stderr, "syncd bench --fanout-floor-server: %v\n", err)
			return 1
		}
		return 0
	}
	cfg.Quick = *quick
	if only != "" {
		for _, p := range strings.Split(only, ",") {
			cfg.Only = append(cfg.Only, strings.TrimSpace(p))
		}
	}
	sz := bench.FullSizes()
	if cfg.Quick {
		sz = bench.QuickSizes()
	}
	custom := false
	for _, o := range []struct {
		set   bool
		apply func()
	}{
		{cell > 0, func() { sz.Cell = cell }},
		{pullBehind > 0, func() { sz.PullBehind = pullBehind }},
		{snapRows > 0, func() { sz.SnapshotRows = snapRows }},
		{watchers > 0, func() { sz.IdleWatchers = watchers }},
	} {
		if o.set {
			o.apply()
			custom = true
		}
	}
	if cell < 0 || pullBehind < 0 || watchers < 0 || snapRows < 0 {
		fmt.Fprintln(stderr, "syncd bench: --cell, --pull-behind, --snapshot-rows and --idle-watchers must be positive")
		return 2
	}
	for _, l := range []struct {
		flag, value string
		dst         *[]int
	}{
		{"recovery-entries", recovery, &sz.RecoveryEntries},
		{"batches", batches, &sz.Batches},
		{"clients", clients, &sz.Clients},
	} {
		if l.value == "" {
			continue
		}
		custom = true
		n, err := countList(l.value, l.flag != "recovery-entries")
		if err != nil {
			fmt.Fprintf(stderr, "syncd bench: --%s: %v\n", l.flag, err)
			return 2
		}
		*l.dst = n
	}
	if fanout != "" {
		custom = true
		cases, err := fanoutList(fanout, sz.Fanout)
		if err != nil {
			fmt.Fprintf(stderr, "syncd bench: --fanout: %v\n", err)
			return 2
		}
		sz.Fanout = cases
	}
	if custom {
		cfg.Sizes = &sz
	}
	bin, err := os.Executable()
	if err != nil && cfg.URL == "" {
		fmt.Fprintf(stderr, "syncd bench: cannot find this binary to start syncd: %v\n", err)
		return 1
	}
	cfg.Bin = bin
	cfg.Command = "syncd bench " + strings.Join(redactToken(args), " ")
	if !*noProgress {
		cfg.Progress = stderr
	}
	cfg.Log = stderr
	start := time.Now()
	rep, err := bench.Run(ctx, cfg)
	if rep != nil && cfg.Out != "" {
		fmt.Fprintf(stdout, "syncd bench: report written to %s/report.md (%s)\n", cfg.Out, time.Since(start).Round(time.Second))
	}
	if err != nil {
		fmt.Fprintf(stderr, "syncd bench: %v\n", err)
		return 1
	}
	return 0
}

// redactToken hides the value of --token in the command line the report
// shows.
func redactToken(args []string) []string {
	out := append([]string(nil), args...)
	for i, a := range out {
		switch {
		case a == "--token" || a == "-token":
			if i+1 < len(out) {
				out[i+1] = "…"
			}
		case strings.HasPrefix(a, "--token=") || strings.HasPrefix(a, "-token="):
			out[i] = a[:strings.Index(a, "=")+1] + "…"
		}
	}
	return out
}

// countList parses a comma-separated list of positive counts; "none" is
// the empty list unless required.
func countList(v string, required bool) ([]int, error) {
	if strings.TrimSpace(v) == "none" {
		if required {
			return nil, errors.New("none is not allowed here")
		}
		return nil, nil
	}
	var out []int
	for _, part := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive count", part)
		}
		out = append(out, n)
	}
	return out, nil
}

// fanoutList parses WATCHERS@RATE cases; each runs as long as the size
// set's first case ("none": no fan-out phase).
func fanoutList(v string, defaults []bench.FanoutCase) ([]bench.FanoutCase, error) {
	if strings.TrimSpace(v) == "none" {
		return nil, nil
	}
	d := 30 * time.Second
	if len(defaults) > 0 {
		d = defaults[0].Duration
	}
	var out []bench.FanoutCase
	for _, part := range strings.Split(v, ",") {
		w, r, ok := strings.Cut(strings.TrimSpace(part), "@")
		nw, err1 := strconv.Atoi(w)
		nr, err2 := strconv.Atoi(r)
		if !ok || err1 != nil || err2 != nil || nw < 1 || nr < 1 {
			return nil, fmt.Errorf("%q is not WATCHERS@PUSHES_PER_S", part)
		}
		out = append(out, bench.FanoutCase{Watchers: nw, Rate: nr, Duration: d})
	}
	return out, nil
}
