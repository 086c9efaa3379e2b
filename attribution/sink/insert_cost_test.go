package sink_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/attribution/sink"
	"github.com/refedge/refedge/deploy/bench/ingest"
	chschema "github.com/refedge/refedge/deploy/clickhouse"
	"github.com/refedge/refedge/internal/testenv"
)

// TestClickHouseInsertCost measures what ClickHouse spends per inserted click with the
// current schema (one live counter per click insert), with the views the schema had
// before 0012_sealed_aggregates.sql, and with no view at all: the same realistic batches
// of 20,000 clicks (the pipeline's batch) through the edge's sink, the variants taking
// turns so the neighbours' load falls on all of them alike. It reads the server's CPU
// from /proc/<pid>/stat, so it runs only when asked: REFEDGE_BENCH_INSERT=1 and
// REFEDGE_BENCH_CLICKHOUSE_PID=<pid of the server behind REFEDGE_TEST_CLICKHOUSE_DSN>.
// docs/performance.md, "Aggregates off the insert path", has the figures.
func TestClickHouseInsertCost(t *testing.T) {
	if os.Getenv("REFEDGE_BENCH_INSERT") != "1" {
		t.Skip("set REFEDGE_BENCH_INSERT=1 and REFEDGE_BENCH_CLICKHOUSE_PID to measure")
	}
	pid := os.Getenv("REFEDGE_BENCH_CLICKHOUSE_PID")
	if _, err := serverCPU(pid); err != nil {
		t.Fatalf("REFEDGE_BENCH_CLICKHOUSE_PID: %v", err)
	}
	ctx := t.Context()
	log := slog.New(slog.DiscardHandler)
	type variant struct {
		name string
		conn driver.Conn
		db   string
		cpu  []time.Duration
		wall []time.Duration
	}
	var vs []*variant
	for _, name := range []string{"before-0012", "after-0012", "no-views"} {
		conn, db := testenv.ClickHouse(t)
		if err := sink.Migrate(ctx, conn, db, log); err != nil {
			t.Fatal(err)
		}
		switch name {
		case "before-0012":
			for _, stmt := range viewsBefore0012(t, db) {
				if err := conn.Exec(ctx, stmt); err != nil {
					t.Fatalf("recreating an old view: %v", err)
				}
			}
		case "no-views":
			if err := conn.Exec(ctx, "DROP TABLE IF EXISTS "+db+".clicks_hourly_mv"); err != nil {
				t.Fatal(err)
			}
		}
		vs = append(vs, &variant{name: name, conn: conn, db: db})
	}
	const batches, batchSize = 10, 20000
	gen := ingest.NewGenerator(7)
	now := time.Now()
	var all [][]*event.Click
	for range batches {
		b := make([]*event.Click, batchSize)
		for i := range b {
			b[i] = event.AcquireClick()
			gen.Fill(b[i], now)
		}
		all = append(all, b)
	}
	rounds := 3
	if s := os.Getenv("REFEDGE_BENCH_INSERT_ROUNDS"); s != "" {
		rounds, _ = strconv.Atoi(s)
	}
	for range rounds {
		for _, v := range vs {
			waitMerges(ctx, t, v.conn)
			w := &sink.ClickHouseClicks{Conn: v.conn, DB: v.db}
			c0, _ := serverCPU(pid)
			start := time.Now()
			for _, b := range all {
				if err := w.Write(ctx, b); err != nil {
					t.Fatal(err)
				}
			}
			wall := time.Since(start)
			waitMerges(ctx, t, v.conn) // the merges the inserts caused are part of their cost
			c1, _ := serverCPU(pid)
			v.cpu = append(v.cpu, c1-c0)
			v.wall = append(v.wall, wall)
		}
	}
	n := float64(batches * batchSize)
	for _, v := range vs {
		cpu, wall := slices.Min(v.cpu), slices.Min(v.wall)
		t.Logf("%-12s ClickHouse CPU %5.2f µs/click (rounds: %v), insert %7.0f clicks/s (wall, one writer)",
			v.name, float64(cpu.Microseconds())/n, v.cpu, n/wall.Seconds())
	}
}

// viewsBefore0012 returns the latest definition of every view 0012 drops.
func viewsBefore0012(t *testing.T, db string) []string {
	migs, err := chschema.Migrations(db)
	if err != nil {
		t.Fatal(err)
	}
	name := regexp.MustCompile(`(?s)^CREATE MATERIALIZED VIEW IF NOT EXISTS \S+\.(\w+)`)
	latest := map[string]string{}
	var order []string
	for _, m := range migs {
		if m.Version >= 12 {
			continue
		}
		for _, s := range m.Statements {
			if v := name.FindStringSubmatch(s); v != nil && (strings.Contains(s, ".clicks\n") || strings.Contains(s, ".impressions\n")) {
				if _, ok := latest[v[1]]; !ok {
					order = append(order, v[1])
				}
				latest[v[1]] = s
			}
		}
	}
	var out []string
	for _, v := range order {
		if v != "clicks_hourly_mv" && v != "impressions_hourly_mv" {
			out = append(out, "DROP TABLE IF EXISTS "+db+"."+v, latest[v])
		}
	}
	if len(out) == 0 {
		t.Fatal("no view of 0003_analytics.sql found")
	}
	return out
}

// waitMerges waits until the server runs no merge, or 30 s.
func waitMerges(ctx context.Context, t *testing.T, conn driver.Conn) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM system.merges").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond) // polling the server, not synchronising goroutines
	}
}

// serverCPU returns the user+system CPU time of process pid.
func serverCPU(pid string) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, err
	}
	f := bytes.Fields(b[bytes.LastIndexByte(b, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("cannot parse /proc/%s/stat", pid)
	}
	ut, _ := strconv.ParseInt(string(f[11]), 10, 64)
	st, _ := strconv.ParseInt(string(f[12]), 10, 64)
	return time.Duration(ut+st) * time.Second / 100, nil // USER_HZ
}
