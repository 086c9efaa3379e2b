// Package clickhouse embeds refedge's ClickHouse schema so the binary can migrate itself.
//
// Migrations are numbered files under migrations/, applied in order. Each statement is
// idempotent (IF NOT EXISTS); {db} is replaced with the target database.
package clickhouse

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

//go:embed migrations/*.sql
var files embed.FS

// Migration is one numbered schema step.
type Migration struct {
	Version    int
	Name       string
	Statements []string
}

// Migrations returns every migration in version order, with {db} replaced by db.
func Migrations(db string) ([]Migration, error) {
	entries, err := fs.ReadDir(files, "migrations")
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a number and '_'", name)
		}
		body, err := files.ReadFile("migrations/" + name)
		if err != nil {
			return nil, err
		}
		m := Migration{Version: v, Name: name}
		for _, stmt := range splitStatements(string(body)) {
			m.Statements = append(m.Statements, strings.ReplaceAll(stmt, "{db}", db))
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// splitStatements splits on ';' at line ends and drops '--' comment lines.
func splitStatements(s string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(s, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteString("\n")
		if strings.HasSuffix(t, ";") {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if strings.TrimSpace(cur.String()) != "" {
		out = append(out, strings.TrimSpace(cur.String()))
	}
	return out
}
