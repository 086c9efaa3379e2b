package analytics

import (
	"context"
	"strings"
	"sync"

	"github.com/refedge/refedge/attribution/event"
)

// statsClicks reads clicks per bucket, verdict and source.
func (a *Analytics) statsClicks(ctx context.Context, partner string, fp *anFamPlan, mu *sync.Mutex, st *Stats, point func(uint64) *StatsCounts) error {
	iv := fp.r.Interval
	var q SQL
	q.Add("SELECT b, verdict, source, toUInt64(sum(n)) FROM (")
	a.union(&q, partner, fp, anParts{
		fam:      famClicks,
		aggSel:   func(tc string) string { return iv.sqlBucket(tc) + " AS b, verdict, source, toUInt64(sum(clicks)) AS n" },
		aggGroup: "b, verdict, source",
		rawCols:  "click_id, verdict, source",
		rawSel:   iv.sqlBucket("h") + " AS b, verdict, source, count() AS n",
		rawTail:  "GROUP BY b, verdict, source",
	})
	q.Add(") GROUP BY b, verdict, source")
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
				if source == event.SourceWidget || source == event.SourceBanner {
					c.EmbedClicks += n
				}
			}
		}
		st.Totals.ByVerdict[verdict] += n
		return nil
	})
}

// statsVisitors reads distinct visitors of valid clicks per bucket and over the range
// from HyperLogLog sketches: the sealer's builds for sealed hours and days, sketches of
// raw rows for the rest.
func (a *Analytics) statsVisitors(ctx context.Context, partner string, fp *anFamPlan, mu *sync.Mutex, st *Stats, point func(uint64) *StatsCounts) error {
	iv := fp.r.Interval
	var q SQL
	q.Add("SELECT b, toUInt64(uniqHLL12Merge(v)) FROM (")
	a.union(&q, partner, fp, anParts{
		fam:      famVisitors,
		aggSel:   func(tc string) string { return iv.sqlBucket(tc) + " AS b, visitors AS v" },
		aggGroup: "b, visitors",
		rawCols:  "verdict, visitor_id",
		rawSel:   iv.sqlBucket("h") + " AS b, uniqHLL12State(visitor_id) AS v",
		rawTail:  "WHERE verdict = 'valid' GROUP BY b",
		anyCopy:  true,
	})
	q.Add(") GROUP BY b WITH TOTALS")
	qctx, cancel := a.queryCtx(ctx)
	defer cancel()
	rows, err := a.Conn.Query(qctx, q.String(), q.args...)
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
// into n_<verdict>; verdictSumIfs computes n_<verdict> from counts c per verdict of raw
// rows; and verdictTotals sums the n_ columns of both.
var verdictSums, verdictSumIfs, verdictTotals = func() (sums, counts, totals string) {
	var s, c, t []string
	for _, v := range event.Verdicts() {
		s = append(s, "toUInt64(sum(v_"+v.String()+")) AS n_"+v.String())
		c = append(c, "toUInt64(sumIf(c, verdict = '"+v.String()+"')) AS n_"+v.String())
		t = append(t, "toUInt64(sum(n_"+v.String()+"))")
	}
	return strings.Join(s, ", "), strings.Join(c, ", "), strings.Join(t, ", ")
}()

// OtherDims are the click dimensions whose breakdown ends with an "other" row summing
// the values below the top ones, so that the rows add up to the clicks of the range: each
// click has exactly one country and one network (docs/analytics.md).
var OtherDims = map[string]bool{"country": true, "network": true}

// OtherKey is the key of the "other" row; no country code or AS number reads so.
const OtherKey = "other"

// statsDims reads the top values of every click dimension, all sources merged before
// ranking, and each dimension's sums over all its values (one pass over the rows: the
// values of a dimension are gathered into an array, sorted, and cut to top).
func (a *Analytics) statsDims(ctx context.Context, partner string, fp *anFamPlan, top int) (map[string][]BreakdownRow, error) {
	var q SQL
	q.Add("SELECT dim, t.1, t.2, t.3, dim_total, dim_counts FROM ("+
		"SELECT dim, arraySlice(arraySort(x -> (-toInt64(x.2), x.1), groupArray((value, total, counts))), 1, ?) AS top_rows, "+
		"toUInt64(sum(total)) AS dim_total, sumForEach(counts) AS dim_counts FROM ("+
		"SELECT dim, value, toUInt64(sum(n)) AS total, ["+verdictTotals+"] AS counts FROM (", top)
	a.union(&q, partner, fp, anParts{
		fam:      famClickDims,
		aggSel:   func(string) string { return "dim, value, toUInt64(sum(clicks)) AS n, " + verdictSums },
		aggGroup: "dim, value",
		rawCols:  "click_id, verdict, " + clickDimsCols,
		// Counted per (dimension, value, verdict) first, then pivoted into the verdict
		// columns: one count() per joined row instead of one countIf() per verdict.
		rawSel:  "dim, value, toUInt64(sum(c)) AS n, " + verdictSumIfs + " FROM (SELECT d.1 AS dim, d.2 AS value, verdict, count() AS c",
		rawTail: "ARRAY JOIN " + clickDimsArray + " AS d GROUP BY dim, value, verdict) GROUP BY dim, value",
	})
	q.Add(") GROUP BY dim, value) GROUP BY dim) ARRAY JOIN top_rows AS t")
	verdicts := event.Verdicts()
	out := map[string][]BreakdownRow{}
	rest := map[string]*BreakdownRow{}
	err := a.each(ctx, q, func(scan func(...any) error) error {
		var (
			dim, key          string
			clicks, dimTotal  uint64
			counts, dimCounts []uint64
		)
		if err := scan(&dim, &key, &clicks, &counts, &dimTotal, &dimCounts); err != nil {
			return err
		}
		row := verdictRow(key, clicks, counts, verdicts)
		if dim == "reason" {
			row.Text = ReasonText(row.Key)
		}
		out[dim] = append(out[dim], row)
		if OtherDims[dim] {
			r := rest[dim]
			if r == nil {
				o := verdictRow(OtherKey, dimTotal, dimCounts, verdicts)
				r = &o
				rest[dim] = r
			}
			r.Clicks -= row.Clicks
			for v, n := range row.ByVerdict {
				if r.ByVerdict[v] -= n; r.ByVerdict[v] == 0 {
					delete(r.ByVerdict, v)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for dim, rows := range out {
		sortRows(rows)
		if r := rest[dim]; r != nil && r.Clicks > 0 {
			r.Valid = r.ByVerdict[event.Valid.String()]
			r.Flagged = r.Clicks - r.Valid
			out[dim] = append(rows, *r)
		}
	}
	return out, nil
}

// verdictRow is a breakdown row of clicks with counts per verdict (in Verdicts() order).
func verdictRow(key string, clicks uint64, counts []uint64, verdicts []event.Verdict) BreakdownRow {
	row := BreakdownRow{Key: key, Clicks: clicks, ByVerdict: map[string]uint64{}}
	for i, v := range verdicts {
		if i < len(counts) && counts[i] > 0 {
			row.ByVerdict[v.String()] = counts[i]
		}
	}
	row.Valid = row.ByVerdict[event.Valid.String()]
	row.Flagged = row.Clicks - row.Valid
	return row
}
