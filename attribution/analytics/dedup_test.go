package analytics_test

import (
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/refedge/refedge/attribution/analytics"
	"github.com/refedge/refedge/attribution/analyticstest"
)

// A batch the writer retries lands twice in the raw table and twice in the hourly
// aggregates; the API still counts its click, impression and commission once, before and
// after sealing, and a late click arriving in an already sealed hour is counted too.
func TestAnalyticsCountsRetriedRowsOnce(t *testing.T) {
	e := analyticstest.NewEnv(t, nil)
	ctx := t.Context()
	h := time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)
	click := analyticstest.Click{ID: "c-retried", Partner: "p1", Verdict: "valid", Source: "widget", Creative: "w1", SubID: "s",
		VisitorID: "v1", Device: "desktop", Browser: "chrome", TS: h.Add(5 * time.Minute)}
	clean := click
	clean.ID, clean.TS = "c-clean", h.Add(3*time.Hour)
	imp := analyticstest.Impression{ID: "i-retried", Partner: "p1", Source: "widget", Creative: "w1", VisitorID: "v1", TS: h.Add(time.Minute)}
	acc := analyticstest.Conversion{EventID: "e1", Type: analytics.ConvAccrued, Partner: "p1", UserID: "u1", OrderID: "o1", Role: "buyer", Key: "o1:buyer",
		Currency: "RUB", Amount: 3500, TS: h.Add(10 * time.Minute)}
	// A producer re-emitting the same commission under a new event id: the key dedups it.
	reemitted := acc
	reemitted.EventID = "e1-again"

	analyticstest.InsertClicks(ctx, t, e.Conn, e.DB, []analyticstest.Click{click, clean})
	analyticstest.InsertClicks(ctx, t, e.Conn, e.DB, []analyticstest.Click{click}) // the retried batch
	analyticstest.InsertImpressions(ctx, t, e.Conn, e.DB, []analyticstest.Impression{imp})
	analyticstest.InsertImpressions(ctx, t, e.Conn, e.DB, []analyticstest.Impression{imp})
	analyticstest.InsertConversions(ctx, t, e.Conn, e.DB, []analyticstest.Conversion{acc})
	analyticstest.InsertConversions(ctx, t, e.Conn, e.DB, []analyticstest.Conversion{acc, reemitted})

	// The aggregates really do hold the duplicates: without the seal check the API would
	// count them.
	var aggClicksN uint64
	if err := e.Conn.QueryRow(ctx, "SELECT sum(clicks) FROM "+e.DB+".clicks_hourly WHERE partner_id = 'p1'").Scan(&aggClicksN); err != nil {
		t.Fatal(err)
	}
	if aggClicksN != 3 {
		t.Fatalf("clicks_hourly holds %d rows, want 3 (the retried one twice)", aggClicksN)
	}

	tok := e.Token("p1")
	q := url.Values{"from": {h.Format(time.RFC3339)}, "to": {h.Add(6 * time.Hour).Format(time.RFC3339)}, "interval": {"hour"}}
	check := func(phase string, wantClicks uint64, wantRaw map[string]int) {
		t.Helper()
		var st analytics.Stats
		e.GetJSON("/api/v1/stats?"+q.Encode(), tok, &st)
		tt := st.Totals
		if tt.Clicks != wantClicks || tt.Valid != wantClicks || tt.Impressions != 1 || tt.Earnings["RUB"] != 3500 || tt.UniqueVisitors != 1 {
			t.Errorf("%s: totals %+v, want %d clicks, 1 impression, 3500 RUB, 1 visitor", phase, tt, wantClicks)
		}
		if st.Series[0].Clicks != 1 || st.Series[0].Impressions != 1 || st.Series[0].Earnings["RUB"] != 3500 {
			t.Errorf("%s: first hour %+v, want 1 click, 1 impression, 3500 RUB", phase, st.Series[0])
		}
		if got := st.Breakdowns["widget"]; len(got) != 1 || got[0].Clicks != wantClicks || got[0].Impressions != 1 {
			t.Errorf("%s: widget breakdown %+v", phase, got)
		}
		if wantRaw != nil && fmt.Sprint(st.Meta.RawHours) != fmt.Sprint(wantRaw) {
			t.Errorf("%s: raw hours %v, want %v", phase, st.Meta.RawHours, wantRaw)
		}
		var earn analytics.Earnings
		e.GetJSON("/api/v1/earnings?"+q.Encode(), tok, &earn)
		if a := earn.Totals["RUB"]; a.Accrued != 3500 || a.Accruals != 1 {
			t.Errorf("%s: earnings %+v, want one accrual of 3500", phase, a)
		}
		var refs analytics.Referrals
		e.GetJSON("/api/v1/referrals", tok, &refs)
		if len(refs.Referrals) != 1 || refs.Referrals[0].Earned["RUB"] != 3500 || refs.Referrals[0].Orders != 1 {
			t.Errorf("%s: referrals %+v", phase, refs.Referrals)
		}
	}
	check("unsealed", 2, map[string]int{"clicks_dims": 2, "clicks": 2, "conversions": 1, "impressions": 1})
	if err := e.An.SealHours(ctx, h, h.Add(6*time.Hour)); err != nil {
		t.Fatal(err)
	}
	// Sealed: the clean hour reads the aggregate; the duplicated hour stays raw.
	check("sealed", 2, map[string]int{"clicks_dims": 1, "clicks": 1, "conversions": 1, "impressions": 1})

	late := clean
	late.ID = "c-late"
	analyticstest.InsertClicks(ctx, t, e.Conn, e.DB, []analyticstest.Click{late})
	check("late arrival", 3, map[string]int{"clicks_dims": 2, "clicks": 2, "conversions": 1, "impressions": 1})
	if err := e.An.SealHours(ctx, h, h.Add(6*time.Hour)); err != nil {
		t.Fatal(err)
	}
	check("late arrival sealed", 3, map[string]int{"clicks_dims": 1, "clicks": 1, "conversions": 1, "impressions": 1})
}

func TestHoursToSpans(t *testing.T) {
	f := func(hours []uint32, want string) {
		t.Helper()
		var got string
		for _, s := range analytics.HoursToSpans(hours) {
			got += fmt.Sprintf("[%d,%d)", s.From.Unix(), s.To.Unix())
		}
		if got != want {
			t.Errorf("hoursToSpans(%v) = %s, want %s", hours, got, want)
		}
	}
	f(nil, "")
	f([]uint32{3600}, "[3600,7200)")
	f([]uint32{7200, 3600}, "[3600,10800)")
	f([]uint32{3600, 10800, 14400}, "[3600,7200)[10800,18000)")
}
