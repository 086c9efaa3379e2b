package attribution

import (
	"context"
	"sync"
)

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
