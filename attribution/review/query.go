package review

// The review's ClickHouse queries. Written for ClickHouse 18.16 and current releases:
// ANY LEFT JOIN ... USING, -If combinators, LIMIT n BY, arrayJoin; no window functions.
// Table names come from configuration; every request value is a bound argument.
//
// On a cluster every table is Distributed (deploy/clickhouse/cluster). A subquery over a
// Distributed table inside a query over another is refused by default
// (distributed_product_mode = deny), so such subqueries are GLOBAL IN: the initiator
// runs them once and ships the (small) set of click ids to every shard. On one server
// GLOBAL IN is a plain IN.

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/refedge/refedge/attribution/analytics"
)

// reviewData is what the queries return, before scoring. Maps are keyed by partner.
type reviewData struct {
	cur, base map[string]map[string]uint64 // verdict -> clicks, final verdicts
	reasons   map[string]map[string]uint64 // reason -> flagged clicks, current period
	signups   map[string]*signupStats
	shared    map[string]*sharedStats
	earnings  map[string]*Earnings
}

func newReviewData() *reviewData {
	return &reviewData{cur: map[string]map[string]uint64{}, base: map[string]map[string]uint64{},
		reasons: map[string]map[string]uint64{}, signups: map[string]*signupStats{},
		shared: map[string]*sharedStats{}, earnings: map[string]*Earnings{}}
}

// signupBuckets name the click-to-signup time buckets, with their upper bounds.
var signupBuckets = []struct {
	name  string
	below time.Duration // 0: no bound
}{
	{"lt10s", 10 * time.Second}, {"lt30s", 30 * time.Second}, {"lt1m", time.Minute}, {"lt5m", 5 * time.Minute},
	{"lt1h", time.Hour}, {"lt1d", 24 * time.Hour}, {"ge1d", 0},
}

type signupStats struct {
	attributed, matched, fast uint64
	buckets                   [7]uint64
	median                    int64
}

type sharedStats struct {
	users  map[string]struct{}
	approx bool
	groups []SharedGroup
}

// sharedSample is how many user ids a shared group lists; larger groups are counted.
const sharedSample = 200

func partnerCond(q *analytics.SQL, partner string) {
	if partner != "" {
		q.Add(" AND partner_id = ?", partner)
	}
}

func addMix(m map[string]map[string]uint64, partner, verdict string, n uint64) {
	mm := m[partner]
	if mm == nil {
		mm = map[string]uint64{}
		m[partner] = mm
	}
	mm[verdict] += n
}

// queryVerdicts reads the verdict mix of the period and its baseline. Clicks of IDs
// that belong to no partner (unknown_partner) are left out: anyone can put any ref= in
// a URL, and they are no partner's doing.
func (r *Review) queryVerdicts(ctx context.Context, p Period, partner string, d *reviewData) error {
	var q analytics.SQL
	q.Add("SELECT partner_id, verdict, toUInt8(ts >= ?) AS cur, count() FROM "+r.t("clicks")+
		" WHERE ts >= ? AND ts < ? AND verdict != 'unknown_partner'", p.From, p.BaselineFrom, p.To)
	partnerCond(&q, partner)
	q.Add(" GROUP BY partner_id, verdict, cur")
	return r.each(ctx, q, func(scan func(...any) error) error {
		var partnerID, verdict string
		var cur uint8
		var n uint64
		if err := scan(&partnerID, &verdict, &cur, &n); err != nil {
			return err
		}
		if cur == 1 {
			addMix(d.cur, partnerID, verdict, n)
		} else {
			addMix(d.base, partnerID, verdict, n)
		}
		return nil
	})
}

// revocation is one partner's re-classified clicks in one period.
type revocation struct {
	partner, verdict string
	cur              bool
	n                uint64
}

// queryRevocations reads beacon revocations (valid clicks found framed or in a
// pop-under after the redirect); they move clicks from valid to their new verdict.
func (r *Review) queryRevocations(ctx context.Context, p Period, partner string, out *[]revocation) error {
	var q analytics.SQL
	q.Add("SELECT partner_id, verdict, toUInt8(click_ts >= ?) AS cur, uniqExact(click_id) FROM "+r.t("click_revocations")+
		" WHERE click_ts >= ? AND click_ts < ?", p.From, p.BaselineFrom, p.To)
	partnerCond(&q, partner)
	q.Add(" GROUP BY partner_id, verdict, cur")
	return r.each(ctx, q, func(scan func(...any) error) error {
		var rv revocation
		var cur uint8
		if err := scan(&rv.partner, &rv.verdict, &cur, &rv.n); err != nil {
			return err
		}
		rv.cur = cur == 1
		*out = append(*out, rv)
		return nil
	})
}

// applyRevocations moves revoked clicks out of valid.
func applyRevocations(d *reviewData, revs []revocation) {
	for _, rv := range revs {
		m := d.base
		if rv.cur {
			m = d.cur
		}
		mm := m[rv.partner]
		if mm == nil {
			continue // the click row itself is not there (yet): nothing to move
		}
		n := min(rv.n, mm["valid"])
		mm["valid"] -= n
		mm[rv.verdict] += n
	}
}

// queryReasons reads the reason codes of flagged clicks in the period, top perPartner
// per partner, from clicks and from revocations.
func (r *Review) queryReasons(ctx context.Context, p Period, partner string, perPartner int, d *reviewData, mu func(func())) error {
	run := func(q analytics.SQL) error {
		return r.each(ctx, q, func(scan func(...any) error) error {
			var partnerID, reason string
			var n uint64
			if err := scan(&partnerID, &reason, &n); err != nil {
				return err
			}
			mu(func() { addMix(d.reasons, partnerID, reason, n) })
			return nil
		})
	}
	var q analytics.SQL
	q.Add("SELECT partner_id, r, count() AS n FROM "+r.t("clicks")+" ARRAY JOIN reasons AS r"+
		" WHERE ts >= ? AND ts < ? AND verdict NOT IN ('valid', 'unknown_partner')", p.From, p.To)
	partnerCond(&q, partner)
	q.Add(" GROUP BY partner_id, r ORDER BY partner_id, n DESC, r LIMIT ? BY partner_id", perPartner)
	if err := run(q); err != nil {
		return err
	}
	var rq analytics.SQL
	rq.Add("SELECT partner_id, r, uniqExact(click_id) AS n FROM "+r.t("click_revocations")+" ARRAY JOIN reasons AS r"+
		" WHERE click_ts >= ? AND click_ts < ?", p.From, p.To)
	partnerCond(&rq, partner)
	rq.Add(" GROUP BY partner_id, r ORDER BY partner_id, n DESC, r LIMIT ? BY partner_id", perPartner)
	return run(rq)
}

// addSignups appends the attributed signups of the period joined to their clicks:
// columns partner_id, user_id, cid, signup_ts, click_ts, vid, vhash, d (seconds from
// click to signup) and m (1 when the click was found).
func (r *Review) addSignups(q *analytics.SQL, p Period, partner string) {
	attributed := " WHERE type = 'attribution.attributed' AND ts >= ? AND ts < ?"
	q.Add("SELECT partner_id, user_id, cid, signup_ts, click_ts, vid, vhash, "+
		"toInt64(signup_ts) - toInt64(click_ts) AS d, toUInt8(toUInt32(click_ts) > 0) AS m FROM ("+
		"SELECT partner_id, user_id, any(click_id) AS cid, min(ts) AS signup_ts FROM "+r.t("conversions")+attributed, p.From, p.To)
	partnerCond(q, partner)
	q.Add(" GROUP BY partner_id, user_id) ANY LEFT JOIN ("+
		"SELECT click_id AS cid, min(ts) AS click_ts, any(visitor_id) AS vid, any(visitor_hash) AS vhash FROM "+r.t("clicks")+
		" WHERE ts >= ? AND ts < ?", p.From.Add(-r.cfg.ClickLookback), p.To)
	partnerCond(q, partner)
	q.Add(" AND click_id GLOBAL IN (SELECT click_id FROM "+r.t("conversions")+attributed, p.From, p.To)
	partnerCond(q, partner)
	q.Add(") GROUP BY click_id) USING cid")
}

// querySignupTimes reads click-to-signup times per partner.
func (r *Review) querySignupTimes(ctx context.Context, p Period, partner string, d *reviewData, mu func(func())) error {
	var q analytics.SQL
	q.Add("SELECT partner_id, count(), countIf(m = 1), countIf(m = 1 AND d < ?)", int64(r.cfg.FastSignup/time.Second))
	lo := int64(-1 << 62)
	for _, b := range signupBuckets {
		if b.below == 0 {
			q.Add(", countIf(m = 1 AND d >= ?)", lo)
			continue
		}
		q.Add(", countIf(m = 1 AND d >= ? AND d < ?)", lo, int64(b.below/time.Second))
		lo = int64(b.below / time.Second)
	}
	q.Add(", quantileExactIf(0.5)(d, m = 1) FROM (")
	r.addSignups(&q, p, partner)
	q.Add(") GROUP BY partner_id")
	return r.each(ctx, q, func(scan func(...any) error) error {
		var partnerID string
		s := &signupStats{}
		dest := []any{&partnerID, &s.attributed, &s.matched, &s.fast}
		for i := range s.buckets {
			dest = append(dest, &s.buckets[i])
		}
		dest = append(dest, &s.median)
		if err := scan(dest...); err != nil {
			return err
		}
		mu(func() { d.signups[partnerID] = s })
		return nil
	})
}

// querySharedVisitors finds browsers (rfe_vid) and daily IP+User-Agent hashes that
// several signups of one partner share.
func (r *Review) querySharedVisitors(ctx context.Context, p Period, partner string, d *reviewData, mu func(func())) error {
	var q analytics.SQL
	// Each user appears once per key (signups are grouped by user), so groupArray lists
	// distinct users; 18.16's groupUniqArray takes no size limit.
	q.Add("SELECT partner_id, k, uniqExact(user_id) AS n, groupArray(" + strconv.Itoa(sharedSample) + ")(user_id) FROM (" +
		"SELECT partner_id, user_id, arrayJoin([concat('v:', vid), concat('h:', vhash)]) AS k FROM (")
	r.addSignups(&q, p, partner)
	q.Add(") WHERE m = 1) WHERE k NOT IN ('v:', 'h:') GROUP BY partner_id, k HAVING n > 1 ORDER BY partner_id, n DESC, k")
	return r.each(ctx, q, func(scan func(...any) error) error {
		var partnerID, key string
		var n uint64
		var users []string
		if err := scan(&partnerID, &key, &n, &users); err != nil {
			return err
		}
		mu(func() {
			s := d.shared[partnerID]
			if s == nil {
				s = &sharedStats{users: map[string]struct{}{}}
				d.shared[partnerID] = s
			}
			for _, u := range users {
				s.users[u] = struct{}{}
			}
			if n > uint64(len(users)) {
				s.approx = true
			}
			g := SharedGroup{Kind: "visitor", Key: key[2:], Users: n, Some: users}
			if strings.HasPrefix(key, "h:") {
				g.Kind = "hash"
			}
			if len(g.Key) > 12 {
				g.Key = g.Key[:12]
			}
			if len(g.Some) > 10 {
				g.Some = g.Some[:10]
			}
			s.groups = append(s.groups, g)
		})
		return nil
	})
}

// queryEarnings reads net commission per referral and keeps, per partner, the currency
// with the largest net and its top referral.
func (r *Review) queryEarnings(ctx context.Context, p Period, partner string, d *reviewData, mu func(func())) error {
	var q analytics.SQL
	q.Add("SELECT partner_id, currency, sum(s) AS net, max(s), argMax(user_id, s), count() FROM ("+
		"SELECT partner_id, currency, user_id, sum(amount) AS s FROM ("+
		"SELECT partner_id, currency, user_id, amount FROM "+r.t("conversions")+
		" WHERE type IN ('commission.accrued', 'commission.reversed') AND ts >= ? AND ts < ?", p.From, p.To)
	partnerCond(&q, partner)
	q.Add(" LIMIT 1 BY event_id) GROUP BY partner_id, currency, user_id) GROUP BY partner_id, currency")
	return r.each(ctx, q, func(scan func(...any) error) error {
		var e Earnings
		var partnerID string
		if err := scan(&partnerID, &e.Currency, &e.Net, &e.TopNet, &e.TopReferral, &e.Referrals); err != nil {
			return err
		}
		mu(func() {
			if old := d.earnings[partnerID]; old == nil || e.Net > old.Net {
				d.earnings[partnerID] = &e
			}
		})
		return nil
	})
}

// load runs every query of a ranking (partner "") or a drill-down at once.
func (r *Review) load(ctx context.Context, p Period, partner string, reasonsPerPartner int) (*reviewData, error) {
	d, verdicts := newReviewData(), newReviewData()
	var revs []revocation
	// Queries that share d run their row callbacks under one lock.
	var lock sync.Mutex
	mu := func(fn func()) {
		lock.Lock()
		defer lock.Unlock()
		fn()
	}
	err := analytics.Parallel(ctx,
		func(ctx context.Context) error { return r.queryVerdicts(ctx, p, partner, verdicts) },
		func(ctx context.Context) error { return r.queryRevocations(ctx, p, partner, &revs) },
		func(ctx context.Context) error { return r.queryReasons(ctx, p, partner, reasonsPerPartner, d, mu) },
		func(ctx context.Context) error { return r.querySignupTimes(ctx, p, partner, d, mu) },
		func(ctx context.Context) error { return r.querySharedVisitors(ctx, p, partner, d, mu) },
		func(ctx context.Context) error { return r.queryEarnings(ctx, p, partner, d, mu) },
	)
	if err != nil {
		return nil, err
	}
	d.cur, d.base = verdicts.cur, verdicts.base
	applyRevocations(d, revs)
	return d, nil
}

// querySamples reads the partner's newest flagged clicks, revoked ones included, with
// their final verdict and reasons.
func (r *Review) querySamples(ctx context.Context, p Period, partner string, limit int) ([]ClickSample, error) {
	var q analytics.SQL
	q.Add("SELECT click_id, ts, verdict, reasons, source, creative, sub_id, referer_host, path, device, browser FROM "+r.t("clicks")+
		" WHERE partner_id = ? AND ts >= ? AND ts < ? AND (verdict NOT IN ('valid', 'unknown_partner') OR click_id GLOBAL IN ("+
		"SELECT click_id FROM "+r.t("click_revocations")+" WHERE partner_id = ? AND click_ts >= ? AND click_ts < ?))"+
		" ORDER BY ts DESC, click_id LIMIT 1 BY click_id LIMIT ?", partner, p.From, p.To, partner, p.From, p.To, limit)
	out := []ClickSample{}
	var ids []any
	err := r.each(ctx, q, func(scan func(...any) error) error {
		var c ClickSample
		var reasons []string
		if err := scan(&c.ClickID, &c.Time, &c.Verdict, &reasons, &c.Source, &c.Creative, &c.SubID, &c.RefererHost, &c.Path, &c.Device, &c.Browser); err != nil {
			return err
		}
		c.Time = c.Time.UTC()
		c.Reasons = reviewReasons(reasons)
		out = append(out, c)
		if c.Verdict == "valid" {
			ids = append(ids, c.ClickID)
		}
		return nil
	})
	if err != nil || len(ids) == 0 {
		return out, err
	}
	var rq analytics.SQL
	rq.Add("SELECT click_id, any(verdict), any(reasons) FROM "+r.t("click_revocations")+
		" WHERE partner_id = ? AND click_ts >= ? AND click_ts < ? AND click_id IN ? GROUP BY click_id",
		partner, p.From, p.To, clickhouse.GroupSet{Value: ids})
	revoked := map[string]ClickSample{}
	err = r.each(ctx, rq, func(scan func(...any) error) error {
		var id, verdict string
		var reasons []string
		if err := scan(&id, &verdict, &reasons); err != nil {
			return err
		}
		revoked[id] = ClickSample{ClickSample: analytics.ClickSample{Verdict: verdict, Reasons: reviewReasons(reasons)}}
		return nil
	})
	for i := range out {
		if rv, ok := revoked[out[i].ClickID]; ok {
			out[i].Verdict, out[i].Revoked = rv.Verdict, true
			out[i].Reasons = append(out[i].Reasons, rv.Reasons...)
		}
	}
	return out, err
}

func reviewReasons(codes []string) []analytics.ClickReason {
	out := make([]analytics.ClickReason, len(codes))
	for i, c := range codes {
		out[i] = analytics.ClickReason{Code: c, Text: analytics.ReasonText(c)}
	}
	return out
}

// queryFastSignups reads the partner's quickest click-to-signup times.
func (r *Review) queryFastSignups(ctx context.Context, p Period, partner string, limit int) ([]FastSignup, error) {
	var q analytics.SQL
	q.Add("SELECT user_id, cid, click_ts, signup_ts, d FROM (")
	r.addSignups(&q, p, partner)
	q.Add(") WHERE m = 1 ORDER BY d, user_id LIMIT ?", limit)
	out := []FastSignup{}
	err := r.each(ctx, q, func(scan func(...any) error) error {
		var s FastSignup
		if err := scan(&s.UserID, &s.ClickID, &s.ClickTS, &s.SignupTS, &s.Seconds); err != nil {
			return err
		}
		s.ClickTS, s.SignupTS = s.ClickTS.UTC(), s.SignupTS.UTC()
		out = append(out, s)
		return nil
	})
	return out, err
}
