package analytics

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/refedge/refedge/attribution/event"
)

// Stats is the answer of GET /api/v1/stats.
type Stats struct {
	PartnerID string       `json:"partner_id"`
	From      time.Time    `json:"from"`
	To        time.Time    `json:"to"`
	Interval  string       `json:"interval"`
	Timezone  string       `json:"timezone"`
	Totals    StatsTotals  `json:"totals"`
	Series    []StatsPoint `json:"series"`
	// Breakdowns, top rows first: source, creative, widget, banner, sub_id, referer_host,
	// device, browser, country (ISO 3166-1 alpha-2, "" unknown), network (AS number, "0"
	// unknown, with the AS's name), verdict, reason (with plain-language text), size
	// (impressions by banner size). Country and network end with an "other" row summing
	// the values below the top (OtherDims).
	Breakdowns map[string][]BreakdownRow `json:"breakdowns"`
	Meta       StatsMeta                 `json:"meta"`
}

// StatsCounts are the figures of a bucket or of the whole range.
type StatsCounts struct {
	// Clicks counts every recorded click; Valid those that may attribute; Flagged the rest.
	Clicks  uint64 `json:"clicks"`
	Valid   uint64 `json:"valid"`
	Flagged uint64 `json:"flagged"`
	// UniqueVisitors estimates distinct visitors (rfe_vid) among valid clicks.
	UniqueVisitors uint64 `json:"unique_visitors"`
	// Impressions counts widget and banner views.
	Impressions uint64 `json:"impressions"`
	// EmbedClicks counts valid clicks from widgets and banners; CTR = EmbedClicks /
	// Impressions (0 without impressions).
	EmbedClicks uint64  `json:"embed_clicks"`
	CTR         float64 `json:"ctr"`
	// Signups counts referrals attributed; Activations referrals that became active,
	// each once, in the bucket of its (earliest) activation.
	Signups     uint64 `json:"signups"`
	Activations uint64 `json:"activations"`
	// Earnings is commission accrued minus reversed, per currency, in minor units.
	Earnings map[string]int64 `json:"earnings"`
}

// StatsTotals are the range's figures plus clicks per verdict.
type StatsTotals struct {
	StatsCounts
	ByVerdict map[string]uint64 `json:"by_verdict"`
}

// StatsPoint is one bucket of the series; T is its start.
type StatsPoint struct {
	T time.Time `json:"t"`
	StatsCounts
}

// BreakdownRow is one value of a breakdown dimension.
type BreakdownRow struct {
	Key string `json:"key"`
	// Text explains a reason or verdict in plain language.
	Text string `json:"text,omitempty"`
	// Name is a network's organisation, from the ASN data loaded now ("" when unknown).
	Name        string            `json:"name,omitempty"`
	Clicks      uint64            `json:"clicks"`
	Valid       uint64            `json:"valid"`
	Flagged     uint64            `json:"flagged"`
	ByVerdict   map[string]uint64 `json:"by_verdict,omitempty"`
	Impressions uint64            `json:"impressions,omitempty"`
}

// StatsMeta tells how the answer was computed.
type StatsMeta struct {
	// RawHours counts hours read from raw rows (no seal vouched for the aggregate), per
	// aggregate family; AggregateDays the runs of whole days read from daily tables. The
	// rest came from hourly tables.
	RawHours      map[string]int `json:"raw_hours"`
	AggregateDays map[string]int `json:"aggregate_day_runs"`
	// Top is the breakdown row limit used.
	Top int `json:"top"`
}

// StatsQuery selects what Stats computes.
type StatsQuery struct {
	Range Range
	// Top is the number of rows per breakdown; 0 means the configured default.
	Top int
}

// Breakdown dimensions of clicks, in display order.
var ClickDims = []string{"source", "creative", "widget", "banner", "sub_id", "referer_host", "device", "browser", "country", "network", "reason"}

// clickDimsCols are the raw columns clickDimsArray reads.
const clickDimsCols = "source, creative, sub_id, referer_host, device, browser, country, asn, reasons"

// clickDimsArray is the ARRAY JOIN list of the breakdowns: one (dimension, value) per
// click and dimension, one per reason. The sealer builds clicks_dims_*_built with it
// (build.go) and the raw read path uses it for hours no build vouches for.
const clickDimsArray = `arrayConcat(
    [('source', source), ('creative', creative), ('sub_id', sub_id),
     ('referer_host', referer_host), ('device', device), ('browser', browser),
     ('country', country), ('network', toString(asn))],
    arrayFilter(x -> source = 'widget', [('widget', creative)]),
    arrayFilter(x -> source = 'banner', [('banner', creative)]),
    arrayMap(r -> ('reason', r), reasons))`

// Conversion types the ledger writes (docs/commissions.md "Event contract").
const (
	ConvAttributed = "attribution.attributed"
	ConvActivated  = "attribution.activated"
	ConvDetached   = "attribution.detached"
	ConvExpired    = "attribution.expired"
	ConvAccrued    = "commission.accrued"
	ConvReversed   = "commission.reversed"
)

// Stats computes partner's figures for q.
func (a *Analytics) Stats(ctx context.Context, partner string, q StatsQuery) (*Stats, error) {
	if q.Top <= 0 {
		q.Top = a.Cfg.TopN
	}
	r := q.Range
	series := r.Interval != AnalyticsHour // day and month buckets may read daily tables
	plan, err := a.plan(ctx, partner, r,
		anReq{famClicks, series}, anReq{famClickDims, true}, anReq{famImpressions, series},
		anReq{famImpressions, true}, anReq{famConversions, series}, anReq{famVisitors, series})
	if err != nil {
		return nil, err
	}
	buckets := r.Buckets()
	idx := make(map[int64]int, len(buckets))
	st := &Stats{
		PartnerID: partner, From: r.From, To: r.To, Interval: r.Interval.String(), Timezone: "UTC",
		Series:     make([]StatsPoint, len(buckets)),
		Breakdowns: map[string][]BreakdownRow{},
		Meta:       StatsMeta{RawHours: map[string]int{}, Top: q.Top},
	}
	st.Totals.ByVerdict = map[string]uint64{}
	for _, v := range event.Verdicts() {
		st.Totals.ByVerdict[v.String()] = 0
	}
	st.Totals.Earnings = map[string]int64{}
	for i, b := range buckets {
		idx[b.Unix()] = i
		st.Series[i] = StatsPoint{T: b, StatsCounts: StatsCounts{Earnings: map[string]int64{}}}
	}
	st.Meta.RawHours, st.Meta.AggregateDays = plan.meta()
	point := func(b uint64) *StatsCounts {
		if i, ok := idx[int64(b)]; ok {
			return &st.Series[i].StatsCounts
		}
		return nil
	}

	var mu sync.Mutex // guards st across the parallel readers below
	var dims map[string][]BreakdownRow
	var imps impressionsByKey
	err = Parallel(ctx,
		func(ctx context.Context) error {
			return a.statsClicks(ctx, partner, plan.get(famClicks, series), &mu, st, point)
		},
		func(ctx context.Context) error {
			return a.statsVisitors(ctx, partner, plan.get(famVisitors, series), &mu, st, point)
		},
		func(ctx context.Context) (err error) {
			dims, err = a.statsDims(ctx, partner, plan.get(famClickDims, true), q.Top)
			return err
		},
		func(ctx context.Context) error {
			return a.statsImpressionSeries(ctx, partner, plan.get(famImpressions, series), &mu, st, point)
		},
		func(ctx context.Context) (err error) {
			imps, err = a.statsImpressionKeys(ctx, partner, plan.get(famImpressions, true))
			return err
		},
		func(ctx context.Context) error {
			return a.statsConversions(ctx, partner, plan.get(famConversions, series), &mu, st, point)
		},
		func(ctx context.Context) error {
			return a.statsActivations(ctx, partner, r, &mu, st, point)
		},
	)
	if err != nil {
		return nil, err
	}
	for i := range st.Series {
		FinishCounts(&st.Series[i].StatsCounts)
	}
	FinishCounts(&st.Totals.StatsCounts)
	st.Breakdowns = BuildBreakdowns(dims, imps, st.Totals.ByVerdict, q.Top)
	if a.Cfg.ASName != nil {
		for i, row := range st.Breakdowns["network"] {
			if asn, err := strconv.ParseUint(row.Key, 10, 32); err == nil && asn != 0 {
				st.Breakdowns["network"][i].Name = a.Cfg.ASName(uint32(asn))
			}
		}
	}
	return st, nil
}

func FinishCounts(c *StatsCounts) {
	c.Flagged = c.Clicks - c.Valid
	if c.Impressions > 0 {
		c.CTR = float64(c.EmbedClicks) / float64(c.Impressions)
	}
}
