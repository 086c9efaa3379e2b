package attribution

import (
	"context"
	"time"
)

// Referral is one user a partner brought, as in the old "My referrals" tab.
type Referral struct {
	UserID string `json:"user_id"`
	// Status is pending (registered, not yet active), active, detached (never became
	// active in time) or expired (the attachment period ended).
	Status       string     `json:"status"`
	RegisteredAt *time.Time `json:"registered_at"`
	ActivatedAt  *time.Time `json:"activated_at"`
	// EndedAt is when the referral detached or expired.
	EndedAt *time.Time `json:"ended_at"`
	// Orders counts orders that accrued commission.
	Orders uint64 `json:"orders"`
	// Earned is commission accrued minus reversed, per currency, in minor units.
	Earned map[string]int64 `json:"earned"`
}

// ReferralTotals summarise every referral of the partner (not only the page).
type ReferralTotals struct {
	Referrals uint64            `json:"referrals"`
	ByStatus  map[string]uint64 `json:"by_status"`
	Earned    map[string]int64  `json:"earned"`
}

// Referrals is the answer of GET /api/v1/referrals.
type Referrals struct {
	PartnerID string         `json:"partner_id"`
	Status    string         `json:"status,omitempty"`
	Limit     int            `json:"limit"`
	Offset    int            `json:"offset"`
	Totals    ReferralTotals `json:"totals"`
	Referrals []Referral     `json:"referrals"`
}

// ReferralsQuery pages through referrals, newest registration first.
type ReferralsQuery struct {
	// Status keeps one status ("" for all).
	Status        string
	Limit, Offset int
}

// Referral statuses.
var referralStatuses = []string{"pending", "active", "detached", "expired"}

func validReferralStatus(s string) bool {
	for _, v := range referralStatuses {
		if v == s {
			return true
		}
	}
	return false
}

// referralsDedup is the partner's conversions (first ?), one row per conversion
// identity, with the signed amount each adds to earnings.
func (a *Analytics) referralsDedup() string {
	return `SELECT ` + factConversions.id + ` AS k, ts, type, user_id, order_id, currency,
        toInt64(multiIf(type = '` + convAccrued + `', amount, type = '` + convReversed + `', -abs(amount), 0)) AS signed
      FROM ` + a.t("conversions") + ` WHERE partner_id = ? AND user_id != '' LIMIT 1 BY k`
}

// referralsInner is one row per referral, with earned per currency as parallel arrays.
// (ClickHouse 18.16's sumMap takes only numeric keys, hence two levels.)
func (a *Analytics) referralsInner() string {
	return `SELECT user_id,
    minIf(reg, toUInt32(reg) > 0) AS registered,
    minIf(act, toUInt32(act) > 0) AS activated,
    minIf(fin, toUInt32(fin) > 0) AS ended,
    multiIf(sum(nexp) > 0, 'expired', sum(ndet) > 0, 'detached', sum(nact) > 0, 'active', 'pending') AS status,
    toUInt64(sum(nord)) AS orders,
    groupArrayIf(currency, currency != '') AS curs,
    groupArrayIf(amt, currency != '') AS amts
FROM (SELECT user_id, currency,
        minIf(ts, type = '` + convAttributed + `') AS reg,
        minIf(ts, type = '` + convActivated + `') AS act,
        minIf(ts, type IN ('` + convDetached + `', '` + convExpired + `')) AS fin,
        countIf(type = '` + convExpired + `') AS nexp,
        countIf(type = '` + convDetached + `') AS ndet,
        countIf(type = '` + convActivated + `') AS nact,
        uniqExactIf(order_id, type = '` + convAccrued + `') AS nord,
        toInt64(sum(signed)) AS amt
      FROM (` + a.referralsDedup() + `)
      GROUP BY user_id, currency)
GROUP BY user_id`
}

// Referrals lists partner's referrals with their status and earnings.
func (a *Analytics) Referrals(ctx context.Context, partner string, q ReferralsQuery) (*Referrals, error) {
	out := &Referrals{
		PartnerID: partner, Status: q.Status, Limit: q.Limit, Offset: q.Offset,
		Totals:    ReferralTotals{ByStatus: map[string]uint64{}, Earned: map[string]int64{}},
		Referrals: []Referral{},
	}
	for _, s := range referralStatuses {
		out.Totals.ByStatus[s] = 0
	}
	inner := a.referralsInner()
	var page anSQL
	page.add("SELECT user_id, registered, activated, ended, status, orders, curs, amts FROM ("+inner+")", partner)
	if q.Status != "" {
		page.add(" WHERE status = ?", q.Status)
	}
	page.add(" ORDER BY registered DESC, user_id LIMIT ? OFFSET ?", q.Limit, q.Offset)
	var totals anSQL
	totals.add("SELECT 'status' AS kind, status AS key, count() AS n, toInt64(0) AS v FROM ("+inner+") GROUP BY status", partner)
	totals.add(" UNION ALL SELECT 'earned' AS kind, currency AS key, toUInt64(0) AS n, toInt64(sum(signed)) AS v FROM ("+
		a.referralsDedup()+") WHERE currency != '' GROUP BY currency", partner)

	err := anParallel(ctx,
		func(ctx context.Context) error {
			return a.each(ctx, page, func(scan func(...any) error) error {
				var (
					r             Referral
					reg, act, end time.Time
					curs          []string
					amts          []int64
				)
				if err := scan(&r.UserID, &reg, &act, &end, &r.Status, &r.Orders, &curs, &amts); err != nil {
					return err
				}
				r.RegisteredAt, r.ActivatedAt, r.EndedAt = optTime(reg), optTime(act), optTime(end)
				r.Earned = currencyMap(curs, amts)
				out.Referrals = append(out.Referrals, r)
				return nil
			})
		},
		func(ctx context.Context) error {
			return a.each(ctx, totals, func(scan func(...any) error) error {
				var (
					kind, key string
					n         uint64
					v         int64
				)
				if err := scan(&kind, &key, &n, &v); err != nil {
					return err
				}
				if kind == "status" {
					out.Totals.ByStatus[key] += n
					out.Totals.Referrals += n
				} else {
					out.Totals.Earned[key] += v
				}
				return nil
			})
		},
	)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// optTime maps ClickHouse's zero DateTime (no such event) to nil.
func optTime(t time.Time) *time.Time {
	if t.Unix() <= 0 {
		return nil
	}
	t = t.UTC()
	return &t
}

// currencyMap zips sumMap's arrays, dropping the empty currency of non-money events.
func currencyMap(curs []string, amts []int64) map[string]int64 {
	m := map[string]int64{}
	for i, c := range curs {
		if c != "" && i < len(amts) {
			m[c] += amts[i]
		}
	}
	return m
}
