package analytics

import (
	"log/slog"
	"testing"
	"time"

	"github.com/refedge/refedge/attribution/sink"
	"github.com/refedge/refedge/internal/testenv"
)

// A build that lands twice is never sealed: its hour and day read from raw rows, with the
// right figures, until a later pass builds them once.
func TestSealerAbandonsBuildThatLandedTwice(t *testing.T) {
	ctx := t.Context()
	conn, db := testenv.ClickHouse(t)
	log := slog.New(slog.DiscardHandler)
	if err := sink.Migrate(ctx, conn, db, log); err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{Conn: conn, DB: db, Logger: log, Sealer: SealerConfig{Disabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	h := time.Date(2025, 5, 3, 7, 0, 0, 0, time.UTC)
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".clicks ("+sink.ClickColumns+")")
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range []string{"c1", "c2", "c3"} {
		if err := b.Append(id, h.Add(time.Duration(i)*time.Minute), "p1", "valid", []string{}, "link", "", "s", "v"+id,
			"h", "", "/", "", "desktop", "chrome", "ua", "", uint32(0)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}

	// The next build id already holds a copy of the hour, as if its insert had landed
	// before: the build the sealer makes under it then counts every click twice.
	const twice = 12345
	// INSERT ... SELECT, not VALUES: 18.16 never answers the latter over the native protocol.
	for _, stmt := range []string{
		"INSERT INTO " + db + ".clicks_dims_hourly_built (partner_id, hour, build, dim, value, clicks, v_valid) SELECT 'p1', toDateTime(?), toUInt64(?), 'source', 'link', toUInt64(3), toUInt64(3)",
		"INSERT INTO " + db + ".clicks_dims_daily_built (partner_id, day, build, dim, value, clicks, v_valid) SELECT 'p1', toStartOfDay(toDateTime(?), 'UTC'), toUInt64(?), 'source', 'link', toUInt64(3), toUInt64(3)",
	} {
		if err := conn.Exec(ctx, stmt, h.Unix(), uint64(twice)); err != nil {
			t.Fatal(err)
		}
	}
	orig := newBuild
	t.Cleanup(func() { newBuild = orig })
	newBuild = func() uint64 { return twice }

	r := Range{From: AnalyticsDay.Floor(h), To: AnalyticsDay.Floor(h).AddDate(0, 0, 1), Interval: AnalyticsDay}
	check := func(phase string, wantRaw int) {
		t.Helper()
		st, err := a.Stats(ctx, "p1", StatsQuery{Range: r})
		if err != nil {
			t.Fatal(err)
		}
		src := st.Breakdowns["source"]
		if st.Totals.Clicks != 3 || len(src) != 1 || src[0].Clicks != 3 || src[0].Valid != 3 || st.Totals.UniqueVisitors != 3 {
			t.Errorf("%s: %d clicks, %d visitors, source breakdown %+v; want 3 each", phase, st.Totals.Clicks, st.Totals.UniqueVisitors, src)
		}
		if st.Meta.RawHours["clicks_dims"] != wantRaw {
			t.Errorf("%s: breakdowns read %d hours raw, want %d", phase, st.Meta.RawHours["clicks_dims"], wantRaw)
		}
	}
	if err := a.SealHours(ctx, h, h.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	var builds, daySeals uint64
	if err := conn.QueryRow(ctx, "SELECT countIf(build != 0), countIf(fact = 'clicks_day') FROM "+db+".analytics_seals WHERE partner_id = 'p1'").Scan(&builds, &daySeals); err != nil {
		t.Fatal(err)
	}
	if builds != 0 || daySeals != 0 {
		t.Fatalf("a build that landed twice was sealed: %d seals with a build, %d day seals", builds, daySeals)
	}
	check("abandoned", 1)

	newBuild = orig
	if err := a.SealHours(ctx, h, h.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	check("built again", 0)
}
