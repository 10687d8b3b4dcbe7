package crdt

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// allowedImports is everything the package's non-test code may import: the
// standard library's pure packages. No IO (os, io, net), no clock (time), no
// randomness (math/rand, crypto/rand), no concurrency (sync), no packages of
// ours (DESIGN.md: crdt imports nothing of ours). Extending it is a design
// decision, not a convenience.
var allowedImports = map[string]bool{
	"bytes": true, "cmp": true, "crypto/sha256": true, "encoding/hex": true,
	"errors": true, "fmt": true, "math": true, "slices": true, "sort": true,
	"strconv": true, "strings": true, "unicode": true, "unicode/utf16": true,
	"unicode/utf8": true,
}

// TestPackageIsPure turns the package's purity rules into a failing test
// (the pebble internal/lint pattern): only allowed imports, and no
// goroutines.
func TestPackageIsPure(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if !allowedImports[path] {
				t.Errorf("%s imports %q, which is not in allowedImports", name, path)
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if g, ok := n.(*ast.GoStmt); ok {
				t.Errorf("%s: go statement at %s", name, fset.Position(g.Pos()))
			}
			return true
		})
	}
	if checked == 0 {
		t.Fatal("no source files found")
	}
}
