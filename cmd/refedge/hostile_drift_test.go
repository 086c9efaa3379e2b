package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const modulePath = "github.com/refedge/refedge"

// TestHostileRouteTable fails when serve.go wires a route that hostileRoutes does not
// exercise, or when the table names a route nothing registers any more. It reads the
// source the binary is built from: the admin mux patterns and partner API routes that
// every package imported by package main (serve.go) registers (Handle calls with
// constant patterns), and the handler groups serve.go puts in tracker.Routes.
func TestHostileRouteTable(t *testing.T) {
	registered := registeredRoutes(t)
	inTable := map[string]bool{}
	for _, r := range hostileRoutes {
		inTable[r.reg] = true
	}
	// The tracker's own two, not handler groups: any path with ref= and any without.
	registered["public click"], registered["public passthrough"] = true, true
	var missing, stale []string
	for reg := range registered {
		if !inTable[reg] {
			missing = append(missing, reg)
		}
	}
	for reg := range inTable {
		if !registered[reg] {
			stale = append(stale, reg)
		}
	}
	sort.Strings(missing)
	sort.Strings(stale)
	if len(missing) > 0 {
		t.Errorf("serve.go registers routes the hostile-input suite does not exercise; add them to hostileRoutes:\n  %s", strings.Join(missing, "\n  "))
	}
	if len(stale) > 0 {
		t.Errorf("hostileRoutes names routes nothing registers (renamed or removed?):\n  %s", strings.Join(stale, "\n  "))
	}
	if len(registered) < 40 {
		t.Errorf("found only %d registrations in the source; the scanner is probably broken: %v", len(registered), registered)
	}
	names := map[string]bool{}
	for _, r := range hostileRoutes {
		if names[r.name] {
			t.Errorf("route name %q is used twice", r.name)
		}
		names[r.name] = true
	}
}

// registeredRoutes returns every registration key ("admin GET /healthz", "api POST
// /api/v1/links", "public Widget") found in the packages serve.go imports.
func registeredRoutes(t *testing.T) map[string]bool {
	t.Helper()
	fset := token.NewFileSet()
	// serve.go, and whatever files of package main it has moved wiring into.
	mainFiles := parseDir(t, fset, ".")
	out := map[string]bool{}
	// The handler groups of the public listener.
	for _, f := range mainFiles {
		ast.Inspect(f, func(n ast.Node) bool {
			cl, ok := n.(*ast.CompositeLit)
			if !ok {
				return true
			}
			if sel, ok := cl.Type.(*ast.SelectorExpr); ok && sel.Sel.Name == "Routes" {
				for _, e := range cl.Elts {
					if kve, ok := e.(*ast.KeyValueExpr); ok {
						out["public "+kve.Key.(*ast.Ident).Name] = true
					}
				}
			}
			return true
		})
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	imports := map[string]bool{}
	for _, f := range mainFiles {
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(path, modulePath+"/") {
				imports[path] = true
			}
		}
	}
	for path := range imports {
		dir := filepath.Join(root, strings.TrimPrefix(path, modulePath+"/"))
		for reg := range packageRegistrations(t, fset, dir) {
			out[reg] = true
		}
	}
	return out
}

// packageRegistrations finds X.Handle / X.HandleFunc calls in one package's non-test
// files whose pattern is a constant string: "METHOD /path" or "/path" patterns of the
// admin mux, and (fasthttp.MethodX, "/api/...") routes of the partner API router.
func packageRegistrations(t *testing.T, fset *token.FileSet, dir string) map[string]bool {
	t.Helper()
	files := parseDir(t, fset, dir)
	consts := map[string]ast.Expr{}
	for _, f := range files {
		for _, d := range f.Decls {
			if gd, ok := d.(*ast.GenDecl); ok && gd.Tok == token.CONST {
				for _, s := range gd.Specs {
					vs := s.(*ast.ValueSpec)
					for i, name := range vs.Names {
						if i < len(vs.Values) {
							consts[name.Name] = vs.Values[i]
						}
					}
				}
			}
		}
	}
	var str func(e ast.Expr) (string, bool)
	str = func(e ast.Expr) (string, bool) {
		switch e := e.(type) {
		case *ast.BasicLit:
			if e.Kind == token.STRING {
				s, err := strconv.Unquote(e.Value)
				return s, err == nil
			}
		case *ast.Ident:
			if v, ok := consts[e.Name]; ok {
				return str(v)
			}
		case *ast.BinaryExpr:
			if e.Op == token.ADD {
				a, ok1 := str(e.X)
				b, ok2 := str(e.Y)
				return a + b, ok1 && ok2
			}
		case *ast.ParenExpr:
			return str(e.X)
		}
		return "", false
	}
	out := map[string]bool{}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || (sel.Sel.Name != "Handle" && sel.Sel.Name != "HandleFunc") || len(call.Args) < 2 {
				// A helper that registers its first argument (route("GET /admin/v1/...", ...)):
				// a constant "METHOD /path" pattern passed to any call counts too.
				if len(call.Args) > 0 {
					if p, ok := str(call.Args[0]); ok && methodPattern.MatchString(p) {
						out["admin "+p] = true
					}
				}
				return true
			}
			if m, ok := call.Args[0].(*ast.SelectorExpr); ok && len(call.Args) == 3 && strings.HasPrefix(m.Sel.Name, "Method") {
				if p, ok := str(call.Args[1]); ok {
					out["api "+strings.ToUpper(strings.TrimPrefix(m.Sel.Name, "Method"))+" "+p] = true
				}
				return true
			}
			if p, ok := str(call.Args[0]); ok && (strings.HasPrefix(p, "/") || strings.Contains(p, " /")) {
				out["admin "+p] = true
			}
			return true
		})
	}
	return out
}

// methodPattern is an admin mux pattern with a method.
var methodPattern = regexp.MustCompile(`^(GET|HEAD|POST|PUT|PATCH|DELETE) /[^ ]*$`)

// parseDir parses the non-test Go files of one directory.
func parseDir(t *testing.T, fset *token.FileSet, dir string) []*ast.File {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, n), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}
