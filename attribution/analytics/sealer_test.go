package analytics_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/refedge/refedge/attribution/analytics"
	"github.com/refedge/refedge/attribution/analyticstest"
	"github.com/refedge/refedge/attribution/sink"
	"github.com/refedge/refedge/internal/testenv"
)

// The background sealer seals closed hours of its lookback and backfill, leaves the open
// hour alone, seals older hours a request nudged it about, and stops.
func TestSealerLoop(t *testing.T) {
	conn, db := testenv.ClickHouse(t)
	log := slog.New(slog.DiscardHandler)
	if err := sink.Migrate(t.Context(), conn, db, log); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2025, 7, 1, 12, 30, 0, 0, time.UTC)
	an, err := analytics.New(analytics.Config{Conn: conn, DB: db, Logger: log, Now: func() time.Time { return now },
		Sealer: analytics.SealerConfig{Interval: 50 * time.Millisecond, Lookback: 6 * time.Hour, Grace: time.Minute, Backfill: 48 * time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	click := func(id string, ts time.Time) analyticstest.Click {
		return analyticstest.Click{ID: id, Partner: "p1", Verdict: "valid", Source: "link", VisitorID: "v", TS: ts}
	}
	closed := now.Truncate(time.Hour).Add(-2 * time.Hour)      // 10:00, in the lookback
	open := now.Truncate(time.Hour)                            // 12:00, still open
	backfilled := now.Add(-30 * time.Hour).Truncate(time.Hour) // before the lookback, in the backfill
	old := now.Add(-20 * 24 * time.Hour).Truncate(time.Hour)   // outside both: sealed only when nudged
	analyticstest.InsertClicks(t.Context(), t, conn, db, []analyticstest.Click{click("a", closed.Add(time.Minute)), click("b", open.Add(time.Minute)),
		click("c", backfilled.Add(time.Minute)), click("d", old.Add(time.Minute))})

	sealed := func(h time.Time) bool {
		var n uint64
		if err := conn.QueryRow(t.Context(), "SELECT count() FROM "+db+".analytics_seals WHERE fact = 'clicks' AND hour = ?", h).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n > 0
	}
	waitSealed := func(h time.Time) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !sealed(h) {
			if time.Now().After(deadline) {
				t.Fatalf("hour %v never sealed", h)
			}
			time.Sleep(20 * time.Millisecond) // polling ClickHouse, not synchronising goroutines
		}
	}
	an.Start()
	waitSealed(closed)
	waitSealed(backfilled)
	if sealed(open) {
		t.Error("the open hour was sealed within its grace")
	}
	if sealed(old) {
		t.Error("an hour outside lookback and backfill was sealed unasked")
	}
	// A request over the old hour finds it unsealed and nudges the sealer.
	r := analytics.Range{From: old, To: old.Add(time.Hour), Interval: analytics.AnalyticsHour}
	st, err := an.Stats(t.Context(), "p1", analytics.StatsQuery{Range: r})
	if err != nil {
		t.Fatal(err)
	}
	if st.Totals.Clicks != 1 || st.Meta.RawHours["clicks"] != 1 {
		t.Errorf("old hour before sealing: %d clicks, raw hours %v", st.Totals.Clicks, st.Meta.RawHours)
	}
	waitSealed(old)
	if st, err = an.Stats(t.Context(), "p1", analytics.StatsQuery{Range: r}); err != nil || st.Totals.Clicks != 1 || st.Meta.RawHours["clicks"] != 0 {
		t.Errorf("old hour after the nudge: %v, %+v", err, st.Meta)
	}
	if err := an.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
}
