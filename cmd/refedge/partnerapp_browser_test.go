package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/refedge/refedge/internal/admin/admintest"
	"github.com/refedge/refedge/internal/i18n"
	"github.com/refedge/refedge/internal/partnerui"
	"github.com/refedge/refedge/internal/testenv"
)

// appPage is one partner page as the walk visits it.
type appPage struct {
	name, path string
	// ready is a selector present once the page is drawn.
	ready string
}

var appPages = []appPage{
	{"dashboard", partnerui.DashboardPath, "#kpis"},
	{"links", partnerui.LinksPath, "#link-form"},
	{"widgets", partnerui.WidgetsPath, "#create"},
	{"materials", partnerui.MaterialsPath, "section[id^=creative-]"},
	{"tokens", partnerui.TokensPath, "#create-form"},
}

// appSnapshot is what the walk reads off a page.
type appSnapshot struct {
	Lang        string   `json:"lang"`
	Nav         []string `json:"nav"`
	Current     string   `json:"current"`
	Partner     string   `json:"partner"`
	SignOut     bool     `json:"signout"`
	ScrollWidth int      `json:"scroll_width"`
	Misses      []string `json:"misses"`
	// Cut lists tables whose last column is not in view without scrolling their card.
	Cut []string `json:"cut"`
}

// appSnapshotJS reads the frame, the document's width and every visible text and
// label; keys are the catalogue's keys and foreign the texts of the other language that
// must not show (given as JSON by the test).
const appSnapshotJS = `((keys, foreign) => {
  const out = {lang: document.documentElement.lang, nav: [], current: "", misses: [], cut: [],
    partner: (document.getElementById("app-partner") || {}).textContent || "",
    signout: !!document.getElementById("app-signout"),
    scroll_width: document.documentElement.scrollWidth};
  for (const a of document.querySelectorAll("#app-nav a")) {
    out.nav.push(a.getAttribute("href"));
    if (a.getAttribute("aria-current") === "page") out.current = a.getAttribute("href");
  }
  const K = new Set(keys), F = new Set(foreign);
  const check = (where, s) => {
    s = (s || "").replace(/\s+/g, " ").trim();
    if (!s) return;
    if (K.has(s)) out.misses.push(where + ": the key " + s);
    else if (F.has(s)) out.misses.push(where + ": untranslated " + JSON.stringify(s));
  };
  check("title", document.title);
  const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = w.nextNode(); n; n = w.nextNode()) {
    const el = n.parentElement;
    if (!el || el.closest("script,style,textarea,noscript,[hidden]") || !el.checkVisibility()) continue;
    check("<" + el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + ">", n.textContent);
  }
  for (const el of document.querySelectorAll("[placeholder],[aria-label],[title],img[alt]")) {
    for (const a of ["placeholder", "aria-label", "title", "alt"]) if (el.hasAttribute(a)) check(a, el.getAttribute(a));
  }
  for (const t of document.querySelectorAll("table")) {
    const box = t.closest(".table-scroll") || t.parentElement;
    const last = t.querySelector("thead th:last-child");
    if (last && last.getBoundingClientRect().right > box.getBoundingClientRect().right + 1) out.cut.push(t.id || "table");
  }
  return JSON.stringify(out);
})`

// TestPartnerAppInChromium walks every partner page of a running refedge in real
// headless Chromium, signed in through a login link, in English and Russian (switched
// with the header's language switch), at 1400 and 390 px wide: every page has the shared
// header with the partner, sign-out and a navigation naming every partner page, and
// following the navigation reaches each page from the one before; no page shows a
// catalogue key or a text of the other language; no page scrolls sideways at 390 px;
// at 1400 px no table's last column is cut. With REFEDGE_SCREENSHOTS_DIR set it saves
// a full-page screenshot of every page, language and width there (make screenshots).
func TestPartnerAppInChromium(t *testing.T) {
	s := startStack(t)
	partner := "app-" + testenv.KeyPrefix(t)[5:11]
	s.putPartner(partner, "active")
	link := s.loginLink(partner)

	browser := testenv.Chromium(t)
	console := testenv.CollectConsole(t, browser)
	ctx, cancel := context.WithTimeout(browser, 8*time.Minute)
	defer cancel()
	run := func(a ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, a...); err != nil {
			t.Fatal(err)
		}
	}
	shots := os.Getenv("REFEDGE_SCREENSHOTS_DIR")
	if shots != "" {
		if err := os.MkdirAll(shots, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	keys, _ := json.Marshal(i18n.For("en").Keys())
	foreign := map[string]string{}
	for _, l := range i18n.Languages {
		var other []string
		c := i18n.For(l)
		own := map[string]bool{}
		for _, k := range c.Keys() {
			own[c.T(k)] = true
		}
		for _, ol := range i18n.Languages {
			if ol == l {
				continue
			}
			o := i18n.For(ol)
			for _, k := range o.Keys() {
				if v := o.T(k); !own[v] && !strings.Contains(v, "{") && len([]rune(v)) > 1 {
					other = append(other, v)
				}
			}
		}
		b, _ := json.Marshal(other)
		foreign[l] = string(b)
	}
	want := []string{partnerui.DashboardPath, partnerui.LinksPath, partnerui.WidgetsPath, partnerui.MaterialsPath, partnerui.ReferralsPath, partnerui.TokensPath}

	run(chromedp.EmulateViewport(1400, 1000), chromedp.Navigate(link+"&next="+url.QueryEscape(partnerui.LinksPath)),
		chromedp.WaitVisible("#link-form"))
	for _, lang := range i18n.Languages {
		// The switch in the header remembers the language for every page.
		run(chromedp.Click(`#app-header a[data-lang="`+lang+`"]`), chromedp.WaitVisible(`html[lang="`+lang+`"] #app-nav`))
		for _, width := range []int64{1400, 390} {
			if width == 390 {
				run(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
			} else {
				run(chromedp.EmulateViewport(1400, 1000))
			}
			for i, p := range appPages {
				// Reach the page through the previous page's navigation (the first
				// page through the last's), as a partner does.
				prev := appPages[(i+len(appPages)-1)%len(appPages)]
				run(chromedp.Navigate(s.http+prev.path), chromedp.WaitVisible("#app-nav"),
					chromedp.Click(`#app-nav a[href="`+p.path+`"]`), chromedp.WaitVisible(p.ready))
				raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](appSnapshotJS+"("+string(keys)+","+foreign[lang]+")"))
				if err != nil {
					t.Fatalf("%s %s %d: %v", p.name, lang, width, err)
				}
				var snap appSnapshot
				if err := json.Unmarshal([]byte(raw), &snap); err != nil {
					t.Fatal(err)
				}
				where := fmt.Sprintf("%s (%s, %d px)", p.path, lang, width)
				if snap.Lang != lang {
					t.Errorf("%s: <html lang=%q>", where, snap.Lang)
				}
				if strings.Join(snap.Nav, " ") != strings.Join(want, " ") || snap.Current != p.path {
					t.Errorf("%s: navigation %v (current %q), want %v", where, snap.Nav, snap.Current, want)
				}
				if !strings.Contains(snap.Partner, partner) || !snap.SignOut {
					t.Errorf("%s: header shows partner %q, sign-out %v", where, snap.Partner, snap.SignOut)
				}
				for _, m := range snap.Misses {
					t.Errorf("%s: %s", where, m)
				}
				if width == 390 && snap.ScrollWidth > 390 {
					t.Errorf("%s: the page is %d px wide: it scrolls sideways", where, snap.ScrollWidth)
				}
				if width == 1400 && len(snap.Cut) > 0 {
					t.Errorf("%s: tables %v do not show their last column", where, snap.Cut)
				}
				if shots != "" {
					png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
					if err != nil {
						t.Fatal(err)
					}
					name := fmt.Sprintf("%s-%s-%d.png", p.name, lang, width)
					if err := os.WriteFile(filepath.Join(shots, name), png, 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
	for _, m := range console.Messages() {
		if strings.Contains(m, "rror") || strings.Contains(m, "exception") || strings.Contains(m, "Content Security Policy") {
			t.Errorf("browser console: %s", m)
		}
	}
}

// loginLink asks the admin API for a one-click sign-in link of partner.
func (s *stack) loginLink(partner string) string {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.admin+"/admin/v1/partners/"+partner+"/login-links", nil)
	resp, err := http.DefaultClient.Do(admintest.AsAdmin(req))
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ URL string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusCreated {
		s.t.Fatalf("login link: %d %v", resp.StatusCode, err)
	}
	// The link names the public URL refedge was configured with; the test reaches the
	// listener directly.
	u, err := url.Parse(out.URL)
	if err != nil {
		s.t.Fatal(err)
	}
	return s.http + u.RequestURI()
}
