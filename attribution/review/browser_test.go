package review

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/refedge/refedge/attribution/analytics"
	"github.com/refedge/refedge/internal/admin/admintest"
	"github.com/refedge/refedge/internal/testenv"
)

type reviewRowSnap struct {
	Partner string   `json:"partner"`
	Rank    string   `json:"rank"`
	Score   string   `json:"score"`
	Reasons []string `json:"reasons"`
	Flags   []string `json:"flags"`
	Href    string   `json:"href"`
}

const reviewRankingJS = `(() => JSON.stringify({
  rows: [...document.querySelectorAll("#ranking tbody tr[data-partner]")].map(tr => ({
    partner: tr.dataset.partner, rank: tr.dataset.rank, score: tr.dataset.score,
    reasons: [...tr.querySelectorAll("code.reason")].map(c => c.textContent),
    flags: [...tr.querySelectorAll("ul.flags li")].map(li => li.textContent),
    href: tr.querySelector("a.partner").getAttribute("href")})),
  pwned: !!document.getElementById("pwned"),
  error: document.getElementById("error") ? document.getElementById("error").textContent : ""}))()`

const reviewDetailJS = `(() => JSON.stringify({
  partner: document.getElementById("partner-id").textContent,
  reasons: [...document.querySelectorAll("#table-reason tbody tr")].map(tr => tr.dataset.key),
  samples: [...document.querySelectorAll("#table-samples tbody tr")].map(tr =>
    [...tr.querySelectorAll("code.reason")].map(c => c.textContent).join(" ")),
  fast: document.querySelectorAll("#table-fast tbody tr").length,
  shared: document.querySelectorAll("#table-shared tbody tr").length,
  flags: [...document.querySelectorAll("#flags li")].map(li => li.textContent)}))()`

// Acceptance 3 in real headless Chromium: the review page lists the partners in the
// API's order with the stuffer first and its reasons shown; its drill-down shows sample
// clicks with their reasons. Hostile reason text stays text; the page needs no script
// and its CSP allows none.
func TestReviewPageInChromium(t *testing.T) {
	e := newReviewEnv(t)
	var api Ranking
	e.getJSON("/admin/v1/review", &api)
	browser := testenv.Chromium(t)
	console := testenv.CollectConsole(t, browser)
	ctx, cancel := context.WithTimeout(browser, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1400, 1000)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, append(admintest.SignIn(e.base, admintest.ViewerSecret, "/admin/review"), chromedp.WaitVisible("#ranking"))...); err != nil {
		t.Fatalf("open the review page: %v", err)
	}
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](reviewRankingJS))
	if err != nil {
		t.Fatal(err)
	}
	var page struct {
		Rows  []reviewRowSnap `json:"rows"`
		Pwned bool            `json:"pwned"`
		Error string          `json:"error"`
	}
	if err := json.Unmarshal([]byte(raw), &page); err != nil {
		t.Fatal(err)
	}
	saveScreenshot(t, ctx, "review.png")
	if page.Error != "" || len(page.Rows) != len(api.Partners) {
		t.Fatalf("page error %q, %d rows, API %d", page.Error, len(page.Rows), len(api.Partners))
	}
	for i, p := range api.Partners {
		if page.Rows[i].Partner != p.PartnerID || page.Rows[i].Rank != analytics.Itoa(uint64(p.Rank)) {
			t.Fatalf("row %d: %+v, API %s rank %d", i, page.Rows[i], p.PartnerID, p.Rank)
		}
	}
	top := page.Rows[0]
	if top.Partner != "stuffer" || len(top.Reasons) == 0 || top.Reasons[0] != "fetch:dest=iframe" ||
		!strings.Contains(strings.Join(top.Flags, "|"), "hidden_frame") || !strings.Contains(strings.Join(top.Flags, "|"), "after their click") {
		t.Fatalf("first row %+v", top)
	}
	hostile := false
	for _, r := range page.Rows {
		for _, c := range r.Reasons {
			hostile = hostile || c == reviewHostileReason
		}
	}
	if !hostile || page.Pwned {
		t.Fatalf("hostile reason shown as text: %v; element injected: %v", hostile, page.Pwned)
	}

	// Drill down from the first row.
	if err := chromedp.Do(ctx, chromedp.Click(`tr[data-partner="stuffer"] a.partner`), chromedp.WaitVisible("#table-samples")); err != nil {
		t.Fatalf("drill-down: %v", err)
	}
	raw, err = chromedp.Run(ctx, chromedp.Evaluate[string](reviewDetailJS))
	if err != nil {
		t.Fatal(err)
	}
	var detail struct {
		Partner string   `json:"partner"`
		Reasons []string `json:"reasons"`
		Samples []string `json:"samples"`
		Fast    int      `json:"fast"`
		Shared  int      `json:"shared"`
		Flags   []string `json:"flags"`
	}
	if err := json.Unmarshal([]byte(raw), &detail); err != nil {
		t.Fatal(err)
	}
	saveScreenshot(t, ctx, "review-partner.png")
	if detail.Partner != "stuffer" || len(detail.Reasons) == 0 || detail.Reasons[0] != "fetch:dest=iframe" ||
		len(detail.Samples) != 50 || detail.Fast == 0 || detail.Shared == 0 || len(detail.Flags) < 3 {
		t.Fatalf("drill-down %+v", detail)
	}
	for i, s := range detail.Samples {
		if !strings.HasPrefix(s, "fetch:dest=") && !strings.HasPrefix(s, "beacon:") {
			t.Fatalf("sample %d reasons %q", i, s)
		}
	}
	for _, m := range console.Messages() {
		if strings.Contains(m, "rror") || strings.Contains(m, "Content Security Policy") {
			t.Errorf("browser console: %s", m)
		}
	}
}

// saveScreenshot writes a full-page screenshot to REFEDGE_ARTIFACTS_DIR (or a temporary
// folder).
func saveScreenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv("REFEDGE_ARTIFACTS_DIR")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot (%d bytes): %s", len(png), filepath.Join(dir, name))
}
