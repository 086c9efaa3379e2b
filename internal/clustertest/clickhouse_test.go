package clustertest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/attribution/sink"
	chschema "github.com/refedge/refedge/deploy/clickhouse"
	chcluster "github.com/refedge/refedge/deploy/clickhouse/cluster"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// migratedCluster creates a fresh database on both shards with `migrate --cluster`'s code
// and returns it with a connection to each server.
func migratedCluster(t *testing.T) (CHCluster, string, [2]driver.Conn) {
	t.Helper()
	c := ClickHouseCluster(t)
	db, conn1 := c.MigratedDB(t, "test_cl_")
	return c, db, [2]driver.Conn{c.Open(t, 0, db), conn1}
}

// TestClickHouseClusterMigrate: every table of the single-server schema exists under its
// name on both shards as a Distributed table over a local MergeTree table; migrate is
// idempotent; a single-server migrate leaves the sharded database alone and refuses to
// apply a pending migration to one.
func TestClickHouseClusterMigrate(t *testing.T) {
	c, db, conns := migratedCluster(t)
	ctx := t.Context()
	// Again: nothing to do, nothing duplicated.
	if err := sink.MigrateCluster(ctx, c.DSN(1, db), chcluster.Options{Cluster: c.Name}, quietLog()); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	migs, err := chschema.Migrations(db)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for _, m := range migs {
		for _, s := range m.Statements {
			if f := strings.Fields(s); len(f) > 5 && f[0] == "CREATE" && f[1] == "TABLE" {
				tables = append(tables, strings.TrimPrefix(f[5], db+"."))
			}
		}
	}
	if len(tables) < 5 {
		t.Fatalf("found only %d tables in the migrations: %v", len(tables), tables)
	}
	for i, conn := range conns {
		engines := map[string]string{}
		rows, err := conn.Query(ctx, "SELECT name, engine FROM system.tables WHERE database = ?", db)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var n, e string
			if err := rows.Scan(&n, &e); err != nil {
				t.Fatal(err)
			}
			engines[n] = e
		}
		rows.Close()
		for _, tbl := range tables {
			if engines[tbl] != "Distributed" || !strings.HasSuffix(engines[tbl+"_local"], "MergeTree") {
				t.Errorf("shard %d: %s is %q over %s_local %q; want Distributed over a MergeTree", i+1,
					tbl, engines[tbl], tbl, engines[tbl+"_local"])
			}
		}
		var versions, markers uint64
		if err := conn.QueryRow(ctx, "SELECT countIf(version > 0), countIf(version = 0 AND name = ?) FROM "+db+".schema_migrations",
			chcluster.MarkerPrefix+c.Name).Scan(&versions, &markers); err != nil {
			t.Fatal(err)
		}
		if int(versions) != len(migs) || markers != 1 {
			t.Errorf("shard %d: %d migrations and %d cluster markers recorded, want %d and 1", i+1, versions, markers, len(migs))
		}
		// refedge serve migrates at start-up: on a sharded database with nothing pending
		// it does nothing.
		if err := sink.Migrate(ctx, conn, db, quietLog()); err != nil {
			t.Errorf("shard %d: single-server migrate on the sharded database: %v", i+1, err)
		}
	}
	// A sharded database with a pending migration: the single-server migrate refuses.
	db2 := "test_cl_" + randomHex(6)
	c.DropOnCleanup(t, db2)
	if err := conns[0].Exec(ctx, "CREATE DATABASE "+db2); err != nil {
		t.Fatal(err)
	}
	if err := conns[0].Exec(ctx, "CREATE TABLE "+db2+".schema_migrations (version UInt32, name String, applied_at DateTime) ENGINE = MergeTree() ORDER BY version"); err != nil {
		t.Fatal(err)
	}
	b, err := conns[0].PrepareBatch(ctx, "INSERT INTO "+db2+".schema_migrations (version, name, applied_at)")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Append(uint32(0), chcluster.MarkerPrefix+c.Name, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	err = sink.Migrate(ctx, conns[0], db2, quietLog())
	if err == nil || !strings.Contains(err.Error(), "refedge migrate --cluster "+c.Name) {
		t.Errorf("single-server migrate of a sharded database with pending migrations: %v, want a refusal naming migrate --cluster", err)
	}
	// And the other way round: a single-server database is not converted in place.
	db3 := "test_cl_" + randomHex(6)
	c.DropOnCleanup(t, db3)
	if err := sink.Migrate(ctx, conns[0], db3, quietLog()); err != nil {
		t.Fatal(err)
	}
	err = sink.MigrateCluster(ctx, c.DSN(0, db3), chcluster.Options{Cluster: c.Name}, quietLog())
	if err == nil || !strings.Contains(err.Error(), "single-server tables") {
		t.Errorf("cluster migrate over single-server tables: %v, want a refusal", err)
	}
}

// TestClickHouseClusterOnClusterDDLParses sends the ON CLUSTER, Replicated form of every
// DDL statement to ClickHouse 18.16, which has no ZooKeeper here: each must fail only
// because distributed DDL is unavailable (code 49 from the DDL worker), never with a
// syntax error, so the form operators apply with ZooKeeper is valid SQL for the server.
func TestClickHouseClusterOnClusterDDLParses(t *testing.T) {
	c := ClickHouseCluster(t)
	conn := c.Open(t, 0, "default")
	db := "test_cl_" + randomHex(6) // never created: nothing may run
	migs, err := chschema.Migrations(db)
	if err != nil {
		t.Fatal(err)
	}
	rendered, err := chcluster.Render(migs, db, chcluster.Options{Cluster: c.Name, Replicated: true})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range rendered {
		for _, s := range m.Statements {
			if s.Kind != chcluster.DDL {
				continue
			}
			n++
			err := conn.Exec(t.Context(), s.SQL(true))
			if err == nil || !strings.Contains(err.Error(), "DDL background thread is not initialized") {
				t.Errorf("%s: %v\n%s", m.Name, err, s.SQL(true))
			}
		}
	}
	if n < 10 {
		t.Errorf("only %d DDL statements", n)
	}
}

// TestClickHouseClusterWrites inserts clicks with refedge's own writer through the
// Distributed table on each server: the rows are sharded by partner (each partner on one
// shard), a query on either server returns the union, and the per-hour live counter fed
// by the materialized view on each shard adds up through its Distributed table (the
// sealer's built aggregates on a cluster: attribution/analytics TestSealerOnClickHouseCluster).
func TestClickHouseClusterWrites(t *testing.T) {
	_, db, conns := migratedCluster(t)
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Second)
	write := func(conn driver.Conn, ctx context.Context, partners, each int, tag string) {
		t.Helper()
		var batch []*event.Click
		for p := range partners {
			for range each {
				cl := event.AcquireClick()
				cl.ID = event.NewClickID(now)
				cl.Time = now
				cl.Verdict = event.Valid
				cl.SetPartner(fmt.Appendf(nil, "%s-p%d", tag, p))
				cl.SetSource([]byte("link"))
				cl.SetVisitorID([]byte(randomHex(8)))
				cl.SetPath([]byte("/categories/design"))
				cl.SetDevice("desktop")
				cl.SetBrowser("chrome")
				batch = append(batch, cl)
			}
		}
		sink := &sink.ClickHouseClicks{Conn: conn, DB: db}
		if err := sink.Write(ctx, batch); err != nil {
			t.Fatal(err)
		}
		for _, cl := range batch {
			event.ReleaseClick(cl)
		}
	}
	// Shard 1's server queues rows for shard 2 and sends them in the background (the
	// default, asynchronous Distributed insert)...
	write(conns[0], ctx, 20, 10, "a")
	// ...shard 2's writes with insert_distributed_sync=1: the insert returns once every
	// shard has its rows (what docs/operations.md recommends for refedge's user).
	write(conns[1], clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"insert_distributed_sync": 1})), 10, 10, "b")
	const total = 300

	count := func(conn driver.Conn, q string) uint64 {
		t.Helper()
		var n uint64
		if err := conn.QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	deadline := time.Now().Add(30 * time.Second)
	for i, conn := range conns {
		for count(conn, "SELECT count() FROM "+db+".clicks") != total {
			if time.Now().After(deadline) {
				t.Fatalf("server %d: %d clicks through the Distributed table, want %d", i+1, count(conn, "SELECT count() FROM "+db+".clicks"), total)
			}
			time.Sleep(50 * time.Millisecond) // the asynchronous Distributed send; polled with a deadline
		}
	}
	local := [2]uint64{count(conns[0], "SELECT count() FROM "+db+".clicks_local"), count(conns[1], "SELECT count() FROM "+db+".clicks_local")}
	if local[0] == 0 || local[1] == 0 || local[0]+local[1] != total {
		t.Errorf("local rows per shard %v, want both shards used and %d in all", local, total)
	}
	// Sharded by partner: no partner on both shards, every partner on one.
	partnersOf := func(conn driver.Conn) map[string]bool {
		rows, err := conn.Query(ctx, "SELECT DISTINCT partner_id FROM "+db+".clicks_local")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]bool{}
		for rows.Next() {
			var p string
			if err := rows.Scan(&p); err != nil {
				t.Fatal(err)
			}
			out[p] = true
		}
		return out
	}
	p1, p2 := partnersOf(conns[0]), partnersOf(conns[1])
	for p := range p1 {
		if p2[p] {
			t.Errorf("partner %s has rows on both shards", p)
		}
	}
	if len(p1)+len(p2) != 30 {
		t.Errorf("%d + %d partners, want 30", len(p1), len(p2))
	}
	// The view counts each shard's own partners; the Distributed counter adds up.
	// A view is written right after its source within one insert, and a shard receives
	// rows from the other server's queue in the background: poll until they are there.
	for i, conn := range conns {
		for count(conn, "SELECT sum(clicks) FROM "+db+".clicks_hourly") != total && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond) // the views follow their source; polled with a deadline
		}
		if n := count(conn, "SELECT sum(clicks) FROM "+db+".clicks_hourly"); n != total {
			t.Errorf("server %d: clicks_hourly sums to %d, want %d", i+1, n, total)
		}
		if n := count(conn, "SELECT sum(clicks) FROM "+db+".clicks_hourly WHERE partner_id = 'a-p3'"); n != 10 {
			t.Errorf("server %d: partner a-p3 has %d clicks in clicks_hourly, want 10", i+1, n)
		}
	}
	t.Logf("%d rows: %d on shard 1 (%d partners), %d on shard 2 (%d partners)", total, local[0], len(p1), local[1], len(p2))
}
