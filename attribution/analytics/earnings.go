package analytics

import (
	"context"
	"time"
)

// EarningsAmounts are commission figures of one currency, in minor units.
type EarningsAmounts struct {
	Accrued  int64 `json:"accrued"`
	Reversed int64 `json:"reversed"`
	Net      int64 `json:"net"`
	// Accruals and Reversals count commission events.
	Accruals  uint64 `json:"accruals"`
	Reversals uint64 `json:"reversals"`
}

func (e *EarningsAmounts) add(c convRow) {
	switch c.typ {
	case ConvAccrued:
		e.Accrued += c.amountSum
		e.Accruals += c.events
	case ConvReversed:
		e.Reversed += c.amountAbs
		e.Reversals += c.events
	}
	e.Net = e.Accrued - e.Reversed
}

// EarningsPoint is one bucket: figures per currency.
type EarningsPoint struct {
	T          time.Time                  `json:"t"`
	Currencies map[string]EarningsAmounts `json:"currencies"`
}

// Earnings is the answer of GET /api/v1/earnings.
type Earnings struct {
	PartnerID string    `json:"partner_id"`
	From      time.Time `json:"from"`
	To        time.Time `json:"to"`
	Interval  string    `json:"interval"`
	Timezone  string    `json:"timezone"`
	// Totals per currency; ByRole per role (buyer, seller, milestone) and currency.
	Totals map[string]EarningsAmounts            `json:"totals"`
	ByRole map[string]map[string]EarningsAmounts `json:"by_role"`
	Series []EarningsPoint                       `json:"series"`
	Meta   StatsMeta                             `json:"meta"`
}

// Earnings computes partner's commission time series over r.
func (a *Analytics) Earnings(ctx context.Context, partner string, r Range) (*Earnings, error) {
	daily := r.Interval != AnalyticsHour
	plan, err := a.plan(ctx, partner, r, anReq{famConversions, daily})
	if err != nil {
		return nil, err
	}
	raw, days := plan.meta()
	buckets := r.Buckets()
	out := &Earnings{
		PartnerID: partner, From: r.From, To: r.To, Interval: r.Interval.String(), Timezone: "UTC",
		Totals: map[string]EarningsAmounts{}, ByRole: map[string]map[string]EarningsAmounts{},
		Series: make([]EarningsPoint, len(buckets)),
		Meta:   StatsMeta{RawHours: raw, AggregateDays: days},
	}
	idx := make(map[int64]int, len(buckets))
	for i, b := range buckets {
		idx[b.Unix()] = i
		out.Series[i] = EarningsPoint{T: b, Currencies: map[string]EarningsAmounts{}}
	}
	err = a.readConversions(ctx, partner, plan.get(famConversions, daily), func(c convRow) {
		if (c.typ != ConvAccrued && c.typ != ConvReversed) || c.currency == "" {
			return
		}
		upd := func(m map[string]EarningsAmounts) {
			e := m[c.currency]
			e.add(c)
			m[c.currency] = e
		}
		if i, ok := idx[int64(c.bucket)]; ok {
			upd(out.Series[i].Currencies)
		}
		upd(out.Totals)
		if out.ByRole[c.role] == nil {
			out.ByRole[c.role] = map[string]EarningsAmounts{}
		}
		upd(out.ByRole[c.role])
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
