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

// noTime is the referrals table's "no such event" (the largest DateTime).
const noTime = 4294967295

// referralGroup is one row per referral of the partner (first ?) with its lifecycle,
// from the referrals aggregate (min and max: duplicates cannot change them).
func (a *Analytics) referralGroup() string {
	return `SELECT user_id, minMerge(registered) AS reg, minMerge(activated) AS act, minMerge(ended) AS fin,
    multiIf(maxMerge(expired) = 1, 'expired', maxMerge(detached) = 1, 'detached',
            toUInt32(act) != ` + itoa(noTime) + `, 'active', 'pending') AS status
FROM ` + a.t("referrals") + ` WHERE partner_id = ? GROUP BY user_id`
}

// allTime is the range the earned total covers.
func (a *Analytics) allTime() AnalyticsRange {
	return AnalyticsRange{From: analyticsMinTime, To: a.cfg.Now().UTC().Truncate(time.Hour).Add(time.Hour), Interval: AnalyticsMonth}
}

// Referrals lists partner's referrals with their status and earnings: the page and the
// totals (from the seal-checked conversion aggregates) at once, then the page's
// commissions.
func (a *Analytics) Referrals(ctx context.Context, partner string, q ReferralsQuery) (*Referrals, error) {
	out := &Referrals{
		PartnerID: partner, Status: q.Status, Limit: q.Limit, Offset: q.Offset,
		Totals:    ReferralTotals{ByStatus: map[string]uint64{}, Earned: map[string]int64{}},
		Referrals: []Referral{},
	}
	for _, s := range referralStatuses {
		out.Totals.ByStatus[s] = 0
	}
	group := a.referralGroup()
	var page anSQL
	page.add("SELECT user_id, reg, act, fin, status FROM ("+group+")", partner)
	if q.Status != "" {
		page.add(" WHERE status = ?", q.Status)
	}
	// Newest registration first; referrals with no registration event last.
	page.add(" ORDER BY toUInt32(reg) = "+itoa(noTime)+", reg DESC, user_id LIMIT ? OFFSET ?", q.Limit, q.Offset)

	err := anParallel(ctx,
		func(ctx context.Context) error {
			return a.each(ctx, page, func(scan func(...any) error) error {
				var r Referral
				var reg, act, end time.Time
				if err := scan(&r.UserID, &reg, &act, &end, &r.Status); err != nil {
					return err
				}
				r.RegisteredAt, r.ActivatedAt, r.EndedAt = optTime(reg), optTime(act), optTime(end)
				r.Earned = map[string]int64{}
				out.Referrals = append(out.Referrals, r)
				return nil
			})
		},
		func(ctx context.Context) error {
			// Totals from the seal-checked conversion aggregates over all time: each
			// lifecycle event happens once per referral (the ledger attributes a user once,
			// detaches only referrals that never activated, expires only active ones), so
			// counting events counts referrals by status.
			r := a.allTime()
			plan, err := a.plan(ctx, partner, r, anReq{famConversions, true})
			if err != nil {
				return err
			}
			n := map[string]uint64{}
			err = a.readConversions(ctx, partner, plan.get(famConversions, true), func(c convRow) {
				n[c.typ] += c.events
				if v := c.signedAmount(); c.currency != "" && (c.typ == convAccrued || c.typ == convReversed) {
					out.Totals.Earned[c.currency] += v
				}
			})
			t := &out.Totals
			t.Referrals = n[convAttributed]
			t.ByStatus["expired"] = n[convExpired]
			t.ByStatus["detached"] = n[convDetached]
			t.ByStatus["active"] = sub(n[convActivated], n[convExpired])
			t.ByStatus["pending"] = sub(n[convAttributed], n[convActivated]+n[convDetached])
			return err
		},
	)
	if err != nil || len(out.Referrals) == 0 {
		return out, err
	}

	// The page's commissions: a set per referral, so each commission counts once.
	byUser := make(map[string]*Referral, len(out.Referrals))
	ids := make([]string, 0, len(out.Referrals))
	for i := range out.Referrals {
		byUser[out.Referrals[i].UserID] = &out.Referrals[i]
		ids = append(ids, out.Referrals[i].UserID)
	}
	var per anSQL
	per.add("SELECT user_id, c.1, c.3, c.4, c.5 FROM (SELECT user_id, groupUniqArrayMerge(commissions) AS cs FROM "+a.t("referral_commissions")+
		" WHERE partner_id = ?", partner)
	if len(ids) <= maxReferralIDs {
		per.add(" AND user_id IN ?", groupSet(ids))
	}
	per.add(" GROUP BY user_id) ARRAY JOIN cs AS c")
	orders := map[string]map[string]bool{}
	err = a.each(ctx, per, func(scan func(...any) error) error {
		var user, typ, cur, order string
		var amount int64
		if err := scan(&user, &typ, &cur, &amount, &order); err != nil {
			return err
		}
		r := byUser[user]
		if r == nil {
			return nil
		}
		c := convRow{typ: typ, currency: cur, amountSum: amount, amountAbs: max(amount, -amount)}
		if cur != "" {
			r.Earned[cur] += c.signedAmount()
		}
		if typ == convAccrued {
			if orders[user] == nil {
				orders[user] = map[string]bool{}
			}
			orders[user][order] = true
		}
		return nil
	})
	for user, os := range orders {
		byUser[user].Orders = uint64(len(os))
	}
	return out, err
}

// maxReferralIDs bounds the user ids a page's commissions query names; a longer page (a
// CSV export) reads every referral's commissions instead.
const maxReferralIDs = 1000

// sub is a - b, or 0 when b is larger (events of referrals attributed before the
// mirror's first row).
func sub(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}

// optTime maps ClickHouse's zero DateTime and the referrals table's "no such event" to
// nil.
func optTime(t time.Time) *time.Time {
	if t.Unix() <= 0 || t.Unix() >= noTime {
		return nil
	}
	t = t.UTC()
	return &t
}
