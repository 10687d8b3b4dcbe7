package lint

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/or3/syncd"

// rule says which of our packages a package (or a package tree, with a
// trailing "/...") may import. nil allowed = none of ours.
type rule struct {
	pkg     string
	allowed []string
}

// The dependency rules of ARCHITECTURE.md. Dependencies point inward: the
// pure core imports nothing of ours, adapters never import each other, and
// only the wiring (cmd/syncd, daemon) sees everything.
var rules = []rule{
	{pkg: "crdt", allowed: nil},
	{pkg: "syncerr", allowed: nil},
	{pkg: "log", allowed: nil},
	{pkg: "bench/baseline", allowed: nil},
	{pkg: "bench", allowed: []string{"bench/baseline", "engine", "log"}},
	{pkg: "engine/...", allowed: []string{"crdt", "log", "syncerr", "engine/..."}},
	{pkg: "identity/...", allowed: []string{"crdt", "log", "syncerr", "identity/..."}},
	{pkg: "jobs/...", allowed: []string{"crdt", "log", "syncerr", "jobs/..."}},
	// Notifications are server-authored sync ops: they write through the engine.
	{pkg: "notifications/...", allowed: []string{"engine", "syncerr", "notifications/..."}},
	{pkg: "intents/...", allowed: []string{"crdt", "log", "syncerr", "intents/..."}},
	{pkg: "limits/...", allowed: []string{"log", "syncerr", "limits/..."}},
	{pkg: "webhooks/...", allowed: []string{"crdt", "log", "syncerr", "webhooks/..."}},
	{pkg: "replica/...", allowed: []string{"crdt", "replica/..."}},
	{pkg: "storage", allowed: nil},
	{pkg: "storage/fs", allowed: []string{"storage"}},
	{pkg: "storage/s3", allowed: []string{"storage"}},
	{pkg: "storage/storagetest", allowed: []string{"storage"}},
	{pkg: "blobs/...", allowed: []string{"crdt", "log", "syncerr", "storage", "blobs/..."}},
	// Admin builds on identity (its store methods) and reads the engine's GC and maintenance types;
	// backups to S3 parse their URL with storage/s3.
	{pkg: "admin/...", allowed: []string{"crdt", "log", "syncerr", "identity", "engine", "storage/s3", "admin/..."}},
	{pkg: "watch/...", allowed: []string{"engine", "syncerr", "watch/..."}},
	{pkg: "api/...", allowed: []string{"api/...", "syncerr", "watch", "crdt", "engine/...", "identity/...", "jobs/...", "limits/...", "webhooks/...", "notifications/...", "blobs/...", "admin/...", "storage", "intents/..."}},
}

// forbiddenEverywhere may not be imported by any package of ours except
// the ones listed.
var forbiddenEverywhere = map[string][]string{
	"cmd/syncd": nil,
}

func matches(pattern, pkg string) bool {
	if strings.HasSuffix(pattern, "/...") {
		base := strings.TrimSuffix(pattern, "/...")
		return pkg == base || strings.HasPrefix(pkg, base+"/")
	}
	return pattern == pkg
}

func TestDependencyRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, module+"/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		pkg := strings.TrimPrefix(strings.TrimPrefix(fields[0], module), "/")
		for _, imp := range fields[1:] {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			dep := strings.TrimPrefix(imp, module+"/")
			for forb, except := range forbiddenEverywhere {
				if matches(forb, dep) && !contains(except, pkg) {
					t.Errorf("%s imports %s, which nothing may import", pkg, dep)
				}
			}
			for _, r := range rules {
				if !matches(r.pkg, pkg) {
					continue
				}
				checked++
				ok := false
				for _, a := range r.allowed {
					if matches(a, dep) {
						ok = true
					}
				}
				if !ok {
					t.Errorf("%s may not import %s (rule for %s)", pkg, dep, r.pkg)
				}
			}
		}
	}
	t.Logf("checked %d imports", checked)
}

func TestMatches(t *testing.T) {
	if !matches("engine/...", "engine") || !matches("engine/...", "engine/x") || matches("engine/...", "engines") {
		t.Fatal("matches")
	}
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}
