package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/or3/syncd/bench"
)

// TestBench_BadInput: bad flags exit 2 with a message; a missing --out or
// an unreachable --url exit 1, the latter with a PARTIAL report.
func TestBench_BadInput(t *testing.T) {
	out := t.TempDir()
	for name, c := range map[string]struct {
		args []string
		code int
		want string
	}{
		"unknown flag":      {[]string{"bench", "--bogus"}, 2, "flag provided but not defined"},
		"extra argument":    {[]string{"bench", "--out", out, "extra"}, 2, "unexpected arguments"},
		"bad recovery":      {[]string{"bench", "--out", out, "--recovery-entries", "1,x"}, 2, "not a positive count"},
		"no out":            {[]string{"bench", "--quick"}, 1, "--out"},
		"url without token": {[]string{"bench", "--out", out, "--url", "http://127.0.0.1:1"}, 1, "--token"},
		"unreachable url":   {[]string{"bench", "--no-progress", "--out", out, "--url", "http://127.0.0.1:1", "--token", "some-token-123"}, 1, "unreachable"},
	} {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), c.args, func(string) string { return "" }, &stdout, &stderr, nil)
			if code != c.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, c.code, stderr.String())
			}
			if !strings.Contains(stderr.String(), c.want) {
				t.Errorf("stderr lacks %q:\n%s", c.want, stderr.String())
			}
		})
	}
	md, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil || !strings.Contains(string(md), "PARTIAL") {
		t.Errorf("no PARTIAL report after the unreachable run: %v\n%s", err, md)
	}
}

func TestBench_RedactToken(t *testing.T) {
	got := strings.Join(redactToken([]string{"--url", "u", "--token", "secret", "--token=s2"}), " ")
	if strings.Contains(got, "secret") || strings.Contains(got, "s2") {
		t.Errorf("token not redacted: %s", got)
	}
}

func TestBenchFlags_Lists(t *testing.T) {
	if n, err := countList("1, 8,64", true); err != nil || len(n) != 3 || n[1] != 8 {
		t.Fatalf("countList = %v, %v", n, err)
	}
	if n, err := countList("none", false); err != nil || n != nil {
		t.Fatalf("countList(none) = %v, %v", n, err)
	}
	for _, bad := range []string{"none", "0", "x", "1,,2", "-3"} {
		if _, err := countList(bad, true); err == nil {
			t.Errorf("countList(%q) accepted", bad)
		}
	}
	cases, err := fanoutList("1000@20, 100@200", []bench.FanoutCase{{Watchers: 1, Rate: 1, Duration: 7 * time.Second}})
	if err != nil || len(cases) != 2 || cases[1] != (bench.FanoutCase{Watchers: 100, Rate: 200, Duration: 7 * time.Second}) {
		t.Fatalf("fanoutList = %v, %v", cases, err)
	}
	for _, bad := range []string{"1000", "@20", "10@0", "a@b", "10@20@3"} {
		if _, err := fanoutList(bad, nil); err == nil {
			t.Errorf("fanoutList(%q) accepted", bad)
		}
	}
}
