package dashboard

import (
	"html/template"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/refedge/refedge/attribution/analytics"
	"github.com/refedge/refedge/internal/currency"
)

var dashFuncs = template.FuncMap{}

// dashView is everything the dashboard template shows; every string is plain text that
// html/template escapes.
type dashView struct {
	Nonce, Partner, Builder, Materials, Links, Script, Style, Error string

	RangeLabel         string
	Ranges             []dashLink
	From, To, Interval string

	KPIs      []dashKPI
	Chart     dashChart
	Verdicts  []dashRow
	Reasons   []dashRow
	Tables    []dashTable
	Sizes     []dashRow
	Referrals []dashReferral
	RefTotals []dashKPI
	CSV       dashCSV
	HasData   bool
}

type dashLink struct {
	Label, Href string
	Active      bool
}

type dashKPI struct {
	Label, Value, Note, ID string
}

// dashRow is one breakdown row. Values hold the raw number for data-value attributes.
type dashRow struct {
	Key, Text, Code                            string
	Clicks, Valid, Flagged, Impressions, Share string
	ClicksN, ValidN, FlaggedN, ImpressionsN    uint64
	CTR                                        string
	Known                                      bool
}

type dashTable struct {
	Title, Dim, KeyLabel string
	Rows                 []dashRow
	Impressions          bool
}

type dashReferral struct {
	UserID, Status, Registered, Activated, Ended, Orders, Earned string
}

type dashCSV struct {
	Series, Breakdowns, Referrals, Earnings, Clicks string
}

// dashChart feeds dashboard.js through a JSON data block.
type dashChart struct {
	Interval    string           `json:"interval"`
	Labels      []string         `json:"labels"`
	Clicks      []uint64         `json:"clicks"`
	Valid       []uint64         `json:"valid"`
	Flagged     []uint64         `json:"flagged"`
	Impressions []uint64         `json:"impressions"`
	CTR         []float64        `json:"ctr"`
	Signups     []uint64         `json:"signups"`
	Activations []uint64         `json:"activations"`
	Earnings    []dashMoneySerie `json:"earnings"`
}

type dashMoneySerie struct {
	Currency string  `json:"currency"`
	Values   []int64 `json:"values"`
	// Exp is the currency's minor-unit exponent (currency.Exponent), so that
	// dashboard.js formats with the server's table and keeps none of its own.
	Exp int `json:"exp"`
}

var dashRanges = []struct{ label, rng, interval string }{
	{"24 hours", "24h", "hour"},
	{"7 days", "7d", "day"},
	{"30 days", "30d", "day"},
	{"90 days", "90d", "day"},
	{"12 months", "365d", "month"},
}

// tableDims are the breakdown tables after traffic quality, in display order.
var tableDims = []struct{ dim, title, key string }{
	{"source", "Sources", "Source"},
	{"creative", "Creatives", "Creative"},
	{"widget", "Widgets", "Widget"},
	{"banner", "Banners", "Banner"},
	{"sub_id", "Sub-IDs", "Sub-ID"},
	{"referer_host", "Referring sites", "Site"},
	{"device", "Devices", "Device"},
	{"browser", "Browsers", "Browser"},
}

func (v *dashView) fill(r analytics.Range, get func(string) string, st *analytics.Stats, refs *analytics.Referrals) {
	v.From, v.To, v.Interval = r.From.Format("2006-01-02"), r.To.Format("2006-01-02"), r.Interval.String()
	v.RangeLabel = r.From.Format("2 Jan 2006 15:04") + " – " + r.To.Format("2 Jan 2006 15:04") + " UTC, by " + r.Interval.String()
	cur := get("range")
	if cur == "" && get("from") == "" {
		cur = "30d"
	}
	for _, d := range dashRanges {
		v.Ranges = append(v.Ranges, dashLink{Label: d.label, Href: "/partner?range=" + d.rng + "&interval=" + d.interval, Active: cur == d.rng})
	}
	t := st.Totals
	v.HasData = t.Clicks > 0 || t.Impressions > 0 || t.Signups > 0 || len(t.Earnings) > 0
	v.KPIs = []dashKPI{
		{ID: "clicks", Label: "Clicks", Value: analytics.FormatCount(t.Clicks)},
		{ID: "valid", Label: "Valid clicks", Value: analytics.FormatCount(t.Valid), Note: analytics.FormatShare(t.Valid, t.Clicks) + " of clicks"},
		{ID: "flagged", Label: "Flagged", Value: analytics.FormatCount(t.Flagged), Note: analytics.FormatShare(t.Flagged, t.Clicks) + " of clicks"},
		{ID: "visitors", Label: "Unique visitors", Value: analytics.FormatCount(t.UniqueVisitors), Note: "among valid clicks"},
		{ID: "impressions", Label: "Impressions", Value: analytics.FormatCount(t.Impressions)},
		{ID: "ctr", Label: "CTR", Value: analytics.FormatPercent(t.CTR), Note: "widget and banner clicks per view"},
		{ID: "signups", Label: "Signups", Value: analytics.FormatCount(t.Signups)},
		{ID: "activations", Label: "Activations", Value: analytics.FormatCount(t.Activations)},
	}
	for _, c := range sortedKeys(t.Earnings) {
		v.KPIs = append(v.KPIs, dashKPI{ID: "earnings-" + c, Label: "Earnings, " + c, Value: analytics.FormatMoney(t.Earnings[c], c), Note: "accrued minus reversed"})
	}
	if len(t.Earnings) == 0 {
		v.KPIs = append(v.KPIs, dashKPI{ID: "earnings", Label: "Earnings", Value: "0"})
	}

	ch := &v.Chart
	ch.Interval = r.Interval.String()
	curs := sortedKeys(t.Earnings)
	for _, c := range curs {
		ch.Earnings = append(ch.Earnings, dashMoneySerie{Currency: c, Exp: currency.Exponent(c)})
	}
	for _, p := range st.Series {
		ch.Labels = append(ch.Labels, bucketLabel(p.T, r.Interval))
		ch.Clicks = append(ch.Clicks, p.Clicks)
		ch.Valid = append(ch.Valid, p.Valid)
		ch.Flagged = append(ch.Flagged, p.Flagged)
		ch.Impressions = append(ch.Impressions, p.Impressions)
		ch.CTR = append(ch.CTR, p.CTR)
		ch.Signups = append(ch.Signups, p.Signups)
		ch.Activations = append(ch.Activations, p.Activations)
		for i, c := range curs {
			ch.Earnings[i].Values = append(ch.Earnings[i].Values, p.Earnings[c])
		}
	}

	for _, b := range st.Breakdowns["verdict"] {
		row := newDashRow(b, t.Clicks)
		row.Known = b.Text != b.Key
		v.Verdicts = append(v.Verdicts, row)
	}
	for _, b := range st.Breakdowns["reason"] {
		row := newDashRow(b, t.Clicks)
		row.Code = b.Key
		row.Known = b.Text != b.Key
		v.Reasons = append(v.Reasons, row)
	}
	for _, d := range tableDims {
		tab := dashTable{Title: d.title, Dim: d.dim, KeyLabel: d.key, Impressions: d.dim == "source" || d.dim == "creative" || d.dim == "widget" || d.dim == "banner"}
		for _, b := range st.Breakdowns[d.dim] {
			tab.Rows = append(tab.Rows, newDashRow(b, t.Clicks))
		}
		if len(tab.Rows) > 0 {
			v.Tables = append(v.Tables, tab)
		}
	}
	for _, b := range st.Breakdowns["size"] {
		v.Sizes = append(v.Sizes, newDashRow(b, t.Clicks))
	}

	for _, x := range refs.Referrals {
		v.Referrals = append(v.Referrals, dashReferral{
			UserID: x.UserID, Status: x.Status, Registered: analytics.FormatDate(x.RegisteredAt), Activated: analytics.FormatDate(x.ActivatedAt),
			Ended: analytics.FormatDate(x.EndedAt), Orders: analytics.FormatCount(x.Orders), Earned: analytics.FormatMoneyMap(x.Earned),
		})
	}
	v.RefTotals = append(v.RefTotals, dashKPI{ID: "referrals", Label: "Referrals", Value: analytics.FormatCount(refs.Totals.Referrals)})
	for _, s := range analytics.ReferralStatuses {
		v.RefTotals = append(v.RefTotals, dashKPI{ID: "referrals-" + s, Label: strings.ToUpper(s[:1]) + s[1:], Value: analytics.FormatCount(refs.Totals.ByStatus[s])})
	}
	v.RefTotals = append(v.RefTotals, dashKPI{ID: "referrals-earned", Label: "Earned", Value: analytics.FormatMoneyMap(refs.Totals.Earned)})

	q := url.Values{"from": {r.From.Format(time.RFC3339)}, "to": {r.To.Format(time.RFC3339)}, "interval": {r.Interval.String()}, "format": {"csv"}}
	v.CSV.Series = "/api/v1/stats?" + q.Encode()
	q.Set("part", "breakdowns")
	v.CSV.Breakdowns = "/api/v1/stats?" + q.Encode()
	q.Del("part")
	v.CSV.Earnings = "/api/v1/earnings?" + q.Encode()
	v.CSV.Clicks = "/api/v1/clicks?" + q.Encode() + "&verdict=flagged&limit=1000"
	v.CSV.Referrals = "/api/v1/referrals?format=csv"
}

func newDashRow(b analytics.BreakdownRow, total uint64) dashRow {
	row := dashRow{
		Key: b.Key, Text: b.Text,
		Clicks: analytics.FormatCount(b.Clicks), Valid: analytics.FormatCount(b.Valid), Flagged: analytics.FormatCount(b.Flagged), Impressions: analytics.FormatCount(b.Impressions),
		ClicksN: b.Clicks, ValidN: b.Valid, FlaggedN: b.Flagged, ImpressionsN: b.Impressions,
		Share: analytics.FormatShare(b.Clicks, total),
	}
	if b.Impressions > 0 {
		row.CTR = analytics.FormatPercent(float64(b.Valid) / float64(b.Impressions))
	}
	if row.Key == "" {
		row.Key = "(none)"
	}
	return row
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func bucketLabel(t time.Time, iv analytics.Interval) string {
	switch iv {
	case analytics.AnalyticsMonth:
		return t.Format("Jan 2006")
	case analytics.AnalyticsDay:
		return t.Format("2 Jan")
	}
	return t.Format("2 Jan 15:04")
}
