package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestHelpNamesEveryVariable: every REFEDGE_* variable the code reads (outside tests)
// is named by --help, so operators are never surprised by a variable nobody listed.
func TestHelpNamesEveryVariable(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"--help"}, func(string) string { return "" }, &out, &out); code != 0 {
		t.Fatalf("--help exited %d", code)
	}
	help := out.String()
	re := regexp.MustCompile(`"(REFEDGE_[A-Z0-9_]+)"`)
	seen := map[string]string{}
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != root || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range re.FindAllSubmatch(b, -1) {
			seen[string(m[1])] = path
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) < 20 {
		t.Fatalf("found only %d variables: the scan is broken", len(seen))
	}
	for name, path := range seen {
		if strings.HasPrefix(name, "REFEDGE_TEST_") {
			continue // read by test helpers (internal/testenv), documented in deploy/dev/README.md
		}
		if !strings.Contains(help, name) {
			t.Errorf("%s (read in %s) is not in --help", name, path)
		}
	}
}
