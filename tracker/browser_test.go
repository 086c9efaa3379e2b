package tracker_test

import (
	"context"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/storage"
	"github.com/chromedp/chromedp"
	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/internal/devmarket"
	"github.com/refedge/refedge/internal/partners"
	"github.com/refedge/refedge/internal/refcookie"
	"github.com/refedge/refedge/internal/signing"
	"github.com/refedge/refedge/internal/testenv"
	"github.com/refedge/refedge/tracker"
)

// Clicks from a real browser: headless Chromium, with the User-Agent of the same
// Chromium as a normal desktop browser, on a partner's page of another site. A user's
// click on a referral link is valid and leaves rfe_ref in the cookie jar; every way of
// loading the same URL without the user choosing it ends non-valid, with no rfe_ref.
//
// Three sites, as in production: refedge at http://localhost:<p1>, the marketplace
// stub (the redirect target, which loads refedge's /v.js) at http://localhost:<p2> —
// the same site, so refedge's host-only cookies are the marketplace page's too, as
// with REFEDGE_COOKIE_DOMAIN in production — and the partner's blog at
// http://127.0.0.1:<p3>, another site. Chromium treats http://localhost as a secure
// context, so the Secure cookies and Fetch Metadata behave as over HTTPS.

// browserCase is one way of loading a referral URL from the partner's page.
type browserCase struct {
	name, partner string
	// page is the blog page's body; %s is the referral URL (HTML-escaped).
	page string
	// click is the selector the user clicks on the blog page, if any.
	click string
	// wantValid: the click is valid and attributed (only the honest link).
	wantValid bool
	// revoked: the click passes the edge and the beacon revokes it (the pop-under).
	revoked bool
	// landing: the redirect is followed to the marketplace stub (every case but the
	// prefetch, whose response is only cached), which is the point after which the
	// browser has processed the edge's answer, cookies included.
	landing bool
}

var browserCases = []browserCase{
	{name: "a-user-click", page: `<p>My favourite designers: <a id="go" href="%s">see their kworks</a></p>`,
		click: "#go", wantValid: true, landing: true},
	{name: "b-hidden-iframe", page: `<p>Post</p><iframe src="%s" width="1" height="1" style="border:0;opacity:0;position:absolute"></iframe>`, landing: true},
	{name: "c-img", page: `<p>Post</p><img src="%s" width="1" height="1" alt="">`, landing: true},
	{name: "d-script", page: `<p>Post</p><script src="%s"></script>`, landing: true},
	{name: "e-link-prefetch", page: `<link rel="prefetch" href="%s"><p>Post</p>`},
	{name: "f-meta-refresh", page: `<meta http-equiv="refresh" content="0;url=%s"><p>Redirecting</p>`, landing: true},
	{name: "g-js-redirect", page: `<p>Post</p><script>addEventListener("load", function () { location.href = "%s"; });</script>`, landing: true},
	{name: "h-popunder", page: `<p>Post</p><button id="pop" onclick="var w = window.open('%s'); window.focus();">Read more</button>`,
		click: "#pop", revoked: true, landing: true},
}

// browserStack is refedge, the marketplace stub and the blog, with what each saw.
type browserStack struct {
	refBase, marketBase, blogBase string
	rdb                           *redis.Client

	mu      sync.Mutex
	clicks  map[string]*browserClick // by partner id
	revs    map[string]*event.Revocation
	landed  map[string]bool   // marketplace paths served
	pages   map[string]string // blog path -> HTML
	headers map[string]string // partner id -> the click request's notable headers
}

type browserClick struct {
	id      string
	verdict event.Verdict
	reasons []string
}

func (s *browserStack) Enqueue(c *event.Click) error {
	bc := &browserClick{id: string(c.ID[:]), verdict: c.Verdict, reasons: c.Reasons()}
	for i := range bc.reasons {
		bc.reasons[i] = strings.Clone(bc.reasons[i])
	}
	partner := strings.Clone(c.Partner())
	event.ReleaseClick(c)
	s.mu.Lock()
	s.clicks[partner] = bc
	s.mu.Unlock()
	return nil
}

// revocations is the beacon's click.revoked queue.
type revocations struct{ s *browserStack }

func (r revocations) Enqueue(rv *event.Revocation) error {
	r.s.mu.Lock()
	r.s.revs[rv.ClickID] = rv
	r.s.mu.Unlock()
	return nil
}

func newBrowserStack(t *testing.T) *browserStack {
	t.Helper()
	s := &browserStack{clicks: map[string]*browserClick{}, revs: map[string]*event.Revocation{},
		landed: map[string]bool{}, pages: map[string]string{}, headers: map[string]string{}}
	rdb := testenv.Redis(t)
	s.rdb = rdb
	ctx := context.Background()
	reg := &partners.Registry{Redis: rdb}
	for _, c := range browserCases {
		if err := reg.Upsert(ctx, partners.Partner{ID: c.name, Status: partners.Active, EmailConfirmed: true}); err != nil {
			t.Fatal(err)
		}
	}
	st := &tracker.RedisState{Redis: rdb}

	refLn := listen(t)
	s.refBase = fmt.Sprintf("http://localhost:%d", refLn.Addr().(*net.TCPAddr).Port)
	market := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.landed[r.URL.Path] = true
		s.mu.Unlock()
		devmarket.Handler(s.refBase+"/v.js").ServeHTTP(w, r)
	}))
	t.Cleanup(market.Close)
	s.marketBase = strings.Replace(market.URL, "127.0.0.1", "localhost", 1)

	edge, err := tracker.NewEdge(tracker.Config{Origin: s.marketBase, Keys: signing.MustKeyring("browser-test-secret-0123456789")}, st, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := edge.Handler(tracker.Routes{Beacon: edge.HandleBeacon(tracker.BeaconConfig{Revocations: revocations{s}, Redis: rdb})})
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		if ref := ctx.QueryArgs().Peek("ref"); len(ref) > 0 {
			s.recordHeaders(string(ref), &ctx.Request.Header)
		}
		h(ctx)
	}}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(refLn) }()
	t.Cleanup(func() {
		if err := srv.Shutdown(); err != nil {
			t.Error(err)
		}
		<-served
	})

	blog := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		page, ok := s.pages[r.URL.Path]
		s.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, page)
	}))
	t.Cleanup(blog.Close)
	s.blogBase = blog.URL // 127.0.0.1: another site than localhost
	return s
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// recordHeaders keeps the headers the classifier reads, for the report and for the
// check that the browser does not announce itself as headless.
func (s *browserStack) recordHeaders(partner string, h *fasthttp.RequestHeader) {
	var parts []string
	for _, name := range []string{"Sec-Fetch-Site", "Sec-Fetch-Mode", "Sec-Fetch-Dest", "Sec-Fetch-User", "Sec-Purpose", "Purpose"} {
		if v := h.Peek(name); len(v) > 0 {
			parts = append(parts, name+": "+string(v))
		}
	}
	ua, ch := string(h.UserAgent()), string(h.Peek("Sec-CH-UA"))
	if strings.Contains(ua, "Headless") || strings.Contains(ch, "Headless") {
		parts = append(parts, "HEADLESS UA="+ua+" Sec-CH-UA="+ch)
	}
	line := strings.Join(parts, "; ")
	s.mu.Lock()
	if prev, ok := s.headers[partner]; ok && prev != line {
		line = prev + " | then " + line // e.g. a prefetch followed by another request
	}
	s.headers[partner] = line
	s.mu.Unlock()
}

func (s *browserStack) headersOf(partner string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.headers[partner]
}

func (s *browserStack) click(partner string) *browserClick {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clicks[partner]
}

func (s *browserStack) revocation(clickID string) *event.Revocation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.revs[clickID]
}

func (s *browserStack) hasLanded(path string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.landed[path]
}

// desktopChromiumUA is the User-Agent of this very Chromium as a desktop browser: what
// it sends when not headless (the reduced UA string, minor versions zeroed). Its client
// hints brands ("Chromium" and a GREASE brand) already match it.
func desktopChromiumUA(t *testing.T) string {
	t.Helper()
	major := "156"
	if path := testenv.ChromiumPath(); path != "" {
		out, err := exec.Command(path, "--version").Output()
		if m := regexp.MustCompile(`Chromium (\d+)\.`).FindSubmatch(out); err == nil && m != nil {
			major = string(m[1])
		}
	}
	return "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/" + major + ".0.0.0 Safari/537.36"
}

// browserOutcome is one row of the report.
type browserOutcome struct {
	name, headers, click, revocation, final string
	refInJar                                bool
}

func TestBrowserHiddenLoads(t *testing.T) {
	s := newBrowserStack(t)
	// --user-agent applies to every target the browser opens, popups included, and this
	// Chromium's Sec-CH-UA brands never say "HeadlessChrome" (recordHeaders checks both).
	browser := testenv.Chromium(t, chromedp.UserAgent(desktopChromiumUA(t)))

	var report []browserOutcome
	for _, bc := range browserCases {
		bc := bc
		t.Run(bc.name, func(t *testing.T) {
			report = append(report, runBrowserCase(t, s, browser, bc))
		})
	}
	var b strings.Builder
	b.WriteString("\n| case | click request (Fetch Metadata) | click verdict (reasons) | beacon | final | rfe_ref in jar |\n|---|---|---|---|---|---|\n")
	for _, r := range report {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %v |\n", r.name, r.headers, r.click, r.revocation, r.final, r.refInJar)
	}
	t.Log(b.String())
}

func runBrowserCase(t *testing.T, s *browserStack, browser context.Context, bc browserCase) browserOutcome {
	out := browserOutcome{name: bc.name}
	refURL := s.refBase + "/kwork/" + bc.name + "?ref=" + bc.name
	s.mu.Lock()
	s.pages["/"+bc.name] = `<!doctype html><html><head><meta charset="utf-8"><title>Partner blog</title></head><body>` +
		fmt.Sprintf(bc.page, html.EscapeString(refURL)) + `</body></html>`
	s.mu.Unlock()

	// A fresh browser context: its own cookie jar and cache.
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	defer cancel()
	open(t, ctx)
	run(t, ctx, chromedp.Navigate(s.blogBase+"/"+bc.name))
	if bc.click != "" {
		run(t, ctx, chromedp.Click(chromedp.CSS(bc.click), chromedp.NodeVisible))
	}

	var c *browserClick
	waitUntil(t, 15*time.Second, "the click at refedge", func() bool { c = s.click(bc.name); return c != nil })
	out.click = c.verdict.String() + " (" + strings.Join(c.reasons, ", ") + ")"
	if h := s.headersOf(bc.name); strings.Contains(h, "HEADLESS") {
		t.Fatalf("the browser announced itself as headless, so the case says nothing: %s", h)
	}
	final := c.verdict
	if bc.landing {
		waitUntil(t, 15*time.Second, "the redirect to land on the marketplace stub", func() bool { return s.hasLanded("/kwork/" + bc.name) })
	}

	switch {
	case bc.wantValid && c.verdict != event.Valid:
		t.Fatalf("an honest click got %s %v at the edge; headers %s", c.verdict, c.reasons, s.headersOf(bc.name))
	case bc.wantValid:
		// The landing page's beacon confirms the visit: it clears rfe_chk and revokes nothing.
		waitUntil(t, 15*time.Second, "the beacon to confirm the landing (rfe_chk cleared)", func() bool {
			jar := cookieJar(t, ctx)
			return jar[refcookie.Name] && !jar[tracker.CheckCookie]
		})
		out.revocation = "confirmed (no revocation)"
	case bc.revoked && c.verdict != event.Valid:
		// Not what Chromium does today (window.open in a click handler carries the user's
		// activation), but still a refused click: nothing was attributed to revoke.
		out.revocation = "- (refused at the edge)"
	case bc.revoked:
		var rv *event.Revocation
		waitUntil(t, 15*time.Second, "the beacon's revocation", func() bool { rv = s.revocation(c.id); return rv != nil })
		final = rv.Verdict
		out.revocation = "revoked: " + rv.Verdict.String() + " (" + strings.Join(rv.Reasons, ", ") + ")"
		waitUntil(t, 15*time.Second, "the revocation to withdraw rfe_ref from the jar", func() bool { return !cookieJar(t, ctx)[refcookie.Name] })
		// The ledger refuses a revoked click even where a browser kept its cookie.
		if v, err := s.rdb.Get(context.Background(), refcookie.RevokedKey(c.id)).Result(); err != nil || v != rv.Verdict.String() {
			t.Errorf("Redis revocation mark %s = %q, %v; want %s", refcookie.RevokedKey(c.id), v, err, rv.Verdict)
		}
	default:
		out.revocation = "-"
	}
	out.final = final.String()
	jar := cookieJar(t, ctx)
	out.refInJar = jar[refcookie.Name]
	out.headers = s.headersOf(bc.name)

	t.Logf("%s: request %s; click %s; beacon %s; final %s; rfe_ref in jar %v", bc.name, out.headers, out.click, out.revocation, out.final, out.refInJar)
	if bc.wantValid {
		if final != event.Valid || !out.refInJar {
			t.Errorf("an honest click: final verdict %s, rfe_ref in jar %v; want valid and attributed", final, out.refInJar)
		}
		if rv := s.revocation(c.id); rv != nil {
			t.Errorf("an honest click was revoked: %+v", rv)
		}
		return out
	}
	if final == event.Valid {
		t.Errorf("final verdict valid, want non-valid")
	}
	if out.refInJar {
		t.Errorf("rfe_ref is in the browser's cookie jar: attribution left behind")
	}
	return out
}

// open starts ctx's tab. The first chromedp call binds the tab's life to the context
// it gets, so it gets ctx itself and the deadline is enforced by cancelling.
func open(t *testing.T, ctx context.Context) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- chromedp.Do(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("cannot open a tab: %v", err)
		}
	case <-time.After(20 * time.Second):
		_ = chromedp.Cancel(ctx)
		<-done
		t.Fatal("cannot open a tab: no answer")
	}
}

// run runs browser actions with a deadline of their own.
func run(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	actx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(actx, actions...); err != nil {
		t.Fatal(err)
	}
}

// cookieJar returns which cookies the browser context of ctx holds, HttpOnly ones
// included (Storage.getCookies sees the whole jar).
func cookieJar(t *testing.T, ctx context.Context) map[string]bool {
	t.Helper()
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := chromedp.CallBrowser(actx, storage.GetCookies, storage.GetCookiesParams{BrowserContextID: chromedp.FromContext(ctx).BrowserContextID})
	if err != nil {
		t.Fatalf("cannot read the cookie jar: %v", err)
	}
	jar := map[string]bool{}
	for _, c := range res.Cookies {
		if c.Domain == "localhost" {
			jar[c.Name] = true
		}
	}
	return jar
}

// waitUntil polls cond until it holds or the deadline passes.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		<-tick.C
	}
}
