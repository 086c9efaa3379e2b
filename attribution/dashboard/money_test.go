package dashboard

import (
	"fmt"
	"testing"
	"time"

	"github.com/refedge/refedge/attribution/analytics"
)

// moneyExamples are amounts in minor units and the numerals every money renderer of the
// product writes for them: the dashboard's figures and the widget's price tags
// (widget/format_test.go checks the same list).
var moneyExamples = []struct {
	minor   int64
	cur     string
	numeral string
}{
	{1000, "JPY", "1,000"}, {1500, "BHD", "1.500"}, {1234, "USD", "12.34"},
	{1000, "RWF", "1,000"}, {1000, "KMF", "1,000"}, {1000, "GNF", "1,000"}, {1000, "DJF", "1,000"},
	{1000, "VUV", "1,000"}, {1000, "XPF", "1,000"}, {1000, "BIF", "1,000"}, {1000, "UYI", "1,000"},
	{1234, "KWD", "1.234"}, {1234, "OMR", "1.234"}, {1234, "JOD", "1.234"}, {1234, "IQD", "1.234"},
	{1234, "LYD", "1.234"}, {1234, "TND", "1.234"},
	{1234, "CLF", "0.1234"}, {12345, "UYW", "1.2345"},
}

// The dashboard writes money with the product's ISO 4217 table: its figures (KPIs,
// referral rows) and the exponent it hands dashboard.js for the earnings charts.
func TestDashboardMoneyUsesISO4217(t *testing.T) {
	for _, x := range moneyExamples {
		if got, want := analytics.FormatMoney(x.minor, x.cur), x.numeral+" "+x.cur; got != want {
			t.Errorf("fmtMoney(%d, %s) = %q, want %q", x.minor, x.cur, got, want)
		}
	}

	st := &analytics.Stats{}
	st.Totals.Earnings = map[string]int64{"JPY": 1000, "BHD": 1000, "RWF": 1000, "CLF": 1234}
	st.Series = []analytics.StatsPoint{{T: time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), StatsCounts: analytics.StatsCounts{Earnings: st.Totals.Earnings}}}
	refs := &analytics.Referrals{Totals: analytics.ReferralTotals{ByStatus: map[string]uint64{}, Earned: map[string]int64{"JPY": 1000, "BHD": 1000}}}
	r := analytics.Range{From: time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2025, 3, 2, 0, 0, 0, 0, time.UTC), Interval: analytics.AnalyticsDay}
	var v dashView
	v.fill(r, func(string) string { return "" }, st, refs)
	kpi := map[string]string{}
	for _, k := range append(v.KPIs, v.RefTotals...) {
		kpi[k.ID] = k.Value
	}
	for id, want := range map[string]string{
		"earnings-JPY": "1,000 JPY", "earnings-BHD": "1.000 BHD", "earnings-RWF": "1,000 RWF", "earnings-CLF": "0.1234 CLF",
		"referrals-earned": "1.000 BHD, 1,000 JPY",
	} {
		if kpi[id] != want {
			t.Errorf("KPI %s = %q, want %q", id, kpi[id], want)
		}
	}
	exps := map[string]int{}
	for _, s := range v.Chart.Earnings {
		exps[s.Currency] = s.Exp
	}
	if want := map[string]int{"BHD": 3, "CLF": 4, "JPY": 0, "RWF": 0}; fmt.Sprint(exps) != fmt.Sprint(want) {
		t.Errorf("chart exponents %v, want %v", exps, want)
	}
}
