package dashboard

import (
	"net/url"
	"sort"
	"time"

	"github.com/refedge/refedge/attribution/analytics"
	"github.com/refedge/refedge/internal/currency"
	"github.com/refedge/refedge/internal/i18n"
	"github.com/refedge/refedge/internal/partnerui"
)

// dashView is everything the dashboard template shows; every string is plain text that
// html/template escapes. Words, numbers and money are in the language of UI's catalogue.
type dashView struct {
	UI                   partnerui.UI
	Script, Style, Error string

	// RangeFrom and RangeTo are the period's ends; RangeBy names its buckets.
	RangeFrom, RangeTo dashDate
	RangeBy            string
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

// dashRow is one breakdown row. Values hold the raw number for data-value attributes;
// Label is what the key cell shows (the key itself, or a country's or network's name).
type dashRow struct {
	Key, Label, Text, Code                     string
	Clicks, Valid, Flagged, Impressions, Share string
	ClicksN, ValidN, FlaggedN, ImpressionsN    uint64
	CTR                                        string
	Known                                      bool
}

type dashTable struct {
	Title, Dim, KeyLabel, Hint string
	Rows                       []dashRow
	Impressions                bool
}

type dashReferral struct {
	UserID, Status, StatusLabel, Orders, Earned string
	Registered, Activated, Ended                dashDate
}

// dashDate is a moment for a <time> element: ISO for its datetime (formatted in the
// page's language by the browser) and Text as written without script; ISO is empty
// when there is no date.
type dashDate struct{ ISO, Text string }

func newDashDate(t *time.Time, layout string) dashDate {
	if t == nil {
		return dashDate{}
	}
	return dashDate{ISO: t.UTC().Format(time.RFC3339), Text: t.UTC().Format(layout)}
}

type dashCSV struct {
	Series, Breakdowns, Referrals, Earnings, Clicks string
}

// dashChart feeds dashboard.js through a JSON data block. Labels are the buckets'
// starts (RFC 3339, UTC); the script writes them in the page's language.
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

// dashRanges are the period shortcuts; each is labelled by "dash.range.<rng>".
var dashRanges = []struct{ rng, interval string }{
	{"24h", "hour"},
	{"7d", "day"},
	{"30d", "day"},
	{"90d", "day"},
	{"365d", "month"},
}

// tableDims are the breakdown tables after traffic quality, in display order; each is
// titled "dash.table.<dim>" with the key column "dash.key.<dim>".
var tableDims = []string{"source", "creative", "widget", "banner", "sub_id", "referer_host", "device", "browser", "country", "network"}

// cat is the view's catalogue (English when UI has none).
func (v *dashView) cat() *i18n.Catalogue {
	if v.UI.Catalogue == nil {
		v.UI.Catalogue = i18n.For(i18n.Default)
	}
	return v.UI.Catalogue
}

func (v *dashView) fill(r analytics.Range, get func(string) string, st *analytics.Stats, refs *analytics.Referrals) {
	c := v.cat()
	count := func(n uint64) string { return c.Number(n) }
	share := func(n, total uint64) string {
		if total == 0 {
			return c.Percent(0)
		}
		return c.Percent(float64(n) / float64(total))
	}
	moneyMap := func(m map[string]int64) string {
		if len(m) == 0 {
			return c.Number(0)
		}
		out := ""
		for i, k := range sortedKeys(m) {
			if i > 0 {
				out += ", "
			}
			out += c.Money(m[k], k)
		}
		return out
	}
	v.From, v.To, v.Interval = r.From.Format("2006-01-02"), r.To.Format("2006-01-02"), r.Interval.String()
	from, to := r.From, r.To
	v.RangeFrom, v.RangeTo = newDashDate(&from, "2006-01-02 15:04"), newDashDate(&to, "2006-01-02 15:04")
	v.RangeBy = c.T("dash.range_by", "interval", c.T("dash.interval."+r.Interval.String()))
	cur := get("range")
	if cur == "" && get("from") == "" {
		cur = "30d"
	}
	for _, d := range dashRanges {
		v.Ranges = append(v.Ranges, dashLink{Label: c.T("dash.range." + d.rng), Href: "/partner?range=" + d.rng + "&interval=" + d.interval, Active: cur == d.rng})
	}
	t := st.Totals
	v.HasData = t.Clicks > 0 || t.Impressions > 0 || t.Signups > 0 || len(t.Earnings) > 0
	v.KPIs = []dashKPI{
		{ID: "clicks", Label: c.T("dash.kpi.clicks"), Value: count(t.Clicks)},
		{ID: "valid", Label: c.T("dash.kpi.valid"), Value: count(t.Valid), Note: c.T("dash.note.share", "share", share(t.Valid, t.Clicks))},
		{ID: "flagged", Label: c.T("dash.kpi.flagged"), Value: count(t.Flagged), Note: c.T("dash.note.share", "share", share(t.Flagged, t.Clicks))},
		{ID: "visitors", Label: c.T("dash.kpi.visitors"), Value: count(t.UniqueVisitors), Note: c.T("dash.note.visitors")},
		{ID: "impressions", Label: c.T("dash.kpi.impressions"), Value: count(t.Impressions)},
		{ID: "ctr", Label: c.T("dash.kpi.ctr"), Value: c.Percent(t.CTR), Note: c.T("dash.note.ctr")},
		{ID: "signups", Label: c.T("dash.kpi.signups"), Value: count(t.Signups)},
		{ID: "activations", Label: c.T("dash.kpi.activations"), Value: count(t.Activations)},
	}
	for _, k := range sortedKeys(t.Earnings) {
		v.KPIs = append(v.KPIs, dashKPI{ID: "earnings-" + k, Label: c.T("dash.kpi.earnings_in", "currency", k), Value: c.Money(t.Earnings[k], k), Note: c.T("dash.note.earnings")})
	}
	if len(t.Earnings) == 0 {
		v.KPIs = append(v.KPIs, dashKPI{ID: "earnings", Label: c.T("dash.kpi.earnings"), Value: c.Number(0)})
	}

	ch := &v.Chart
	ch.Interval = r.Interval.String()
	curs := sortedKeys(t.Earnings)
	for _, c := range curs {
		ch.Earnings = append(ch.Earnings, dashMoneySerie{Currency: c, Exp: currency.Exponent(c)})
	}
	for _, p := range st.Series {
		ch.Labels = append(ch.Labels, p.T.UTC().Format(time.RFC3339))
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

	unknownReason := c.T("reason.unknown")
	for _, b := range st.Breakdowns["verdict"] {
		row := newDashRow(c, b, t.Clicks)
		row.Known = c.Has("verdict." + b.Key)
		row.Text = c.Verdict(b.Key)
		v.Verdicts = append(v.Verdicts, row)
	}
	for _, b := range st.Breakdowns["reason"] {
		row := newDashRow(c, b, t.Clicks)
		row.Code = b.Key
		row.Text = c.Reason(b.Key)
		row.Known = row.Text != unknownReason
		v.Reasons = append(v.Reasons, row)
	}
	for _, d := range tableDims {
		tab := dashTable{Title: c.T("dash.table." + d), Dim: d, KeyLabel: c.T("dash.key." + d), Impressions: d == "source" || d == "creative" || d == "widget" || d == "banner"}
		if d == "network" {
			tab.Hint = c.T("dash.network_hint")
		}
		for _, b := range st.Breakdowns[d] {
			row := newDashRow(c, b, t.Clicks)
			if label := networkLabel(c, d, b); label != "" {
				row.Key, row.Label = b.Key, label
			}
			tab.Rows = append(tab.Rows, row)
		}
		if len(tab.Rows) > 0 {
			v.Tables = append(v.Tables, tab)
		}
	}
	for _, b := range st.Breakdowns["size"] {
		v.Sizes = append(v.Sizes, newDashRow(c, b, t.Clicks))
	}

	for _, x := range refs.Referrals {
		v.Referrals = append(v.Referrals, dashReferral{
			UserID: x.UserID, Status: x.Status, StatusLabel: c.T("dash.status." + x.Status),
			Registered: newDashDate(x.RegisteredAt, "2006-01-02"), Activated: newDashDate(x.ActivatedAt, "2006-01-02"),
			Ended: newDashDate(x.EndedAt, "2006-01-02"), Orders: count(x.Orders), Earned: moneyMap(x.Earned),
		})
	}
	v.RefTotals = append(v.RefTotals, dashKPI{ID: "referrals", Label: c.T("dash.ref.referrals"), Value: count(refs.Totals.Referrals)})
	for _, s := range analytics.ReferralStatuses {
		v.RefTotals = append(v.RefTotals, dashKPI{ID: "referrals-" + s, Label: c.T("dash.status." + s), Value: count(refs.Totals.ByStatus[s])})
	}
	v.RefTotals = append(v.RefTotals, dashKPI{ID: "referrals-earned", Label: c.T("dash.ref.earned"), Value: moneyMap(refs.Totals.Earned)})

	q := url.Values{"from": {r.From.Format(time.RFC3339)}, "to": {r.To.Format(time.RFC3339)}, "interval": {r.Interval.String()}, "format": {"csv"}}
	v.CSV.Series = "/api/v1/stats?" + q.Encode()
	q.Set("part", "breakdowns")
	v.CSV.Breakdowns = "/api/v1/stats?" + q.Encode()
	q.Del("part")
	v.CSV.Earnings = "/api/v1/earnings?" + q.Encode()
	v.CSV.Clicks = "/api/v1/clicks?" + q.Encode() + "&verdict=flagged&limit=1000"
	v.CSV.Referrals = "/api/v1/referrals?format=csv"
}

func newDashRow(c *i18n.Catalogue, b analytics.BreakdownRow, total uint64) dashRow {
	row := dashRow{
		Key: b.Key, Text: b.Text,
		Clicks: c.Number(b.Clicks), Valid: c.Number(b.Valid), Flagged: c.Number(b.Flagged), Impressions: c.Number(b.Impressions),
		ClicksN: b.Clicks, ValidN: b.Valid, FlaggedN: b.Flagged, ImpressionsN: b.Impressions,
		Share: c.Percent(0),
	}
	if total > 0 {
		row.Share = c.Percent(float64(b.Clicks) / float64(total))
	}
	if b.Impressions > 0 {
		row.CTR = c.Percent(float64(b.Valid) / float64(b.Impressions))
	}
	if row.Key == "" {
		row.Key = c.T("dash.key.none")
	}
	row.Label = row.Key
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
