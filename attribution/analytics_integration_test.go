package attribution

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
)

// A simulated month for two partners, crossing a month boundary: every figure the API
// returns, per bucket of every interval, equals what was generated — first with nothing
// sealed (every hour from raw rows), then after sealing (aggregates, raw rows only for the
// hours a duplicated batch made dirty).
func TestAnalyticsSimulatedMonth(t *testing.T) {
	e := newAnEnv(t, nil)
	from := time.Date(2025, 2, 20, 0, 0, 0, 0, time.UTC)
	to := from.Add(30 * 24 * time.Hour)
	sims := []*simData{simulate("partnerA", 1, from, to, 8), simulate("partner_B", 2, from, to, 5)}
	for _, d := range sims {
		d.insert(t.Context(), t, e.conn, e.db)
	}
	tokens := map[string]string{}
	for _, d := range sims {
		tokens[d.partner] = e.token(d.partner)
	}

	check := func(phase string) map[string]map[string]int {
		raw := map[string]map[string]int{}
		for _, d := range sims {
			tok := tokens[d.partner]
			for _, iv := range []string{"hour", "day", "month"} {
				q := url.Values{"from": {from.Format(time.RFC3339)}, "to": {to.Format(time.RFC3339)}, "interval": {iv}}
				r, err := parseAnalyticsRange(q.Get, time.Now(), &e.an.cfg)
				if err != nil {
					t.Fatal(err)
				}
				w := d.want(r)
				var st Stats
				e.getJSON("/api/v1/stats?top=100&"+q.Encode(), tok, &st)
				compareStats(t, fmt.Sprintf("%s %s %s", phase, d.partner, iv), r, w, &st)
				raw[d.partner] = st.Meta.RawHours
				if phase == "sealed" && iv != "hour" && (st.Meta.AggregateDays["clicks"] == 0 || st.Meta.AggregateDays["clicks_dims"] == 0) {
					t.Errorf("%s %s %s: no whole day read from the daily tables: %v", phase, d.partner, iv, st.Meta.AggregateDays)
				}
				var earn Earnings
				e.getJSON("/api/v1/earnings?"+q.Encode(), tok, &earn)
				compareEarnings(t, fmt.Sprintf("%s %s %s earnings", phase, d.partner, iv), r, w, &earn)
				if iv == "day" {
					checkStatsCSV(t, e, tok, q, &st)
				}
			}
			var refs Referrals
			e.getJSON("/api/v1/referrals?limit=1000", tok, &refs)
			compareReferrals(t, phase+" "+d.partner, d.wantReferrals(), &refs)
		}
		return raw
	}

	raw := check("unsealed")
	for _, d := range sims {
		if raw[d.partner]["clicks"] == 0 {
			t.Errorf("unsealed %s: no hour read from raw rows (%v)", d.partner, raw[d.partner])
		}
	}
	if err := e.an.SealHours(t.Context(), from, to); err != nil {
		t.Fatal(err)
	}
	raw = check("sealed")
	for _, d := range sims {
		var ts []time.Time
		for _, c := range d.dupClicks {
			ts = append(ts, c.TS)
		}
		if got, want := raw[d.partner]["clicks"], len(simHours(ts)); got != want {
			t.Errorf("sealed %s: %d click hours read raw, want %d (the hours holding a duplicated row)", d.partner, got, want)
		}
		if raw[d.partner]["clicks"] >= 30*24/2 {
			t.Errorf("sealed %s: most hours still raw: %v", d.partner, raw[d.partner])
		}
	}
}

func compareStats(t *testing.T, name string, r AnalyticsRange, w *simWant, st *Stats) {
	t.Helper()
	compareCounts(t, name+" totals", &w.totals, &st.Totals.StatsCounts)
	for _, v := range Verdicts() {
		if got, want := st.Totals.ByVerdict[v.String()], w.verdicts[v.String()]; got != want {
			t.Errorf("%s: by_verdict[%s] = %d, want %d", name, v, got, want)
		}
	}
	buckets := r.Buckets()
	if len(st.Series) != len(buckets) {
		t.Fatalf("%s: %d buckets, want %d", name, len(st.Series), len(buckets))
	}
	zero := &StatsCounts{Earnings: map[string]int64{}}
	for i, p := range st.Series {
		if !p.T.Equal(buckets[i]) {
			t.Fatalf("%s: bucket %d starts %v, want %v", name, i, p.T, buckets[i])
		}
		want := w.series[p.T]
		if want == nil {
			want = zero
		}
		compareCounts(t, fmt.Sprintf("%s bucket %s", name, p.T.Format(time.RFC3339)), want, &p.StatsCounts)
	}
	for _, dim := range clickDims {
		got := map[string]BreakdownRow{}
		for _, row := range st.Breakdowns[dim] {
			got[row.Key] = row
		}
		if len(got) != len(w.dims[dim]) {
			t.Errorf("%s: breakdown %s has %d rows, want %d: %v", name, dim, len(got), len(w.dims[dim]), keysOf(got))
		}
		for k, want := range w.dims[dim] {
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
		if row.Clicks != w.verdicts[row.Key] || row.Text == "" {
			t.Errorf("%s: verdict row %+v, want %d clicks", name, row, w.verdicts[row.Key])
		}
	}
	if verdicts != len(w.verdicts) {
		t.Errorf("%s: %d verdict rows, want %d", name, verdicts, len(w.verdicts))
	}
	sizes := map[string]uint64{}
	for _, row := range st.Breakdowns["size"] {
		sizes[row.Key] = row.Impressions
	}
	if fmt.Sprint(sizes) != fmt.Sprint(w.sizes) {
		t.Errorf("%s: sizes %v, want %v", name, sizes, w.sizes)
	}
}

func compareCounts(t *testing.T, name string, want, got *StatsCounts) {
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

func compareEarnings(t *testing.T, name string, r AnalyticsRange, w *simWant, e *Earnings) {
	t.Helper()
	if fmt.Sprint(e.Totals) != fmt.Sprint(w.earnTot) {
		t.Errorf("%s: totals %v, want %v", name, e.Totals, w.earnTot)
	}
	if len(e.Series) != len(r.Buckets()) {
		t.Fatalf("%s: %d buckets, want %d", name, len(e.Series), len(r.Buckets()))
	}
	for _, p := range e.Series {
		want := w.earnings[p.T]
		if want == nil {
			want = map[string]EarningsAmounts{}
		}
		if fmt.Sprint(p.Currencies) != fmt.Sprint(want) {
			t.Errorf("%s: bucket %s = %v, want %v", name, p.T.Format(time.RFC3339), p.Currencies, want)
		}
	}
	var roles map[string]EarningsAmounts = map[string]EarningsAmounts{}
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
	if fmt.Sprint(roles) != fmt.Sprint(w.earnTot) {
		t.Errorf("%s: by_role sums to %v, want %v", name, roles, w.earnTot)
	}
}

func compareReferrals(t *testing.T, name string, want map[string]*simReferral, got *Referrals) {
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
		byStatus[w.status]++
		for c, v := range w.earned {
			earned[c] += v
		}
		if r.Status != w.status || !sameTime(r.RegisteredAt, w.registered) || !sameTime(r.ActivatedAt, w.activated) ||
			!sameTime(r.EndedAt, w.ended) || r.Orders != uint64(len(w.orders)) || fmt.Sprint(r.Earned) != fmt.Sprint(w.earned) {
			t.Errorf("%s: referral %s = %+v, want status %s registered %v activated %v ended %v orders %d earned %v", name, r.UserID,
				r, w.status, w.registered, w.activated, w.ended, len(w.orders), w.earned)
		}
		if i > 0 && r.RegisteredAt != nil && got.Referrals[i-1].RegisteredAt != nil && r.RegisteredAt.After(*got.Referrals[i-1].RegisteredAt) {
			t.Errorf("%s: referrals not newest first at %d", name, i)
		}
	}
	for _, s := range referralStatuses {
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
	out := mapKeys(m)
	sort.Strings(out)
	return out
}

// checkStatsCSV checks that the CSV export carries the JSON answer's figures.
func checkStatsCSV(t *testing.T, e *anEnv, tok string, q url.Values, st *Stats) {
	t.Helper()
	code, body := e.get("/api/v1/stats?"+q.Encode(), tok, "Accept", "text/csv")
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
