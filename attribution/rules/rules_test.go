package rules

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestApplyRate(t *testing.T) {
	f := func(base int64, bp uint32, r Rounding, want int64) {
		t.Helper()
		if got := ApplyRate(base, bp, r); got != want {
			t.Errorf("ApplyRate(%d, %d, %s) = %d, want %d", base, bp, r, got, want)
		}
	}
	// 3.5%: exact, below half, exactly half, above half.
	f(100000, 350, RoundHalfUp, 3500)
	f(150, 350, RoundHalfUp, 5)     // 5.25 -> 5
	f(100, 350, RoundHalfUp, 4)     // 3.5 -> 4
	f(10, 350, RoundHalfUp, 0)      // 0.35 -> 0
	f(12345, 350, RoundHalfUp, 432) // 432.075 -> 432
	f(12345, 250, RoundHalfUp, 309) // 308.625 -> 309
	f(100, 350, RoundHalfEven, 4)   // 3.5 -> 4 (even)
	f(300, 250, RoundHalfEven, 8)   // 7.5 -> 8 (even)
	f(500, 250, RoundHalfEven, 12)  // 12.5 -> 12 (even)
	f(100, 350, RoundFloor, 3)
	f(0, 350, RoundHalfUp, 0)
	f(MaxAmount, 10000, RoundHalfUp, MaxAmount) // no overflow at the bounds
	f(MaxAmount, 350, RoundHalfUp, MaxAmount/10000*350)
}

func TestParsePeriod(t *testing.T) {
	f := func(s string, want Period) {
		t.Helper()
		got, err := ParsePeriod(s)
		if err != nil || got != want {
			t.Errorf("ParsePeriod(%q) = %v, %v; want %v", s, got, err, want)
		}
		if back := got.String(); back != s {
			t.Errorf("Period(%q).String() = %q", s, back)
		}
	}
	f("P30D", Period{Days: 30})
	f("P3Y", Period{Years: 3})
	f("P1Y6M2D", Period{Years: 1, Months: 6, Days: 2})
	f("PT5M", Period{Dur: 5 * time.Minute})
	f("P1DT2H30S", Period{Days: 1, Dur: 2*time.Hour + 30*time.Second})
	bad := func(s string) {
		t.Helper()
		if p, err := ParsePeriod(s); err == nil {
			t.Errorf("ParsePeriod(%q) = %v, want an error", s, p)
		}
	}
	bad("")
	bad("P")
	bad("30D")
	bad("PT")
	bad("P3D2Y") // out of order
	bad("P1W")
	bad("P-1D")
	bad("P1.5Y")
	bad("P1234567890D")
}

func TestPeriodAfterIsCalendar(t *testing.T) {
	f := func(p string, from, want string) {
		t.Helper()
		pp, _ := ParsePeriod(p)
		a, _ := time.Parse(time.RFC3339, from)
		if got := pp.After(a).Format(time.RFC3339); got != want {
			t.Errorf("%s after %s = %s, want %s", p, from, got, want)
		}
	}
	f("P180D", "2026-01-01T00:00:00Z", "2026-06-30T00:00:00Z")
	f("P3Y", "2026-01-01T12:00:00Z", "2029-01-01T12:00:00Z")
	f("P3Y", "2024-02-29T00:00:00Z", "2027-03-01T00:00:00Z") // no Feb 29th: normalised
	f("P30D", "2026-03-28T23:00:00+03:00", "2026-04-27T20:00:00Z")
}

// TestDeployRulesIsTheDefault keeps deploy/rules.json and Default the same program.
func TestDeployRulesIsTheDefault(t *testing.T) {
	r, err := Load("../../deploy/rules.json")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r, Default()) {
		a, _ := json.MarshalIndent(r, "", "  ")
		b, _ := json.MarshalIndent(Default(), "", "  ")
		t.Errorf("deploy/rules.json:\n%s\nDefaultRules():\n%s", a, b)
	}
	if p := r.RevenueShareAt(time.Now()); p == nil || p.BuyerRateBP != 350 || p.SellerRateBP != 250 || p.Rounding != RoundHalfUp {
		t.Errorf("default revenue share: %+v", p)
	}
}

func TestRulesValidate(t *testing.T) {
	f := func(js, wantErr string) {
		t.Helper()
		_, err := Parse([]byte(js))
		if wantErr == "" && err != nil || wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)) {
			t.Errorf("ParseRules(%s) = %v, want an error containing %q", js, err, wantErr)
		}
	}
	f(`{"programs": [{"id": "rs", "type": "revenue_share", "buyer_rate_bp": 350, "seller_rate_bp": 250}]}`, "")
	f(`{"programs": [{"id": "rs", "type": "revenue_share", "buyer_rate_bp": 35000}]}`, "at most 10000")
	f(`{"programs": [{"id": "rs", "type": "revenue_share", "rounding": "up"}]}`, "rounding must be")
	f(`{"programs": [{"id": "RS", "type": "revenue_share"}]}`, "id must match")
	f(`{"programs": [{"id": "a", "type": "revenue_share"}, {"id": "b", "type": "revenue_share"}]}`, "at the same time")
	f(`{"programs": [{"id": "a", "type": "revenue_share", "until": "2026-01-01T00:00:00Z"},
		{"id": "b", "type": "revenue_share", "from": "2026-01-01T00:00:00Z"}]}`, "")
	f(`{"programs": [{"id": "m", "type": "milestone", "currency": "usd", "threshold": 1, "bounty": 1, "window": "P2Y"}]}`, "ISO 4217")
	f(`{"programs": [{"id": "m", "type": "milestone", "currency": "USD", "threshold": 0, "bounty": 1, "window": "P2Y"}]}`, "threshold and bounty")
	f(`{"programs": [{"id": "m", "type": "milestone", "currency": "USD", "threshold": 1, "bounty": 1}]}`, "window must be positive")
	f(`{"programs": [{"id": "x", "type": "cpa"}]}`, "type must be")
	f(`{"attribution": {"model": "first_click"}}`, "only last_click")
	f(`{"attribution": {"window": "30 days"}}`, "ISO 8601")
	f(`{"programs": [], "typo": 1}`, "unknown field")
}
