package analytics

import (
	"context"
	"sync"
)

// statsImpressionSeries reads impressions per bucket.
func (a *Analytics) statsImpressionSeries(ctx context.Context, partner string, fp *anFamPlan, mu *sync.Mutex, st *Stats, point func(uint64) *StatsCounts) error {
	iv := fp.r.Interval
	var q SQL
	q.Add("SELECT b, toUInt64(sum(n)) FROM (")
	a.union(&q, partner, fp, anParts{
		fam:      famImpressions,
		aggSel:   func(tc string) string { return iv.sqlBucket(tc) + " AS b, toUInt64(sum(impressions)) AS n" },
		aggGroup: "b",
		rawCols:  "impression_id",
		rawSel:   iv.sqlBucket("h") + " AS b, count() AS n",
		rawTail:  "GROUP BY b",
	})
	q.Add(") GROUP BY b")
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
	var q SQL
	q.Add("SELECT source, creative, size, toUInt64(sum(n)) AS total FROM (")
	a.union(&q, partner, fp, anParts{
		fam:      famImpressions,
		aggSel:   func(string) string { return "source, creative, size, toUInt64(sum(impressions)) AS n" },
		aggGroup: "source, creative, size",
		rawCols:  "impression_id, source, creative, size",
		rawSel:   "source, creative, size, count() AS n",
		rawTail:  "GROUP BY source, creative, size",
	})
	q.Add(") GROUP BY source, creative, size ORDER BY total DESC LIMIT ?", maxImpressionKeys)
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
