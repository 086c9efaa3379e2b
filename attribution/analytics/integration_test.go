package analytics_test

import (
	"encoding/csv"
	"fmt"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/refedge/refedge/attribution/analytics"
	"github.com/refedge/refedge/attribution/analyticstest"
	"github.com/refedge/refedge/attribution/event"
)

// A simulated month for two partners, crossing a month boundary: every figure the API
// returns, per bucket of every interval, equals what was generated — first with nothing
// sealed (every hour from raw rows), then after sealing (aggregates, raw rows only for the
// hours a duplicated batch made dirty).
func TestAnalyticsSimulatedMonth(t *testing.T) {
	e := analyticstest.NewEnv(t, nil)
	from := time.Date(2025, 2, 20, 0, 0, 0, 0, time.UTC)
	to := from.Add(30 * 24 * time.Hour)
	sims := []*analyticstest.Data{analyticstest.Simulate("partnerA", 1, from, to, 8), analyticstest.Simulate("partner_B", 2, from, to, 5)}
	for _, d := range sims {
		d.Insert(t.Context(), t, e.Conn, e.DB)
	}
	tokens := map[string]string{}
	for _, d := range sims {
		tokens[d.Partner] = e.Token(d.Partner)
	}

	check := func(phase string) map[string]map[string]int {
		raw := map[string]map[string]int{}
		for _, d := range sims {
			tok := tokens[d.Partner]
			for _, iv := range []string{"hour", "day", "month"} {
				q := url.Values{"from": {from.Format(time.RFC3339)}, "to": {to.Format(time.RFC3339)}, "interval": {iv}}
				r, err := analytics.ParseRange(q.Get, time.Now(), &e.An.Cfg)
				if err != nil {
					t.Fatal(err)
				}
				w := d.Want(r)
				var st analytics.Stats
				e.GetJSON("/api/v1/stats?top=100&"+q.Encode(), tok, &st)
				compareStats(t, fmt.Sprintf("%s %s %s", phase, d.Partner, iv), r, w, &st)
				raw[d.Partner] = st.Meta.RawHours
				if phase == "sealed" && iv != "hour" && (st.Meta.AggregateDays["clicks"] == 0 || st.Meta.AggregateDays["clicks_dims"] == 0) {
					t.Errorf("%s %s %s: no whole day read from the daily tables: %v", phase, d.Partner, iv, st.Meta.AggregateDays)
				}
				var earn analytics.Earnings
				e.GetJSON("/api/v1/earnings?"+q.Encode(), tok, &earn)
				compareEarnings(t, fmt.Sprintf("%s %s %s earnings", phase, d.Partner, iv), r, w, &earn)
				if iv == "day" {
					checkStatsCSV(t, e, tok, q, &st)
					var top3 analytics.Stats
					e.GetJSON("/api/v1/stats?top=3&"+q.Encode(), tok, &top3)
					checkOtherRows(t, fmt.Sprintf("%s %s top=3", phase, d.Partner), w, &top3)
				}
			}
			var refs analytics.Referrals
			e.GetJSON("/api/v1/referrals?limit=1000", tok, &refs)
			compareReferrals(t, phase+" "+d.Partner, d.WantReferrals(), &refs)
		}
		return raw
	}

	raw := check("unsealed")
	for _, d := range sims {
		if raw[d.Partner]["clicks"] == 0 {
			t.Errorf("unsealed %s: no hour read from raw rows (%v)", d.Partner, raw[d.Partner])
		}
	}
	if err := e.An.SealHours(t.Context(), from, to); err != nil {
		t.Fatal(err)
	}
	raw = check("sealed")
	for _, d := range sims {
		var ts []time.Time
		for _, c := range d.DupClicks {
			ts = append(ts, c.TS)
		}
		if got, want := raw[d.Partner]["clicks"], len(analyticstest.Hours(ts)); got != want {
			t.Errorf("sealed %s: %d click hours read raw, want %d (the hours holding a duplicated row)", d.Partner, got, want)
		}
		if raw[d.Partner]["clicks"] >= 30*24/2 {
			t.Errorf("sealed %s: most hours still raw: %v", d.Partner, raw[d.Partner])
		}
	}
}

func compareStats(t *testing.T, name string, r analytics.Range, w *analyticstest.Want, st *analytics.Stats) {
	t.Helper()
	compareCounts(t, name+" totals", &w.Totals, &st.Totals.StatsCounts)
	for _, v := range event.Verdicts() {
		if got, want := st.Totals.ByVerdict[v.String()], w.Verdicts[v.String()]; got != want {
			t.Errorf("%s: by_verdict[%s] = %d, want %d", name, v, got, want)
		}
	}
	buckets := r.Buckets()
	if len(st.Series) != len(buckets) {
		t.Fatalf("%s: %d buckets, want %d", name, len(st.Series), len(buckets))
	}
	zero := &analytics.StatsCounts{Earnings: map[string]int64{}}
	for i, p := range st.Series {
		if !p.T.Equal(buckets[i]) {
			t.Fatalf("%s: bucket %d starts %v, want %v", name, i, p.T, buckets[i])
		}
		want := w.Series[p.T]
		if want == nil {
			want = zero
		}
		compareCounts(t, fmt.Sprintf("%s bucket %s", name, p.T.Format(time.RFC3339)), want, &p.StatsCounts)
	}
	for _, dim := range analytics.ClickDims {
		got := map[string]analytics.BreakdownRow{}
		for _, row := range st.Breakdowns[dim] {
			got[row.Key] = row
		}
		if len(got) != len(w.Dims[dim]) {
			t.Errorf("%s: breakdown %s has %d rows, want %d: %v", name, dim, len(got), len(w.Dims[dim]), keysOf(got))
		}
		for k, want := range w.Dims[dim] {
			g := got[k]
			if g.Clicks != want.Clicks || g.Valid != want.Valid || g.Flagged != want.Flagged || g.Impressions != want.Impressions {
				t.Errorf("%s: breakdown %s[%q] = %d/%d/%d/%d clicks/valid/flagged/impressions, want %d/%d/%d/%d", name, dim, k,
					g.Clicks, g.Valid, g.Flagged, g.Impressions, want.Clicks, want.Valid, want.Flagged, want.Impressions)
			}
			for v, n := range want.ByVerdict {
				if g.ByVerdict[v] != n {
					t.Errorf("%s: breakdown %s[%q] verdict %s = %d, want %d", name, dim, k, v, g.ByVerdict[v], n)
				}
			}
			if dim == "reason" && g.Text == "" {
				t.Errorf("%s: reason %q has no text", name, k)
			}
		}
		rows := st.Breakdowns[dim]
		for i := 1; i < len(rows); i++ {
			if rows[i].Clicks > rows[i-1].Clicks {
				t.Errorf("%s: breakdown %s not sorted by clicks at %d", name, dim, i)
			}
		}
	}
	verdicts := 0
	for _, row := range st.Breakdowns["verdict"] {
		verdicts++
		if row.Clicks != w.Verdicts[row.Key] || row.Text == "" {
			t.Errorf("%s: verdict row %+v, want %d clicks", name, row, w.Verdicts[row.Key])
		}
	}
	if verdicts != len(w.Verdicts) {
		t.Errorf("%s: %d verdict rows, want %d", name, verdicts, len(w.Verdicts))
	}
	sizes := map[string]uint64{}
	for _, row := range st.Breakdowns["size"] {
		sizes[row.Key] = row.Impressions
	}
	if fmt.Sprint(sizes) != fmt.Sprint(w.Sizes) {
		t.Errorf("%s: sizes %v, want %v", name, sizes, w.Sizes)
	}
}

func compareCounts(t *testing.T, name string, want, got *analytics.StatsCounts) {
	t.Helper()
	type pair struct {
		field     string
		got, want uint64
	}
	// Unique visitors come from HyperLogLog sketches: exact up to 16, then within a few
	// percent.
	d := int64(got.UniqueVisitors) - int64(want.UniqueVisitors)
	if want.UniqueVisitors <= 16 && d != 0 || d*d > max(9, int64(want.UniqueVisitors)*int64(want.UniqueVisitors)*16/10000) {
		t.Errorf("%s: unique_visitors = %d, want %d (HLL tolerance)", name, got.UniqueVisitors, want.UniqueVisitors)
	}
	for _, p := range []pair{
		{"clicks", got.Clicks, want.Clicks}, {"valid", got.Valid, want.Valid}, {"flagged", got.Flagged, want.Flagged},
		{"impressions", got.Impressions, want.Impressions},
		{"embed_clicks", got.EmbedClicks, want.EmbedClicks}, {"signups", got.Signups, want.Signups},
		{"activations", got.Activations, want.Activations},
	} {
		if p.got != p.want {
			t.Errorf("%s: %s = %d, want %d", name, p.field, p.got, p.want)
		}
	}
	if math.Abs(got.CTR-want.CTR) > 1e-9 {
		t.Errorf("%s: ctr = %v, want %v", name, got.CTR, want.CTR)
	}
	if fmt.Sprint(got.Earnings) != fmt.Sprint(want.Earnings) {
		t.Errorf("%s: earnings = %v, want %v", name, got.Earnings, want.Earnings)
	}
}

func compareEarnings(t *testing.T, name string, r analytics.Range, w *analyticstest.Want, e *analytics.Earnings) {
	t.Helper()
	if fmt.Sprint(e.Totals) != fmt.Sprint(w.EarnTot) {
		t.Errorf("%s: totals %v, want %v", name, e.Totals, w.EarnTot)
	}
	if len(e.Series) != len(r.Buckets()) {
		t.Fatalf("%s: %d buckets, want %d", name, len(e.Series), len(r.Buckets()))
	}
	for _, p := range e.Series {
		want := w.Earnings[p.T]
		if want == nil {
			want = map[string]analytics.EarningsAmounts{}
		}
		if fmt.Sprint(p.Currencies) != fmt.Sprint(want) {
			t.Errorf("%s: bucket %s = %v, want %v", name, p.T.Format(time.RFC3339), p.Currencies, want)
		}
	}
	var roles map[string]analytics.EarningsAmounts = map[string]analytics.EarningsAmounts{}
	for _, m := range e.ByRole {
		for c, a := range m {
			x := roles[c]
			x.Accrued += a.Accrued
			x.Reversed += a.Reversed
			x.Net += a.Net
			x.Accruals += a.Accruals
			x.Reversals += a.Reversals
			roles[c] = x
		}
	}
	if fmt.Sprint(roles) != fmt.Sprint(w.EarnTot) {
		t.Errorf("%s: by_role sums to %v, want %v", name, roles, w.EarnTot)
	}
}

func compareReferrals(t *testing.T, name string, want map[string]*analyticstest.Referral, got *analytics.Referrals) {
	t.Helper()
	if len(got.Referrals) != len(want) || got.Totals.Referrals != uint64(len(want)) {
		t.Fatalf("%s: %d referrals (total %d), want %d", name, len(got.Referrals), got.Totals.Referrals, len(want))
	}
	byStatus := map[string]uint64{}
	earned := map[string]int64{}
	for i, r := range got.Referrals {
		w := want[r.UserID]
		if w == nil {
			t.Fatalf("%s: unexpected referral %q", name, r.UserID)
		}
		byStatus[w.Status]++
		for c, v := range w.Earned {
			earned[c] += v
		}
		if r.Status != w.Status || !sameTime(r.RegisteredAt, w.Registered) || !sameTime(r.ActivatedAt, w.Activated) ||
			!sameTime(r.EndedAt, w.Ended) || r.Orders != uint64(len(w.Orders)) || fmt.Sprint(r.Earned) != fmt.Sprint(w.Earned) {
			t.Errorf("%s: referral %s = %+v, want status %s registered %v activated %v ended %v orders %d earned %v", name, r.UserID,
				r, w.Status, w.Registered, w.Activated, w.Ended, len(w.Orders), w.Earned)
		}
		if i > 0 && r.RegisteredAt != nil && got.Referrals[i-1].RegisteredAt != nil && r.RegisteredAt.After(*got.Referrals[i-1].RegisteredAt) {
			t.Errorf("%s: referrals not newest first at %d", name, i)
		}
	}
	for _, s := range analytics.ReferralStatuses {
		if got.Totals.ByStatus[s] != byStatus[s] {
			t.Errorf("%s: totals.by_status[%s] = %d, want %d", name, s, got.Totals.ByStatus[s], byStatus[s])
		}
	}
	if fmt.Sprint(got.Totals.Earned) != fmt.Sprint(earned) {
		t.Errorf("%s: totals.earned = %v, want %v", name, got.Totals.Earned, earned)
	}
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}

func keysOf[V any](m map[string]V) []string {
	out := analyticstest.MapKeys(m)
	sort.Strings(out)
	return out
}

// checkOtherRows checks the breakdowns that end with an "other" row (country, network):
// the top rows are the generated top values, "other" sums every value below them, and
// the rows add up to the range's clicks, per verdict too.
func checkOtherRows(t *testing.T, name string, w *analyticstest.Want, st *analytics.Stats) {
	t.Helper()
	for dim := range analytics.OtherDims {
		want := make([]analytics.BreakdownRow, 0, len(w.Dims[dim]))
		for _, r := range w.Dims[dim] {
			want = append(want, *r)
		}
		sort.Slice(want, func(i, j int) bool {
			if want[i].Clicks != want[j].Clicks {
				return want[i].Clicks > want[j].Clicks
			}
			return want[i].Key < want[j].Key
		})
		if len(want) <= st.Meta.Top {
			t.Fatalf("%s: %s has only %d values; the simulation must exceed top=%d", name, dim, len(want), st.Meta.Top)
		}
		other := analytics.BreakdownRow{Key: analytics.OtherKey, ByVerdict: map[string]uint64{}}
		for _, r := range want[st.Meta.Top:] {
			other.Clicks += r.Clicks
			other.Valid += r.Valid
			other.Flagged += r.Flagged
			for v, n := range r.ByVerdict {
				other.ByVerdict[v] += n
			}
		}
		want = append(want[:st.Meta.Top], other)
		got := st.Breakdowns[dim]
		if len(got) != len(want) {
			t.Errorf("%s: %s has %d rows, want %d (top and other)", name, dim, len(got), len(want))
			continue
		}
		var sum uint64
		byVerdict := map[string]uint64{}
		for i, g := range got {
			sum += g.Clicks
			for v, n := range g.ByVerdict {
				byVerdict[v] += n
			}
			if g.Key != want[i].Key || g.Clicks != want[i].Clicks || g.Valid != want[i].Valid || g.Flagged != want[i].Flagged ||
				fmt.Sprint(g.ByVerdict) != fmt.Sprint(want[i].ByVerdict) {
				t.Errorf("%s: %s row %d = %q %d/%d/%d %v, want %q %d/%d/%d %v", name, dim, i, g.Key, g.Clicks, g.Valid, g.Flagged, g.ByVerdict,
					want[i].Key, want[i].Clicks, want[i].Valid, want[i].Flagged, want[i].ByVerdict)
			}
		}
		if sum != st.Totals.Clicks {
			t.Errorf("%s: %s rows add up to %d clicks, the range has %d", name, dim, sum, st.Totals.Clicks)
		}
		for v, n := range st.Totals.ByVerdict {
			if byVerdict[v] != n {
				t.Errorf("%s: %s rows add up to %d %s clicks, the range has %d", name, dim, byVerdict[v], v, n)
			}
		}
	}
}

// checkStatsCSV checks that the CSV export carries the JSON answer's figures.
func checkStatsCSV(t *testing.T, e *analyticstest.Env, tok string, q url.Values, st *analytics.Stats) {
	t.Helper()
	code, body := e.Get("/api/v1/stats?"+q.Encode(), tok, "Accept", "text/csv")
	if code != 200 {
		t.Fatalf("stats CSV: %d %s", code, body)
	}
	recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(st.Series)+1 {
		t.Fatalf("stats CSV: %d rows, want %d", len(recs)-1, len(st.Series))
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	var clicks, signups uint64
	for _, rec := range recs[1:] {
		n, _ := strconv.ParseUint(rec[col["clicks"]], 10, 64)
		s, _ := strconv.ParseUint(rec[col["signups"]], 10, 64)
		clicks, signups = clicks+n, signups+s
	}
	if clicks != st.Totals.Clicks || signups != st.Totals.Signups {
		t.Errorf("stats CSV sums to %d clicks and %d signups, want %d and %d", clicks, signups, st.Totals.Clicks, st.Totals.Signups)
	}
	for c, v := range st.Totals.Earnings {
		i, ok := col["earnings_"+c]
		if !ok {
			t.Errorf("stats CSV has no earnings_%s column", c)
			continue
		}
		var sum int64
		for _, rec := range recs[1:] {
			n, _ := strconv.ParseInt(rec[i], 10, 64)
			sum += n
		}
		if sum != v {
			t.Errorf("stats CSV earnings_%s sums to %d, want %d", c, sum, v)
		}
	}
}
