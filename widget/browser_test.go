package widget

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	cdptarget "github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/attribution/pipeline"
	"github.com/refedge/refedge/attribution/sink"
	chschema "github.com/refedge/refedge/deploy/clickhouse"
	"github.com/refedge/refedge/internal/i18n"
	"github.com/refedge/refedge/internal/partnerapi"
	"github.com/refedge/refedge/internal/partners"
	"github.com/refedge/refedge/internal/signing"
	"github.com/refedge/refedge/internal/testenv"
	"github.com/refedge/refedge/tracker"
)

// stack is refedge's public edge as cmd/refedge wires it, on real Redis, ClickHouse
// and loopback sockets: the tracker for clicks, this package for /w/, the partner API,
// the login route; a stub marketplace; a blogger's site on another host name.
type stack struct {
	*fixture
	ch          driver.Conn
	db          string
	public      string // refedge, http://127.0.0.1:port
	market      string // the stub marketplace
	blog        *httptest.Server
	blogPages   sync.Map // path -> html
	marketHits  chan string
	impressions *pipeline.Pipeline[*event.Impression]
	clicks      *pipeline.Pipeline[*event.Click]
}

func newStack(t *testing.T) *stack {
	t.Helper()
	conn, db := testenv.ClickHouse(t)
	migs, err := chschema.Migrations(db)
	if err != nil {
		t.Fatal(err)
	}
	// The raw tables: clicks and impressions (0001), and their network columns.
	for _, m := range migs {
		if m.Version != 1 && m.Name != "0009_click_network.sql" && m.Name != "0011_impression_network.sql" {
			continue
		}
		for _, st := range m.Statements {
			if err := conn.Exec(t.Context(), st); err != nil {
				t.Fatal(err)
			}
		}
	}
	s := &stack{ch: conn, db: db, marketHits: make(chan string, 16)}
	market := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case s.marketHits <- r.URL.RequestURI():
		default:
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><title>Marketplace %s</title><h1>Kwork page</h1>", r.URL.Path)
	}))
	t.Cleanup(market.Close)
	s.market = market.URL

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.public = "http://" + ln.Addr().String()
	pcfg := pipeline.Config{FlushInterval: 50 * time.Millisecond, Logger: quietLog()}
	pcfg.Name = "test-impressions"
	s.impressions = pipeline.New[*event.Impression](pcfg, event.ReleaseImpression,
		&sink.ClickHouseImpressions{Conn: conn, DB: db})
	pcfg.Name = "test-clicks"
	s.clicks = pipeline.New[*event.Click](pcfg, event.ReleaseClick,
		&sink.ClickHouseClicks{Conn: conn, DB: db})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.impressions.Stop(ctx)
		s.clicks.Stop(ctx)
	})

	s.fixture = newFixture(t, func(c *Config) {
		c.MarketOrigin, c.PublicURL, c.LinkBase, c.Impressions = s.market, s.public, s.public, s.impressions
	})
	// The fixture's Auth has testPublic as its origin; the builder needs this one.
	auth, err := partnerapi.NewAuth(partnerapi.Config{Keys: s.svc.cfg.Keys, Redis: s.rdb, PublicURL: s.public})
	if err != nil {
		t.Fatal(err)
	}
	s.auth, s.svc.cfg.Auth = auth, auth
	s.api = partnerapi.NewRouter(auth, quietLog())
	s.svc.RegisterAPI(s.api)

	edge, err := tracker.NewEdge(tracker.Config{Origin: s.market, Keys: signing.MustKeyring(testSecret)},
		&tracker.RedisState{Redis: s.rdb}, s.clicks, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: edge.Handler(tracker.Routes{
		Widget: s.svc.Handler(),
		API:    s.api.Serve,
		Dashboard: func(ctx *fasthttp.RequestCtx) {
			if string(ctx.Path()) == "/partner/login" {
				auth.HandleLogin(ctx)
				return
			}
			ctx.Error("not found", 404)
		},
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })

	// The blogger's site: "localhost", another site than refedge's 127.0.0.1, so the
	// widget frame is cross-site as on a real blog.
	blog := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page, ok := s.blogPages.Load(r.URL.Path)
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, page)
	}))
	t.Cleanup(blog.Close)
	s.blog = blog
	return s
}

func (s *stack) blogURL(path string) string {
	return strings.Replace(s.blog.URL, "127.0.0.1", "localhost", 1) + path
}

// desktopUA is a plain desktop Chrome: the tracker rightly calls HeadlessChrome a bot,
// and these tests are about the widget, not about headless browsers.
const desktopUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

func browser(t *testing.T) context.Context {
	return testenv.Chromium(t, chromedp.UserAgent(desktopUA))
}

// run runs browser actions with a deadline, failing the test on error.
func run(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	actx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(actx, actions...); err != nil {
		t.Fatal(err)
	}
}

// scrollToFrame scrolls the page's first iframe into view. The embed script may still be
// inserting or replacing the frame just after a navigation, so the frame is looked up by
// script on every try rather than held by a DOM node id (which a replaced node voids:
// "Could not find node with given id").
func scrollToFrame(t *testing.T, ctx context.Context) {
	t.Helper()
	waitFor(t, 15*time.Second, "the widget iframe in the page", func() bool {
		var ok bool
		eval(t, ctx, `(() => { const f = document.querySelector("iframe"); if (!f) return false; f.scrollIntoView(); return true })()`, &ok)
		return ok
	})
}

// frameTarget waits for the iframe target whose URL starts with prefix and returns a
// context attached to it (Chrome runs a cross-site, sandboxed frame in its own process).
func frameTarget(t *testing.T, ctx context.Context, prefix string) context.Context {
	t.Helper()
	var id cdptarget.ID
	waitFor(t, 15*time.Second, "the widget iframe "+prefix, func() bool {
		infos, err := chromedp.Targets(ctx)
		if err != nil {
			return false
		}
		for _, info := range infos {
			if info.Type == "iframe" && strings.HasPrefix(info.URL, prefix) {
				id = info.TargetID
				return true
			}
		}
		return false
	})
	return attach(t, ctx, id)
}

// attach returns a context on target id. The first Run on it binds the attachment
// to that Run's context, so it gets the context itself (bounded by cancelling it);
// cancelling detaches and leaves the target alone (closing an iframe target would
// close its page).
func attach(t *testing.T, ctx context.Context, id cdptarget.ID) context.Context {
	t.Helper()
	actx, cancel := chromedp.NewContext(ctx, chromedp.WithTargetID(id), chromedp.WithDetachOnCancel())
	t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() { done <- chromedp.Do(actx) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("cannot attach to target %s: %v", id, err)
		}
	case <-time.After(15 * time.Second):
		cancel()
		t.Fatalf("cannot attach to target %s: no answer", id)
	}
	return actx
}

// eval evaluates js in ctx into out, failing the test on error.
func eval[T any](t *testing.T, ctx context.Context, js string, out *T) {
	t.Helper()
	actx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(actx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	*out = v
}

func (s *stack) count(t *testing.T, query string, args ...any) uint64 {
	t.Helper()
	var n uint64
	if err := s.ch.QueryRow(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func blogPage(embed string) string {
	return `<!doctype html><html><head><meta charset="utf-8"><title>A blog</title></head>
<body style="margin:0;font-family:sans-serif"><h1>My design blog</h1>
<div style="height:1400px">A long post.</div>
<p>Tools I recommend:</p>` + embed + `<div style="height:1400px">More text.</div></body></html>`
}

func TestBrowserWidget(t *testing.T) {
	s := newStack(t)
	ctx := browser(t)
	partner := "blogger-" + newWidgetID()[:6]
	s.partner(t, partner, partners.Active)
	design := map[string]bool{}
	for i := 0; i < 9; i++ {
		id := "d" + strconv.Itoa(i)
		design[id] = true
		s.kwork(t, Kwork{ID: id, Title: "Logo design " + strconv.Itoa(i), Category: "design", Price: 250000, Currency: "RUB",
			URL: s.market + "/kwork/" + id + "/logo", Rating: 4.9})
	}
	for i := 0; i < 4; i++ {
		s.kwork(t, Kwork{ID: "w" + strconv.Itoa(i), Title: "Copywriting", Category: "writing", URL: s.market + "/kwork/w"})
	}

	t.Run("acceptance1_embed_rotate_view_click", func(t *testing.T) {
		w := s.widget(t, partner, Spec{Category: "design", Size: "728x90", Cards: 6, RotationSeconds: 1})
		s.blogPages.Store("/post-1", blogPage(s.svc.embedScript(w.ID)))
		run(t, ctx, chromedp.Navigate(s.blogURL("/post-1")))
		frame := frameTarget(t, ctx, s.public+"/w/"+w.ID)

		// The configured number of cards, all from the topic, with ref links.
		run(t, ctx, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, 1, 1)) // hovering holds the rotation
		var cards []map[string]string
		waitFor(t, 10*time.Second, "6 cards in the frame", func() bool {
			cards = nil
			eval(t, frame, `Array.from(document.querySelectorAll("li.c")).map(li => ({k: li.dataset.k, c: li.dataset.c,
				href: li.querySelector("a").href, target: li.querySelector("a").target, rel: li.querySelector("a").rel,
				title: li.querySelector(".n").textContent}))`, &cards)
			return len(cards) == 6
		})
		var render string
		eval(t, frame, `document.body.dataset.r`, &render)
		seen := map[string]bool{}
		for i, c := range cards {
			if !design[c["k"]] || seen[c["k"]] {
				t.Fatalf("card %d is kwork %q: not from the topic, or repeated", i, c["k"])
			}
			seen[c["k"]] = true
			want := s.public + "/kwork/" + c["k"] + "/logo?ref=" + partner + "&src=widget&cr=" + w.ID
			if c["href"] != want || c["target"] != "_blank" || c["rel"] != "noopener" || c["c"] != render+"."+strconv.Itoa(i) {
				t.Fatalf("card %d = %v; want href %s", i, c, want)
			}
		}
		// Thumbnails load (placeholders: no image was uploaded).
		waitFor(t, 10*time.Second, "thumbnails", func() bool {
			var ok bool
			eval(t, frame, `Array.from(document.images).every(i => i.complete && i.naturalWidth === 104 && i.naturalHeight === 76)`, &ok)
			return ok
		})

		// Out of view: no rotation, no view. (A property over a short window, not a wait
		// for something to happen.)
		for end := time.Now().Add(1300 * time.Millisecond); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			if n, _ := s.rdb.Exists(t.Context(), viewKey(render)).Result(); n != 0 {
				t.Fatal("a view was reported while the widget was out of view")
			}
		}
		var page string
		eval(t, frame, `document.body.dataset.page`, &page)
		if page != "0" {
			t.Fatalf("rotated while out of view: page %q", page)
		}

		// In view: it rotates, and after a second exactly one impression is recorded.
		scrollToFrame(t, ctx)
		waitFor(t, 10*time.Second, "the widget to rotate", func() bool {
			eval(t, frame, `document.body.dataset.page`, &page)
			return page == "1"
		})
		var transform string
		eval(t, frame, `document.getElementById("t").style.transform`, &transform)
		if transform != "translateX(-100%)" {
			t.Fatalf("page 1 transform = %q", transform)
		}
		q := "SELECT count() FROM " + s.db + ".impressions WHERE creative = ?"
		waitFor(t, 15*time.Second, "one impression in ClickHouse", func() bool { return s.count(t, q, w.ID) >= 1 })
		var (
			ip, src, size, rid, host, device string
		)
		if err := s.ch.QueryRow(t.Context(), "SELECT partner_id, source, size, render_id, referer_host, device FROM "+s.db+
			".impressions WHERE creative = ?", w.ID).Scan(&ip, &src, &size, &rid, &host, &device); err != nil {
			t.Fatal(err)
		}
		if ip != partner || src != "widget" || size != "728x90" || rid != render || !strings.HasPrefix(host, "localhost:") || device != "desktop" {
			t.Fatalf("impression = %s %s %s %s %s %s (render %s)", ip, src, size, rid, host, device, render)
		}
		// Scrolling away and back, and a replayed beacon, add nothing for this render.
		run(t, ctx, chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
		scrollToFrame(t, ctx)
		var token string
		eval(t, frame, `document.body.dataset.s`, &token)
		resp, err := http.Post(s.public+"/w/"+w.ID+"/view", "text/plain", strings.NewReader(token))
		if err != nil || resp.StatusCode != 204 {
			t.Fatalf("replay = %v %v", resp, err)
		}
		resp.Body.Close()

		// Click a card: the marketplace page opens in a new tab through refedge, and
		// the click is valid.
		// Wait for the scroll to settle: the frame's box is read twice alike, and the
		// point to click is on the frame.
		var box, prev []float64
		waitFor(t, 5*time.Second, "the page to stop scrolling", func() bool {
			prev = box
			eval(t, ctx, `(r => [r.left, r.top])(document.querySelector("iframe").getBoundingClientRect())`, &box)
			var tag string
			eval(t, ctx, fmt.Sprintf(`document.elementFromPoint(%v, %v).tagName`, box[0]+121, box[1]+45), &tag)
			return prev != nil && prev[0] == box[0] && prev[1] == box[1] && tag == "IFRAME"
		})
		x, y := box[0]+121, box[1]+45                                                  // the middle of the first card of the visible page
		run(t, ctx, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, x, y)) // hovering holds the rotation
		var clicked string
		eval(t, frame, `document.elementFromPoint(121, 45).closest("li").dataset.k`, &clicked)
		if !design[clicked] {
			t.Fatalf("the card under the pointer is %q", clicked)
		}
		newTab := chromedp.WaitNewTarget(ctx, func(info *cdptarget.Info) bool { return info.Type == "page" })
		for len(s.marketHits) > 0 {
			<-s.marketHits
		}
		run(t, ctx, chromedp.MouseClickXY(x, y))
		select {
		case hit := <-s.marketHits:
			if hit != "/kwork/"+clicked+"/logo" {
				t.Fatalf("the marketplace got %q, want /kwork/%s/logo without refedge's parameters", hit, clicked)
			}
		case <-time.After(15 * time.Second):
			infos, _ := chromedp.Targets(ctx)
			for _, i := range infos {
				t.Logf("target %s %s", i.Type, i.URL)
			}
			t.Fatal("the click never reached the marketplace")
		}
		var tabID cdptarget.ID
		select {
		case tabID = <-newTab:
		case <-time.After(10 * time.Second):
			t.Fatal("no new tab opened")
		}
		tab := attach(t, ctx, tabID)
		defer func() {
			// Close the marketplace tab: the blog's tab is in the background while it
			// is open, and the widget rightly pauses there.
			if _, err := chromedp.CallBrowser(ctx, cdptarget.CloseTarget, cdptarget.CloseTargetParams{TargetID: tabID}); err != nil {
				t.Error(err)
			}
		}()
		var loc string
		waitFor(t, 10*time.Second, "the new tab to show the kwork", func() bool {
			eval(t, tab, `location.href`, &loc)
			return loc == s.market+"/kwork/"+clicked+"/logo"
		})
		cq := "SELECT count() FROM " + s.db + ".clicks WHERE creative = ?"
		waitFor(t, 15*time.Second, "the click in ClickHouse", func() bool { return s.count(t, cq, w.ID) >= 1 })
		var verdict, cpartner, csrc, cpath string
		if err := s.ch.QueryRow(t.Context(), "SELECT verdict, partner_id, source, path FROM "+s.db+".clicks WHERE creative = ?", w.ID).
			Scan(&verdict, &cpartner, &csrc, &cpath); err != nil {
			t.Fatal(err)
		}
		if verdict != "valid" || cpartner != partner || csrc != "widget" || cpath != "/kwork/"+clicked+"/logo" {
			t.Fatalf("click = %s %s %s %s", verdict, cpartner, csrc, cpath)
		}

		// Flush everything, then count again: still exactly one impression, one click.
		sctx, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel2()
		if err := s.impressions.Stop(sctx); err != nil {
			t.Fatal(err)
		}
		if err := s.clicks.Stop(sctx); err != nil {
			t.Fatal(err)
		}
		if n := s.count(t, q, w.ID); n != 1 {
			t.Fatalf("%d impressions for one render, want exactly 1", n)
		}
		if n := s.count(t, cq, w.ID); n != 1 {
			t.Fatalf("%d clicks, want 1", n)
		}
	})

	t.Run("acceptance2_hostile_titles_are_text", func(t *testing.T) {
		titles := []string{
			`<script>window.pwned=1</script>`,
			`"><img src=x onerror="window.pwned=1">`,
			`<img src=x onerror=window.pwned=1>`,
			`javascript:window.pwned=1`,
			`</style><svg onload="window.pwned=1">`,
			`مرحبا بالعالم — تصميم شعار`,
			"\u202eevil\u202c 🎨 Logo 🚀 👩🏽‍💻",
		}
		for i, title := range titles {
			s.kwork(t, Kwork{ID: "x" + strconv.Itoa(i), Title: title, Category: "hostile", URL: s.market + "/kwork/x"})
		}
		w := s.widget(t, partner, Spec{Category: "hostile", Size: "728x90", Cards: 12, RotationSeconds: 1})
		s.blogPages.Store("/post-2", blogPage(s.svc.embedScript(w.ID)))
		// The pointer is left where the last test clicked; hovering would hold the rotation.
		run(t, ctx, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, 1, 1),
			chromedp.Navigate(s.blogURL("/post-2")))
		scrollToFrame(t, ctx)
		frame := frameTarget(t, ctx, s.public+"/w/"+w.ID)
		var got []string
		waitFor(t, 10*time.Second, "the hostile cards", func() bool {
			eval(t, frame, `Array.from(document.querySelectorAll(".n")).map(e => e.textContent)`, &got)
			return len(got) == len(titles)
		})
		slices.Sort(got)
		want := slices.Clone(titles)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("titles rendered as\n%q\nwant\n%q", got, want)
		}
		var state struct {
			Pwned   bool `json:"pwned"`
			Scripts int  `json:"scripts"`
			Foreign int  `json:"foreign"`
			RTL     bool `json:"rtl"`
		}
		// Let every card page show once, so anything that would run on display has run.
		waitFor(t, 15*time.Second, "the frame to rotate through the cards", func() bool {
			var page string
			eval(t, frame, `document.body.dataset.page`, &page)
			return page == "2" // 7 cards, 3 per page
		})
		eval(t, frame, `({pwned: window.pwned === 1, scripts: document.scripts.length,
			foreign: document.querySelectorAll("svg, li.c img:not([src^='/w/t/']), .n *").length,
			rtl: getComputedStyle(Array.from(document.querySelectorAll(".n")).find(e => e.textContent.startsWith("مرحبا"))).direction === "rtl"})`, &state)
		var topPwned bool
		eval(t, ctx, `window.pwned === 1`, &topPwned)
		if state.Pwned || topPwned || state.Scripts != 1 || state.Foreign != 0 || !state.RTL {
			t.Fatalf("frame state %+v, top pwned %v", state, topPwned)
		}
	})

	t.Run("acceptance3_empty_states_in_the_page", func(t *testing.T) {
		empty := s.widget(t, partner, Spec{Category: "no-such-topic"})
		s.blogPages.Store("/post-3", blogPage(s.svc.embedScript(empty.ID)+s.svc.embedIframe(&Widget{ID: "zzzzzzzzzzzz", Spec: Spec{Size: "300x250"}})))
		run(t, ctx, chromedp.Navigate(s.blogURL("/post-3")))
		scrollToFrame(t, ctx)
		for _, id := range []string{empty.ID, "zzzzzzzzzzzz"} {
			frame := frameTarget(t, ctx, s.public+"/w/"+id)
			var text string
			waitFor(t, 10*time.Second, "the empty state of "+id, func() bool {
				eval(t, frame, `(document.querySelector("p.e") || {}).textContent || ""`, &text)
				return text != ""
			})
		}
	})
}

func TestBrowserWidgetWithoutJS(t *testing.T) {
	s := newStack(t)
	ctx := browser(t)
	s.partner(t, "nojs", partners.Active)
	for i := 0; i < 6; i++ {
		s.kwork(t, Kwork{ID: "n" + strconv.Itoa(i), Title: "Card " + strconv.Itoa(i), Category: "design", URL: s.market + "/kwork/n"})
	}
	w := s.widget(t, "nojs", Spec{Category: "design", Size: "300x250", Cards: 4})
	if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, chromedp.Navigate(s.public+"/w/"+w.ID))
	// DevTools can still evaluate; the page's own script did not run.
	var state struct {
		JS       bool `json:"js"`
		Cards    int  `json:"cards"`
		Links    int  `json:"links"`
		Scroller bool `json:"scroller"`
	}
	eval(t, ctx, `({js: document.body.classList.contains("js"), cards: document.querySelectorAll("li.c").length,
		links: document.querySelectorAll("li.c a[href*='ref=nojs'][target=_blank]").length,
		scroller: (t => t.scrollWidth > t.clientWidth && getComputedStyle(t).overflowX === "auto")(document.getElementById("t"))})`, &state)
	if state.JS || state.Cards != 4 || state.Links != 4 || !state.Scroller {
		t.Fatalf("without JS: %+v; want a static, scrollable set of 4 linked cards", state)
	}
	// Every card is reachable: scrolling the strip brings the last one into view.
	var visible bool
	eval(t, ctx, `(t => { t.scrollLeft = t.scrollWidth; const r = t.lastElementChild.getBoundingClientRect(); return r.left >= 0 && r.right <= innerWidth + 1 })(document.getElementById("t"))`, &visible)
	if !visible {
		t.Fatal("the last page cannot be scrolled into view")
	}
}

func TestBrowserBuilder(t *testing.T) {
	s := newStack(t)
	ctx := browser(t)
	partner := "builder-" + newWidgetID()[:6]
	s.partner(t, partner, partners.Active)
	for i := 0; i < 5; i++ {
		s.kwork(t, Kwork{ID: "b" + strconv.Itoa(i), Title: "Banner " + strconv.Itoa(i), Category: "design", URL: s.market + "/kwork/b"})
	}
	s.kwork(t, Kwork{ID: "a0", Title: "Another", Category: "audio", URL: s.market + "/kwork/a"})

	// Without a session: a clear page pointing at the login link.
	var text string
	run(t, ctx, chromedp.Navigate(s.public+"/w/builder"))
	eval(t, ctx, `document.body.innerText`, &text)
	if !strings.Contains(text, "login link") {
		t.Fatalf("unauthenticated builder says %q", text)
	}
	// The marketplace's login link signs in and brings the partner to the builder.
	run(t, ctx, chromedp.Navigate(s.auth.LoginLink(partner)+"&next=/w/builder"), chromedp.WaitVisible(chromedp.ID("create")))

	// Keyboard only: after the partner app's header and navigation, Tab walks the
	// controls in order; values are set from the keyboard.
	var order []string
	run(t, ctx, chromedp.Evaluate[chromedp.Void](`document.getElementById("nav-tokens").focus()`))
	for i := 0; i < 9; i++ {
		var id string
		run(t, ctx, chromedp.KeyEvent("\t"))
		eval(t, ctx, `document.activeElement.id || document.activeElement.name + ":" + document.activeElement.value`, &id)
		order = append(order, id)
	}
	want := []string{"category", "kwork_ids", "size", "theme:light", "accent", "cards", "rotation", "language", "create"}
	if !slices.Equal(order, want) {
		t.Fatalf("focus order %q\nwant %q", order, want)
	}
	var labelled bool
	eval(t, ctx, `["category","kwork_ids","size","accent","cards","rotation","language"].every(id => document.querySelector("label[for="+id+"]"))`, &labelled)
	if !labelled {
		t.Fatal("a control has no label")
	}
	run(t, ctx,
		chromedp.SetValue(chromedp.CSS("#category"), "design"),
		chromedp.SetValue(chromedp.CSS("#size"), "468x60"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("size").dispatchEvent(new Event("change", {bubbles: true}))`),
		chromedp.Focus(chromedp.CSS("input[value=dark]")), chromedp.KeyEvent(" "),
		chromedp.SetValue(chromedp.CSS("#cards"), ""), chromedp.SendKeys(chromedp.CSS("#cards"), "4"),
	)
	// The live preview follows the form.
	waitFor(t, 10*time.Second, "the preview to follow the form", func() bool {
		var src string
		eval(t, ctx, `document.getElementById("preview").src + "|" + document.getElementById("preview").width`, &src)
		return strings.Contains(src, "category=design") && strings.Contains(src, "size=468x60") && strings.Contains(src, "theme=dark") && strings.Contains(src, "cards=4") && strings.HasSuffix(src, "|468")
	})
	var src string
	eval(t, ctx, `document.getElementById("preview").src`, &src)
	preview := frameTarget(t, ctx, src)
	waitFor(t, 10*time.Second, "preview cards", func() bool {
		var n int
		var dark bool
		eval(t, preview, `document.querySelectorAll("li.c").length`, &n)
		eval(t, preview, `document.body.classList.contains("dark")`, &dark)
		return n == 4 && dark
	})
	var previewHref string
	eval(t, preview, `document.querySelector("li.c a").href`, &previewHref)
	if strings.Contains(previewHref, "ref=") || !strings.HasPrefix(previewHref, s.market+"/kwork/b") {
		t.Fatalf("preview link %q: previews carry no referral", previewHref)
	}

	// Create with the keyboard: the embed code appears and the widget is the partner's.
	run(t, ctx, chromedp.Focus(chromedp.ID("create")), chromedp.KeyEvent("\r"))
	var status, script, iframe string
	waitFor(t, 10*time.Second, "the widget to be created", func() bool {
		eval(t, ctx, `document.getElementById("status").textContent`, &status)
		return strings.Contains(status, "created")
	})
	eval(t, ctx, `document.getElementById("es").value`, &script)
	eval(t, ctx, `document.getElementById("ei").value`, &iframe)
	ws, err := s.svc.Store().List(t.Context(), partner)
	if err != nil || len(ws) != 1 {
		t.Fatalf("partner's widgets = %v, %v", ws, err)
	}
	w := ws[0]
	if w.Size != "468x60" || w.Theme != "dark" || w.Cards != 4 || w.Category != "design" {
		t.Fatalf("created %+v", w)
	}
	if script != s.svc.embedScript(w.ID) || iframe != s.svc.embedIframe(&w) {
		t.Fatalf("embed code shown: %q / %q", script, iframe)
	}
	var focused string
	eval(t, ctx, `document.activeElement.id`, &focused)
	if focused != "out-h" {
		t.Fatalf("focus after creation is on %q, want the embed code heading", focused)
	}
	run(t, ctx, chromedp.Click(chromedp.CSS("button[data-copy=es]")))
	waitFor(t, 5*time.Second, "the copy feedback", func() bool {
		eval(t, ctx, `document.getElementById("status").textContent`, &status)
		return strings.Contains(status, "Copied") || strings.Contains(status, "Select the code")
	})

	// On a phone (390 px) the builder with its widget list and a 728 px preview does not
	// scroll sideways: the preview scrolls in its card.
	run(t, ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(s.public+"/w/builder"), chromedp.WaitVisible(chromedp.ID("create")),
		chromedp.SetValue(chromedp.CSS("#size"), "728x90"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("size").dispatchEvent(new Event("change", {bubbles: true}))`))
	waitFor(t, 10*time.Second, "the 728 px preview", func() bool {
		var w string
		eval(t, ctx, `document.getElementById("preview").width`, &w)
		return w == "728"
	})
	var width int
	eval(t, ctx, `document.documentElement.scrollWidth`, &width)
	if width > 390 {
		t.Fatalf("the builder is %d px wide on a 390 px phone", width)
	}

	// The preview's own message is in the partner's language (here the remembered
	// choice, Russian), from the catalogue.
	run(t, ctx, chromedp.Evaluate[chromedp.Void](`document.cookie = "rfe_lang=ru; path=/"`),
		chromedp.Navigate(s.public+"/w/preview?size=300x250&theme=light"))
	var msg string
	eval(t, ctx, `document.body.innerText.trim()`, &msg)
	if want := i18n.For("ru").T("builder.preview_invalid"); msg != want {
		t.Fatalf("preview of an incomplete form says %q, want %q", msg, want)
	}

	// A spec the API refuses is explained in the builder's language, not the API's
	// English: here a kwork id the form cannot vouch for.
	run(t, ctx, chromedp.Navigate(s.public+"/w/builder"), chromedp.WaitVisible(chromedp.ID("create")),
		chromedp.SetValue(chromedp.CSS("#kwork_ids"), "b1, bad id!"),
		chromedp.Click(chromedp.ID("create")))
	ru := i18n.For("ru")
	refusal := ru.T("builder.js.failed", "error", ru.T("widget.spec.kwork_id"))
	waitFor(t, 10*time.Second, "the refusal in Russian", func() bool {
		eval(t, ctx, `document.getElementById("status").textContent`, &status)
		return status == refusal
	})
	if ws, err := s.svc.Store().List(t.Context(), partner); err != nil || len(ws) != 1 {
		t.Fatalf("after a refused spec the partner has %d widgets (%v), want the 1 created before", len(ws), err)
	}
}
