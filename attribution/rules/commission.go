package rules

import (
	"time"

	"github.com/refedge/refedge/attribution/event"
)

// OrderKey returns the idempotency key of an order's commission line for role.
func OrderKey(orderID, role string) string { return "order:" + orderID + ":" + role }

// ReversalKey returns the idempotency key of the reversal of the line key.
func ReversalKey(key string) string { return key + ":reversal" }

// CommissionLine is what one role of an order earns under the rules in force at the
// order's time, before the ledger decides whether the referral may earn it.
type CommissionLine struct {
	Key      string
	Role     string
	UserID   string // the referral: the buyer or the seller
	Base     int64  // amount paid from the main balance
	RateBP   uint32
	Rounding Rounding // also rounds the reversal of a partial refund
	Amount   int64
	Currency string
	Program  string
}

// noProgram names the program of a line computed while no revenue_share program is in
// force: its amount is 0, so no commission event carries it, but it still counts the
// buyer's payment towards milestones.
const NoProgram = "none"

// OrderLines returns the commission lines of a completed order: buyer first, then seller.
// The base is amount_main only — bonus balance and promo codes never earn (program rule
// 4): an order paid wholly from bonus has lines of base 0, which the ledger records as
// decided "bonus_only". Each line is rounded on its own (see Rounding).
func (r *Rules) OrderLines(o *event.OrderCompleted, at time.Time) []CommissionLine {
	if o.AmountMain < 0 {
		return nil
	}
	prog, buyerBP, sellerBP, rounding := NoProgram, uint32(0), uint32(0), RoundHalfUp
	if p := r.RevenueShareAt(at); p != nil {
		prog, buyerBP, sellerBP, rounding = p.ID, p.BuyerRateBP, p.SellerRateBP, p.Rounding
	}
	line := func(role, user string, bp uint32) CommissionLine {
		return CommissionLine{Key: OrderKey(o.OrderID, role), Role: role, UserID: user, Base: o.AmountMain,
			RateBP: bp, Rounding: rounding, Amount: ApplyRate(o.AmountMain, bp, rounding), Currency: o.Currency, Program: prog}
	}
	return []CommissionLine{line(event.RoleBuyer, o.BuyerID, buyerBP), line(event.RoleSeller, o.SellerID, sellerBP)}
}
