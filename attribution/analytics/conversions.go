package analytics

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
	var q SQL
	q.Add("SELECT b, type, role, currency, toUInt64(sum(n)), toInt64(sum(s)), toInt64(sum(x)) FROM (")
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
	q.Add(") GROUP BY b, type, role, currency")
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
	case ConvAccrued:
		return c.amountSum
	case ConvReversed:
		return -c.amountAbs
	}
	return 0
}

// statsConversions reads signups and earnings per bucket. Activations are not counted
// from these events (statsActivations).
func (a *Analytics) statsConversions(ctx context.Context, partner string, fp *anFamPlan, mu *sync.Mutex, st *Stats, point func(uint64) *StatsCounts) error {
	return a.readConversions(ctx, partner, fp, func(c convRow) {
		mu.Lock()
		defer mu.Unlock()
		for _, s := range []*StatsCounts{point(c.bucket), &st.Totals.StatsCounts} {
			if s == nil {
				continue
			}
			switch c.typ {
			case ConvAttributed:
				s.Signups += c.events
			case ConvAccrued, ConvReversed:
				if c.currency != "" {
					s.Earnings[c.currency] += c.signedAmount()
				}
			}
		}
	})
}

// statsActivations counts referrals by the bucket of their activation: the earliest
// attribution.activated of each referral, from the referrals aggregate. Counting the
// events would count twice a referral whose activation was superseded by an earlier
// activation fact that arrived late (earliest fact wins: the ledger emits both), and in
// the bucket of the superseded one too.
func (a *Analytics) statsActivations(ctx context.Context, partner string, r Range, mu *sync.Mutex, st *Stats, point func(uint64) *StatsCounts) error {
	var q SQL
	q.Add("SELECT "+r.Interval.sqlBucket("act")+" AS b, count() FROM (SELECT minMerge(activated) AS act FROM "+a.t("referrals")+
		" WHERE partner_id = ? GROUP BY user_id) WHERE act >= ? AND act < ? GROUP BY b", partner, r.From, r.To)
	return a.each(ctx, q, func(scan func(...any) error) error {
		var b, n uint64
		if err := scan(&b, &n); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		for _, s := range []*StatsCounts{point(b), &st.Totals.StatsCounts} {
			if s != nil {
				s.Activations += n
			}
		}
		return nil
	})
}
