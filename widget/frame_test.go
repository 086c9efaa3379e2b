package widget

import (
	"context"
	"html"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/internal/partners"
)

var (
	reCard  = regexp.MustCompile(`<li class="c" data-c="([^"]+)" data-k="([^"]+)"><a href="([^"]+)" target="_blank" rel="noopener">`)
	reNonce = regexp.MustCompile(`script-src 'nonce-([A-Za-z0-9_-]{22})'`)
	reBody  = regexp.MustCompile(`<body [^>]*data-r="([^"]+)"[^>]*data-v="([^"]+)" data-s="([^"]+)"`)
)

func TestFrameRendersRandomCardsWithRefLinks(t *testing.T) {
	f := newFixture(t)
	f.partner(t, "p-1", partners.Active)
	for i := 0; i < 10; i++ {
		f.kwork(t, Kwork{ID: "k" + strconv.Itoa(i), Title: "Kwork " + strconv.Itoa(i), Category: "design", Price: 150000, Currency: "RUB", Rating: 4.8})
	}
	f.kwork(t, Kwork{ID: "other", Title: "Other", Category: "writing"})
	w := f.widget(t, "p-1", Spec{Category: "design", Size: "728x90", Cards: 6, Language: "ru"})

	resp := do(f.svc.Handler(), "GET", "/w/"+w.ID, nil, map[string]string{"Referer": "https://blog.example/post"})
	body := string(resp.Body())
	if resp.StatusCode() != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode(), body)
	}
	if cc := string(resp.Header.Peek("Cache-Control")); cc != "no-store" {
		t.Fatalf("Cache-Control = %q", cc)
	}
	csp := string(resp.Header.Peek("Content-Security-Policy"))
	m := reNonce.FindStringSubmatch(csp)
	if m == nil || !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "img-src 'self'") ||
		!strings.Contains(csp, "frame-ancestors *") || !strings.Contains(csp, "style-src 'nonce-"+m[1]+"'") {
		t.Fatalf("CSP = %q", csp)
	}
	if !strings.Contains(body, `<script nonce="`+m[1]+`">`) || !strings.Contains(body, `<style nonce="`+m[1]+`">`) {
		t.Fatal("the inline script and style do not carry the CSP nonce")
	}
	b := reBody.FindStringSubmatch(body)
	if b == nil {
		t.Fatalf("no render id or view beacon in the frame:\n%s", body)
	}
	render := b[1]
	if b[2] != "/w/"+w.ID+"/view" {
		t.Fatalf("view URL = %q", b[2])
	}
	vt, err := parseViewToken(f.svc.cfg.Keys, w.ID, []byte(html.UnescapeString(b[3])))
	if err != nil || vt.render != render || vt.host != "blog.example" {
		t.Fatalf("view token = %+v, %v (render %s)", vt, err, render)
	}
	cards := reCard.FindAllStringSubmatch(body, -1)
	if len(cards) != 6 {
		t.Fatalf("%d cards, want 6:\n%s", len(cards), body)
	}
	seen := map[string]bool{}
	for i, c := range cards {
		if c[1] != render+"."+strconv.Itoa(i) {
			t.Fatalf("card id %q, want %s.%d", c[1], render, i)
		}
		if !strings.HasPrefix(c[2], "k") || seen[c[2]] {
			t.Fatalf("card %d is kwork %q (not from the topic, or repeated)", i, c[2])
		}
		seen[c[2]] = true
		want := testMarket + "/kwork/" + c[2] + "?ref=p-1&amp;src=widget&amp;cr=" + w.ID
		if c[3] != want {
			t.Fatalf("link %q\nwant %q", c[3], want)
		}
	}
	if !strings.Contains(body, `<html lang="ru">`) || !strings.Contains(body, "1\u00a0500\u00a0₽") || !strings.Contains(body, "★ 4,8") {
		t.Fatal("language, price or rating not rendered for ru")
	}
	if !strings.Contains(body, `/w/t/k`) || !strings.Contains(body, `/104x76.jpg?v=0"`) {
		t.Fatal("no thumbnail of the layout's size")
	}
	// Three cards per page, two pages.
	if n := strings.Count(body, `<ul class="pg">`); n != 2 {
		t.Fatalf("%d pages, want 2", n)
	}
	// A second render draws again and has another render id.
	body2 := string(do(f.svc.Handler(), "GET", "/w/"+w.ID, nil, nil).Body())
	if b2 := reBody.FindStringSubmatch(body2); b2 == nil || b2[1] == render {
		t.Fatal("render ids repeat")
	}
}

func TestFrameEscapesHostileTitles(t *testing.T) {
	f := newFixture(t)
	f.partner(t, "p-1", partners.Active)
	hostile := []string{`<script>window.pwned=1</script>`, `"><img src=x onerror="window.pwned=1">`, `'-alert(1)-'`, "</style><b>x"}
	for i, title := range hostile {
		f.kwork(t, Kwork{ID: "h" + strconv.Itoa(i), Title: title, Category: "hostile"})
	}
	w := f.widget(t, "p-1", Spec{Category: "hostile", Cards: 12})
	body := string(do(f.svc.Handler(), "GET", "/w/"+w.ID, nil, nil).Body())
	for _, title := range hostile {
		if strings.Contains(body, title) {
			t.Fatalf("title %q appears unescaped", title)
		}
		if !strings.Contains(body, html.EscapeString(title)) && !strings.Contains(body, strings.ReplaceAll(html.EscapeString(title), "&#39;", "&#39;")) {
			t.Fatalf("title %q not rendered as text", title)
		}
	}
	if strings.Count(body, "<script") != 1 || strings.Count(body, "<img") != 4 {
		t.Fatalf("markup injected:\n%s", body)
	}
}

func TestFrameEmptyStates(t *testing.T) {
	f := newFixture(t)
	f.partner(t, "ok", partners.Active)
	f.partner(t, "blocked", partners.Blocked)
	f.kwork(t, Kwork{ID: "k1", Title: "K", Category: "design"})
	live := f.widget(t, "ok", Spec{Category: "design"})
	empty := f.widget(t, "ok", Spec{Category: "nothing-here"})
	gone := f.widget(t, "ok", Spec{KworkIDs: []string{"never", "existed"}})
	blocked := f.widget(t, "blocked", Spec{Category: "design"})
	unregistered := f.widget(t, "no-such-partner", Spec{Category: "design"})

	check := func(path string, code int, text string) {
		t.Helper()
		resp := do(f.svc.Handler(), "GET", path, nil, nil)
		body := string(resp.Body())
		if resp.StatusCode() != code || !strings.Contains(body, `<p class="e">`+text) {
			t.Fatalf("GET %s = %d\n%s\nwant %d with %q", path, resp.StatusCode(), body, code, text)
		}
		if strings.Contains(body, "<script") || strings.Contains(body, `class="c"`) || strings.Contains(body, "data-v=") {
			t.Fatalf("GET %s: an empty state has no cards, script or beacon:\n%s", path, body)
		}
		if ct := string(resp.Header.ContentType()); ct != "text/html; charset=utf-8" {
			t.Fatalf("GET %s: Content-Type %q", path, ct)
		}
	}
	check("/w/"+empty.ID, 200, "No kworks to show")
	check("/w/"+gone.ID, 200, "No kworks to show")
	check("/w/"+blocked.ID, 200, "No kworks to show")
	check("/w/"+unregistered.ID, 200, "No kworks to show")
	check("/w/zzzzzzzzzzzz", 404, "This widget is not available")
	if resp := do(f.svc.Handler(), "GET", "/w/"+live.ID, nil, nil); resp.StatusCode() != 200 || !strings.Contains(string(resp.Body()), `data-k="k1"`) {
		t.Fatal("the live widget does not render")
	}
	// Blocking the partner empties the widget once the cache entry expires.
	f.partner(t, "ok", partners.Blocked)
	f.svc.cache.drop(live.ID)
	check("/w/"+live.ID, 200, "No kworks to show")

	// Other paths: plain 404 or 405, never 500.
	for path, code := range map[string]int{"/w/": 404, "/w/x": 404, "/w/" + live.ID + "/view": 405, "/w/t/k1/8x8.jpg": 404} {
		if got := do(f.svc.Handler(), "GET", path, nil, nil).StatusCode(); got != code {
			t.Errorf("GET %s = %d, want %d", path, got, code)
		}
	}
	if got := do(f.svc.Handler(), "POST", "/w/"+live.ID, nil, nil).StatusCode(); got != 405 {
		t.Errorf("POST frame = %d, want 405", got)
	}
}

func TestFrameRedisOutageIsNot500(t *testing.T) {
	f := newFixture(t)
	f.partner(t, "p", partners.Active)
	w := f.widget(t, "p", Spec{Category: "design"})
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialerRetries: 1})
	defer down.Close()
	g := newFixture(t, func(c *Config) { c.Redis = down; c.Partners = &partners.Registry{Redis: down} })
	for _, path := range []string{"/w/" + w.ID, "/w/" + w.ID + ".js", "/w/t/k1/64x48.jpg"} {
		resp := do(g.svc.Handler(), "GET", path, nil, nil)
		if resp.StatusCode() != fasthttp.StatusServiceUnavailable {
			t.Errorf("GET %s with Redis down = %d, want 503", path, resp.StatusCode())
		}
	}
	resp := do(g.svc.Handler(), "GET", "/w/"+w.ID, nil, nil)
	if !strings.Contains(string(resp.Body()), `<p class="e">`) {
		t.Fatalf("no empty state:\n%s", resp.Body())
	}
}

func TestLoader(t *testing.T) {
	f := newFixture(t)
	f.partner(t, "p", partners.Active)
	w := f.widget(t, "p", Spec{Category: "design", Size: "160x600"})
	resp := do(f.svc.Handler(), "GET", "/w/"+w.ID+".js", nil, nil)
	js := string(resp.Body())
	if resp.StatusCode() != 200 || string(resp.Header.ContentType()) != "text/javascript; charset=utf-8" {
		t.Fatalf("loader: %d %s", resp.StatusCode(), resp.Header.ContentType())
	}
	for _, want := range []string{`f.src="` + testPublic + `/w/` + w.ID + `"`, "f.width=160", "f.height=600", `f.loading="lazy"`,
		`"allow-scripts allow-popups allow-popups-to-escape-sandbox"`, "insertBefore(f,s.nextSibling)"} {
		if !strings.Contains(js, want) {
			t.Fatalf("loader lacks %s:\n%s", want, js)
		}
	}
	if cc := string(resp.Header.Peek("Cache-Control")); !strings.HasPrefix(cc, "public, max-age=300") {
		t.Fatalf("Cache-Control = %q", cc)
	}
	etag := string(resp.Header.Peek("ETag"))
	if !strings.HasPrefix(etag, `"`+loaderVersion+"-") {
		t.Fatalf("ETag = %q", etag)
	}
	if r := do(f.svc.Handler(), "GET", "/w/"+w.ID+".js", nil, map[string]string{"If-None-Match": etag}); r.StatusCode() != 304 || len(r.Body()) != 0 {
		t.Fatalf("revalidation = %d", r.StatusCode())
	}
	if r := do(f.svc.Handler(), "GET", "/w/aaaaaaaaaaaa.js", nil, nil); r.StatusCode() != 404 {
		t.Fatalf("unknown loader = %d", r.StatusCode())
	}
	// An edit changes the ETag.
	spec := w.Spec
	spec.Size = "300x250"
	if _, err := f.svc.Store().Update(context.Background(), "p", w.ID, spec); err != nil {
		t.Fatal(err)
	}
	f.svc.cache.drop(w.ID)
	if r := do(f.svc.Handler(), "GET", "/w/"+w.ID+".js", nil, map[string]string{"If-None-Match": etag}); r.StatusCode() != 200 ||
		!strings.Contains(string(r.Body()), "f.width=300") {
		t.Fatalf("after an edit: %d %s", r.StatusCode(), r.Body())
	}
}
