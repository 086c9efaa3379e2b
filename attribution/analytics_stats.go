package attribution

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
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
	for _, v := range Verdicts() {
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
	err = anParallel(ctx,
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
func (a *Analytics) statsClicks(ctx context.Context, partner string, fp *anFamPlan, mu *sync.Mutex, st *Stats, point func(uint64) *StatsCounts) error {
	iv := fp.r.Interval
	var q anSQL
	q.add("SELECT b, verdict, source, toUInt64(sum(n)) FROM (")
	a.union(&q, partner, fp, anParts{
		fam:      famClicks,
		aggSel:   func(tc string) string { return iv.sqlBucket(tc) + " AS b, verdict, source, toUInt64(sum(clicks)) AS n" },
		aggGroup: "b, verdict, source",
		rawCols:  "click_id, verdict, source",
		rawSel:   iv.sqlBucket("h") + " AS b, verdict, source, count() AS n",
		rawTail:  "GROUP BY b, verdict, source",
	})
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

// statsVisitors reads distinct visitors of valid clicks per bucket and over the range
// from HyperLogLog sketches, which duplicated rows cannot inflate: every hour and day
// reads the aggregates.
func (a *Analytics) statsVisitors(ctx context.Context, partner string, fp *anFamPlan, mu *sync.Mutex, st *Stats, point func(uint64) *StatsCounts) error {
	iv := fp.r.Interval
	var q anSQL
	q.add("SELECT b, toUInt64(uniqHLL12Merge(v)) FROM (")
	a.union(&q, partner, fp, anParts{
		fam:      famVisitors,
		aggSel:   func(tc string) string { return iv.sqlBucket(tc) + " AS b, visitors AS v" },
		aggGroup: "b, visitors",
	})
	q.add(") GROUP BY b WITH TOTALS")
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

// verdictSums sums clicks_dims' per-verdict columns v_<verdict> (in Verdicts() order)
// into n_<verdict>; verdictCountIfs computes n_<verdict> from raw rows; and
// verdictTotals sums the n_ columns of both.
var verdictSums, verdictCountIfs, verdictTotals = func() (sums, counts, totals string) {
	var s, c, t []string
	for _, v := range Verdicts() {
		s = append(s, "toUInt64(sum(v_"+v.String()+")) AS n_"+v.String())
		c = append(c, "countIf(verdict = '"+v.String()+"') AS n_"+v.String())
		t = append(t, "toUInt64(sum(n_"+v.String()+"))")
	}
	return strings.Join(s, ", "), strings.Join(c, ", "), strings.Join(t, ", ")
}()

// statsDims reads the top values of every click dimension, all sources merged before
// ranking.
func (a *Analytics) statsDims(ctx context.Context, partner string, fp *anFamPlan, top int) (map[string][]BreakdownRow, error) {
	var q anSQL
	q.add("SELECT dim, value, toUInt64(sum(n)) AS total, " + verdictTotals + " FROM (")
	a.union(&q, partner, fp, anParts{
		fam:      famClickDims,
		aggSel:   func(string) string { return "dim, value, toUInt64(sum(clicks)) AS n, " + verdictSums },
		aggGroup: "dim, value",
		rawCols:  "click_id, verdict, source, creative, sub_id, referer_host, device, browser, reasons",
		rawSel:   "d.1 AS dim, d.2 AS value, count() AS n, " + verdictCountIfs,
		rawTail:  "ARRAY JOIN " + clickDimsArray + " AS d GROUP BY dim, value",
	})
	q.add(") GROUP BY dim, value ORDER BY dim, total DESC, value LIMIT ? BY dim", top)
	verdicts := Verdicts()
	out := map[string][]BreakdownRow{}
	err := a.each(ctx, q, func(scan func(...any) error) error {
		var dim string
		row := BreakdownRow{ByVerdict: map[string]uint64{}}
		counts := make([]uint64, len(verdicts))
		dest := []any{&dim, &row.Key, &row.Clicks}
		for i := range counts {
			dest = append(dest, &counts[i])
		}
		if err := scan(dest...); err != nil {
			return err
		}
		for i, v := range verdicts {
			if counts[i] > 0 {
				row.ByVerdict[v.String()] = counts[i]
			}
		}
		row.Valid = counts[Valid]
		row.Flagged = row.Clicks - row.Valid
		if dim == "reason" {
			row.Text = ReasonText(row.Key)
		}
		out[dim] = append(out[dim], row)
		return nil
	})
	return out, err
}

// statsImpressionSeries reads impressions per bucket.
func (a *Analytics) statsImpressionSeries(ctx context.Context, partner string, fp *anFamPlan, mu *sync.Mutex, st *Stats, point func(uint64) *StatsCounts) error {
	iv := fp.r.Interval
	var q anSQL
	q.add("SELECT b, toUInt64(sum(n)) FROM (")
	a.union(&q, partner, fp, anParts{
		fam:      famImpressions,
		aggSel:   func(tc string) string { return iv.sqlBucket(tc) + " AS b, toUInt64(sum(impressions)) AS n" },
		aggGroup: "b",
		rawCols:  "impression_id",
		rawSel:   iv.sqlBucket("h") + " AS b, count() AS n",
		rawTail:  "GROUP BY b",
	})
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
func (a *Analytics) statsImpressionKeys(ctx context.Context, partner string, fp *anFamPlan) (impressionsByKey, error) {
	var q anSQL
	q.add("SELECT source, creative, size, toUInt64(sum(n)) AS total FROM (")
	a.union(&q, partner, fp, anParts{
		fam:      famImpressions,
		aggSel:   func(string) string { return "source, creative, size, toUInt64(sum(impressions)) AS n" },
		aggGroup: "source, creative, size",
		rawCols:  "impression_id, source, creative, size",
		rawSel:   "source, creative, size, count() AS n",
		rawTail:  "GROUP BY source, creative, size",
	})
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

// readConversions reads conversions per bucket, type, role and currency and calls fn
// per row.
func (a *Analytics) readConversions(ctx context.Context, partner string, fp *anFamPlan, fn func(convRow)) error {
	iv := fp.r.Interval
	var q anSQL
	q.add("SELECT b, type, role, currency, toUInt64(sum(n)), toInt64(sum(s)), toInt64(sum(x)) FROM (")
	a.union(&q, partner, fp, anParts{
		fam: famConversions,
		aggSel: func(tc string) string {
			return iv.sqlBucket(tc) + " AS b, type, role, currency, toUInt64(sum(events)) AS n, toInt64(sum(amount_sum)) AS s, toInt64(sum(amount_abs)) AS x"
		},
		aggGroup: "b, type, role, currency",
		rawCols:  "type, idempotency_key, event_id, role, currency, amount",
		rawSel:   iv.sqlBucket("h") + " AS b, type, role, currency, count() AS n, toInt64(sum(amount)) AS s, toInt64(sum(abs(amount))) AS x",
		rawTail:  "GROUP BY b, type, role, currency",
	})
	q.add(") GROUP BY b, type, role, currency")
	return a.each(ctx, q, func(scan func(...any) error) error {
		var c convRow
		if err := scan(&c.bucket, &c.typ, &c.role, &c.currency, &c.events, &c.amountSum, &c.amountAbs); err != nil {
			return err
		}
		fn(c)
		return nil
	})
}

// signedAmount is what a commission row adds to earnings: accruals add, reversals
// subtract their absolute amount (the ledger stores reversals negative; either sign reads
// the same).
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
func (a *Analytics) statsConversions(ctx context.Context, partner string, fp *anFamPlan, mu *sync.Mutex, st *Stats, point func(uint64) *StatsCounts) error {
	return a.readConversions(ctx, partner, fp, func(c convRow) {
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
