package main

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/refedge/refedge/internal/config"
)

// helpOut is `refedge --help`.
func helpOut(t *testing.T) string {
	t.Helper()
	var out bytes.Buffer
	if code := run([]string{"--help"}, func(string) string { return "" }, &out, &out); code != 0 {
		t.Fatalf("--help exited %d", code)
	}
	return out.String()
}

// Every variable the configuration loaders ask for is in --help: serve's loaders are run
// with a getenv that records each name it is asked for.
func TestHelpNamesEveryVariableLoaded(t *testing.T) {
	help := helpOut(t)
	asked := map[string]bool{}
	rec := func(name string) string { asked[name] = true; return "" }
	_, _ = config.Load(rec)
	_, _ = loadParts(rec)
	_ = devVars.Load(&devConfig{}, rec)
	if len(asked) < 40 {
		t.Fatalf("the loaders asked for only %d variables: the recording is broken", len(asked))
	}
	for name := range asked {
		if !strings.Contains(help, "  "+name+"\n") {
			t.Errorf("%s is read but not in --help", name)
		}
	}
}

// No code names a variable that --help does not: every REFEDGE_* string constant in the
// repository's non-test Go source (found by parsing it, so comments and prose do not
// count) is documented, whether it is read through a table or directly.
func TestHelpNamesEveryVariableInSource(t *testing.T) {
	help := helpOut(t)
	name := regexp.MustCompile(`^REFEDGE_[A-Z0-9_]*[A-Z0-9]$`)
	root := filepath.Join("..", "..")
	found := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != root || d.Name() == "node_modules" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil || !name.MatchString(s) || strings.HasPrefix(s, "REFEDGE_TEST_") {
				return true // REFEDGE_TEST_* belong to test helpers (deploy/dev/README.md)
			}
			found++
			if !strings.Contains(help, "  "+s+"\n") {
				t.Errorf("%s (in %s) is not in --help", s, path)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found < 40 {
		t.Fatalf("found only %d variable names: the scan is broken", found)
	}
}
