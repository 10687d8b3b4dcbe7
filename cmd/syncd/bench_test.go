package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
