package dashboard_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/refedge/refedge/attribution/analytics"
	"github.com/refedge/refedge/attribution/analyticstest"
	"github.com/refedge/refedge/internal/admin/admintest"
	"github.com/refedge/refedge/internal/partners"
	"github.com/refedge/refedge/internal/testenv"
)

// dashSnapshot is what the browser test reads off the rendered page.
type dashSnapshot struct {
	Location string                         `json:"location"`
	Charts   string                         `json:"charts"`
	Partner  string                         `json:"partner"`
	Series   map[string]dashSeriesSnap      `json:"series"`
	Tables   map[string][]dashRowSnap       `json:"tables"`
	Hostile  struct{ Code, Pwned string }   `json:"hostile"`
	Figures  map[string]dashFigureSnapshots `json:"figures"`
	Links    []string                       `json:"links"`
}

type dashSeriesSnap struct {
	Count   int     `json:"count"`
	NonZero int     `json:"nonzero"`
	Sum     float64 `json:"sum"`
	Tall    int     `json:"tall"` // bars with a positive height, points off the axis
}

type dashRowSnap struct {
	Key    string   `json:"key"`
	Values []string `json:"values"`
	Cells  []string `json:"cells"`
}

type dashFigureSnapshots struct {
	SVGs int `json:"svgs"`
}

// snapshotJS collects chart marks (by series class) and table rows from the page.
const snapshotJS = `(() => {
  const out = {location: location.pathname, charts: document.documentElement.dataset.charts || "",
    partner: document.getElementById("app-partner").textContent, series: {}, tables: {}, figures: {}, hostile: {}};
  for (const fig of document.querySelectorAll("figure[data-chart]")) {
    out.figures[fig.id] = {svgs: fig.querySelectorAll("svg").length};
    for (const m of fig.querySelectorAll("rect.bar, circle.point")) {
      const key = fig.id + ":" + [...m.classList].filter(c => c !== "bar" && c !== "point").join(".");
      const s = out.series[key] || (out.series[key] = {count: 0, nonzero: 0, sum: 0, tall: 0});
      const v = Number(m.getAttribute("data-value"));
      s.count++; s.sum += v; if (v !== 0) s.nonzero++;
      if (m.tagName === "rect" ? Number(m.getAttribute("height")) > 0 : Number(m.getAttribute("cy")) < 200) s.tall++;
    }
  }
  for (const t of document.querySelectorAll("table[id]")) {
    out.tables[t.id] = [...t.querySelectorAll("tbody tr[data-key]")].map(tr => ({
      key: tr.getAttribute("data-key"),
      values: [...tr.querySelectorAll("td[data-value]")].map(td => td.getAttribute("data-value")),
      cells: [...tr.querySelectorAll("td")].map(td => td.textContent)}));
  }
  const code = [...document.querySelectorAll("#table-reason code")].find(c => c.textContent.startsWith("zz:"));
  out.hostile = {Code: code ? code.textContent : "", Pwned: document.getElementById("pwned") ? "yes" : ""};
  out.links = [...document.querySelectorAll("#app-nav a")].map(a => a.getAttribute("href"));
  return JSON.stringify(out);
})()`

// A real headless Chromium opens the dashboard through a login link issued by the admin
// API: the charts are drawn with the API's figures, the tables match the API, hostile
// text stays text, and the page runs under its CSP without errors.
func TestDashboardInChromium(t *testing.T) {
	end := time.Date(2025, 3, 22, 0, 0, 0, 0, time.UTC)
	now := end.Add(-30 * time.Minute) // the default range, 30 days by day, ends at end
	e := analyticstest.NewEnv(t, func() time.Time { return now })
	from := end.Add(-30 * 24 * time.Hour)
	a := analyticstest.Simulate("partnerA", 31, from, end, 6)
	b := analyticstest.Simulate("partnerB", 32, from, end, 6)
	a.Insert(t.Context(), t, e.Conn, e.DB)
	b.Insert(t.Context(), t, e.Conn, e.DB)
	if err := e.An.SealHours(t.Context(), from, end); err != nil {
		t.Fatal(err)
	}
	// Networks are named from the ASN data loaded now (ipintel.Service.ASName).
	e.An.Cfg.ASName = func(asn uint32) string {
		if asn == 12389 {
			return "PJSC Rostelecom"
		}
		return ""
	}
	browser := testenv.Chromium(t)

	// The marketplace asks the admin API for a login link.
	if err := e.Reg.Upsert(t.Context(), partners.Partner{ID: "partnerA", Status: partners.Active, EmailConfirmed: true}); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	e.Admin.ServeHTTP(rec, admintest.Request(http.MethodPost, "/admin/v1/partners/partnerA/login-links", nil))
	var link struct{ URL string }
	if rec.Code != http.StatusCreated || json.Unmarshal(rec.Body.Bytes(), &link) != nil || link.URL == "" {
		t.Fatalf("login link: %d %s", rec.Code, rec.Body)
	}

	console := testenv.CollectConsole(t, browser)

	ctx, cancel := context.WithTimeout(browser, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(link.URL)); err != nil {
		t.Fatalf("open login link: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.documentElement.dataset.charts === "ready"`,
		chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		t.Fatalf("charts never drawn: %v; page says: %.500s", err, html)
	}
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](snapshotJS))
	if err != nil {
		t.Fatal(err)
	}
	var snap dashSnapshot
	if err := json.Unmarshal([]byte(raw), &snap); err != nil {
		t.Fatal(err)
	}
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
	shot := filepath.Join(dir, "dashboard.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("dashboard screenshot (%d bytes): %s", len(png), shot)

	if snap.Location != "/partner" || snap.Partner != "Partner partnerA" {
		t.Fatalf("landed on %s as %q, want /partner as partnerA", snap.Location, snap.Partner)
	}
	if strings.Join(snap.Links, " ") != "/partner /partner/links /w/builder /b/materials /partner#referrals /partner/tokens" {
		t.Errorf("dashboard navigation %v, want every partner page", snap.Links)
	}

	// The API's figures for the same (default) range, with partner A's token.
	tok := e.Token("partnerA")
	var st analytics.Stats
	e.GetJSON("/api/v1/stats?top=20", tok, &st)
	var refs analytics.Referrals
	e.GetJSON("/api/v1/referrals?limit=50", tok, &refs)
	if !st.From.Equal(from) || !st.To.Equal(end) || st.Totals.Clicks == 0 {
		t.Fatalf("API default range %v..%v with %d clicks, want %v..%v with data", st.From, st.To, st.Totals.Clicks, from, end)
	}
	n := len(st.Series)
	cur := "RUB"
	series := []struct {
		key  string
		want float64
		n    int
	}{
		{"chart-clicks:valid", float64(st.Totals.Valid), n},
		{"chart-clicks:flagged", float64(st.Totals.Flagged), n},
		{"chart-impressions:impressions", float64(st.Totals.Impressions), n},
		{"chart-signups:signups", float64(st.Totals.Signups), n},
		{"chart-signups:activations", float64(st.Totals.Activations), n},
		{"chart-earnings:earnings.c0", float64(st.Totals.Earnings[cur]), n},
	}
	for _, s := range series {
		got := snap.Series[s.key]
		if got.Count != s.n || got.Sum != s.want || got.NonZero == 0 || got.Tall == 0 {
			t.Errorf("chart series %s: %+v, want %d marks summing to %v, some non-zero", s.key, got, s.n, s.want)
		}
	}
	var ctr float64
	for _, p := range st.Series {
		ctr += p.CTR
	}
	if got := snap.Series["chart-ctr:ctr"]; got.Count != n || got.NonZero == 0 || got.Sum < ctr-1e-6 || got.Sum > ctr+1e-6 {
		t.Errorf("CTR points %+v, want %d summing to %v", got, n, ctr)
	}

	// Tables match the API: keys in the API's order, data-value cells equal its counts.
	tables := map[string]string{"table-verdict": "verdict", "table-reason": "reason", "table-source": "source",
		"table-creative": "creative", "table-widget": "widget", "table-banner": "banner", "table-sub_id": "sub_id",
		"table-referer_host": "referer_host", "table-device": "device", "table-size": "size"}
	for id, dim := range tables {
		rows := snap.Tables[id]
		want := st.Breakdowns[dim]
		if len(rows) != len(want) || len(want) == 0 {
			t.Errorf("%s: %d rows, API has %d", id, len(rows), len(want))
			continue
		}
		for i, w := range want {
			key := w.Key
			if key == "" {
				key = "(none)"
			}
			if rows[i].Key != key {
				t.Errorf("%s row %d: key %q, API %q", id, i, rows[i].Key, key)
			}
			first := analytics.Itoa(w.Clicks)
			if dim == "size" {
				first = analytics.Itoa(w.Impressions)
			}
			if len(rows[i].Values) == 0 || rows[i].Values[0] != first {
				t.Errorf("%s row %q: values %v, API first figure %s", id, key, rows[i].Values, first)
			}
		}
	}
	// By country and by network: the top rows plus "other", as the API gives them, named in
	// English, adding up to the period's clicks.
	checkNetworkTables(t, "en", snap, &st, map[string]string{"country:DE": "Germany (DE)", "country:RU": "Russia (RU)",
		"network:12389": "AS12389 · PJSC Rostelecom", "network:8359": "AS8359", "network:other": "Other"})

	if len(snap.Tables["table-referrals"]) != len(refs.Referrals) || len(refs.Referrals) == 0 {
		t.Errorf("referrals table has %d rows, API %d", len(snap.Tables["table-referrals"]), len(refs.Referrals))
	}
	for i, r := range refs.Referrals {
		if i >= len(snap.Tables["table-referrals"]) {
			break
		}
		row := snap.Tables["table-referrals"][i]
		if row.Key != r.UserID || !strings.EqualFold(row.Cells[1], r.Status) || row.Cells[6] != analytics.FormatMoneyMap(r.Earned) {
			t.Errorf("referral row %d: %v, API %+v", i, row.Cells, r)
		}
	}

	// A reason code carrying markup is shown as text and never becomes an element.
	if snap.Hostile.Code != analyticstest.HostileReason || snap.Hostile.Pwned != "" {
		t.Errorf("hostile reason: shown as %q, element created: %q", snap.Hostile.Code, snap.Hostile.Pwned)
	}
	for _, m := range console.Messages() {
		if strings.Contains(m, "error") || strings.Contains(m, "exception") || strings.Contains(m, "Content Security Policy") {
			t.Errorf("browser console: %s", m)
		}
	}
}

// checkNetworkTables compares the rendered country and network tables with st: the same
// keys in the same order, each row's figures, labels as want says for the keys
// it names (each must be there), and data-value cells that add up to the period's clicks.
func checkNetworkTables(t *testing.T, name string, snap dashSnapshot, st *analytics.Stats, want map[string]string) {
	t.Helper()
	seen := map[string]bool{}
	for _, dim := range []string{"country", "network"} {
		rows, api := snap.Tables["table-"+dim], st.Breakdowns[dim]
		if len(rows) != len(api) || len(api) == 0 || (api[len(api)-1].Key == analytics.OtherKey) != (len(api) == st.Meta.Top+1) {
			t.Errorf("%s: table-%s has %d rows, the API %d (at most top %d, then other)", name, dim, len(rows), len(api), st.Meta.Top)
			continue
		}
		var sum uint64
		for i, w := range api {
			r := rows[i]
			if r.Key != w.Key || len(r.Values) != 3 || r.Values[0] != analytics.Itoa(w.Clicks) || r.Values[1] != analytics.Itoa(w.Valid) ||
				r.Values[2] != analytics.Itoa(w.Flagged) {
				t.Errorf("%s: table-%s row %d: %q %v, API %+v", name, dim, i, r.Key, r.Values, w)
				continue
			}
			n, _ := strconv.ParseUint(r.Values[0], 10, 64)
			sum += n
			if label, ok := want[dim+":"+w.Key]; ok {
				seen[dim+":"+w.Key] = true
				if r.Cells[0] != label {
					t.Errorf("%s: table-%s row %q reads %q, want %q", name, dim, w.Key, r.Cells[0], label)
				}
			}
		}
		if sum != st.Totals.Clicks {
			t.Errorf("%s: table-%s adds up to %d clicks, the period has %d", name, dim, sum, st.Totals.Clicks)
		}
	}
	for k := range want {
		if !seen[k] {
			t.Errorf("%s: no row %s to check its label", name, k)
		}
	}
}

// layoutJS measures the page: the document's width, and the tables whose last column
// is not in view without scrolling their card.
const layoutJS = `JSON.stringify({width: document.documentElement.scrollWidth,
  cut: [...document.querySelectorAll(".table-scroll table")].filter(t => {
    const box = t.closest(".table-scroll"), last = t.querySelector("thead th:last-child");
    return last && last.getBoundingClientRect().right > box.getBoundingClientRect().right + 1;
  }).map(t => t.id),
  tables: [...document.querySelectorAll("table[id]")].map(t => t.id),
  lang: document.documentElement.lang, verdict: (document.querySelector("#table-verdict tbody td:nth-child(2)") || {}).textContent || "",
  heads: [...document.querySelectorAll(".breakdown h2")].map(h => h.textContent),
  de: (document.querySelector('#table-country tr[data-key="DE"] td') || {}).textContent || "",
  other: (document.querySelector('#table-network tr[data-key="other"] td') || {}).textContent || "",
  sums: Object.fromEntries(["country", "network"].map(d => [d, [...document.querySelectorAll("#table-" + d + " tbody tr")]
    .reduce((n, tr) => n + Number(tr.querySelector("td[data-value]").getAttribute("data-value")), 0)]))})`

// The dashboard with figures in both languages: at 1400 px every breakdown shows its
// last column (CTR for sources and creatives) without scrolling; at 390 px the page
// does not scroll sideways (wide tables scroll inside their card). In Russian the
// verdicts are explained in Russian, and the country and network tables are titled,
// named and summed in the page's language at both widths. With REFEDGE_SCREENSHOTS_DIR set the pages are
// saved there (make screenshots).
func TestDashboardLayoutInChromium(t *testing.T) {
	end := time.Date(2025, 3, 22, 0, 0, 0, 0, time.UTC)
	now := end.Add(-30 * time.Minute)
	e := analyticstest.NewEnv(t, func() time.Time { return now })
	from := end.Add(-30 * 24 * time.Hour)
	a := analyticstest.Simulate("partnerL", 41, from, end, 6)
	a.Insert(t.Context(), t, e.Conn, e.DB)
	if err := e.An.SealHours(t.Context(), from, end); err != nil {
		t.Fatal(err)
	}
	if err := e.Reg.Upsert(t.Context(), partners.Partner{ID: "partnerL", Status: partners.Active, EmailConfirmed: true}); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	e.Admin.ServeHTTP(rec, admintest.Request(http.MethodPost, "/admin/v1/partners/partnerL/login-links", nil))
	var link struct{ URL string }
	if rec.Code != http.StatusCreated || json.Unmarshal(rec.Body.Bytes(), &link) != nil {
		t.Fatalf("login link: %d %s", rec.Code, rec.Body)
	}
	var st analytics.Stats
	e.GetJSON("/api/v1/stats", e.Token("partnerL"), &st)
	if st.Totals.Clicks == 0 {
		t.Fatal("no clicks in the default range")
	}
	browser := testenv.Chromium(t)
	ctx, cancel := context.WithTimeout(browser, 90*time.Second)
	defer cancel()
	shots := os.Getenv("REFEDGE_SCREENSHOTS_DIR")
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1400, 1000), chromedp.Navigate(link.URL)); err != nil {
		t.Fatal(err)
	}
	for _, lang := range []string{"en", "ru"} {
		for _, width := range []int64{1400, 390} {
			vp := chromedp.EmulateViewport(width, 1000)
			if width == 390 {
				vp = chromedp.EmulateViewport(width, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2))
			}
			if err := chromedp.Do(ctx, vp, chromedp.Navigate(e.Base+"/partner/lang?to="+lang+"&next=/partner")); err != nil {
				t.Fatal(err)
			}
			if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.documentElement.dataset.charts === "ready"`,
				chromedp.WithPollingTimeout(20*time.Second))); err != nil {
				t.Fatalf("%s %d: charts never drawn: %v", lang, width, err)
			}
			raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](layoutJS))
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				Width                    int
				Cut, Tables, Heads       []string
				Lang, Verdict, DE, Other string
				Sums                     map[string]uint64
			}
			if err := json.Unmarshal([]byte(raw), &got); err != nil {
				t.Fatal(err)
			}
			if got.Lang != lang || !strings.Contains(strings.Join(got.Tables, " "), "table-source") || !strings.Contains(strings.Join(got.Tables, " "), "table-creative") {
				t.Fatalf("%s %d: lang %q, tables %v: want the sources and creatives", lang, width, got.Lang, got.Tables)
			}
			if width == 1400 && len(got.Cut) > 0 {
				t.Errorf("%s at 1400 px: tables %v do not show their last column", lang, got.Cut)
			}
			if width == 390 && got.Width > 390 {
				t.Errorf("%s at 390 px: the page is %d px wide", lang, got.Width)
			}
			if lang == "ru" && !strings.ContainsAny(got.Verdict, "абвгдеёжзийклмнопрстуфхцчшщъыьэюя") {
				t.Errorf("ru verdict explained as %q", got.Verdict)
			}
			// By country and by network, in the page's language, adding up to the clicks.
			want := map[string][3]string{"en": {"By country", "By network", "Germany (DE)"}, "ru": {"По странам", "По сетям", "Германия (DE)"}}[lang]
			heads := strings.Join(got.Heads, "|")
			if !strings.Contains(heads, want[0]) || !strings.Contains(heads, want[1]) || got.DE != want[2] ||
				got.Other != map[string]string{"en": "Other", "ru": "Другие"}[lang] {
				t.Errorf("%s %d: headings %v, Germany's row %q, other network row %q; want %q", lang, width, got.Heads, got.DE, got.Other, want)
			}
			if got.Sums["country"] != st.Totals.Clicks || got.Sums["network"] != st.Totals.Clicks {
				t.Errorf("%s %d: country and network tables add up to %v clicks, the period has %d", lang, width, got.Sums, st.Totals.Clicks)
			}
			if shots != "" {
				png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(shots, "dashboard-data-"+lang+"-"+strconv.Itoa(int(width))+".png"), png, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}
