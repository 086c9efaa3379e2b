package analytics

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
var ReferralStatuses = []string{"pending", "active", "detached", "expired"}

func validReferralStatus(s string) bool {
	for _, v := range ReferralStatuses {
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
//
// The status follows from which events exist, never from their times or their order:
// expired if it expired, else active if it ever activated, else detached if it detached,
// else pending. A referral may hold an activation and a detachment: an activation fact
// that arrives late supersedes a detachment already announced (earliest fact wins), and
// the detachment, stamped with the deadline, is then the later event; it may also hold
// two activations, of which the earliest is its activation. fin is when a detached or
// expired referral ended (the largest DateTime otherwise); det says whether it also holds
// a detachment, whose time then hides its expiry's in the aggregate's one end column.
func (a *Analytics) referralGroup() string {
	return `SELECT user_id, minMerge(registered) AS reg, minMerge(activated) AS act, minMerge(ended) AS ends,
    maxMerge(detached) AS det, maxMerge(expired) AS xp,
    multiIf(xp = 1, 'expired', toUInt32(act) != ` + Itoa(noTime) + `, 'active', det = 1, 'detached', 'pending') AS status,
    if(status IN ('detached', 'expired'), ends, toDateTime(` + Itoa(noTime) + `)) AS fin
FROM ` + a.t("referrals") + ` WHERE partner_id = ? GROUP BY user_id`
}

// allTime is the range the earned total covers.
func (a *Analytics) allTime() Range {
	return Range{From: MinTime, To: a.Cfg.Now().UTC().Truncate(time.Hour).Add(time.Hour), Interval: AnalyticsMonth}
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
	for _, s := range ReferralStatuses {
		out.Totals.ByStatus[s] = 0
	}
	group := a.referralGroup()
	var page SQL
	page.Add("SELECT user_id, reg, act, fin, status, det FROM ("+group+")", partner)
	if q.Status != "" {
		page.Add(" WHERE status = ?", q.Status)
	}
	// Newest registration first; referrals with no registration event last.
	page.Add(" ORDER BY toUInt32(reg) = "+Itoa(noTime)+", reg DESC, user_id LIMIT ? OFFSET ?", q.Limit, q.Offset)

	// Referrals whose end the aggregate cannot tell: expired, but holding a detachment too.
	var reexpired []string
	var counts SQL
	counts.Add("SELECT status, count() FROM ("+group+") GROUP BY status", partner)
	err := Parallel(ctx,
		func(ctx context.Context) error {
			return a.each(ctx, page, func(scan func(...any) error) error {
				var r Referral
				var reg, act, end time.Time
				var det uint8
				if err := scan(&r.UserID, &reg, &act, &end, &r.Status, &det); err != nil {
					return err
				}
				r.RegisteredAt, r.ActivatedAt, r.EndedAt = optTime(reg), optTime(act), optTime(end)
				r.Earned = map[string]int64{}
				out.Referrals = append(out.Referrals, r)
				if r.Status == "expired" && det == 1 {
					reexpired = append(reexpired, r.UserID)
				}
				return nil
			})
		},
		func(ctx context.Context) error {
			// Referrals by status, counted from the same rows as the list: one per
			// referral, however many lifecycle events it has.
			return a.each(ctx, counts, func(scan func(...any) error) error {
				var status string
				var n uint64
				if err := scan(&status, &n); err != nil {
					return err
				}
				out.Totals.ByStatus[status] += n
				out.Totals.Referrals += n
				return nil
			})
		},
		func(ctx context.Context) error {
			// Earned from the seal-checked conversion aggregates over all time.
			r := a.allTime()
			plan, err := a.plan(ctx, partner, r, anReq{famConversions, true})
			if err != nil {
				return err
			}
			return a.readConversions(ctx, partner, plan.get(famConversions, true), func(c convRow) {
				if v := c.signedAmount(); c.currency != "" && (c.typ == ConvAccrued || c.typ == ConvReversed) {
					out.Totals.Earned[c.currency] += v
				}
			})
		},
	)
	if err != nil || len(out.Referrals) == 0 {
		return out, err
	}
	byUser := make(map[string]*Referral, len(out.Referrals))
	ids := make([]string, 0, len(out.Referrals))
	for i := range out.Referrals {
		byUser[out.Referrals[i].UserID] = &out.Referrals[i]
		ids = append(ids, out.Referrals[i].UserID)
	}
	if len(reexpired) > 0 {
		if err := a.expiries(ctx, partner, reexpired, byUser); err != nil {
			return out, err
		}
	}

	// The page's commissions: a set per referral, so each commission counts once.
	var per SQL
	per.Add("SELECT user_id, c.1, c.3, c.4, c.5 FROM (SELECT user_id, groupUniqArrayMerge(commissions) AS cs FROM "+a.t("referral_commissions")+
		" WHERE partner_id = ?", partner)
	if len(ids) <= maxReferralIDs {
		per.Add(" AND user_id IN ?", groupSet(ids))
	}
	per.Add(" GROUP BY user_id) ARRAY JOIN cs AS c")
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
		if typ == ConvAccrued {
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

// expiries sets EndedAt of the page's expired referrals that also hold a detachment (a
// late activation superseded it): the aggregate keeps one end, the earlier of the two,
// so their expiry is read from the raw events. Such referrals are rare (an activation
// fact late past the deadline, then the whole attachment period), and min ignores
// duplicated rows.
func (a *Analytics) expiries(ctx context.Context, partner string, users []string, byUser map[string]*Referral) error {
	var q SQL
	q.Add("SELECT user_id, min(ts) FROM "+a.t("conversions")+" WHERE partner_id = ? AND type = ?", partner, ConvExpired)
	if len(users) <= maxReferralIDs {
		q.Add(" AND user_id IN ?", groupSet(users))
	}
	q.Add(" GROUP BY user_id")
	return a.each(ctx, q, func(scan func(...any) error) error {
		var user string
		var ts time.Time
		if err := scan(&user, &ts); err != nil {
			return err
		}
		if r := byUser[user]; r != nil && r.Status == "expired" {
			r.EndedAt = optTime(ts)
		}
		return nil
	})
}

// maxReferralIDs bounds the user ids a page's commissions query names; a longer page (a
// CSV export) reads every referral's commissions instead.
const maxReferralIDs = 1000

// optTime maps ClickHouse's zero DateTime and the referrals table's "no such event" to
// nil.
func optTime(t time.Time) *time.Time {
	if t.Unix() <= 0 || t.Unix() >= noTime {
		return nil
	}
	t = t.UTC()
	return &t
}
