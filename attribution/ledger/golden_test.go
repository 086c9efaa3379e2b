package ledger

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/attribution/rules"
	"github.com/refedge/refedge/attribution/simulate"
	"github.com/refedge/refedge/internal/admin/admintest"
	"github.com/refedge/refedge/internal/refcookie"
)

// The golden scenarios run through the real path: the simulated core produces to the
// embedded broker over TCP, the ledger consumes with consumer groups, keeps its state in
// the real Redis and produces to the output topics, which the test reads back. Each
// scenario has ids of its own ($B becomes <run>-<scenario>-B) and expects exactly the
// output lines listed, in event-time order.

var goldenT0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

// goldenRules is the default program with the milestone example enabled under the id
// "ms": 50.00 once when a referral's billed total reaches 1000.00 within 2 years.
func goldenRules() *rules.Rules {
	r := rules.Default()
	r.Programs[1] = rules.Program{ID: "ms", Type: rules.ProgramMilestone, Currency: "USD", Threshold: 100000, Bounty: 5000, Window: rules.Period{Years: 2}}
	return r
}

// scen builds one scenario's input. Facts go out in phases: phase 0 (partners and their
// own accounts) is consumed before phase 1, and phase 1 before phase 2, so a scenario
// can force "this arrived before that".
type scen struct {
	prefix string
	phases [3][]func(c *simulate.Core)
	phase  int
	// revoke marks the click of an rfe_ref value revoked, as the verification beacon does.
	revoke func(cookie string)
}

func (s *scen) id(name string) string { return s.prefix + name }

func (s *scen) at(f func(c *simulate.Core)) { s.phases[s.phase] = append(s.phases[s.phase], f) }

// partner registers partner name, with its own marketplace account <name>u, 60 days
// before T0.
func (s *scen) partner(name, status string) {
	p, u, t := s.id(name), s.id(name+"u"), goldenT0.Add(-60*day)
	s.phases[0] = append(s.phases[0], func(c *simulate.Core) {
		c.Partner(p, u, status, t)
		c.Register(u, "", "vis-"+u, t)
	})
}

// partnerOnly registers a partner whose own account has not signed up yet.
func (s *scen) partnerOnly(name, status string) {
	p, u, t := s.id(name), s.id(name+"u"), goldenT0.Add(-60*day)
	s.phases[0] = append(s.phases[0], func(c *simulate.Core) { c.Partner(p, u, status, t) })
}

// partnerStatus changes a partner's status at t.
func (s *scen) partnerStatus(name, status string, t time.Time) {
	p, u := s.id(name), s.id(name+"u")
	s.phases[0] = append(s.phases[0], func(c *simulate.Core) { c.Partner(p, u, status, t) })
}

// refer signs user up at t after a click on partner's link an hour earlier.
func (s *scen) refer(user, partner string, t time.Time) {
	s.referClick(user, partner, t.Add(-time.Hour), t)
}

func (s *scen) referClick(user, partner string, click, t time.Time) {
	u, p := s.id(user), s.id(partner)
	s.at(func(c *simulate.Core) { c.Register(u, c.Click(p, click), "vis-"+u, t) })
}

// partnerUnconfirmed registers partner name, active but with its email not confirmed.
func (s *scen) partnerUnconfirmed(name string) {
	p, u, t := s.id(name), s.id(name+"u"), goldenT0.Add(-60*day)
	s.phases[0] = append(s.phases[0], func(c *simulate.Core) {
		c.PartnerWith(event.PartnerUpserted{PartnerID: p, UserID: u, Status: "active"}, t)
		c.Register(u, "", "vis-"+u, t)
	})
}

// partnerConfirmation changes whether partner name's email is confirmed at t.
func (s *scen) partnerConfirmation(name string, confirmed bool, t time.Time) {
	p, u := s.id(name), s.id(name+"u")
	s.phases[0] = append(s.phases[0], func(c *simulate.Core) {
		c.PartnerWith(event.PartnerUpserted{PartnerID: p, UserID: u, Status: "active", EmailConfirmed: confirmed}, t)
	})
}

// referRevoked signs user up at t after a click on partner's link that the verification
// beacon revoked.
func (s *scen) referRevoked(user, partner string, t time.Time) {
	u, p := s.id(user), s.id(partner)
	s.at(func(c *simulate.Core) {
		cookie := c.Click(p, t.Add(-time.Hour))
		s.revoke(cookie)
		c.Register(u, cookie, "vis-"+u, t)
	})
}

func (s *scen) orderPaid(id, buyer, seller string, main int64, paid, t time.Time) {
	o, b, sl := s.id(id), s.id(buyer), s.id(seller)
	s.at(func(c *simulate.Core) {
		c.OrderWith(event.OrderCompleted{OrderID: o, BuyerID: b, SellerID: sl, AmountMain: main, Currency: "USD", PaidAt: &paid}, t)
	})
}

func (s *scen) refundPart(id, buyer string, main int64, t time.Time) {
	o, b := s.id(id), s.id(buyer)
	s.at(func(c *simulate.Core) { c.RefundPart(o, b, main, t) })
}

func (s *scen) signup(user string, t time.Time) {
	u := s.id(user)
	s.at(func(c *simulate.Core) { c.Register(u, "", "vis-"+u, t) })
}

func (s *scen) moderate(seller string, t time.Time) {
	u := s.id(seller)
	s.at(func(c *simulate.Core) { c.Moderate("k-"+u, u, true, t) })
}

func (s *scen) order(id, buyer, seller string, main, bonus int64, t time.Time) {
	o, b, sl := s.id(id), s.id(buyer), s.id(seller)
	s.at(func(c *simulate.Core) { c.Order(o, b, sl, main, bonus, "USD", t) })
}

func (s *scen) refund(id, buyer string, t time.Time) {
	o, b := s.id(id), s.id(buyer)
	s.at(func(c *simulate.Core) { c.Refund(o, b, t) })
}

type goldenCase struct {
	name  string
	setup func(s *scen)
	want  []string
	// replayMayDiffer: a replay into an empty ledger may decide this scenario
	// differently, because it depends on the order of two topics (documented in
	// docs/commissions.md, "Ordering").
	replayMayDiffer bool
}

var goldenCases = []goldenCase{
	{"buyer_and_seller", func(s *scen) {
		s.partner("P1", "active")
		s.partner("P2", "active")
		s.refer("B", "P1", goldenT0)
		s.refer("S", "P2", goldenT0)
		s.moderate("S", goldenT0.Add(day))
		s.order("O1", "B", "S", 90000, 0, goldenT0.Add(10*day))
	}, []string{
		"attributed user=$B partner=$P1 state=pending @2026-01-01T00:00:00",
		"attributed user=$S partner=$P2 state=pending @2026-01-01T00:00:00",
		"activated user=$S partner=$P2 state=active cause=kwork @2026-01-02T00:00:00",
		"activated user=$B partner=$P1 state=active cause=order @2026-01-11T00:00:00",
		"accrued order:$O1:buyer partner=$P1 user=$B base=90000 rate=350 amount=3150 USD @2026-01-11T00:00:00",
		"accrued order:$O1:seller partner=$P2 user=$S base=90000 rate=250 amount=2250 USD @2026-01-11T00:00:00",
	}, false},
	{"both_roles_one_partner", func(s *scen) {
		s.partner("P1", "active")
		s.refer("B", "P1", goldenT0)
		s.refer("S", "P1", goldenT0)
		s.moderate("S", goldenT0.Add(day))
		s.order("O1", "B", "S", 12345, 0, goldenT0.Add(5*day)) // 432.075 -> 432, 308.625 -> 309
	}, []string{
		"attributed user=$B partner=$P1 state=pending @2026-01-01T00:00:00",
		"attributed user=$S partner=$P1 state=pending @2026-01-01T00:00:00",
		"activated user=$S partner=$P1 state=active cause=kwork @2026-01-02T00:00:00",
		"activated user=$B partner=$P1 state=active cause=order @2026-01-06T00:00:00",
		"accrued order:$O1:buyer partner=$P1 user=$B base=12345 rate=350 amount=432 USD @2026-01-06T00:00:00",
		"accrued order:$O1:seller partner=$P1 user=$S base=12345 rate=250 amount=309 USD @2026-01-06T00:00:00",
	}, false},
	{"bonus_only_and_mixed", func(s *scen) {
		s.partner("P1", "active")
		s.refer("B", "P1", goldenT0)
		s.signup("S", goldenT0)
		s.order("O1", "B", "S", 0, 5000, goldenT0.Add(5*day))      // bonus only: earns nothing, activates nothing
		s.order("O2", "B", "S", 80000, 20000, goldenT0.Add(6*day)) // mixed: the main part earns
	}, []string{
		"attributed user=$B partner=$P1 state=pending @2026-01-01T00:00:00",
		"activated user=$B partner=$P1 state=active cause=order @2026-01-07T00:00:00",
		"accrued order:$O2:buyer partner=$P1 user=$B base=80000 rate=350 amount=2800 USD @2026-01-07T00:00:00",
	}, false},
	{"activation_day_179", func(s *scen) {
		s.partner("P1", "active")
		s.refer("B", "P1", goldenT0)
		s.signup("S", goldenT0)
		s.order("O1", "B", "S", 10000, 0, goldenT0.Add(179*day))
	}, []string{
		"attributed user=$B partner=$P1 state=pending @2026-01-01T00:00:00",
		"activated user=$B partner=$P1 state=active cause=order @2026-06-29T00:00:00",
		"accrued order:$O1:buyer partner=$P1 user=$B base=10000 rate=350 amount=350 USD @2026-06-29T00:00:00",
	}, false},
	{"activation_day_181", func(s *scen) {
		s.partner("P1", "active")
		s.refer("B", "P1", goldenT0)
		s.signup("S", goldenT0)
		s.order("O1", "B", "S", 10000, 0, goldenT0.Add(181*day))
	}, []string{
		"attributed user=$B partner=$P1 state=pending @2026-01-01T00:00:00",
		"detached user=$B partner=$P1 state=detached @2026-06-30T00:00:00",
	}, false},
	{"three_years_and_a_day", func(s *scen) {
		s.partner("P1", "active")
		s.refer("B", "P1", goldenT0)
		s.signup("S", goldenT0)
		s.order("O1", "B", "S", 10000, 0, goldenT0.Add(day))
		s.order("O2", "B", "S", 10000, 0, goldenT0.AddDate(3, 0, -1))
		s.order("O3", "B", "S", 10000, 0, goldenT0.AddDate(3, 0, 1))
	}, []string{
		"attributed user=$B partner=$P1 state=pending @2026-01-01T00:00:00",
		"activated user=$B partner=$P1 state=active cause=order @2026-01-02T00:00:00",
		"accrued order:$O1:buyer partner=$P1 user=$B base=10000 rate=350 amount=350 USD @2026-01-02T00:00:00",
		"accrued order:$O2:buyer partner=$P1 user=$B base=10000 rate=350 amount=350 USD @2028-12-31T00:00:00",
		"expired user=$B partner=$P1 state=expired @2029-01-01T00:00:00",
	}, false},
	{"refund_reversal", func(s *scen) {
		s.partner("P1", "active")
		s.partner("P2", "active")
		s.refer("B", "P1", goldenT0)
		s.refer("S", "P2", goldenT0)
		s.moderate("S", goldenT0.Add(day))
		s.order("O1", "B", "S", 100000, 0, goldenT0.Add(10*day)) // 1000.00 also reaches both milestones
		s.refund("O1", "B", goldenT0.Add(20*day))                // which the refund takes back too
	}, []string{
		"attributed user=$B partner=$P1 state=pending @2026-01-01T00:00:00",
		"attributed user=$S partner=$P2 state=pending @2026-01-01T00:00:00",
		"activated user=$S partner=$P2 state=active cause=kwork @2026-01-02T00:00:00",
		"activated user=$B partner=$P1 state=active cause=order @2026-01-11T00:00:00",
		"accrued order:$O1:buyer partner=$P1 user=$B base=100000 rate=350 amount=3500 USD @2026-01-11T00:00:00",
		"accrued order:$O1:seller partner=$P2 user=$S base=100000 rate=250 amount=2500 USD @2026-01-11T00:00:00",
		"accrued milestone:ms:$B:1 partner=$P1 user=$B base=100000 rate=0 amount=5000 USD @2026-01-11T00:00:00",
		"accrued milestone:ms:$S:1 partner=$P2 user=$S base=100000 rate=0 amount=5000 USD @2026-01-11T00:00:00",
		"reversed order:$O1:buyer:reversal partner=$P1 user=$B base=100000 rate=350 amount=3500 USD @2026-01-21T00:00:00",
		"reversed order:$O1:seller:reversal partner=$P2 user=$S base=100000 rate=250 amount=2500 USD @2026-01-21T00:00:00",
		"reversed milestone:ms:$B:1:reversal partner=$P1 user=$B base=100000 rate=0 amount=5000 USD @2026-01-21T00:00:00",
		"reversed milestone:ms:$S:1:reversal partner=$P2 user=$S base=100000 rate=0 amount=5000 USD @2026-01-21T00:00:00",
	}, false},
	{"milestone_once", func(s *scen) {
		s.partner("P1", "active")
		s.refer("B", "P1", goldenT0)
		s.signup("S", goldenT0)
		s.order("O1", "B", "S", 60000, 0, goldenT0.Add(day))
		s.order("O2", "B", "S", 50000, 0, goldenT0.Add(2*day)) // 1100.00 reaches 1000.00
		s.order("O3", "B", "S", 30000, 0, goldenT0.Add(3*day)) // and it is not paid again
	}, []string{
		"attributed user=$B partner=$P1 state=pending @2026-01-01T00:00:00",
		"activated user=$B partner=$P1 state=active cause=order @2026-01-02T00:00:00",
		"accrued order:$O1:buyer partner=$P1 user=$B base=60000 rate=350 amount=2100 USD @2026-01-02T00:00:00",
		"accrued order:$O2:buyer partner=$P1 user=$B base=50000 rate=350 amount=1750 USD @2026-01-03T00:00:00",
		"accrued milestone:ms:$B:1 partner=$P1 user=$B base=110000 rate=0 amount=5000 USD @2026-01-03T00:00:00",
		"accrued order:$O3:buyer partner=$P1 user=$B base=30000 rate=350 amount=1050 USD @2026-01-04T00:00:00",
	}, false},
	{"milestone_refund_rearms", func(s *scen) {
		s.partner("P1", "active")
		s.refer("B", "P1", goldenT0)
		s.signup("S", goldenT0)
		s.order("O1", "B", "S", 60000, 0, goldenT0.Add(day))
		s.order("O2", "B", "S", 50000, 0, goldenT0.Add(2*day))
		s.refund("O2", "B", goldenT0.Add(3*day))               // 600.00 net: the bounty goes back
		s.order("O3", "B", "S", 45000, 0, goldenT0.Add(4*day)) // 1050.00 net: paid, once
	}, []string{
		"attributed user=$B partner=$P1 state=pending @2026-01-01T00:00:00",
		"activated user=$B partner=$P1 state=active cause=order @2026-01-02T00:00:00",
		"accrued order:$O1:buyer partner=$P1 user=$B base=60000 rate=350 amount=2100 USD @2026-01-02T00:00:00",
		"accrued order:$O2:buyer partner=$P1 user=$B base=50000 rate=350 amount=1750 USD @2026-01-03T00:00:00",
		"accrued milestone:ms:$B:1 partner=$P1 user=$B base=110000 rate=0 amount=5000 USD @2026-01-03T00:00:00",
		"reversed order:$O2:buyer:reversal partner=$P1 user=$B base=50000 rate=350 amount=1750 USD @2026-01-04T00:00:00",
		"reversed milestone:ms:$B:1:reversal partner=$P1 user=$B base=110000 rate=0 amount=5000 USD @2026-01-04T00:00:00",
		"accrued order:$O3:buyer partner=$P1 user=$B base=45000 rate=350 amount=1575 USD @2026-01-05T00:00:00",
		"accrued milestone:ms:$B:2 partner=$P1 user=$B base=105000 rate=0 amount=5000 USD @2026-01-05T00:00:00",
	}, false},
	{"self_referral", func(s *scen) {
		s.partner("P1", "active")
		s.partnerOnly("P2", "active")
		s.signup("S", goldenT0)
		// P2's own account signs up through P2's link: refused (same user).
		p2u := s.id("P2u")
		s.at(func(c *simulate.Core) { c.Register(p2u, c.Click(s.id("P2"), goldenT0), "x", goldenT0) })
		s.order("O1", "P2u", "S", 10000, 0, goldenT0.Add(day))
		// X signs up from P1's own browser: refused (same visitor).
		x, p1 := s.id("X"), s.id("P1")
		s.at(func(c *simulate.Core) { c.Register(x, c.Click(p1, goldenT0), "vis-"+s.id("P1u"), goldenT0) })
	}, nil, true},
	{"blocked_partner", func(s *scen) {
		s.partner("PB", "blocked")
		s.refer("B", "PB", goldenT0)
		s.signup("S", goldenT0)
		s.order("O1", "B", "S", 10000, 0, goldenT0.Add(day))
	}, nil, false},
	{"partner_blocked_later", func(s *scen) {
		// A partner blocked for a while earns nothing from orders made meanwhile.
		s.partner("P1", "active")
		s.partnerStatus("P1", "blocked", goldenT0.Add(10*day))
		s.partnerStatus("P1", "active", goldenT0.Add(20*day))
		s.refer("B", "P1", goldenT0)
		s.signup("S", goldenT0)
		s.order("O1", "B", "S", 10000, 0, goldenT0.Add(day))
		s.order("O2", "B", "S", 10000, 0, goldenT0.Add(15*day))
		s.order("O3", "B", "S", 10000, 0, goldenT0.Add(25*day))
	}, []string{
		"attributed user=$B partner=$P1 state=pending @2026-01-01T00:00:00",
		"activated user=$B partner=$P1 state=active cause=order @2026-01-02T00:00:00",
		"accrued order:$O1:buyer partner=$P1 user=$B base=10000 rate=350 amount=350 USD @2026-01-02T00:00:00",
		"accrued order:$O3:buyer partner=$P1 user=$B base=10000 rate=350 amount=350 USD @2026-01-26T00:00:00",
	}, true},
	{"own_order", func(s *scen) {
		// The partner sells to their own referral: no commission, and no activation.
		s.partner("P1", "active")
		s.refer("B", "P1", goldenT0)
		s.order("O1", "B", "P1u", 10000, 0, goldenT0.Add(day))
	}, []string{
		"attributed user=$B partner=$P1 state=pending @2026-01-01T00:00:00",
	}, false},
	{"click_expired", func(s *scen) {
		s.partner("P1", "active")
		s.referClick("B", "P1", goldenT0.Add(-31*day), goldenT0)
		s.signup("S", goldenT0)
		s.order("O1", "B", "S", 10000, 0, goldenT0.Add(day))
	}, nil, false},
	{"order_before_registration", func(s *scen) {
		// The order is consumed before the signup it depends on: it waits, then the
		// signup activates the referral and pays it.
		s.partner("P1", "active")
		s.signup("S", goldenT0)
		s.order("O1", "B", "S", 10000, 0, goldenT0.Add(day))
		s.phase = 2
		s.refer("B", "P1", goldenT0)
	}, []string{
		"attributed user=$B partner=$P1 state=pending @2026-01-01T00:00:00",
		"activated user=$B partner=$P1 state=active cause=order @2026-01-02T00:00:00",
		"accrued order:$O1:buyer partner=$P1 user=$B base=10000 rate=350 amount=350 USD @2026-01-02T00:00:00",
	}, false},
	{"sale_before_moderation", func(s *scen) {
		// The seller's sale is consumed before the moderation that activated them days
		// earlier: the line waits for the fact, then pays.
		s.partner("P2", "active")
		s.refer("S", "P2", goldenT0)
		s.signup("B", goldenT0)
		s.order("O1", "B", "S", 10000, 0, goldenT0.Add(20*day))
		s.phase = 2
		s.moderate("S", goldenT0.Add(15*day))
	}, []string{
		"attributed user=$S partner=$P2 state=pending @2026-01-01T00:00:00",
		"activated user=$S partner=$P2 state=active cause=kwork @2026-01-16T00:00:00",
		"accrued order:$O1:seller partner=$P2 user=$S base=10000 rate=250 amount=250 USD @2026-01-21T00:00:00",
	}, false},
	{"refund_before_order", func(s *scen) {
		s.partner("P1", "active")
		s.refer("B", "P1", goldenT0)
		s.signup("S", goldenT0)
		s.refund("O1", "B", goldenT0.Add(11*day))
		s.phase = 2
		s.order("O1", "B", "S", 10000, 0, goldenT0.Add(10*day))
	}, []string{
		"attributed user=$B partner=$P1 state=pending @2026-01-01T00:00:00",
		"activated user=$B partner=$P1 state=active cause=order @2026-01-11T00:00:00",
		"accrued order:$O1:buyer partner=$P1 user=$B base=10000 rate=350 amount=350 USD @2026-01-11T00:00:00",
		"reversed order:$O1:buyer:reversal partner=$P1 user=$B base=10000 rate=350 amount=350 USD @2026-01-12T00:00:00",
	}, false},
}

// goldenRuleCases are the program rules that an earlier ledger broke, one scenario each.
var goldenRuleCases = []goldenCase{
	{"unconfirmed_partner_signup", func(s *scen) {
		// Program rule 1: a partner whose email is not confirmed takes no part.
		s.partnerUnconfirmed("P1")
		s.refer("B", "P1", goldenT0)
		s.signup("S", goldenT0)
		s.order("O1", "B", "S", 10000, 0, goldenT0.Add(day))
	}, nil, false},
	{"unconfirmed_partner_orders", func(s *scen) {
		// Confirmed at the signup, unconfirmed from day 10 to day 20: orders meanwhile are
		// withheld; the referral still activates.
		s.partner("P1", "active")
		s.partnerConfirmation("P1", false, goldenT0.Add(10*day))
		s.partnerConfirmation("P1", true, goldenT0.Add(20*day))
		s.refer("B", "P1", goldenT0)
		s.signup("S", goldenT0)
		s.order("O1", "B", "S", 10000, 0, goldenT0.Add(15*day))
		s.order("O2", "B", "S", 10000, 0, goldenT0.Add(25*day))
	}, []string{
		"attributed user=$B partner=$P1 state=pending @2026-01-01T00:00:00",
		"activated user=$B partner=$P1 state=active cause=order @2026-01-16T00:00:00",
		"accrued order:$O2:buyer partner=$P1 user=$B base=10000 rate=350 amount=350 USD @2026-01-26T00:00:00",
	}, true},
	{"revoked_click", func(s *scen) {
		// Program rule 6: the beacon revoked the click; the cookie that survived it does
		// not attribute.
		s.partner("P1", "active")
		s.referRevoked("B", "P1", goldenT0)
		s.signup("S", goldenT0)
		s.order("O1", "B", "S", 10000, 0, goldenT0.Add(day))
	}, nil, false},
	{"self_dealing", func(s *scen) {
		// Program rule 4: buyer and seller are the same user: nothing is earned, nothing
		// activates.
		s.partner("P1", "active")
		s.refer("B", "P1", goldenT0)
		s.order("O1", "B", "B", 10000, 0, goldenT0.Add(day))
	}, []string{
		"attributed user=$B partner=$P1 state=pending @2026-01-01T00:00:00",
	}, false},
	{"partial_refunds", func(s *scen) {
		// Program rule 7: 100.00 of 1000.00 refunded reverses 3.50 of 35.00; a second
		// refund of 950.00 can only take the 900.00 left, and the two add up to the whole.
		s.partner("P1", "active")
		s.refer("B", "P1", goldenT0)
		s.signup("S", goldenT0)
		s.order("O1", "B", "S", 100000, 0, goldenT0.Add(day))
		s.refundPart("O1", "B", 10000, goldenT0.Add(2*day))
		s.refundPart("O1", "B", 95000, goldenT0.Add(3*day))
		s.refund("O1", "B", goldenT0.Add(4*day)) // nothing left to reverse
	}, []string{
		"attributed user=$B partner=$P1 state=pending @2026-01-01T00:00:00",
		"activated user=$B partner=$P1 state=active cause=order @2026-01-02T00:00:00",
		"accrued order:$O1:buyer partner=$P1 user=$B base=100000 rate=350 amount=3500 USD @2026-01-02T00:00:00",
		"accrued milestone:ms:$B:1 partner=$P1 user=$B base=100000 rate=0 amount=5000 USD @2026-01-02T00:00:00",
		"reversed order:$O1:buyer:reversal partner=$P1 user=$B base=10000 rate=350 amount=350 USD @2026-01-03T00:00:00",
		"reversed milestone:ms:$B:1:reversal partner=$P1 user=$B base=100000 rate=0 amount=5000 USD @2026-01-03T00:00:00",
		"reversed order:$O1:buyer:reversal:2 partner=$P1 user=$B base=90000 rate=350 amount=3150 USD @2026-01-04T00:00:00",
	}, false},
	{"activation_while_blocked", func(s *scen) {
		// Program rule 3: the first purchase on day 15, while the partner is blocked,
		// activates the referral (the commission is withheld); the order on day 200,
		// after the block, pays.
		s.partner("P1", "active")
		s.partnerStatus("P1", "blocked", goldenT0.Add(10*day))
		s.partnerStatus("P1", "active", goldenT0.Add(20*day))
		s.refer("B", "P1", goldenT0)
		s.signup("S", goldenT0)
		s.order("O1", "B", "S", 10000, 0, goldenT0.Add(15*day))
		s.order("O2", "B", "S", 10000, 0, goldenT0.Add(200*day))
	}, []string{
		"attributed user=$B partner=$P1 state=pending @2026-01-01T00:00:00",
		"activated user=$B partner=$P1 state=active cause=order @2026-01-16T00:00:00",
		"accrued order:$O2:buyer partner=$P1 user=$B base=10000 rate=350 amount=350 USD @2026-07-20T00:00:00",
	}, true},
	{"decided_once", func(s *scen) {
		// Program rule 4: an order withheld while the partner was blocked stays decided;
		// the same order completed again after the block pays nothing.
		s.partner("P1", "active")
		s.partnerStatus("P1", "blocked", goldenT0.Add(10*day))
		s.partnerStatus("P1", "active", goldenT0.Add(20*day))
		s.refer("B", "P1", goldenT0)
		s.signup("S", goldenT0)
		s.order("O1", "B", "S", 10000, 0, goldenT0.Add(15*day))
		s.order("O1", "B", "S", 10000, 0, goldenT0.Add(25*day))
	}, []string{
		"attributed user=$B partner=$P1 state=pending @2026-01-01T00:00:00",
		"activated user=$B partner=$P1 state=active cause=order @2026-01-16T00:00:00",
	}, true},
	{"milestone_seller_earnings", func(s *scen) {
		// Program rule 5: what a referred seller earns counts, and the bounty needs no
		// activation: the seller never got a kwork through moderation, so the revenue
		// share waits, but the bounty is paid.
		s.partner("P2", "active")
		s.refer("S", "P2", goldenT0)
		s.signup("B", goldenT0)
		s.order("O1", "B", "S", 60000, 0, goldenT0.Add(day))
		s.order("O2", "B", "S", 50000, 0, goldenT0.Add(2*day))
	}, []string{
		"attributed user=$S partner=$P2 state=pending @2026-01-01T00:00:00",
		"accrued milestone:ms:$S:1 partner=$P2 user=$S base=110000 rate=0 amount=5000 USD @2026-01-03T00:00:00",
	}, false},
	{"paid_at_activates", func(s *scen) {
		// Program rule 3: paid on day 170, completed (money reached the seller) on day
		// 200: the referral activated on day 170, the commission is dated day 200.
		s.partner("P1", "active")
		s.refer("B", "P1", goldenT0)
		s.signup("S", goldenT0)
		s.orderPaid("O1", "B", "S", 10000, goldenT0.Add(170*day), goldenT0.Add(200*day))
	}, []string{
		"attributed user=$B partner=$P1 state=pending @2026-01-01T00:00:00",
		"activated user=$B partner=$P1 state=active cause=order @2026-06-20T00:00:00",
		"accrued order:$O1:buyer partner=$P1 user=$B base=10000 rate=350 amount=350 USD @2026-07-20T00:00:00",
	}, false},
}

func init() { goldenCases = append(goldenCases, goldenRuleCases...) }

// describe renders an output event as a golden line.
func describe(o outEvent) string {
	at := o.OccurredAt.UTC().Format("2006-01-02T15:04:05")
	name := o.Type[strings.IndexByte(o.Type, '.')+1:]
	if c := o.Comm; c != nil {
		return fmt.Sprintf("%s %s partner=%s user=%s base=%d rate=%d amount=%d %s @%s",
			name, c.Key, c.PartnerID, c.ReferralUserID, c.BaseAmount, c.RateBP, c.Amount, c.Currency, at)
	}
	a := o.Attr
	s := fmt.Sprintf("%s user=%s partner=%s state=%s", name, a.UserID, a.PartnerID, a.State)
	if a.Cause != "" && o.Type == event.TypeActivated {
		s += " cause=" + a.Cause
	}
	return s + " @" + at
}

// goldenRun produces every scenario's facts phase by phase and waits for the ledger to
// consume each phase.
func goldenRun(e *ledgerEnv, cfg Config, run string) []*scen {
	scens := make([]*scen, len(goldenCases))
	for i, gc := range goldenCases {
		scens[i] = &scen{prefix: run + "-" + gc.name + "-", phase: 1, revoke: func(cookie string) {
			ref, err := refcookie.Decode([]byte(cookie), e.core.Keys)
			if err != nil {
				panic(err)
			}
			e.rdb.Set(e.ctx, refcookie.RevokedKey(string(ref.ClickID)), "hidden_frame", time.Hour)
		}}
		gc.setup(scens[i])
	}
	for ph := 0; ph < 3; ph++ {
		for _, s := range scens {
			for _, f := range s.phases[ph] {
				f(e.core)
			}
		}
		if ph == 1 {
			deadLetterInput(e.core)
		}
		e.flush()
		e.waitCaughtUp(cfg)
	}
	return scens
}

// deadLetterInput queues invalid events: each must reach the dead-letter topic with its
// reason while consumption goes on.
func deadLetterInput(c *simulate.Core) {
	c.Raw(event.TopicOrders, []byte("k1"), []byte(`{"id": "not json`))
	c.Raw(event.TopicUsers, []byte("k2"), []byte(`{"id":"0196f0a0-0000-7000-8000-0000000000d2","type":"user.deleted","version":1,"occurred_at":"2026-01-01T00:00:00Z","payload":{"user_id":"u"}}`))
	c.Raw(event.TopicOrders, []byte("k3"), []byte(`{"id":"0196f0a0-0000-7000-8000-0000000000d3","type":"order.completed","version":1,"occurred_at":"2026-01-01T00:00:00Z","payload":{"order_id":"o","buyer_id":"b","seller_id":"s","amount_main":-5,"amount_bonus":0,"currency":"USD"}}`))
	c.Raw(event.TopicUsers, []byte("k4"), []byte(`{"id":"0196f0a0-0000-7000-8000-0000000000d4","type":"order.refunded","version":1,"occurred_at":"2026-01-01T00:00:00Z","payload":{"order_id":"o"}}`))
}

var wantDeadLetters = map[string]string{
	"k1": "invalid JSON", "k2": `unknown event type "user.deleted"`, "k3": "schema order.completed: /payload/amount_main",
	"k4": `event type "order.refunded" does not belong on this topic`,
}

func checkGolden(t *testing.T, scens []*scen, outs []outEvent) {
	t.Helper()
	for i, gc := range goldenCases {
		s := scens[i]
		var got []string
		for _, o := range outs {
			u, p := "", ""
			if o.Comm != nil {
				u, p = o.Comm.ReferralUserID, o.Comm.PartnerID
			} else {
				u, p = o.Attr.UserID, o.Attr.PartnerID
			}
			if strings.HasPrefix(u, s.prefix) || strings.HasPrefix(p, s.prefix) {
				got = append(got, strings.ReplaceAll(describe(o), s.prefix, "$"))
			}
		}
		want := append([]string(nil), gc.want...)
		// Events at the same instant may come in either order (different topics).
		sort.Strings(got)
		sort.Strings(want)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("scenario %s:\n got:\n  %s\nwant:\n  %s", gc.name, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
	}
}

// checkLatestState checks that each referral's last attribution event on the topic —
// what compaction keeps — carries the state the ledger holds: events of one referral
// reach the topic in the order the ledger changed it, whichever consumers produced them.
func checkLatestState(t *testing.T, e *ledgerEnv, cfg Config, outs []outEvent) {
	t.Helper()
	last := map[string]*event.AttributionPayload{}
	for _, o := range outs {
		if o.Attr != nil {
			last[o.Attr.UserID] = o.Attr
		}
	}
	k := storeKeys{cfg.KeyPrefix}
	for u, a := range last {
		st, err := e.rdb.HGet(e.ctx, k.rec(u), "st").Result()
		if err != nil {
			t.Fatal(err)
		}
		if a.State != st {
			t.Errorf("referral %s: the topic ends with state %s, the ledger holds %s", u, a.State, st)
		}
	}
}

func checkNoDuplicates(t *testing.T, outs []outEvent) {
	t.Helper()
	ids := map[string]int{}
	keys := map[string]int{}
	for _, o := range outs {
		ids[o.ID]++
		if o.Comm != nil {
			keys[o.Comm.Key]++
		}
	}
	for id, n := range ids {
		if n > 1 {
			t.Errorf("event %s produced %d times", id, n)
		}
	}
	for k, n := range keys {
		if n > 1 {
			t.Errorf("commission key %s produced %d times", k, n)
		}
	}
}

func TestLedgerGolden(t *testing.T) {
	t.Parallel()
	e := newLedgerEnv(t)
	cfg := e.cfg
	cfg.Rules = goldenRules()
	svc := e.start(cfg)
	run := uniq("g")
	scens := goldenRun(e, cfg, run)
	checkDecisions(t, svc, scens)

	sch, err := LoadEventSchemas()
	if err != nil {
		t.Fatal(err)
	}
	outs := append(e.readOutputs(event.TopicAttributions, sch), e.readOutputs(event.TopicCommissions, sch)...)
	checkGolden(t, scens, outs)
	checkNoDuplicates(t, outs)
	checkLatestState(t, e, cfg, outs)

	var dead []kafka.Message
	if err := readTopic(e.ctx, e.brokers, event.TopicDeadLetter, func(m kafka.Message) error { dead = append(dead, m); return nil }); err != nil {
		t.Fatal(err)
	}
	// Dead-lettering is at-least-once like every produce (a retried batch may send one
	// twice), so what must hold is that each bad event is there, and nothing else is.
	seenDead := map[string]bool{}
	for _, m := range dead {
		seenDead[string(m.Key)] = true
	}
	for k := range wantDeadLetters {
		if !seenDead[k] {
			t.Errorf("dead letter %s missing", k)
		}
	}
	if len(seenDead) != len(wantDeadLetters) {
		t.Errorf("dead letters for %d events, want %d: %v", len(seenDead), len(wantDeadLetters), seenDead)
	}
	for _, m := range dead {
		h := map[string]string{}
		for _, x := range m.Headers {
			h[x.Key] = string(x.Value)
		}
		want := wantDeadLetters[string(m.Key)]
		if !strings.HasPrefix(h[HeaderDLQReason], want) {
			t.Errorf("dead letter %s: reason %q, want prefix %q", m.Key, h[HeaderDLQReason], want)
		}
		if h[HeaderDLQTopic] == "" || h[HeaderDLQOffset] == "" || !strings.Contains(string(m.Value), `"id"`) {
			t.Errorf("dead letter %s lacks its origin or original bytes: %v %q", m.Key, h, m.Value)
		}
	}
}

// checkDecisions checks the recorded decision of some golden scenarios' lines, through
// the operators' admin route.
func checkDecisions(t *testing.T, svc *Service, scens []*scen) {
	t.Helper()
	srv := admintest.New(testLog(t))
	svc.RegisterAdmin(srv)
	byName := map[string]*scen{}
	for i, gc := range goldenCases {
		byName[gc.name] = scens[i]
	}
	get := func(path string, v any) int {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, admintest.AsViewer(httptest.NewRequest("GET", path, nil)))
		if rec.Code == http.StatusOK {
			if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
				t.Fatalf("GET %s: %v: %s", path, err, rec.Body)
			}
		}
		return rec.Code
	}
	f := func(scenario, order, role, status, reason string, refunded, reversed int64) {
		t.Helper()
		s := byName[scenario]
		var od OrderDecisions
		if code := get("/admin/v1/orders/"+s.id(order)+"/decisions", &od); code != http.StatusOK {
			t.Errorf("%s %s: status %d", scenario, order, code)
			return
		}
		for _, d := range od.Lines {
			if d.Role != role {
				continue
			}
			if d.Status != status || d.Reason != reason || d.RefundedBase != refunded || d.ReversedAmount != reversed {
				t.Errorf("%s %s %s: decided %s/%s refunded %d reversed %d, want %s/%s %d %d", scenario, order, role,
					d.Status, d.Reason, d.RefundedBase, d.ReversedAmount, status, reason, refunded, reversed)
			}
			return
		}
		t.Errorf("%s %s: no %s line in %+v", scenario, order, role, od)
	}
	f("decided_once", "O1", event.RoleBuyer, DecisionNotPaid, "withheld_blocked", 0, 0)
	f("decided_once", "O1", event.RoleSeller, DecisionNotPaid, "not_referred", 0, 0)
	f("self_dealing", "O1", event.RoleBuyer, DecisionNotPaid, "self_dealing", 0, 0)
	f("unconfirmed_partner_orders", "O1", event.RoleBuyer, DecisionNotPaid, "withheld_unconfirmed", 0, 0)
	f("unconfirmed_partner_orders", "O2", event.RoleBuyer, DecisionAccrued, "paid", 0, 0)
	f("partial_refunds", "O1", event.RoleBuyer, DecisionReversed, "paid", 100000, 3500)
	f("milestone_seller_earnings", "O1", event.RoleSeller, DecisionWaiting, "not_active", 0, 0)
	f("bonus_only_and_mixed", "O1", event.RoleBuyer, DecisionNotPaid, "bonus_only", 0, 0)
	f("three_years_and_a_day", "O3", event.RoleBuyer, DecisionNotPaid, "expired", 0, 0)
	f("own_order", "O1", event.RoleBuyer, DecisionNotPaid, "own_order", 0, 0)

	var rv ReferralView
	if code := get("/admin/v1/referrals/"+byName["partial_refunds"].id("B"), &rv); code != http.StatusOK ||
		rv.State != event.StateActive || len(rv.Lines) != 2 { // the order's line and the milestone's
		t.Errorf("referral view: status %d, %+v", code, rv)
	}
	if code := get("/admin/v1/orders/no-such-order/decisions", &rv); code != http.StatusNotFound {
		t.Errorf("unknown order: status %d, want 404", code)
	}
	if code := get("/admin/v1/referrals/bad%20id", &rv); code != http.StatusBadRequest {
		t.Errorf("malformed user id: status %d, want 400", code)
	}
}
