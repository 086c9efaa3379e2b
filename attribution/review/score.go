package review

// The risk score, version 1 (docs/review.md is the reference; change both together and
// bump reviewScoreVersion). 0..100, the sum of five capped components:
//
//	traffic        35 × W' where W is the weighted share of flagged clicks (reviewVerdictRisk)
//	shift          15 × min(1, max(0, W'cur − W'baseline) / 0.3)
//	fast_signups   25 × F' where F is the share of signups less than FastSignup after their click
//	shared         15 × S' where S is the share of signups sharing a browser or IP+UA hash
//	concentration  10 × top referral's share of net commission × r/(r+1), r referrals
//
// X' = X × n/(n+k) shrinks a share measured on few events towards 0: n clicks with k=20,
// n signups with k=5. Three bot clicks out of three are not yet a pattern; 300 out of 300 are.

import (
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/refedge/refedge/attribution/analytics"
)

const reviewScoreVersion = 1

// Component weights (they sum to 100) and shrinkage priors.
const (
	reviewWeightTraffic       = 35.0
	reviewWeightShift         = 15.0
	reviewWeightFast          = 25.0
	reviewWeightShared        = 15.0
	reviewWeightConcentration = 10.0
	reviewShiftFull           = 0.3
	reviewClickPrior          = 20.0
	reviewSignupPrior         = 5.0
)

// reviewVerdictRisk weighs each verdict by how much it suggests the partner's own doing.
// Hidden loads, pop-unders, automatic redirects and self-referral are deliberate; bots and
// ads break the rules but may be a third party's; rate limits and duplicates are mostly
// enthusiasm; blocked_partner and unconfirmed_partner are the marketplace's own state of
// the account (weight 0, like valid). datacenter weighs as bot, the verdict such clicks
// had before they got their own: programs click from servers, the partner's or a third
// party's.
var reviewVerdictRisk = map[string]float64{
	"hidden_frame":  1,
	"popunder":      1,
	"auto_redirect": 1,
	"self_referral": 1,
	"bot":           0.6,
	"datacenter":    0.6,
	"context_ad":    0.6,
	"rate_limited":  0.4,
	"duplicate":     0.1,
}

// mixOf summarises a verdict -> clicks map.
func mixOf(m map[string]uint64) Clicks {
	c := Clicks{ByVerdict: map[string]uint64{}}
	var w float64
	for v, n := range m {
		if n == 0 {
			continue
		}
		c.ByVerdict[v] = n
		c.Total += n
		if v != "valid" {
			c.Flagged += n
		}
		w += reviewVerdictRisk[v] * float64(n)
	}
	if c.Total > 0 {
		c.FlaggedShare = round4(float64(c.Flagged) / float64(c.Total))
		c.WeightedShare = round4(w / float64(c.Total))
		c.DatacenterShare = round4(float64(c.ByVerdict["datacenter"]) / float64(c.Total))
	}
	return c
}

func shrink(share float64, n uint64, prior float64) float64 {
	return share * float64(n) / (float64(n) + prior)
}

func round4(f float64) float64 { return math.Round(f*1e4) / 1e4 }
func round1(f float64) float64 { return math.Round(f*10) / 10 }

// scorePartner computes one partner's figures, score and flags from d.
func scorePartner(id string, d *reviewData, topReasons int, fast time.Duration) PartnerRisk {
	p := PartnerRisk{PartnerID: id, Clicks: mixOf(d.cur[id]), Baseline: mixOf(d.base[id]), TopReasons: []Reason{}, Flags: []string{}}
	p.Signups.Buckets = map[string]uint64{}
	for _, b := range signupBuckets {
		p.Signups.Buckets[b.name] = 0
	}

	w := shrink(p.Clicks.WeightedShare, p.Clicks.Total, reviewClickPrior)
	p.Components.Traffic = reviewWeightTraffic * w
	if p.Baseline.Total > 0 {
		p.BaselineFrom = "partner"
		p.Shift = round4(max(0, w-shrink(p.Baseline.WeightedShare, p.Baseline.Total, reviewClickPrior)))
		p.Components.Shift = reviewWeightShift * min(1, p.Shift/reviewShiftFull)
	} else {
		p.BaselineFrom = "none"
	}

	for code, n := range d.reasons[id] {
		p.TopReasons = append(p.TopReasons, Reason{Code: code, Text: analytics.ReasonText(code), Clicks: n})
	}
	sortReasons(p.TopReasons)
	if len(p.TopReasons) > topReasons {
		p.TopReasons = p.TopReasons[:topReasons]
	}

	if s := d.signups[id]; s != nil {
		p.Signups.Attributed, p.Signups.Matched, p.Signups.Fast = s.attributed, s.matched, s.fast
		for i, b := range signupBuckets {
			p.Signups.Buckets[b.name] = s.buckets[i]
		}
		if s.matched > 0 {
			m := float64(s.median)
			p.Signups.MedianSeconds = &m
			p.Signups.FastShare = round4(float64(s.fast) / float64(s.matched))
			p.Components.FastSignups = reviewWeightFast * shrink(p.Signups.FastShare, s.matched, reviewSignupPrior)
		}
	}
	if s := d.shared[id]; s != nil && p.Signups.Attributed > 0 {
		p.Signups.Shared = min(uint64(len(s.users)), p.Signups.Attributed)
		p.Signups.SharedApprox = s.approx
		p.Signups.SharedShare = round4(float64(p.Signups.Shared) / float64(p.Signups.Attributed))
		p.Components.SharedVisitors = reviewWeightShared * shrink(p.Signups.SharedShare, p.Signups.Attributed, reviewSignupPrior)
	}
	if e := d.earnings[id]; e != nil {
		c := *e
		if c.Net > 0 && c.TopNet > 0 {
			c.TopShare = round4(min(1, float64(c.TopNet)/float64(c.Net)))
			p.Components.Concentration = reviewWeightConcentration * c.TopShare * float64(c.Referrals) / float64(c.Referrals+1)
		}
		p.Commission = &c
	}

	p.Components = Components{
		Traffic: round1(p.Components.Traffic), Shift: round1(p.Components.Shift), FastSignups: round1(p.Components.FastSignups),
		SharedVisitors: round1(p.Components.SharedVisitors), Concentration: round1(p.Components.Concentration),
	}
	c := p.Components
	p.Score = round1(c.Traffic + c.Shift + c.FastSignups + c.SharedVisitors + c.Concentration)
	p.Flags = reviewFlags(&p, fast)
	return p
}

func sortReasons(rs []Reason) {
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].Clicks != rs[j].Clicks {
			return rs[i].Clicks > rs[j].Clicks
		}
		return rs[i].Code < rs[j].Code
	})
}

// reviewFlags explains in sentences what raised p's score.
func reviewFlags(p *PartnerRisk, fast time.Duration) []string {
	flags := []string{}
	if c := p.Clicks; c.Flagged > 0 && c.FlaggedShare >= 0.1 {
		type vs struct {
			v string
			n uint64
		}
		var list []vs
		for v, n := range c.ByVerdict {
			if v != "valid" && n*100 >= c.Total {
				list = append(list, vs{v, n})
			}
		}
		sort.Slice(list, func(i, j int) bool { return list[i].n > list[j].n || list[i].n == list[j].n && list[i].v < list[j].v })
		parts := make([]string, 0, 3)
		for i, x := range list {
			if i == 3 {
				break
			}
			parts = append(parts, x.v+" "+reviewPct(x.n, c.Total))
		}
		flags = append(flags, reviewPct(c.Flagged, c.Total)+" of "+analytics.FormatCount(c.Total)+" clicks flagged: "+strings.Join(parts, ", "))
	}
	if p.Components.Shift >= 1 {
		flags = append(flags, "weighted flagged share rose from "+analytics.FormatPercent(p.Baseline.WeightedShare)+" to "+
			analytics.FormatPercent(p.Clicks.WeightedShare)+" against the previous period")
	}
	if s := p.Signups; s.Fast > 0 && s.FastShare >= 0.1 {
		f := analytics.FormatCount(s.Fast) + " of " + analytics.FormatCount(s.Matched) + " signups came less than " + fast.String() + " after their click"
		if s.MedianSeconds != nil {
			f += " (median " + fmtSeconds(*s.MedianSeconds) + ")"
		}
		flags = append(flags, f)
	}
	if s := p.Signups; s.Shared > 0 {
		flags = append(flags, analytics.FormatCount(s.Shared)+" of "+analytics.FormatCount(s.Attributed)+" signups share a browser or a network and device with another signup")
	}
	if e := p.Commission; e != nil && p.Components.Concentration >= 1 && e.TopShare >= 0.5 {
		flags = append(flags, "one referral brings "+analytics.FormatPercent(e.TopShare)+" of net commission ("+analytics.FormatMoney(e.TopNet, e.Currency)+
			" of "+analytics.FormatMoney(e.Net, e.Currency)+", "+analytics.FormatCount(e.Referrals)+" referrals)")
	}
	return flags
}

// fmtSeconds writes a duration in seconds in the unit a person reads best.
func fmtSeconds(s float64) string {
	switch {
	case s < 120:
		return strconv.FormatFloat(s, 'f', 0, 64) + " s"
	case s < 2*3600:
		return strconv.FormatFloat(s/60, 'f', 0, 64) + " min"
	case s < 48*3600:
		return strconv.FormatFloat(s/3600, 'f', 1, 64) + " h"
	}
	return strconv.FormatFloat(s/86400, 'f', 1, 64) + " d"
}

// reviewPct writes n/total as a whole percentage.
func reviewPct(n, total uint64) string {
	if total == 0 {
		return "0%"
	}
	return strconv.FormatFloat(float64(n)*100/float64(total), 'f', 0, 64) + "%"
}

// Ranking orders (the sort parameter of the review, docs/review.md).
const (
	// SortScore ranks by score, then flagged clicks, then partner id.
	SortScore = "score"
	// SortDatacenter ranks by the share of clicks from data-centre networks, then by
	// such clicks, then score, then partner id.
	SortDatacenter = "datacenter_share"
)

// rankPartners scores every partner active in the period (clicks, signups or
// commissions) and returns them in the order by names (SortScore when empty).
func rankPartners(d *reviewData, topReasons int, fast time.Duration, by string) []PartnerRisk {
	ids := map[string]struct{}{}
	for id := range d.cur {
		ids[id] = struct{}{}
	}
	for id := range d.signups {
		ids[id] = struct{}{}
	}
	for id := range d.earnings {
		ids[id] = struct{}{}
	}
	out := make([]PartnerRisk, 0, len(ids))
	for id := range ids {
		out = append(out, scorePartner(id, d, topReasons, fast))
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := &out[i], &out[j]
		if by == SortDatacenter {
			if a.Clicks.DatacenterShare != b.Clicks.DatacenterShare {
				return a.Clicks.DatacenterShare > b.Clicks.DatacenterShare
			}
			if da, db := a.Clicks.ByVerdict["datacenter"], b.Clicks.ByVerdict["datacenter"]; da != db {
				return da > db
			}
		}
		if a.Score != b.Score {
			return a.Score > b.Score
		}
		if a.Clicks.Flagged != b.Clicks.Flagged {
			return a.Clicks.Flagged > b.Clicks.Flagged
		}
		return a.PartnerID < b.PartnerID
	})
	for i := range out {
		out[i].Rank = i + 1
	}
	return out
}

// programMix sums every partner's verdict mix.
func programMix(m map[string]map[string]uint64) Clicks {
	sum := map[string]uint64{}
	for _, mm := range m {
		for v, n := range mm {
			sum[v] += n
		}
	}
	return mixOf(sum)
}
