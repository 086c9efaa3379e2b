// Package clickhouse embeds refedge's ClickHouse schema so the binary can migrate itself.
//
// Migrations are numbered files under migrations/, applied in order. Each statement is
// idempotent (IF NOT EXISTS), or, for ADD COLUMN, which ClickHouse 18.16 cannot make
// conditional, taken as done when the column exists (AlreadyDone); {db} is replaced with
// the target database.
package clickhouse

import (
	"embed"
	"fmt"
	"io/fs"
	"regexp"
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

// addColumn matches an ALTER TABLE that starts by adding a column (with or without ON
// CLUSTER) and captures the column's name.
var addColumn = regexp.MustCompile(`(?is)^\s*ALTER\s+TABLE\s+\S+(?:\s+ON\s+CLUSTER\s+\S+)?\s+ADD\s+COLUMN\s+` + "`?" + `(\w+)` + "`?")

// AlreadyDone reports whether err, returned by running stmt, only says that stmt's effect
// is already there: stmt is an ALTER TABLE whose one action adds a column, and the column
// exists. ClickHouse 18.16 has no ADD COLUMN IF NOT EXISTS, so a migration cut short and
// run again meets its own column; the error reads the same on 18.16 (code 44) and current
// releases (DUPLICATE_COLUMN), and through ON CLUSTER. An ALTER with several actions is
// never taken as done: the server refuses all of them when one fails.
func AlreadyDone(stmt string, err error) bool {
	if err == nil {
		return false
	}
	m := addColumn.FindStringSubmatchIndex(stmt)
	if m == nil || topLevelComma(stmt[m[1]:]) {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "column with this name already exists") && strings.Contains(msg, stmt[m[2]:m[3]])
}

// topLevelComma reports whether s has a comma outside parentheses and quotes.
func topLevelComma(s string) bool {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\'', '`', '"':
			for i++; i < len(s) && s[i] != c; i++ {
				if s[i] == '\\' {
					i++
				}
			}
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				return true
			}
		}
	}
	return false
}
