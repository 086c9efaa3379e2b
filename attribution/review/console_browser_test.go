package review

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/attribution/ledger"
	"github.com/refedge/refedge/attribution/sink"
	"github.com/refedge/refedge/internal/admin"
	"github.com/refedge/refedge/internal/admin/admintest"
	"github.com/refedge/refedge/internal/testenv"
)

// fakeConsoleLedger answers the console's decisions for one order of the stuffer's
// referral; the ledger's own routes are checked against the real ledger by the golden
// test.
type fakeConsoleLedger struct{}

var consoleAt = time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)

func (fakeConsoleLedger) OrderDecisions(_ context.Context, id string) (ledger.OrderDecisions, error) {
	if id != "o-stuffer-1" {
		return ledger.OrderDecisions{}, ledger.ErrNoRecord
	}
	return ledger.OrderDecisions{OrderID: id, BuyerID: "u-stuffer-1", SellerID: "s-honest", Refunds: []ledger.RefundView{}, Lines: []ledger.Decision{
		{Key: "order:o-stuffer-1:buyer", OrderID: id, Role: event.RoleBuyer, ReferralUserID: "u-stuffer-1", PartnerID: "stuffer", Status: ledger.DecisionAccrued,
			Reason: "paid", At: consoleAt, BaseAmount: 100000, RateBP: 1000, Amount: 10000, Currency: "RUB"},
		{Key: "order:o-stuffer-1:seller", OrderID: id, Role: event.RoleSeller, ReferralUserID: "s-honest", Status: ledger.DecisionNotPaid, Reason: "not_referred"},
	}}, nil
}

func (l fakeConsoleLedger) Referral(ctx context.Context, user string) (ledger.ReferralView, error) {
	if user != "u-stuffer-1" {
		return ledger.ReferralView{}, ledger.ErrNoRecord
	}
	o, _ := l.OrderDecisions(ctx, "o-stuffer-1")
	reg := consoleAt.Add(-time.Hour)
	return ledger.ReferralView{UserID: user, Registered: true, PartnerID: "stuffer", State: "active", RegisteredAt: &reg, ActivatedAt: &consoleAt,
		Lines: o.Lines[:1]}, nil
}

// consoleData adds what the console shows beside the review: a commission event of the
// stuffer's referral and two audit entries about the stuffer.
func consoleData(t *testing.T, e *reviewEnv) {
	t.Helper()
	b, err := e.conn.PrepareBatch(t.Context(), "INSERT INTO "+e.db+".conversions (event_id, ts, type, partner_id, user_id, click_id, order_id, role, idempotency_key, base_amount, rate_bp, amount, currency)")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Append("ev-console-1", consoleAt, "commission.accrued", "stuffer", "u-stuffer-1", "", "o-stuffer-1", event.RoleBuyer, "order:o-stuffer-1:buyer", int64(100000), uint32(1000), int64(10000), "RUB"); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	sink := &sink.ClickHouseAudit{Conn: e.conn, DB: e.db}
	if err := sink.Write(t.Context(), []*admin.AuditEntry{
		{ID: "a1", Time: consoleAt, Operator: "ops-alice", Role: "admin", Via: "token", Method: "PUT", Route: "PUT /admin/v1/partners/{id}",
			Path: "/admin/v1/partners/stuffer", Target: "partner:stuffer", Partner: "stuffer", Status: 200, Before: `{"status":"active"}`, After: `{"status":"blocked"}`},
		{ID: "a2", Time: consoleAt.Add(time.Minute), Operator: "ops-bob", Role: "admin", Via: "token", Method: "DELETE", Route: "DELETE /admin/v1/tokens/{token_id}",
			Path: "/admin/v1/tokens/abc", Target: "token:abc", Partner: "stuffer", Status: 204, After: `{"revoked":true}`},
	}); err != nil {
		t.Fatal(err)
	}
}

// The console in headless Chromium, signed in through the sign-in page as a viewer:
// the ranking, a partner's page with its referrals, orders and audit link, the order's
// commission decisions with their reasons, the referral's page, the audit trail, and the
// lookup box, each reached by following the page's own links.
func TestConsoleInChromium(t *testing.T) {
	e := newReviewEnv(t)
	consoleData(t, e)
	browser := testenv.Chromium(t)
	console := testenv.CollectConsole(t, browser)
	ctx, cancel := context.WithTimeout(browser, 60*time.Second)
	defer cancel()
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { const e = document.querySelector(`+jsQuote(sel)+`); return e ? e.textContent : "" })()`))
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(strings.Fields(s), " ")
	}
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			t.Fatalf("%s: %v (at %s: %s)", what, err, loc, text("main"))
		}
	}
	step("viewport", chromedp.EmulateViewport(1400, 1000))
	step("sign in as the viewer and land on the ranking", append(admintest.SignIn(e.base, admintest.ViewerSecret, "/admin/"), chromedp.WaitVisible("#ranking"))...)
	step("open the stuffer", chromedp.Click(`tr[data-partner="stuffer"] a.partner`), chromedp.WaitVisible("#table-orders"))
	if got := text(`#table-orders tr[data-key="o-stuffer-1:buyer"]`); !strings.Contains(got, "u-stuffer-1") || !strings.Contains(got, "commission.accrued") {
		t.Fatalf("partner page's order row: %q", got)
	}
	if text("#csv") == "" || text("#audit") == "" || text("#table-samples") == "" {
		t.Fatal("the partner page lacks its CSV or audit link, or its flagged clicks")
	}
	step("open the order's decisions", chromedp.Click(`#table-orders tr[data-key="o-stuffer-1:buyer"] a.order`), chromedp.WaitVisible("#table-decisions"))
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify([...document.querySelectorAll("#table-decisions tbody tr")].map(tr =>
		[tr.dataset.key, tr.querySelector("code.status").textContent, tr.querySelector("code.reason").textContent, tr.cells[8].textContent.trim()]))`))
	if err != nil {
		t.Fatal(err)
	}
	var lines [][]string
	if err := json.Unmarshal([]byte(raw), &lines); err != nil {
		t.Fatal(err)
	}
	// Amounts read in the currency's own units (10000 minor units of RUB are 100.00 RUB).
	if len(lines) != 2 || lines[0][1] != "accrued" || lines[0][2] != "paid" || lines[0][3] != "100.00 RUB" ||
		lines[1][1] != "not_paid" || lines[1][2] != "not_referred" || lines[1][3] != "—" {
		t.Fatalf("order decisions %v", lines)
	}
	if text("#title") != "Order o-stuffer-1" || text("#csv") == "" {
		t.Fatalf("order page title %q", text("#title"))
	}
	step("follow the buyer's line to the referral", chromedp.Click(`#table-decisions tr[data-key="order:o-stuffer-1:buyer"] a.referral`), chromedp.WaitVisible("#referral-state"))
	if got := text("#referral-state"); !strings.Contains(got, "stuffer") || !strings.Contains(got, "active") {
		t.Fatalf("referral page: %q", got)
	}
	if got := text(`#table-decisions a.order`); got != "o-stuffer-1" {
		t.Fatalf("referral page's order link: %q", got)
	}
	step("back to the partner", chromedp.Click("#referral-partner"), chromedp.WaitVisible("#table-orders"))
	step("open the audit trail", chromedp.Click("#audit"), chromedp.WaitVisible("#table-audit"))
	raw, err = chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify([...document.querySelectorAll("#table-audit tbody tr")].map(tr =>
		[tr.querySelector(".operator").textContent.trim(), tr.querySelector("code.target").textContent]))`))
	if err != nil {
		t.Fatal(err)
	}
	var audit [][]string
	if err := json.Unmarshal([]byte(raw), &audit); err != nil {
		t.Fatal(err)
	}
	if len(audit) != 2 || !strings.HasPrefix(audit[0][0], "ops-bob") || audit[0][1] != "token:abc" || !strings.HasPrefix(audit[1][0], "ops-alice") || audit[1][1] != "partner:stuffer" {
		t.Fatalf("audit rows (newest first) %v", audit)
	}
	step("audit page links back to the partner", chromedp.Click("#audit-partner"), chromedp.WaitVisible("#table-orders"))
	step("look up the order from the box", chromedp.SendKeys(`#lookup input[name="order"]`, "o-stuffer-1"), chromedp.Click(`#lookup button`), chromedp.WaitVisible("#table-decisions"))
	saveScreenshot(t, ctx, "console-order.png")
	for _, m := range console.Messages() {
		if strings.Contains(m, "rror") || strings.Contains(m, "Content Security Policy") {
			t.Errorf("browser console: %s", m)
		}
	}
	// Signed out, the console answers 401 with a link to the sign-in.
	step("sign out", chromedp.Click("#sign-out"), chromedp.WaitVisible("#secret"))
	step("the console asks again", chromedp.Navigate(e.base+"/admin/review"), chromedp.WaitVisible("#sign-in"))
}

// TestConsoleCSVAndRoles: each console view answers CSV with ?format=csv (reasons and
// operators included, formulas neutralised) to a viewer; without a credential the pages
// answer 401; unknown ids 404; bad ids 400.
func TestConsoleCSVAndRoles(t *testing.T) {
	e := newReviewEnv(t)
	consoleData(t, e)
	for path, want := range map[string]string{
		"/admin/orders/o-stuffer-1?format=csv":      "o-stuffer-1,buyer,u-stuffer-1,stuffer,accrued,paid",
		"/admin/referrals/u-stuffer-1?format=csv":   "o-stuffer-1,buyer,u-stuffer-1,stuffer,accrued,paid",
		"/admin/audit/stuffer?format=csv":           "ops-bob,admin,DELETE",
		"/admin/review/stuffer?range=7d&format=csv": "fetch:dest=",
		"/admin/v1/review?range=7d&format=csv":      "stuffer",
	} {
		code, hdr, body := e.get(path)
		if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/csv") || !strings.Contains(body, want) {
			t.Errorf("%s: %d %s\n%s", path, code, hdr.Get("Content-Type"), clipString(body, 400))
		}
	}
	for path, want := range map[string]int{"/admin/orders/nope": 404, "/admin/referrals/nope": 404, "/admin/orders/bad%20id": 400, "/admin/audit/bad%20id": 400,
		"/admin/lookup?order=o-stuffer-1": 200, "/admin/": 200} {
		if code, _, _ := e.get(path); code != want {
			t.Errorf("%s: %d, want %d", path, code, want)
		}
	}
	if code, _, _ := e.get("/admin/orders/o-stuffer-1", "Authorization", "Bearer nope-nope-nope-nope-nope"); code != 401 {
		t.Errorf("order page with a wrong credential: %d", code)
	}
}

func clipString(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// jsQuote quotes s as a JavaScript string literal.
func jsQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
