package rules

import (
	"testing"
	"time"

	"github.com/refedge/refedge/attribution/event"
)

func TestRevenueShareAtFollowsEventTime(t *testing.T) {
	r, err := Parse([]byte(`{"programs": [
		{"id": "old", "type": "revenue_share", "buyer_rate_bp": 300, "seller_rate_bp": 200, "until": "2026-01-01T00:00:00Z"},
		{"id": "new", "type": "revenue_share", "buyer_rate_bp": 350, "seller_rate_bp": 250, "from": "2026-01-01T00:00:00Z"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	o := &event.OrderCompleted{OrderID: "o", BuyerID: "b", SellerID: "s", AmountMain: 10000, AmountBonus: 500, Currency: "EUR"}
	f := func(at string, buyer, seller int64, prog string) {
		t.Helper()
		ts, _ := time.Parse(time.RFC3339, at)
		lines := r.OrderLines(o, ts)
		if len(lines) != 2 || lines[0].Amount != buyer || lines[1].Amount != seller || lines[0].Program != prog ||
			lines[0].Key != "order:o:buyer" || lines[1].Key != "order:o:seller" || lines[0].Base != 10000 {
			t.Errorf("lines at %s: %+v", at, lines)
		}
	}
	f("2025-12-31T23:59:59Z", 300, 200, "old")
	f("2026-01-01T00:00:00Z", 350, 250, "new")
	// A bonus-only order has lines of base 0, earning nothing, for the ledger to record
	// as decided "bonus_only".
	lines := r.OrderLines(&event.OrderCompleted{OrderID: "o", AmountBonus: 500, Currency: "EUR"}, time.Now())
	if len(lines) != 2 || lines[0].Base != 0 || lines[0].Amount != 0 || lines[1].Base != 0 || lines[1].Amount != 0 {
		t.Errorf("a bonus-only order's lines: %+v", lines)
	}
}
