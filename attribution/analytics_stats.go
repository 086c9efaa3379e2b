package attribution

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"
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
	// device, browser, verdict, reason (with plain-language text), size (impressions by
	// banner size). Country needs a GeoIP database and is not recorded yet.
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
	// Signups counts referrals attributed; Activations referrals that became active.
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
	Text        string            `json:"text,omitempty"`
	Clicks      uint64            `json:"clicks"`
	Valid       uint64            `json:"valid"`
	Flagged     uint64            `json:"flagged"`
	ByVerdict   map[string]uint64 `json:"by_verdict,omitempty"`
	Impressions uint64            `json:"impressions,omitempty"`
}

// StatsMeta tells how the answer was computed.
type StatsMeta struct {
	// RawHours counts partner-hours read from raw rows (no seal vouched for the
	// aggregate), per aggregate; the rest came from aggregates.
	RawHours map[string]int `json:"raw_hours"`
	// Top is the breakdown row limit used.
	Top int `json:"top"`
}

// StatsQuery selects what Stats computes.
type StatsQuery struct {
	Range AnalyticsRange
	// Top is the number of rows per breakdown; 0 means the configured default.
	Top int
}

// Breakdown dimensions of clicks, in display order.
var clickDims = []string{"source", "creative", "widget", "banner", "sub_id", "referer_host", "device", "browser", "reason"}

// clickDimsArray is the ARRAY JOIN list of the clicks_dims_hourly view (0003_analytics.sql).
const clickDimsArray = `arrayConcat(
    [('source', source), ('creative', creative), ('sub_id', sub_id),
     ('referer_host', referer_host), ('device', device), ('browser', browser)],
    arrayFilter(x -> source = 'widget', [('widget', creative)]),
    arrayFilter(x -> source = 'banner', [('banner', creative)]),
    arrayMap(r -> ('reason', r), reasons))`

// Conversion types the ledger writes (DESIGN.md "Kafka topics").
const (
	convAttributed = "attribution.attributed"
	convActivated  = "attribution.activated"
	convDetached   = "attribution.detached"
	convExpired    = "attribution.expired"
	convAccrued    = "commission.accrued"
	convReversed   = "commission.reversed"
)

// Stats computes partner's figures for q.
func (a *Analytics) Stats(ctx context.Context, partner string, q StatsQuery) (*Stats, error) {
	if q.Top <= 0 {
		q.Top = a.cfg.TopN
	}
	r := q.Range
	plan, err := a.plan(ctx, partner, r, aggClicks, aggClickDims, aggImpressions, aggConversions)
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
	for _, v := range Verdicts() {
		st.Totals.ByVerdict[v.String()] = 0
	}
	st.Totals.Earnings = map[string]int64{}
	for i, b := range buckets {
		idx[b.Unix()] = i
		st.Series[i] = StatsPoint{T: b, StatsCounts: StatsCounts{Earnings: map[string]int64{}}}
	}
	for _, g := range []*anAgg{aggClicks, aggClickDims, aggImpressions, aggConversions} {
		st.Meta.RawHours[g.table] = plan.rawHours(g)
	}
	point := func(b uint64) *StatsCounts {
		if i, ok := idx[int64(b)]; ok {
			return &st.Series[i].StatsCounts
		}
		return nil
	}

	var mu sync.Mutex // guards st across the parallel readers below
	var dims map[string][]BreakdownRow
	var imps impressionsByKey
	err = anParallel(ctx,
		func(ctx context.Context) error { return a.statsClicks(ctx, partner, plan, &mu, st, point) },
		func(ctx context.Context) error { return a.statsVisitors(ctx, partner, r, &mu, st, point) },
		func(ctx context.Context) (err error) { dims, err = a.statsDims(ctx, partner, plan, q.Top); return err },
		func(ctx context.Context) error { return a.statsImpressionSeries(ctx, partner, plan, &mu, st, point) },
		func(ctx context.Context) (err error) {
			imps, err = a.statsImpressionKeys(ctx, partner, plan)
			return err
		},
		func(ctx context.Context) error { return a.statsConversions(ctx, partner, plan, &mu, st, point) },
	)
	if err != nil {
		return nil, err
	}
	for i := range st.Series {
		finishCounts(&st.Series[i].StatsCounts)
	}
	finishCounts(&st.Totals.StatsCounts)
	st.Breakdowns = buildBreakdowns(dims, imps, st.Totals.ByVerdict, q.Top)
	return st, nil
}

func finishCounts(c *StatsCounts) {
	c.Flagged = c.Clicks - c.Valid
	if c.Impressions > 0 {
		c.CTR = float64(c.EmbedClicks) / float64(c.Impressions)
	}
}

// statsClicks reads clicks per bucket, verdict and source.
func (a *Analytics) statsClicks(ctx context.Context, partner string, p *anPlan, mu *sync.Mutex, st *Stats, point func(uint64) *StatsCounts) error {
	iv := p.r.Interval
	var q anSQL
	q.add("SELECT b, verdict, source, toUInt64(sum(n)) FROM (")
	parts := 0
	var aq anSQL
	aq.add("SELECT " + iv.sqlBucket("hour") + " AS b, verdict, source, toUInt64(sum(clicks)) AS n FROM " + a.t(aggClicks.table))
	if aq.aggWhere(partner, p, aggClicks, a.cfg.MaxRawIntervals) {
		aq.add(" GROUP BY b, verdict, source")
		q.add(aq.String(), aq.args...)
		parts++
	}
	var rq anSQL
	rq.add("SELECT " + iv.sqlBucket("h") + " AS b, verdict, source, count() AS n FROM (SELECT click_id, toStartOfHour(ts, 'UTC') AS h, verdict, source FROM " + a.t("clicks"))
	if rq.rawWhere(partner, p, aggClicks, a.cfg.MaxRawIntervals) {
		rq.add(" LIMIT 1 BY click_id) GROUP BY b, verdict, source")
		if parts > 0 {
			q.add(" UNION ALL ")
		}
		q.add(rq.String(), rq.args...)
	}
	q.add(") GROUP BY b, verdict, source")
	return a.each(ctx, q, func(scan func(...any) error) error {
		var (
			b               uint64
			verdict, source string
			n               uint64
		)
		if err := scan(&b, &verdict, &source, &n); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		for _, c := range []*StatsCounts{point(b), &st.Totals.StatsCounts} {
			if c == nil {
				continue
			}
			c.Clicks += n
			if verdict == "valid" {
				c.Valid += n
				if source == SourceWidget || source == SourceBanner {
					c.EmbedClicks += n
				}
			}
		}
		st.Totals.ByVerdict[verdict] += n
		return nil
	})
}

// statsVisitors reads distinct visitors of valid clicks per bucket and over the range.
// The uniq state ignores duplicated rows, so every hour reads the aggregate.
func (a *Analytics) statsVisitors(ctx context.Context, partner string, r AnalyticsRange, mu *sync.Mutex, st *Stats, point func(uint64) *StatsCounts) error {
	var q anSQL
	q.add("SELECT "+r.Interval.sqlBucket("hour")+" AS b, toUInt64(uniqMergeIf(visitors, verdict = 'valid')) FROM "+a.t(aggClicks.table)+
		" WHERE partner_id = ? AND hour >= ? AND hour < ? GROUP BY b WITH TOTALS", partner, r.From, r.To)
	qctx, cancel := a.queryCtx(ctx)
	defer cancel()
	rows, err := a.conn.Query(qctx, q.String(), q.args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var b, n uint64
		if err := rows.Scan(&b, &n); err != nil {
			return err
		}
		mu.Lock()
		if c := point(b); c != nil {
			c.UniqueVisitors = n
		}
		mu.Unlock()
	}
	if err := rows.Err(); err != nil {
		return err
	}
	var b, n uint64
	if err := rows.Totals(&b, &n); err == nil {
		mu.Lock()
		st.Totals.UniqueVisitors = n
		mu.Unlock()
	}
	return nil
}

// dimRow is one (dimension, value) with clicks per verdict.
type dimRow struct {
	dim, value string
	verdicts   []string
	counts     []uint64
	total      uint64
}

// statsDims reads the top values of every click dimension, aggregate and raw parts
// merged before ranking.
func (a *Analytics) statsDims(ctx context.Context, partner string, p *anPlan, top int) (map[string][]BreakdownRow, error) {
	var q anSQL
	q.add("SELECT dim, value, groupArray(verdict), groupArray(n), toUInt64(sum(n)) AS total FROM (SELECT dim, value, verdict, toUInt64(sum(n)) AS n FROM (")
	parts := 0
	var aq anSQL
	aq.add("SELECT dim, value, verdict, toUInt64(sum(clicks)) AS n FROM " + a.t(aggClickDims.table))
	if aq.aggWhere(partner, p, aggClickDims, a.cfg.MaxRawIntervals) {
		aq.add(" GROUP BY dim, value, verdict")
		q.add(aq.String(), aq.args...)
		parts++
	}
	var rq anSQL
	rq.add("SELECT d.1 AS dim, d.2 AS value, verdict, count() AS n FROM (SELECT click_id, verdict, source, creative, sub_id, referer_host, device, browser, reasons FROM " + a.t("clicks"))
	if rq.rawWhere(partner, p, aggClickDims, a.cfg.MaxRawIntervals) {
		rq.add(" LIMIT 1 BY click_id) ARRAY JOIN " + clickDimsArray + " AS d GROUP BY dim, value, verdict")
		if parts > 0 {
			q.add(" UNION ALL ")
		}
		q.add(rq.String(), rq.args...)
	}
	q.add(") GROUP BY dim, value, verdict) GROUP BY dim, value ORDER BY dim, total DESC, value LIMIT ? BY dim", top)
	out := map[string][]BreakdownRow{}
	err := a.each(ctx, q, func(scan func(...any) error) error {
		var d dimRow
		if err := scan(&d.dim, &d.value, &d.verdicts, &d.counts, &d.total); err != nil {
			return err
		}
		row := BreakdownRow{Key: d.value, Clicks: d.total, ByVerdict: map[string]uint64{}}
		for i, v := range d.verdicts {
			row.ByVerdict[v] += d.counts[i]
			if v == "valid" {
				row.Valid += d.counts[i]
			}
		}
		row.Flagged = row.Clicks - row.Valid
		if d.dim == "reason" {
			row.Text = ReasonText(d.value)
		}
		out[d.dim] = append(out[d.dim], row)
		return nil
	})
	return out, err
}

// statsImpressionSeries reads impressions per bucket.
func (a *Analytics) statsImpressionSeries(ctx context.Context, partner string, p *anPlan, mu *sync.Mutex, st *Stats, point func(uint64) *StatsCounts) error {
	iv := p.r.Interval
	var q anSQL
	q.add("SELECT b, toUInt64(sum(n)) FROM (")
	parts := 0
	var aq anSQL
	aq.add("SELECT " + iv.sqlBucket("hour") + " AS b, toUInt64(sum(impressions)) AS n FROM " + a.t(aggImpressions.table))
	if aq.aggWhere(partner, p, aggImpressions, a.cfg.MaxRawIntervals) {
		aq.add(" GROUP BY b")
		q.add(aq.String(), aq.args...)
		parts++
	}
	var rq anSQL
	rq.add("SELECT " + iv.sqlBucket("h") + " AS b, count() AS n FROM (SELECT impression_id, toStartOfHour(ts, 'UTC') AS h FROM " + a.t("impressions"))
	if rq.rawWhere(partner, p, aggImpressions, a.cfg.MaxRawIntervals) {
		rq.add(" LIMIT 1 BY impression_id) GROUP BY b")
		if parts > 0 {
			q.add(" UNION ALL ")
		}
		q.add(rq.String(), rq.args...)
	}
	q.add(") GROUP BY b")
	return a.each(ctx, q, func(scan func(...any) error) error {
		var b, n uint64
		if err := scan(&b, &n); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if c := point(b); c != nil {
			c.Impressions += n
		}
		st.Totals.Impressions += n
		return nil
	})
}

// impressionsByKey holds impressions per (source, creative, size).
type impressionsByKey map[[3]string]uint64

// maxImpressionKeys caps distinct (source, creative, size) read for breakdowns.
const maxImpressionKeys = 5000

// statsImpressionKeys reads impressions per source, creative and size over the range.
func (a *Analytics) statsImpressionKeys(ctx context.Context, partner string, p *anPlan) (impressionsByKey, error) {
	var q anSQL
	q.add("SELECT source, creative, size, toUInt64(sum(n)) AS total FROM (")
	parts := 0
	var aq anSQL
	aq.add("SELECT source, creative, size, toUInt64(sum(impressions)) AS n FROM " + a.t(aggImpressions.table))
	if aq.aggWhere(partner, p, aggImpressions, a.cfg.MaxRawIntervals) {
		aq.add(" GROUP BY source, creative, size")
		q.add(aq.String(), aq.args...)
		parts++
	}
	var rq anSQL
	rq.add("SELECT source, creative, size, count() AS n FROM (SELECT impression_id, source, creative, size FROM " + a.t("impressions"))
	if rq.rawWhere(partner, p, aggImpressions, a.cfg.MaxRawIntervals) {
		rq.add(" LIMIT 1 BY impression_id) GROUP BY source, creative, size")
		if parts > 0 {
			q.add(" UNION ALL ")
		}
		q.add(rq.String(), rq.args...)
	}
	q.add(") GROUP BY source, creative, size ORDER BY total DESC LIMIT ?", maxImpressionKeys)
	out := impressionsByKey{}
	err := a.each(ctx, q, func(scan func(...any) error) error {
		var k [3]string
		var n uint64
		if err := scan(&k[0], &k[1], &k[2], &n); err != nil {
			return err
		}
		out[k] += n
		return nil
	})
	return out, err
}

// convRow is one (bucket, type, role, currency) of conversions.
type convRow struct {
	bucket               uint64
	typ, role, currency  string
	events               uint64
	amountSum, amountAbs int64
}

// conversionsQuery builds the per-bucket conversions query over p.
func (a *Analytics) conversionsQuery(partner string, p *anPlan) anSQL {
	iv := p.r.Interval
	var q anSQL
	q.add("SELECT b, type, role, currency, toUInt64(sum(n)), toInt64(sum(s)), toInt64(sum(x)) FROM (")
	parts := 0
	var aq anSQL
	aq.add("SELECT " + iv.sqlBucket("hour") + " AS b, type, role, currency, toUInt64(sum(events)) AS n, toInt64(sum(amount_sum)) AS s, toInt64(sum(amount_abs)) AS x FROM " + a.t(aggConversions.table))
	if aq.aggWhere(partner, p, aggConversions, a.cfg.MaxRawIntervals) {
		aq.add(" GROUP BY b, type, role, currency")
		q.add(aq.String(), aq.args...)
		parts++
	}
	var rq anSQL
	rq.add("SELECT " + iv.sqlBucket("h") + " AS b, type, role, currency, count() AS n, toInt64(sum(amount)) AS s, toInt64(sum(abs(amount))) AS x FROM (SELECT " +
		factConversions.id + " AS k, toStartOfHour(ts, 'UTC') AS h, type, role, currency, amount FROM " + a.t("conversions"))
	if rq.rawWhere(partner, p, aggConversions, a.cfg.MaxRawIntervals) {
		rq.add(" LIMIT 1 BY k) GROUP BY b, type, role, currency")
		if parts > 0 {
			q.add(" UNION ALL ")
		}
		q.add(rq.String(), rq.args...)
	}
	q.add(") GROUP BY b, type, role, currency")
	return q
}

// readConversions runs conversionsQuery and calls fn per row.
func (a *Analytics) readConversions(ctx context.Context, partner string, p *anPlan, fn func(convRow)) error {
	return a.each(ctx, a.conversionsQuery(partner, p), func(scan func(...any) error) error {
		var c convRow
		if err := scan(&c.bucket, &c.typ, &c.role, &c.currency, &c.events, &c.amountSum, &c.amountAbs); err != nil {
			return err
		}
		fn(c)
		return nil
	})
}

// signedAmount is what a commission row adds to earnings: accruals add, reversals
// subtract their absolute amount (the ledger repeats the accrual's positive amounts).
func (c convRow) signedAmount() int64 {
	switch c.typ {
	case convAccrued:
		return c.amountSum
	case convReversed:
		return -c.amountAbs
	}
	return 0
}

// statsConversions reads signups, activations and earnings per bucket.
func (a *Analytics) statsConversions(ctx context.Context, partner string, p *anPlan, mu *sync.Mutex, st *Stats, point func(uint64) *StatsCounts) error {
	return a.readConversions(ctx, partner, p, func(c convRow) {
		mu.Lock()
		defer mu.Unlock()
		for _, s := range []*StatsCounts{point(c.bucket), &st.Totals.StatsCounts} {
			if s == nil {
				continue
			}
			switch c.typ {
			case convAttributed:
				s.Signups += c.events
			case convActivated:
				s.Activations += c.events
			case convAccrued, convReversed:
				if c.currency != "" {
					s.Earnings[c.currency] += c.signedAmount()
				}
			}
		}
	})
}

// buildBreakdowns orders click dimensions, adds impressions to creatives, widgets and
// banners, and adds the verdict and size breakdowns.
func buildBreakdowns(dims map[string][]BreakdownRow, imps impressionsByKey, byVerdict map[string]uint64, top int) map[string][]BreakdownRow {
	out := map[string][]BreakdownRow{}
	impBy := func(match func(k [3]string) bool, key func(k [3]string) string) map[string]uint64 {
		m := map[string]uint64{}
		for k, n := range imps {
			if match(k) {
				m[key(k)] += n
			}
		}
		return m
	}
	all := func([3]string) bool { return true }
	creative := func(k [3]string) string { return k[1] }
	impByDim := map[string]map[string]uint64{
		"source":   impBy(all, func(k [3]string) string { return k[0] }),
		"creative": impBy(all, creative),
		"widget":   impBy(func(k [3]string) bool { return k[0] == SourceWidget }, creative),
		"banner":   impBy(func(k [3]string) bool { return k[0] == SourceBanner }, creative),
	}
	for _, d := range clickDims {
		rows := dims[d]
		if rows == nil {
			rows = []BreakdownRow{}
		}
		if m := impByDim[d]; m != nil {
			seen := map[string]bool{}
			for i := range rows {
				rows[i].Impressions = m[rows[i].Key]
				seen[rows[i].Key] = true
			}
			// Values with impressions and no click yet still belong in the table.
			var extra []BreakdownRow
			for k, n := range m {
				if !seen[k] {
					extra = append(extra, BreakdownRow{Key: k, Impressions: n})
				}
			}
			sort.Slice(extra, func(i, j int) bool {
				if extra[i].Impressions != extra[j].Impressions {
					return extra[i].Impressions > extra[j].Impressions
				}
				return extra[i].Key < extra[j].Key
			})
			for _, e := range extra {
				if len(rows) >= top {
					break
				}
				rows = append(rows, e)
			}
		}
		out[d] = rows
	}
	verdicts := []BreakdownRow{}
	for v, n := range byVerdict {
		if n == 0 {
			continue
		}
		row := BreakdownRow{Key: v, Text: VerdictText(v), Clicks: n}
		if v == "valid" {
			row.Valid = n
		} else {
			row.Flagged = n
		}
		verdicts = append(verdicts, row)
	}
	sortRows(verdicts)
	out["verdict"] = verdicts
	sizes := []BreakdownRow{}
	for k, n := range impBy(func(k [3]string) bool { return k[2] != "" }, func(k [3]string) string { return k[2] }) {
		sizes = append(sizes, BreakdownRow{Key: k, Impressions: n})
	}
	sort.Slice(sizes, func(i, j int) bool {
		if sizes[i].Impressions != sizes[j].Impressions {
			return sizes[i].Impressions > sizes[j].Impressions
		}
		return sizes[i].Key < sizes[j].Key
	})
	if len(sizes) > top {
		sizes = sizes[:top]
	}
	out["size"] = sizes
	return out
}

func sortRows(rows []BreakdownRow) {
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Clicks != rows[j].Clicks {
			return rows[i].Clicks > rows[j].Clicks
		}
		return rows[i].Key < rows[j].Key
	})
}

// each runs q with the request deadline and calls fn for every row.
func (a *Analytics) each(ctx context.Context, q anSQL, fn func(scan func(...any) error) error) error {
	qctx, cancel := a.queryCtx(ctx)
	defer cancel()
	rows, err := a.conn.Query(qctx, q.String(), q.args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

// anParallel runs fns at once and returns the first error; the others are cancelled.
func anParallel(ctx context.Context, fns ...func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Go(func() {
			if errs[i] = fn(ctx); errs[i] != nil {
				cancel()
			}
		})
	}
	wg.Wait()
	var first error
	for _, err := range errs {
		if err != nil && (first == nil || errors.Is(first, context.Canceled)) {
			first = err
		}
	}
	if first != nil {
		return fmt.Errorf("analytics query failed: %w", first)
	}
	return nil
}
