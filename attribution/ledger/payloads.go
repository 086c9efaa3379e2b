package ledger

import (
	"strconv"
	"time"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/attribution/rules"
)

// newLineArg converts the line to ledger.lua's form, with the order's refunds known so far.
func newLineArg(l *rules.CommissionLine, o *event.OrderCompleted, atMS int64, refunds []refundArg) lineArg {
	a := lineArg{Key: l.Key, Role: l.Role, OrderID: o.OrderID, Buyer: o.BuyerID, Seller: o.SellerID,
		Base: itoa64(l.Base), Rate: strconv.FormatUint(uint64(l.RateBP), 10), Rounding: string(l.Rounding), Amount: itoa64(l.Amount),
		Currency: l.Currency, Program: l.Program, AtMS: itoa64(atMS), Refunds: refunds}
	if o.PaidAt != nil {
		a.PaidAtMS = itoa64(o.PaidAt.UnixMilli())
	}
	return a
}

// commissionPayload converts an outbox entry to the commission event payload.
func commissionPayload(e *outboxEvent) event.CommissionPayload {
	rate, _ := strconv.ParseUint(e.Rate, 10, 32)
	return event.CommissionPayload{Key: e.Key, PartnerID: e.PartnerID, ReferralUserID: e.UserID, OrderID: e.OrderID, Role: e.Role,
		BaseAmount: atoi64(e.Base), RateBP: uint32(rate), Amount: atoi64(e.Amount), Currency: e.Currency,
		Program: e.Program, Reverses: e.Reverses}
}

// attributionPayload converts an outbox entry to the attribution event payload.
func attributionPayload(e *outboxEvent) event.AttributionPayload {
	p := event.AttributionPayload{UserID: e.UserID, PartnerID: e.PartnerID, ClickID: e.ClickID, State: e.State,
		RegisteredAt: msTime(e.RegisteredAtMS), ActivationDeadline: msTime(e.ActivationDeadlineMS), ExpiresAt: msTime(e.ExpiresAtMS), Cause: e.Cause}
	if e.ActivatedAtMS != "" {
		a := msTime(e.ActivatedAtMS)
		p.ActivatedAt = &a
	}
	return p
}

func msTime(s string) time.Time { return time.UnixMilli(atoi64(s)).UTC() }
