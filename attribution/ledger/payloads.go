package ledger

import (
	"strconv"
	"time"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/attribution/rules"
)

// newLineArg converts the line to ledger.lua's form, with the order's refunds known so far.
func newLineArg(l *rules.CommissionLine, o *event.OrderCompleted, atMS int64, refunds []refundArg) lineArg {
	a := lineArg{Key: l.Key, Role: l.Role, O: o.OrderID, Buyer: o.BuyerID, Seller: o.SellerID,
		B: itoa64(l.Base), Rate: strconv.FormatUint(uint64(l.RateBP), 10), Rnd: string(l.Rounding), Amt: itoa64(l.Amount),
		Cur: l.Currency, Prog: l.Program, T: itoa64(atMS), RFs: refunds}
	if o.PaidAt != nil {
		a.PA = itoa64(o.PaidAt.UnixMilli())
	}
	return a
}

// commissionPayload converts an outbox entry to the commission event payload.
func commissionPayload(e *outboxEvent) event.CommissionPayload {
	rate, _ := strconv.ParseUint(e.Rate, 10, 32)
	return event.CommissionPayload{Key: e.Key, PartnerID: e.P, ReferralUserID: e.U, OrderID: e.O, Role: e.Role,
		BaseAmount: atoi64(e.B), RateBP: uint32(rate), Amount: atoi64(e.Amt), Currency: e.Cur,
		Program: e.Prog, Reverses: e.Rev}
}

// attributionPayload converts an outbox entry to the attribution event payload.
func attributionPayload(e *outboxEvent) event.AttributionPayload {
	p := event.AttributionPayload{UserID: e.U, PartnerID: e.P, ClickID: e.C, State: e.St,
		RegisteredAt: msTime(e.R), ActivationDeadline: msTime(e.AD), ExpiresAt: msTime(e.XD), Cause: e.Cause}
	if e.A != "" {
		a := msTime(e.A)
		p.ActivatedAt = &a
	}
	return p
}

func msTime(s string) time.Time { return time.UnixMilli(atoi64(s)).UTC() }
