package cluster

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	chschema "github.com/refedge/refedge/deploy/clickhouse"
)

// Options configures the cluster form of the schema.
type Options struct {
	// Cluster names the cluster in every server's remote_servers (required).
	Cluster string
	// Replicated makes the local tables Replicated*MergeTree at ZooKeeperPath, for shards
	// with several replicas. It needs ZooKeeper (or Keeper) and the {shard} and {replica}
	// macros on every server. Default false: plain MergeTree shards, no ZooKeeper.
	Replicated bool
	// ZooKeeperPath prefixes each replicated table's path; the table's database and name
	// are appended. Default "/clickhouse/tables/{shard}" ({shard} is the server's macro).
	ZooKeeperPath string
}

// LocalSuffix names the per-server table behind each Distributed table.
const LocalSuffix = "_local"

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// Validate checks the options.
func (o *Options) Validate() error {
	if !identRE.MatchString(o.Cluster) {
		return fmt.Errorf("cluster name %q is not a plain identifier", o.Cluster)
	}
	if strings.ContainsAny(o.ZooKeeperPath, "'\\") {
		return errors.New("ZooKeeper path must not contain quotes or backslashes")
	}
	return nil
}

// Kind says where a statement runs.
type Kind int

const (
	// DDL runs on every server: once with ON CLUSTER, or on each server in turn.
	DDL Kind = iota
	// PerShard runs on one replica of every shard: a backfill between local tables.
	PerShard
	// Once runs on one server: an insert through a Distributed table.
	Once
)

func (k Kind) String() string {
	return [...]string{"ddl", "per-shard", "once"}[k]
}

// Statement is one statement of a migration in cluster form.
type Statement struct {
	Kind    Kind
	cluster string
	// The statement is head + tail, with " ON CLUSTER <name>" between them for DDL
	// run as distributed DDL.
	head, tail string
}

// SQL returns the statement; onCluster puts the ON CLUSTER clause into DDL.
func (s Statement) SQL(onCluster bool) string {
	if onCluster && s.Kind == DDL {
		return s.head + " ON CLUSTER " + s.cluster + s.tail
	}
	return s.head + s.tail
}

// Migration is one numbered schema step in cluster form.
type Migration struct {
	Version    int
	Name       string
	Statements []Statement
}

// Render returns migs, as chschema.Migrations returned them for database db, in cluster
// form. A statement it does not know how to distribute is an error naming it, so a new
// kind of migration cannot reach a cluster half-applied.
func Render(migs []chschema.Migration, db string, opts Options) ([]Migration, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.ZooKeeperPath == "" {
		opts.ZooKeeperPath = "/clickhouse/tables/{shard}"
	}
	r := &renderer{db: db, opts: opts, sharded: map[string]bool{}}
	q := regexp.QuoteMeta(db)
	if identRE.MatchString(db) {
		q = `\b` + q // not the tail of a longer name
	}
	r.ref = regexp.MustCompile(q + `\.([A-Za-z_][A-Za-z0-9_]*)`)
	r.createTable = regexp.MustCompile(`(?is)^(CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?)` + q + `\.(\w+)(.*)$`)
	r.createMV = regexp.MustCompile(`(?is)^(CREATE\s+MATERIALIZED\s+VIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?)` + q + `\.(\w+)(.*)$`)
	r.createView = regexp.MustCompile(`(?is)^(CREATE\s+VIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?)` + q + `\.(\w+)(.*)$`)
	r.insert = regexp.MustCompile(`(?is)^(INSERT\s+INTO\s+)` + q + `\.(\w+)(.*)$`)
	r.alter = regexp.MustCompile(`(?is)^(ALTER\s+TABLE\s+)` + q + `\.(\w+)(.*)$`)
	r.drop = regexp.MustCompile(`(?is)^(DROP\s+(?:TABLE|VIEW)\s+(?:IF\s+EXISTS\s+)?)` + q + `\.(\w+)(.*)$`)

	out := make([]Migration, 0, len(migs))
	for _, m := range migs {
		cm := Migration{Version: m.Version, Name: m.Name}
		for i, s := range m.Statements {
			stmts, err := r.statement(strings.TrimSpace(s))
			if err != nil {
				return nil, fmt.Errorf("migration %s, statement %d: %w", m.Name, i+1, err)
			}
			cm.Statements = append(cm.Statements, stmts...)
		}
		out = append(out, cm)
	}
	return out, nil
}

type renderer struct {
	db      string
	opts    Options
	sharded map[string]bool

	ref, createTable, createMV, createView, insert, alter, drop *regexp.Regexp
}

func (r *renderer) ddl(head, tail string) Statement {
	return Statement{Kind: DDL, cluster: r.opts.Cluster, head: head, tail: tail}
}

func (r *renderer) statement(s string) ([]Statement, error) {
	switch {
	case r.createTable.MatchString(s):
		m := r.createTable.FindStringSubmatch(s)
		return r.table(m[1], m[2], m[3])
	case r.createMV.MatchString(s):
		m := r.createMV.FindStringSubmatch(s)
		if !toRE.MatchString(m[3]) {
			return nil, errors.New("a materialized view needs TO <table> on a cluster (an inner table would not be sharded)")
		}
		// The view lives on every server, reads the local source and writes the local
		// aggregate: each shard aggregates its own partners.
		return []Statement{r.ddl(m[1]+r.db+"."+m[2], r.localize(m[3]))}, nil
	case r.createView.MatchString(s):
		// A plain view reads through the Distributed tables on whichever server runs it.
		m := r.createView.FindStringSubmatch(s)
		return []Statement{r.ddl(m[1]+r.db+"."+m[2], m[3])}, nil
	case r.insert.MatchString(s):
		return r.insertInto(s), nil
	case r.alter.MatchString(s):
		m := r.alter.FindStringSubmatch(s)
		return r.alterTable(m[1], m[2], m[3]), nil
	case r.drop.MatchString(s):
		m := r.drop.FindStringSubmatch(s)
		name := m[2]
		if !r.sharded[name] {
			return []Statement{r.ddl(m[1]+r.db+"."+name, m[3])}, nil
		}
		return []Statement{
			r.ddl(m[1]+r.db+"."+name, m[3]),
			r.ddl(m[1]+r.db+"."+name+LocalSuffix, m[3]),
		}, nil
	}
	first := s
	if i := strings.IndexAny(first, "\n("); i > 0 {
		first = first[:i]
	}
	return nil, fmt.Errorf("no cluster form for %q: teach deploy/clickhouse/cluster this kind of statement", first)
}

// table renders CREATE TABLE: a MergeTree-family table becomes <name>_local on every
// server and a Distributed table <name> over it; any other engine stays per server.
func (r *renderer) table(head, name, rest string) ([]Statement, error) {
	open := strings.IndexByte(rest, '(')
	if open < 0 || strings.TrimSpace(rest[:open]) != "" {
		return nil, fmt.Errorf("table %s: want a column list (CREATE TABLE ... AS is not supported)", name)
	}
	end, err := closing(rest, open)
	if err != nil {
		return nil, fmt.Errorf("table %s: %w", name, err)
	}
	cols, after := rest[open+1:end], rest[end+1:]
	em := engineRE.FindStringSubmatchIndex(after)
	if em == nil {
		return nil, fmt.Errorf("table %s: no ENGINE clause", name)
	}
	engine := after[em[2]:em[3]]
	args, settings := "", after[em[1]:]
	if t := strings.TrimLeft(settings, " \t\n"); strings.HasPrefix(t, "(") {
		off := len(settings) - len(t)
		e, err := closing(settings, off)
		if err != nil {
			return nil, fmt.Errorf("table %s engine: %w", name, err)
		}
		args, settings = strings.TrimSpace(settings[off+1:e]), settings[e+1:]
	}
	if !strings.HasSuffix(engine, "MergeTree") {
		return []Statement{r.ddl(head+r.db+"."+name, rest)}, nil
	}
	r.sharded[name] = true
	local := name + LocalSuffix
	if r.opts.Replicated && !strings.HasPrefix(engine, "Replicated") {
		zk := "'" + r.opts.ZooKeeperPath + "/" + r.db + "/" + local + "', '{replica}'"
		if args != "" {
			zk += ", " + args
		}
		engine, args = "Replicated"+engine, zk
	}
	key := shardingKey(cols, settings)
	return []Statement{
		r.ddl(head+r.db+"."+local, " ("+cols+")\nENGINE = "+engine+"("+args+")"+settings),
		r.ddl(head+r.db+"."+name, " AS "+r.db+"."+local+
			"\nENGINE = Distributed("+r.opts.Cluster+", "+r.db+", "+local+", "+key+")"),
	}, nil
}

// shardingKey keeps every row of a partner on one shard; a table without partner_id is
// sharded by the first column of its ORDER BY, so rows a ReplacingMergeTree must collapse
// meet on one shard.
func shardingKey(cols, settings string) string {
	for _, c := range splitTop(cols) {
		if f := strings.Fields(c); len(f) > 0 && f[0] == "partner_id" {
			return "cityHash64(partner_id)"
		}
	}
	if m := orderByRE.FindStringSubmatch(settings); m != nil {
		return "cityHash64(" + m[1] + ")"
	}
	return "rand()"
}

// insertInto renders INSERT: a backfill from sharded tables into a sharded table runs on
// every shard between local tables (the same key put the rows there); anything else is
// inserted once through the Distributed table, which shards it.
func (r *renderer) insertInto(s string) []Statement {
	m := r.insert.FindStringSubmatch(s)
	target, rest := m[2], m[3]
	if r.sharded[target] && selectRE.MatchString(rest) {
		local := true
		for _, ref := range r.ref.FindAllStringSubmatch(rest, -1) {
			local = local && r.sharded[ref[1]]
		}
		if local {
			return []Statement{{Kind: PerShard, cluster: r.opts.Cluster, head: r.localize(s)}}
		}
	}
	return []Statement{{Kind: Once, cluster: r.opts.Cluster, head: s}}
}

var (
	columnAction = regexp.MustCompile(`(?is)^\s*(ADD|DROP|MODIFY|RENAME|COMMENT)\s+COLUMN\b`)
	toRE         = regexp.MustCompile(`(?is)^\s+TO\s`)
	engineRE     = regexp.MustCompile(`(?is)^\s*ENGINE\s*=\s*(\w+)`)
	orderByRE    = regexp.MustCompile(`(?is)ORDER\s+BY\s+\(?\s*([A-Za-z_]\w*)`)
	selectRE     = regexp.MustCompile(`(?is)\bSELECT\b`)
)

// alterTable renders ALTER TABLE: column changes go to the local and the Distributed
// table (added locally first, dropped from the Distributed table first); any other
// change concerns the stored data, so only the local table.
func (r *renderer) alterTable(head, name, rest string) []Statement {
	if !r.sharded[name] {
		return []Statement{r.ddl(head+r.db+"."+name, rest)}
	}
	local := r.ddl(head+r.db+"."+name+LocalSuffix, rest)
	m := columnAction.FindStringSubmatch(rest)
	if m == nil {
		return []Statement{local}
	}
	dist := r.ddl(head+r.db+"."+name, rest)
	if strings.EqualFold(m[1], "DROP") {
		return []Statement{dist, local}
	}
	return []Statement{local, dist}
}

// localize points every reference to a sharded table at its local table.
func (r *renderer) localize(s string) string {
	return r.ref.ReplaceAllStringFunc(s, func(ref string) string {
		if r.sharded[ref[len(r.db)+1:]] {
			return ref + LocalSuffix
		}
		return ref
	})
}

// closing returns the index of the parenthesis closing the one at s[open], skipping
// quoted strings.
func closing(s string, open int) (int, error) {
	depth := 0
	for i := open; i < len(s); i++ {
		switch s[i] {
		case '\'', '`', '"':
			q := s[i]
			for i++; i < len(s) && s[i] != q; i++ {
				if s[i] == '\\' {
					i++
				}
			}
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i, nil
			}
		}
	}
	return 0, errors.New("unbalanced parentheses")
}

// splitTop splits s at commas outside parentheses.
func splitTop(s string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}
