package main

// The hostile-input suite's JavaScript half: user-supplied values that could reach a
// script. Against the real binary, breakout payloads are stored (kwork titles and
// URLs, widget names, creative alt texts, click sub-ids and referrers) and sent
// (query parameters, Referer, cookies) through every path that ends in a response
// holding JavaScript: the widget frame, preview and loader, the builder, the link
// builder and its API, the dashboard and its JSON data block, the materials page, the
// review pages and /v.js. Every HTML response is scanned for a script element, an
// event handler or a javascript: URL that the payloads could have made, every
// executable script must be free of request data, JSON data blocks must parse, and the
// stored payloads must come back exactly (as text in the pages, as strings in the
// JSON). The dashboard, the widget frame and the materials page are then opened in
// headless Chromium, which must show no dialog and log no script error.
//
// The file is not named hostile_js_test.go: a _js suffix is a GOOS build constraint,
// so go would compile it only for GOOS=js and the test would never run.

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/refedge/refedge/internal/admin/admintest"
	"github.com/refedge/refedge/internal/testenv"
)

// jsPayloads break out of a JavaScript string, template literal, script element or
// JSON block when a value reaches one unescaped. Each calls alert, which the browser
// half watches for. None starts or ends with white space (stored values are trimmed).
var jsPayloads = []payload{
	{name: "script-close", value: `</script><script>alert(1)</script>`},
	{name: "squote", value: `'-alert(1)-'`},
	{name: "dquote", value: `"-alert(1)-"`},
	{name: "backslash-dquote", value: `\";alert(1);//`},
	{name: "template-literal", value: "${alert(1)}"},
	{name: "comment-script", value: `<!--<script>`},
	{name: "js-url", value: `javascript:alert(1)`},
	{name: "u2028", value: "x\u2028alert(1)//"},
	{name: "u2029", value: "x\u2029alert(1)//"},
	{name: "trailing-backslash", value: `alert(1)\`},
}

// asciiJSPayloads are the payloads refedge can record from a click (sub-ids and paths
// keep printable ASCII only).
func asciiJSPayloads() []string {
	var out []string
	for _, p := range jsPayloads {
		if !strings.ContainsAny(p.value, "\u2028\u2029") {
			out = append(out, p.value)
		}
	}
	return out
}

// jsRefererHosts are payloads that survive as a Referer's host (no '/', '?', '#').
var jsRefererHosts = []string{`x"-alert(1)-"`, `x'-alert(1)-'`, `${alert(1)}`, `<!--<script>`, `javascript:alert(1)`}

func (t htmlTag) attr(name string) (string, bool) {
	for _, a := range t.attrs {
		if a[0] == name {
			return html.UnescapeString(a[1]), true
		}
	}
	return "", false
}

// jsonScript reports whether a script element is a data block of JSON.
func (t htmlTag) jsonScript() bool {
	typ, _ := t.attr("type")
	typ, _, _ = strings.Cut(strings.ToLower(strings.TrimSpace(typ)), ";")
	return typ == "application/json" || typ == "application/ld+json"
}

// scripts returns the script elements of doc.
func scripts(doc string) []htmlTag {
	var out []htmlTag
	for _, t := range scanTags(doc) {
		if t.name == "script" {
			out = append(out, t)
		}
	}
	return out
}

// dangerousScheme reports whether a URL attribute's value runs script when followed:
// the browser strips leading C0 controls and spaces and drops tabs and newlines
// anywhere (WHATWG URL), so "java&#9;script:" counts.
func dangerousScheme(v string) bool {
	v = strings.TrimLeftFunc(v, func(r rune) bool { return r <= 0x20 })
	v = strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, strings.ToLower(v))
	return strings.HasPrefix(v, "javascript:") || strings.HasPrefix(v, "vbscript:") || strings.HasPrefix(v, "data:text/html")
}

// jsProblems lists every way doc lets a payload reach a script: a script element count
// other than wantScripts (-1: any), an event handler attribute, a javascript: URL, a
// script whose text holds "<!--" or "<script" (which move the tokenizer into the
// script's escaped states, where "</script>" no longer ends it), U+2028 or U+2029, a
// JSON block that does not parse, and an executable script holding a payload.
func jsProblems(doc string, wantScripts int, payloads []string) []string {
	var out []string
	n := 0
	for _, t := range scanTags(doc) {
		for _, a := range t.attrs {
			v := html.UnescapeString(a[1])
			switch {
			case strings.HasPrefix(a[0], "on"):
				out = append(out, fmt.Sprintf("event handler <%s %s=%q>", t.name, a[0], clip([]byte(a[1]), 80)))
			case urlAttr(a[0]) && dangerousScheme(v):
				out = append(out, fmt.Sprintf("script URL <%s %s=%q>", t.name, a[0], clip([]byte(a[1]), 80)))
			}
		}
		if t.name == "!--" {
			out = append(out, fmt.Sprintf("a comment that never ends hides the rest of the page: %q", clip([]byte(t.text), 120)))
		}
		if t.name != "script" {
			continue
		}
		n++
		low := strings.ToLower(t.text)
		if strings.Contains(low, "<!--") || strings.Contains(low, "<script") {
			out = append(out, fmt.Sprintf("script %d holds <!-- or <script: %q", n, clip([]byte(t.text), 120)))
		}
		if strings.ContainsAny(t.text, "\u2028\u2029") {
			out = append(out, fmt.Sprintf("script %d holds a raw U+2028 or U+2029", n))
		}
		if t.jsonScript() {
			if !json.Valid([]byte(t.text)) {
				out = append(out, fmt.Sprintf("JSON block %d does not parse: %q", n, clip([]byte(t.text), 200)))
			}
			continue
		}
		// Every payload calls alert; no script of refedge's does.
		if strings.Contains(t.text, "alert(") {
			out = append(out, fmt.Sprintf("script %d calls alert: %q", n, clip([]byte(t.text), 120)))
		}
		for _, p := range payloads {
			if len(p) >= 4 && strings.Contains(t.text, p) {
				out = append(out, fmt.Sprintf("script %d holds the payload %q", n, p))
			}
		}
	}
	if wantScripts >= 0 && n != wantScripts {
		out = append(out, fmt.Sprintf("%d script elements, want %d", n, wantScripts))
	}
	return out
}

// executable returns the text of doc's executable scripts, for comparing a page
// rendered from hostile input with one rendered from benign input.
func executable(doc string) []string {
	var out []string
	for _, s := range scripts(doc) {
		if !s.jsonScript() {
			out = append(out, s.text)
		}
	}
	return out
}

// TestHostileJSScanner: the checks find live script contexts and pass escaped ones.
func TestHostileJSScanner(t *testing.T) {
	ps := []string{`</script><script>alert(1)</script>`, `'-alert(1)-'`, `"-alert(1)-"`, "${alert(1)}"}
	f := func(doc string, want, problems int) {
		t.Helper()
		if got := jsProblems(doc, want, ps); len(got) != problems {
			t.Errorf("%q: %d problems %q, want %d", doc, len(got), got, problems)
		}
	}
	f(`<p>hello</p>`, 0, 0)
	f(`<script>var a="</script><script>alert(1)</script>";</script>`, 1, 2) // a second script, which calls alert
	f(`<script>var a='x'-alert(1)-'';</script>`, 1, 2)
	f(`<script>var a="x"-alert(1)-"";</script>`, 1, 2)
	f("<script>var a=`${alert(1)}`;</script>", 1, 2)
	f(`<script>var a="<!--<script>";</script>`, 1, 1)
	f("<script>var a=\"\u2028\";</script>", 1, 1)
	f(`<script type="application/json">{"a":"\u003c/script\u003e'-alert(1)-'"}</script>`, 1, 0)
	f(`<script type="application/json">{"a":"x\"}</script>`, 1, 1)
	f(`<script type="Application/JSON; charset=utf-8">[1,</script>`, 1, 1)
	f(`<img src=x onerror="alert(1)">`, 0, 1)
	f(`<svg/onload=alert(1)>`, 0, 1)
	f(`<a href=" java&#x09;script:alert(1)">x</a>`, 0, 1)
	f(`<a href="JaVaScRiPt&colon;alert(1)">x</a>`, 0, 1)
	f(`<iframe src="data:text/html,<script>alert(1)</script>"></iframe>`, 0, 1)
	f(`<a href="https://market.example/?q=javascript:alert(1)">x</a>`, 0, 0)
	f(`<p>&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;</p><textarea><script>alert(1)</script></textarea>`, 0, 0)
	f(`<!-- <script>alert(1)</script> --><p>x</p>`, 0, 0)
	f(`<p><!--<script></p><script nonce="n">static()</script>`, 1, 2) // the comment swallows the script
	f(`<script>alert(1)</script>`, 1, 1)
	f(`<p>x</p><script>alert(1)</script>`, 0, 2)
	f(`<script nonce="n">static()</script>`, -1, 0)
	if got := executable(`<script type="application/json">{}</script><script>a()</script><script src="/x.js"></script>`); !slices.Equal(got, []string{"a()", ""}) {
		t.Errorf("executable = %q", got)
	}
}

// jsEnv is the stack and the fixture the test stores its payloads in.
type jsEnv struct {
	s                *stack
	partner, token   string
	session          string
	cat, benignCat   string
	widgets          []string // one per payload, named by it
	benignWidget     string
	creatives        []string // one per payload, its alt text
	titles, alts     []string // the payloads as stored (trimmed)
	subs, refHosts   []string
	loginQueryForWeb string // a second login link's query, for the browser
}

func (e *jsEnv) get(t *testing.T, base, path string, hdr map[string]string) (int, http.Header, string) {
	t.Helper()
	return e.send(t, "GET", base, path, "", hdr)
}

func (e *jsEnv) send(t *testing.T, method, base, path, body string, hdr map[string]string) (int, http.Header, string) {
	t.Helper()
	if base == e.s.admin && hdr == nil {
		hdr = map[string]string{"Authorization": admintest.Bearer(admintest.AdminSecret)}
	}
	resp := sendNoRedirect(t, method, base+path, body, hdr)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func (e *jsEnv) sess() map[string]string { return map[string]string{"Cookie": "rfe_ps=" + e.session} }
func (e *jsEnv) bearer() map[string]string {
	return map[string]string{"Authorization": "Bearer " + e.token, "Content-Type": "application/json"}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// loginLink returns the query of a fresh dashboard login link for partner.
func (e *jsEnv) loginLink(t *testing.T) string {
	t.Helper()
	code, _, body := e.send(t, "POST", e.s.admin, "/admin/v1/partners/"+e.partner+"/login-links", "", nil)
	var out struct{ URL string }
	if code != 201 || json.Unmarshal([]byte(body), &out) != nil {
		t.Fatalf("login link: %d %s", code, body)
	}
	u, err := url.Parse(out.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u.RawQuery
}

// newJSEnv stores every payload: as kwork titles (and in kwork URLs) of one category,
// widget names, creative alt texts, and clicks' sub-ids and referrers.
func newJSEnv(t *testing.T) *jsEnv {
	t.Helper()
	s := startStack(t)
	n := rand.IntN(1 << 30)
	e := &jsEnv{s: s, partner: fmt.Sprintf("js-p-%d", n), cat: fmt.Sprintf("js-cat-%d", n), benignCat: fmt.Sprintf("js-ok-%d", n)}
	s.putPartner(e.partner, "active")

	code, _, body := e.send(t, "POST", s.admin, "/admin/v1/partners/"+e.partner+"/tokens", "", nil)
	var tok struct{ Token string }
	if code != 201 || json.Unmarshal([]byte(body), &tok) != nil || tok.Token == "" {
		t.Fatalf("token: %d %s", code, body)
	}
	e.token = tok.Token
	code, hdr, _ := e.get(t, s.http, "/partner/login?"+e.loginLink(t), nil)
	for _, c := range (&http.Response{Header: hdr}).Cookies() {
		if c.Name == "rfe_ps" {
			e.session = c.Value
		}
	}
	if e.session == "" {
		t.Fatalf("login set no session: %d %v", code, hdr)
	}
	e.loginQueryForWeb = e.loginLink(t)

	kwork := func(id, title, cat, rawURL string) {
		body := mustJSON(t, map[string]any{"title": title, "category": cat, "price": 150000, "currency": "RUB",
			"url": rawURL, "seller_id": "s1", "rating": 4.5})
		if code, _, out := e.send(t, "PUT", s.admin, "/admin/v1/kworks/"+id, body, nil); code != 200 {
			t.Fatalf("PUT kwork %s: %d %s", id, code, out)
		}
	}
	png := string(testPNG(t, 240, 160))
	for i, p := range jsPayloads {
		// The URL's query carries the payload too: it ends up in the card's href.
		kwork(fmt.Sprintf("js-k-%d-%d", n, i), p.value, e.cat, hostileOrigin+"/kwork/"+fmt.Sprint(i)+"?q="+url.QueryEscape(p.value))
		e.titles = append(e.titles, p.value)

		cr := fmt.Sprintf("js-cr-%d-%d", n, i)
		code, _, out := e.send(t, "PUT", s.admin, "/admin/v1/creatives/"+cr+"?alt="+url.QueryEscape(p.value), png, nil)
		if code/100 != 2 {
			t.Fatalf("PUT creative %s (alt %s): %d %s", cr, p.name, code, out)
		}
		e.creatives = append(e.creatives, cr)
		e.alts = append(e.alts, p.value)
	}
	kwork(fmt.Sprintf("js-k-%d-ok", n), "Logo design", e.benignCat, hostileOrigin+"/kwork/ok")

	widget := func(name, cat string) string {
		code, _, out := e.send(t, "POST", s.http, "/api/v1/widgets",
			mustJSON(t, map[string]any{"name": name, "category": cat, "size": "300x250", "cards": 12}), e.bearer())
		var w struct{ ID string }
		if code != 201 || json.Unmarshal([]byte(out), &w) != nil || w.ID == "" {
			t.Fatalf("create widget %q: %d %s", name, code, out)
		}
		return w.ID
	}
	for _, p := range jsPayloads {
		e.widgets = append(e.widgets, widget(p.value, e.cat))
	}
	e.benignWidget = widget("benign", e.benignCat)

	// Clicks: each ASCII payload as a sub-id and in the path, the referrer hosts as
	// Referer. The verdict does not matter: every click is recorded and shown.
	e.subs = asciiJSPayloads()
	for i, sub := range e.subs {
		path := "/js/" + url.PathEscape(sub) + "?ref=" + e.partner + "&sub=" + url.QueryEscape(sub)
		if resp, _, err := s.click(path, "X-Forwarded-For", fmt.Sprintf("198.51.100.%d", 10+i)); err != nil || resp.StatusCode != 302 {
			t.Fatalf("click %s: %v %v", path, err, resp)
		}
	}
	e.refHosts = jsRefererHosts
	for i, h := range e.refHosts {
		if resp, _, err := s.click("/js/r?ref="+e.partner, "X-Forwarded-For", fmt.Sprintf("198.51.100.%d", 100+i),
			"Referer", "http://"+h+"/post"); err != nil || resp.StatusCode != 302 {
			t.Fatalf("click from %s: %v %v", h, err, resp)
		}
	}
	return e
}

func TestHostileJS(t *testing.T) {
	e := newJSEnv(t)
	all := append(append(append([]string(nil), e.titles...), e.subs...), e.refHosts...)
	check := func(what, doc string, wantScripts int) {
		t.Helper()
		for _, p := range jsProblems(doc, wantScripts, all) {
			t.Errorf("%s: %s", what, p)
		}
	}
	// shows fails unless doc's text (entities decoded) holds every value: the payloads
	// did reach the page, so the checks above were not vacuous.
	shows := func(what, doc string, values []string) {
		t.Helper()
		text := html.UnescapeString(doc)
		for _, v := range values {
			if !strings.Contains(text, v) {
				t.Errorf("%s does not show %q", what, v)
			}
		}
	}
	sameScripts := func(what, doc, benign string) {
		t.Helper()
		if got, want := executable(doc), executable(benign); !slices.Equal(got, want) {
			t.Errorf("%s: its scripts depend on the input:\n got %q\nwant %q", what, clip([]byte(strings.Join(got, "|")), 600), clip([]byte(strings.Join(want, "|")), 600))
		}
	}
	hostileQuery := func(keys ...string) string {
		q := url.Values{}
		for i, k := range keys {
			q.Set(k, jsPayloads[i%len(jsPayloads)].value)
		}
		return q.Encode()
	}
	pub := e.s.http

	t.Run("widget", func(t *testing.T) {
		_, _, benign := e.get(t, pub, "/w/"+e.benignWidget, nil)
		for _, ref := range []string{"", "http://</script><script>alert(1)</script>/", "http://x'-alert(1)-'/"} {
			code, _, doc := e.get(t, pub, "/w/"+e.widgets[0]+"?"+hostileQuery("x", "ref", "sub"), map[string]string{"Referer": ref})
			what := fmt.Sprintf("frame (Referer %q)", ref)
			if code != 200 {
				t.Fatalf("%s: %d", what, code)
			}
			check(what, doc, 1)
			shows(what, doc, e.titles)
			sameScripts(what, doc, benign)
		}
		code, _, doc := e.get(t, pub, "/w/preview?category="+e.cat+"&cards=12", e.sess())
		if code != 200 {
			t.Fatalf("preview: %d", code)
		}
		check("preview", doc, 1)
		shows("preview", doc, e.titles)
		sameScripts("preview", doc, benign)
		// Payloads in every spec parameter: an empty-state frame, no script at all.
		_, _, doc = e.get(t, pub, "/w/preview?"+hostileQuery("category", "kwork_ids", "size", "theme", "accent", "language", "cards", "rotation_seconds"), e.sess())
		check("preview with hostile spec", doc, 0)

		// The loader: the only widget-dependent bytes are JSON strings; a widget's name
		// never reaches it. A hostile id is a fixed 404 comment.
		for i, id := range e.widgets {
			code, hdr, js := e.get(t, pub, "/w/"+id+".js?"+hostileQuery("x"), map[string]string{"Referer": "http://x'-alert(1)-'/"})
			if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/javascript") || hdr.Get("X-Content-Type-Options") != "nosniff" {
				t.Fatalf("loader %s: %d %v", id, code, hdr)
			}
			check("loader of widget "+jsPayloads[i].name, "<script>"+js+"</script>", 1)
			frameURL, _ := json.Marshal("http://localhost:8080/w/" + id)
			if !strings.Contains(js, "f.src="+string(frameURL)+";") {
				t.Errorf("loader %s does not set the frame URL as a JSON string: %s", id, js)
			}
			// Widget names round-trip exactly through the API's JSON.
			code, _, body := e.get(t, pub, "/api/v1/widgets/"+id, e.bearer())
			var w struct{ Name string }
			if code != 200 || json.Unmarshal([]byte(body), &w) != nil || w.Name != jsPayloads[i].value {
				t.Errorf("widget %s: %d, name %q, want %q (%s)", id, code, w.Name, jsPayloads[i].value, clip([]byte(body), 300))
			}
		}
		for _, p := range jsPayloads {
			code, _, js := e.get(t, pub, "/w/"+url.PathEscape(p.value)+".js", nil)
			if code/100 == 2 || strings.Contains(js, p.value) || strings.Contains(js, "alert") {
				t.Errorf("loader for id %q: %d %q", p.value, code, clip([]byte(js), 200))
			}
		}
	})

	t.Run("partner-pages", func(t *testing.T) {
		// A partner app page has its own script(s), its messages as a JSON block and
		// the shared partner.js: the builder, link builder and materials three, the
		// dashboard four (its chart data too).
		_, _, benign := e.get(t, pub, "/w/builder", e.sess())
		code, _, doc := e.get(t, pub, "/w/builder?"+hostileQuery("x", "category"), e.sess())
		if code != 200 {
			t.Fatalf("builder: %d", code)
		}
		check("builder", doc, 3)
		sameScripts("builder", doc, benign)

		_, _, benign = e.get(t, pub, "/partner/links", e.sess())
		code, _, doc = e.get(t, pub, "/partner/links?"+hostileQuery("x", "url", "sub"), e.sess())
		if code != 200 {
			t.Fatalf("link builder: %d", code)
		}
		check("link builder", doc, 3)
		sameScripts("link builder", doc, benign)

		// The link API: a script URL is refused, and whatever a link carries, every
		// share link is https: or mailto: (links.js follows nothing else).
		for _, p := range jsPayloads {
			for _, body := range []map[string]string{{"url": p.value}, {"url": hostileOrigin + "/x?q=" + url.QueryEscape(p.value)}, {"url": hostileOrigin + "/x", "sub": p.value}} {
				code, hdr, out := e.send(t, "POST", pub, "/api/v1/links", mustJSON(t, body), e.bearer())
				var res struct {
					Link  string
					Share map[string]string
				}
				if !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") || json.Unmarshal([]byte(out), &res) != nil {
					t.Errorf("links %v: %d %s, not JSON: %q", body, code, hdr.Get("Content-Type"), clip([]byte(out), 200))
					continue
				}
				if code != 200 {
					continue
				}
				if !strings.HasPrefix(res.Link, "http://") && !strings.HasPrefix(res.Link, "https://") {
					t.Errorf("links %v: link %q", body, res.Link)
				}
				for n, u := range res.Share {
					if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "mailto:") {
						t.Errorf("links %v: share %s = %q", body, n, u)
					}
				}
			}
		}
	})

	t.Run("materials", func(t *testing.T) {
		code, _, doc := e.get(t, pub, "/b/materials?ref="+e.partner, nil)
		if code != 200 {
			t.Fatalf("materials: %d", code)
		}
		check("materials", doc, 3)
		shows("materials", doc, e.alts)
		_, _, benign := e.get(t, pub, "/b/materials", nil)
		sameScripts("materials", doc, benign)
		code, _, doc = e.get(t, pub, "/b/materials?"+hostileQuery("ref", "x"), nil)
		if code != 400 {
			t.Errorf("materials with a hostile ref: %d", code)
		}
		check("materials with a hostile ref", doc, 3)
		sameScripts("materials with a hostile ref", doc, benign)

		// Alt texts round-trip exactly through the API's JSON, and the embed code
		// carries them as one escaped attribute value.
		code, _, body := e.get(t, pub, "/api/v1/banners", e.bearer())
		var res struct {
			Creatives []struct {
				ID, Alt string
				Banners []struct{ HTML string }
			}
		}
		if code != 200 || json.Unmarshal([]byte(body), &res) != nil {
			t.Fatalf("banners API: %d %s", code, clip([]byte(body), 300))
		}
		alts := map[string]string{}
		for _, c := range res.Creatives {
			alts[c.ID] = c.Alt
			for _, b := range c.Banners {
				tags := scanTags(b.HTML)
				if len(tags) != 2 || tags[0].name != "a" || tags[1].name != "img" {
					t.Errorf("creative %s: embed code %q is not <a><img></a>", c.ID, b.HTML)
					continue
				}
				if alt, _ := tags[1].attr("alt"); alt != c.Alt {
					t.Errorf("creative %s: embed code's alt is %q, want %q", c.ID, alt, c.Alt)
				}
				check("embed code of "+c.ID, b.HTML, 0)
			}
		}
		for i, cr := range e.creatives {
			if alts[cr] != e.alts[i] {
				t.Errorf("creative %s: alt %q, want %q", cr, alts[cr], e.alts[i])
			}
		}
	})

	t.Run("dashboard", func(t *testing.T) {
		// The clicks reach ClickHouse within a flush interval or so.
		var doc string
		waitEvery(t, "the sub-ids and referrers on the dashboard", 60*time.Second, 250*time.Millisecond, func() bool {
			_, _, doc = e.get(t, pub, "/partner", e.sess())
			text := html.UnescapeString(doc)
			for _, v := range append(append([]string(nil), e.subs...), e.refHosts...) {
				if !strings.Contains(text, v) {
					return false
				}
			}
			return true
		})
		check("dashboard", doc, 4)
		dashboardJSON(t, doc, all)
		for _, q := range []string{hostileQuery("from", "to", "interval", "range"), hostileQuery("range", "interval")} {
			code, _, doc := e.get(t, pub, "/partner?"+q, e.sess())
			if code != 200 {
				t.Errorf("dashboard ?%s: %d", q, code)
			}
			check("dashboard ?"+q, doc, 4)
			dashboardJSON(t, doc, all)
		}
		// The operator's review pages show the same clicks and run no script at all.
		for _, path := range []string{"/admin/review", "/admin/review/" + e.partner, "/admin/review?" + hostileQuery("from", "to"), "/admin/review/" + e.partner + "?" + hostileQuery("from", "to")} {
			code, hdr, doc := e.get(t, e.s.admin, path, nil)
			if code/100 == 5 || !strings.Contains(hdr.Get("Content-Security-Policy"), "default-src 'none'") {
				t.Errorf("%s: %d, CSP %q", path, code, hdr.Get("Content-Security-Policy"))
			}
			check(path, doc, 0)
		}
	})

	t.Run("beacon-script", func(t *testing.T) {
		_, _, want := e.get(t, pub, "/v.js", nil)
		code, _, got := e.get(t, pub, "/v.js?"+hostileQuery("x", "ref", "t"), map[string]string{
			"Referer": "http://x'-alert(1)-'/", "Cookie": "rfe_chk=" + url.QueryEscape(jsPayloads[0].value)})
		if code != 200 || got != want || want == "" {
			t.Errorf("/v.js with hostile input: %d, %d bytes, want the same %d bytes as without", code, len(got), len(want))
		}
		check("/v.js", "<script>"+got+"</script>", 1)
	})

	if t.Failed() {
		return // the browser would only repeat what failed
	}
	t.Run("browser", func(t *testing.T) { hostileJSBrowser(t, e) })
}

// dashboardJSON checks the dashboard's chart data block: one, valid JSON, an object
// with the chart's series, no raw '<' (so it can never hold "</script" or "<!--"),
// and none of the payloads, which are request data the chart never takes.
func dashboardJSON(t *testing.T, doc string, payloads []string) {
	t.Helper()
	var blocks []string
	for _, s := range scripts(doc) {
		if id, _ := s.attr("id"); id == "rfe-chart-data" && s.jsonScript() {
			blocks = append(blocks, s.text)
		}
	}
	if len(blocks) != 1 {
		t.Errorf("dashboard: %d chart data blocks, want 1", len(blocks))
		return
	}
	var chart struct {
		Interval string
		Labels   []string
		Clicks   []uint64
	}
	if err := json.Unmarshal([]byte(blocks[0]), &chart); err != nil || chart.Interval == "" || len(chart.Labels) != len(chart.Clicks) {
		t.Errorf("dashboard chart data %q: %v", clip([]byte(blocks[0]), 300), err)
	}
	if strings.ContainsAny(blocks[0], "<\u2028\u2029") {
		t.Errorf("dashboard chart data holds a raw '<', U+2028 or U+2029: %q", clip([]byte(blocks[0]), 300))
	}
	for _, p := range payloads {
		if strings.Contains(blocks[0], p) {
			t.Errorf("dashboard chart data holds the payload %q", p)
		}
	}
}

// pageWatch records what a tab does that it must not: dialogs (which it also
// dismisses, since an open alert stalls the page), uncaught exceptions, console
// errors and error entries of the browser log (a CSP violation is one).
type pageWatch struct {
	mu       sync.Mutex
	dialogs  []string
	problems []string
}

func (w *pageWatch) take() (dialogs, problems []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	dialogs, problems = w.dialogs, w.problems
	w.dialogs, w.problems = nil, nil
	return dialogs, problems
}

func watchTab(t *testing.T, ctx context.Context) *pageWatch {
	t.Helper()
	w := &pageWatch{}
	dismiss := make(chan struct{}, 64)
	lctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	t.Cleanup(func() { stop(); <-done })
	go func() {
		defer close(done)
		for {
			select {
			case <-lctx.Done():
				return
			case <-dismiss:
				cctx, cancel := context.WithTimeout(lctx, 10*time.Second)
				_, _ = chromedp.Call(cctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
				cancel()
			}
		}
	}()
	// Listen, not Events: fn sees an event before the reply to any later command, so
	// once a poll of the page has returned, every event before it is recorded.
	err := chromedp.Listen(lctx, func(ev any) {
		w.mu.Lock()
		defer w.mu.Unlock()
		switch ev := ev.(type) {
		case *page.EventJavascriptDialogOpening:
			w.dialogs = append(w.dialogs, fmt.Sprintf("%s %q on %s", ev.Type, ev.Message, ev.URL))
			select {
			case dismiss <- struct{}{}:
			default:
			}
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			w.problems = append(w.problems, fmt.Sprintf("exception at %s:%d: %s", d.URL, d.LineNumber, msg))
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				w.problems = append(w.problems, fmt.Sprintf("console.%s", ev.Type))
			}
		case *log.EventEntryAdded:
			e := ev.Entry
			// A browser asks for /favicon.ico on its own, after the load; refedge sends
			// that path to the marketplace, which the pages' CSP does not allow.
			if e.Level == log.EntryLevelError && !strings.Contains(e.URL+" "+e.Text, "/favicon.ico") {
				w.problems = append(w.problems, fmt.Sprintf("log %s: %s (%s)", e.Source, e.Text, e.URL))
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// hostileJSBrowser opens the pages that matter most with the payloads in them and
// requires that no dialog opens and no script fails; a control page first proves
// that both would be seen.
func hostileJSBrowser(t *testing.T, e *jsEnv) {
	ctx := testenv.Chromium(t, chromedp.UserAgent("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"))
	w := watchTab(t, ctx)
	open := func(what, u, ready string) {
		t.Helper()
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(actx, chromedp.Navigate(u)); err != nil {
			t.Fatalf("%s: open %s: %v", what, u, err)
		}
		if _, err := chromedp.Run(actx, chromedp.Poll[bool](ready, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
			text, _ := chromedp.Run(actx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 2000) : ""`))
			t.Fatalf("%s: %s never held: %v\n%s", what, ready, err, text)
		}
	}
	texts := func(what, js string) []string {
		t.Helper()
		actx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		v, err := chromedp.Run(actx, chromedp.Evaluate[[]string](js))
		if err != nil {
			t.Fatalf("%s: %s: %v", what, js, err)
		}
		sort.Strings(v)
		return v
	}
	clean := func(what string) {
		t.Helper()
		dialogs, problems := w.take()
		if len(dialogs) > 0 {
			t.Errorf("%s opened %d dialogs: %q", what, len(dialogs), dialogs)
		}
		if len(problems) > 0 {
			t.Errorf("%s logged script errors: %q", what, problems)
		}
	}
	sorted := func(v []string) []string { v = slices.Clone(v); sort.Strings(v); return v }

	// Control: a page that does alert and throw is seen doing both.
	open("control", "data:text/html,"+url.PathEscape(`<script>alert("hxctl")</script><script>throw new Error("hxctl")</script><p id=done>x</p>`),
		`!!document.getElementById("done")`)
	if dialogs, problems := w.take(); len(dialogs) != 1 || len(problems) != 1 {
		t.Fatalf("control page: dialogs %q and problems %q, want one of each: the watch would miss them", dialogs, problems)
	}

	// The widget frame, opened as a top-level page (its CSP allows any ancestor, and
	// its script runs the same): every title shows as the very text stored.
	open("widget frame", e.s.http+"/w/"+e.widgets[0], `document.body.classList.contains("js")`)
	if got := texts("widget frame", `Array.from(document.querySelectorAll("li.c .n")).map(n => n.textContent)`); !slices.Equal(got, sorted(e.titles)) {
		t.Errorf("widget frame shows titles %q, want %q", got, sorted(e.titles))
	}
	if got := texts("widget frame", `Array.from(document.querySelectorAll("li.c a")).map(a => a.protocol)`); len(got) != len(e.titles) || slices.ContainsFunc(got, func(p string) bool { return p != "http:" && p != "https:" }) {
		t.Errorf("widget frame card links have protocols %q", got)
	}
	clean("widget frame")

	open("materials", e.s.http+"/b/materials?ref="+e.partner, `document.readyState === "complete"`)
	if got := texts("materials", `Array.from(document.querySelectorAll("section[id^='creative-js-cr-'] h2")).map(h => h.textContent)`); !slices.Equal(got, sorted(e.alts)) {
		t.Errorf("materials page shows alt texts %q, want %q", got, sorted(e.alts))
	}
	clean("materials")

	open("dashboard", e.s.http+"/partner/login?"+e.loginQueryForWeb, `document.documentElement.dataset.charts === "ready"`)
	if got := texts("dashboard", `Array.from(document.querySelectorAll("#table-sub_id tr[data-key]")).map(r => r.dataset.key).filter(k => k !== "(none)")`); !slices.Equal(got, sorted(e.subs)) {
		t.Errorf("dashboard lists sub-ids %q, want %q", got, sorted(e.subs))
	}
	clean("dashboard")
	open("dashboard with a hostile period", e.s.http+"/partner?range="+url.QueryEscape(jsPayloads[0].value)+"&from="+url.QueryEscape(jsPayloads[1].value),
		`document.documentElement.dataset.charts === "ready"`)
	clean("dashboard with a hostile period")
}
