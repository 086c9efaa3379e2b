package analytics_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/refedge/refedge/attribution/analytics"
	"github.com/refedge/refedge/attribution/analyticstest"
	"github.com/refedge/refedge/internal/clustertest"
)

// On two ClickHouse shards (Distributed tables sharded by partner) the sealer's builds
// reach their shard before it counts them back, so sealed hours and days are read from
// builds there too, with the same figures as from raw rows.
func TestSealerOnClickHouseCluster(t *testing.T) {
	db, conn := clustertest.ClickHouseCluster(t).MigratedDB(t, "test_an_")
	h := time.Date(2025, 8, 4, 10, 0, 0, 0, time.UTC)
	var clicks []analyticstest.Click
	partners := []string{"pa", "pb", "pc", "pd"} // several, so both shards hold some
	for i := range 40 {
		clicks = append(clicks, analyticstest.Click{ID: "c" + string(rune('A'+i%26)) + string(rune('a'+i/26)), Partner: partners[i%len(partners)],
			Verdict: "valid", Source: "link", SubID: "s", VisitorID: "v", Device: "desktop", Browser: "chrome", TS: h.Add(time.Duration(i) * time.Minute)})
	}
	ctx := clickhouse.Context(t.Context(), clickhouse.WithSettings(clickhouse.Settings{"insert_distributed_sync": 1}))
	analyticstest.InsertClicks(ctx, t, conn, db, clicks)
	an, err := analytics.New(analytics.Config{Conn: conn, DB: db, Logger: slog.New(slog.DiscardHandler), Sealer: analytics.SealerConfig{Disabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	if err := an.SealHours(t.Context(), h, h.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	day := analytics.AnalyticsDay.Floor(h)
	for _, iv := range []analytics.Interval{analytics.AnalyticsHour, analytics.AnalyticsDay} {
		r := analytics.Range{From: day, To: day.AddDate(0, 0, 1), Interval: iv}
		for _, p := range partners {
			st, err := an.Stats(t.Context(), p, analytics.StatsQuery{Range: r})
			if err != nil {
				t.Fatal(err)
			}
			src := st.Breakdowns["source"]
			if st.Totals.Clicks != 10 || len(src) != 1 || src[0].Clicks != 10 || st.Meta.RawHours["clicks_dims"] != 0 {
				t.Errorf("%s by %v: %d clicks, source breakdown %+v, raw hours %v; want 10 clicks from builds", p, iv, st.Totals.Clicks, src, st.Meta.RawHours)
			}
		}
	}
}
