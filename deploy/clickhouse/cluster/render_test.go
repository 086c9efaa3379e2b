package cluster

import (
	"strings"
	"testing"

	chschema "github.com/refedge/refedge/deploy/clickhouse"
)

func render(t *testing.T, opts Options, stmts ...string) []Statement {
	t.Helper()
	out, err := Render([]chschema.Migration{{Version: 1, Name: "0001_t.sql", Statements: stmts}}, "db", opts)
	if err != nil {
		t.Fatal(err)
	}
	return out[0].Statements
}

func TestRenderStatements(t *testing.T) {
	plain := Options{Cluster: "c"}
	f := func(opts Options, stmts []string, want ...string) {
		t.Helper()
		got := render(t, opts, stmts...)
		var sqls []string
		for _, s := range got {
			sqls = append(sqls, s.Kind.String()+": "+strings.Join(strings.Fields(s.SQL(true)), " "))
		}
		if strings.Join(sqls, "\n") != strings.Join(want, "\n") {
			t.Errorf("render of %q:\ngot:\n%s\nwant:\n%s", stmts, strings.Join(sqls, "\n"), strings.Join(want, "\n"))
		}
	}
	clicks := "CREATE TABLE IF NOT EXISTS db.clicks (click_id String, partner_id String, reasons Array(String)) ENGINE = ReplacingMergeTree() PARTITION BY toYYYYMM(ts) ORDER BY (partner_id, click_id)"
	f(plain, []string{clicks},
		"ddl: CREATE TABLE IF NOT EXISTS db.clicks_local ON CLUSTER c (click_id String, partner_id String, reasons Array(String)) ENGINE = ReplacingMergeTree() PARTITION BY toYYYYMM(ts) ORDER BY (partner_id, click_id)",
		"ddl: CREATE TABLE IF NOT EXISTS db.clicks ON CLUSTER c AS db.clicks_local ENGINE = Distributed(c, db, clicks_local, cityHash64(partner_id))")
	// Replicated: the ZooKeeper path and replica come first, the engine's own arguments after.
	f(Options{Cluster: "c", Replicated: true}, []string{"CREATE TABLE db.seals (partner_id String, at DateTime) ENGINE = ReplacingMergeTree(at) ORDER BY partner_id"},
		"ddl: CREATE TABLE db.seals_local ON CLUSTER c (partner_id String, at DateTime) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/db/seals_local', '{replica}', at) ORDER BY partner_id",
		"ddl: CREATE TABLE db.seals ON CLUSTER c AS db.seals_local ENGINE = Distributed(c, db, seals_local, cityHash64(partner_id))")
	// No partner_id: sharded by the first ORDER BY column, so duplicates meet on one shard.
	f(plain, []string{"CREATE TABLE db.users (user_id String, n UInt64) ENGINE = SummingMergeTree() ORDER BY (user_id)"},
		"ddl: CREATE TABLE db.users_local ON CLUSTER c (user_id String, n UInt64) ENGINE = SummingMergeTree() ORDER BY (user_id)",
		"ddl: CREATE TABLE db.users ON CLUSTER c AS db.users_local ENGINE = Distributed(c, db, users_local, cityHash64(user_id))")
	// Any other engine stays one table per server.
	f(plain, []string{"CREATE TABLE db.buf (x String) ENGINE = Memory"},
		"ddl: CREATE TABLE db.buf ON CLUSTER c (x String) ENGINE = Memory")
	// Views read and write the local tables; a backfill runs per shard on local tables.
	f(plain, []string{clicks,
		"CREATE TABLE db.hourly (partner_id String, clicks UInt64) ENGINE = SummingMergeTree() ORDER BY partner_id",
		"CREATE MATERIALIZED VIEW IF NOT EXISTS db.hourly_mv TO db.hourly AS SELECT partner_id, count() AS clicks FROM db.clicks GROUP BY partner_id",
		"INSERT INTO db.hourly (partner_id, clicks) SELECT partner_id, count() FROM db.clicks GROUP BY partner_id",
		"INSERT INTO db.hourly (partner_id, clicks) VALUES ('p', 1)",
		"CREATE VIEW db.v AS SELECT * FROM db.clicks",
	}, "ddl: CREATE TABLE IF NOT EXISTS db.clicks_local ON CLUSTER c (click_id String, partner_id String, reasons Array(String)) ENGINE = ReplacingMergeTree() PARTITION BY toYYYYMM(ts) ORDER BY (partner_id, click_id)",
		"ddl: CREATE TABLE IF NOT EXISTS db.clicks ON CLUSTER c AS db.clicks_local ENGINE = Distributed(c, db, clicks_local, cityHash64(partner_id))",
		"ddl: CREATE TABLE db.hourly_local ON CLUSTER c (partner_id String, clicks UInt64) ENGINE = SummingMergeTree() ORDER BY partner_id",
		"ddl: CREATE TABLE db.hourly ON CLUSTER c AS db.hourly_local ENGINE = Distributed(c, db, hourly_local, cityHash64(partner_id))",
		"ddl: CREATE MATERIALIZED VIEW IF NOT EXISTS db.hourly_mv ON CLUSTER c TO db.hourly_local AS SELECT partner_id, count() AS clicks FROM db.clicks_local GROUP BY partner_id",
		"per-shard: INSERT INTO db.hourly_local (partner_id, clicks) SELECT partner_id, count() FROM db.clicks_local GROUP BY partner_id",
		"once: INSERT INTO db.hourly (partner_id, clicks) VALUES ('p', 1)",
		"ddl: CREATE VIEW db.v ON CLUSTER c AS SELECT * FROM db.clicks")
	// Column changes reach both tables (added locally first, dropped remotely first);
	// other changes only the stored data.
	f(plain, []string{clicks,
		"ALTER TABLE db.clicks ADD COLUMN lang String",
		"ALTER TABLE db.clicks DROP COLUMN lang",
		"ALTER TABLE db.clicks DELETE WHERE partner_id = 'x'",
		"DROP TABLE IF EXISTS db.clicks",
	}, "ddl: CREATE TABLE IF NOT EXISTS db.clicks_local ON CLUSTER c (click_id String, partner_id String, reasons Array(String)) ENGINE = ReplacingMergeTree() PARTITION BY toYYYYMM(ts) ORDER BY (partner_id, click_id)",
		"ddl: CREATE TABLE IF NOT EXISTS db.clicks ON CLUSTER c AS db.clicks_local ENGINE = Distributed(c, db, clicks_local, cityHash64(partner_id))",
		"ddl: ALTER TABLE db.clicks_local ON CLUSTER c ADD COLUMN lang String",
		"ddl: ALTER TABLE db.clicks ON CLUSTER c ADD COLUMN lang String",
		"ddl: ALTER TABLE db.clicks ON CLUSTER c DROP COLUMN lang",
		"ddl: ALTER TABLE db.clicks_local ON CLUSTER c DROP COLUMN lang",
		"ddl: ALTER TABLE db.clicks_local ON CLUSTER c DELETE WHERE partner_id = 'x'",
		"ddl: DROP TABLE IF EXISTS db.clicks ON CLUSTER c",
		"ddl: DROP TABLE IF EXISTS db.clicks_local ON CLUSTER c")
}

func TestRenderRefuses(t *testing.T) {
	f := func(stmt, wantErr string) {
		t.Helper()
		_, err := Render([]chschema.Migration{{Version: 1, Name: "0001_t.sql", Statements: []string{stmt}}}, "db", Options{Cluster: "c"})
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%q: %v, want an error containing %q", stmt, err, wantErr)
		}
	}
	f("CREATE MATERIALIZED VIEW db.mv ENGINE = SummingMergeTree() ORDER BY p AS SELECT p FROM db.t", "needs TO <table>")
	f("RENAME TABLE db.a TO db.b", `no cluster form for "RENAME TABLE db.a TO db.b"`)
	f("CREATE TABLE db.t AS db.u", "want a column list")
	f("CREATE TABLE db.t (a String", "unbalanced parentheses")
	_, err := Render(nil, "db", Options{Cluster: "bad-name"})
	if err == nil {
		t.Error("a cluster name that is not an identifier was accepted")
	}
}

// TestRenderEmbeddedSchema: the real migrations all have a cluster form, every sharded
// table is referenced through its local table by views and backfills, and the SQL
// without ON CLUSTER names no cluster.
func TestRenderEmbeddedSchema(t *testing.T) {
	migs, err := chschema.Migrations("refedge")
	if err != nil {
		t.Fatal(err)
	}
	out, err := Render(migs, "refedge", Options{Cluster: "prod", Replicated: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(migs) {
		t.Fatalf("%d migrations rendered of %d", len(out), len(migs))
	}
	dist := 0
	for _, m := range out {
		for _, s := range m.Statements {
			sql := s.SQL(false)
			if strings.Contains(sql, "ON CLUSTER") {
				t.Errorf("%s: ON CLUSTER without asking for it: %s", m.Name, sql)
			}
			if strings.Contains(sql, "ENGINE = Distributed(prod, refedge, ") {
				dist++
				if !strings.Contains(sql, "cityHash64(partner_id)") {
					t.Errorf("%s: not sharded by partner: %s", m.Name, sql)
				}
			}
			if strings.HasPrefix(sql, "CREATE MATERIALIZED VIEW") || s.Kind == PerShard {
				// Every table a view or a backfill names is a local one.
				for _, ref := range strings.Fields(strings.NewReplacer("(", " ", ")", " ", ",", " ").Replace(sql)) {
					if strings.HasPrefix(ref, "refedge.") && !strings.HasSuffix(ref, "_mv") && !strings.HasSuffix(ref, LocalSuffix) {
						t.Errorf("%s: %s reads or writes the Distributed table %s", m.Name, firstLine(sql), ref)
					}
				}
			}
			if strings.Contains(sql, "MergeTree(") && strings.Contains(sql, "_local") && !strings.Contains(sql, "ReplicatedReplacingMergeTree") &&
				!strings.Contains(sql, "ReplicatedSummingMergeTree") && !strings.Contains(sql, "ReplicatedAggregatingMergeTree") && !strings.Contains(sql, "ReplicatedMergeTree") {
				t.Errorf("%s: a local table is not replicated: %s", m.Name, firstLine(sql))
			}
		}
	}
	if dist < 5 {
		t.Errorf("only %d Distributed tables", dist)
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i > 0 {
		return s[:i]
	}
	return s
}
