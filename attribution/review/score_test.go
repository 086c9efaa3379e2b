package review

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

func TestReviewScore(t *testing.T) {
	f := func(name string, d *reviewData, lo, hi float64, flag string) {
		t.Helper()
		p := scorePartner("p", d, 5, 30*time.Second)
		c := p.Components
		sum := c.Traffic + c.Shift + c.FastSignups + c.SharedVisitors + c.Concentration
		if p.Score < lo || p.Score > hi || math.Abs(sum-p.Score) > 0.05 || p.Score > 100 {
			t.Fatalf("%s: score %v (%+v), want %v..%v", name, p.Score, c, lo, hi)
		}
		if _, err := json.Marshal(p); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		joined := strings.Join(p.Flags, "|")
		if flag == "" && joined != "" || !strings.Contains(joined, flag) {
			t.Fatalf("%s: flags %q, want %q", name, p.Flags, flag)
		}
	}
	mix := func(cur, base map[string]uint64) *reviewData {
		d := newReviewData()
		if cur != nil {
			d.cur["p"] = cur
		}
		if base != nil {
			d.base["p"] = base
		}
		return d
	}
	f("nothing", newReviewData(), 0, 0, "")
	f("all valid", mix(map[string]uint64{"valid": 1000}, map[string]uint64{"valid": 900}), 0, 0, "")
	f("all hidden, no baseline", mix(map[string]uint64{"hidden_frame": 10000}, nil), 34.9, 35, "100% of 10,000 clicks flagged: hidden_frame 100%")
	f("all hidden, clean baseline", mix(map[string]uint64{"hidden_frame": 10000}, map[string]uint64{"valid": 10000}), 49.9, 50, "rose from 0.0% to 100.0%")
	f("few bots", mix(map[string]uint64{"bot": 3}, nil), 0, 3.5, "100% of 3 clicks flagged: bot 100%")
	f("duplicates are mild", mix(map[string]uint64{"duplicate": 500, "valid": 500}, nil), 0, 2, "50% of 1,000 clicks flagged: duplicate 50%")
	f("blocked is no score", mix(map[string]uint64{"blocked_partner": 500}, nil), 0, 0, "blocked_partner 100%")
	f("unconfirmed is no score", mix(map[string]uint64{"unconfirmed_partner": 500}, nil), 0, 0, "unconfirmed_partner 100%")
	// Data-centre clicks weigh as bot clicks, the verdict they had before they got their own.
	f("data centre weighs as bot", mix(map[string]uint64{"datacenter": 10000}, nil), 20.9, 21, "100% of 10,000 clicks flagged: datacenter 100%")
	if a, b := scorePartner("p", mix(map[string]uint64{"datacenter": 300, "valid": 700}, nil), 5, time.Second),
		scorePartner("p", mix(map[string]uint64{"bot": 300, "valid": 700}, nil), 5, time.Second); a.Score != b.Score || a.Clicks.DatacenterShare != 0.3 || b.Clicks.DatacenterShare != 0 {
		t.Errorf("datacenter %v (share %v), bot %v (share %v): want equal scores, shares 0.3 and 0", a.Score, a.Clicks.DatacenterShare, b.Score, b.Clicks.DatacenterShare)
	}

	fast := newReviewData()
	fast.signups["p"] = &signupStats{attributed: 100, matched: 100, fast: 100, median: 4}
	fast.shared["p"] = &sharedStats{users: map[string]struct{}{"a": {}, "b": {}}}
	f("fast signups", fast, 24, 24.2, "100 of 100 signups came less than 30s after their click (median 4 s)")
	none := newReviewData()
	none.signups["p"] = &signupStats{attributed: 3} // clicks not found: no times, no NaN
	f("unmatched signups", none, 0, 0, "")
	conc := newReviewData()
	conc.earnings["p"] = &Earnings{Currency: "RUB", Net: 10000, TopNet: 9900, TopReferral: "u1", Referrals: 3}
	f("concentration", conc, 7.4, 7.5, "one referral brings 99.0% of net commission (99.00 RUB of 100.00 RUB, 3 referrals)")
	neg := newReviewData()
	neg.earnings["p"] = &Earnings{Currency: "RUB", Net: -500, TopNet: 100, Referrals: 2} // refunds exceed accruals
	f("net negative", neg, 0, 0, "")
}

func TestReviewRankOrder(t *testing.T) {
	d := newReviewData()
	d.cur["b"] = map[string]uint64{"valid": 10}
	d.cur["a"] = map[string]uint64{"valid": 10}
	d.cur["c"] = map[string]uint64{"valid": 10, "blocked_partner": 5}
	d.cur["x"] = map[string]uint64{"hidden_frame": 100}
	d.signups["s"] = &signupStats{attributed: 1}
	got := rankPartners(d, 5, 30*time.Second, SortScore)
	var ids []string
	for i, p := range got {
		ids = append(ids, p.PartnerID)
		if p.Rank != i+1 {
			t.Fatalf("rank %d at %d", p.Rank, i)
		}
	}
	// Highest score, then more flagged clicks, then id.
	if strings.Join(ids, ",") != "x,c,a,b,s" {
		t.Fatalf("order %v", ids)
	}

	// By data-centre share: the highest share first, then more data-centre clicks, then
	// the score order.
	d.cur["dc-half"] = map[string]uint64{"datacenter": 5, "valid": 5}
	d.cur["dc-half-big"] = map[string]uint64{"datacenter": 50, "valid": 50}
	d.cur["dc-most"] = map[string]uint64{"datacenter": 9, "valid": 1}
	d.cur["dc-few"] = map[string]uint64{"datacenter": 1, "hidden_frame": 99}
	ids = ids[:0]
	for i, p := range rankPartners(d, 5, 30*time.Second, SortDatacenter) {
		ids = append(ids, p.PartnerID)
		if p.Rank != i+1 {
			t.Fatalf("rank %d at %d", p.Rank, i)
		}
	}
	if strings.Join(ids, ",") != "dc-most,dc-half-big,dc-half,dc-few,x,c,a,b,s" {
		t.Fatalf("order by datacenter share %v", ids)
	}
}
