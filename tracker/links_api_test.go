package tracker

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/internal/partnerapi"
	"github.com/refedge/refedge/internal/partnerui"
	"github.com/refedge/refedge/internal/signing"
	"github.com/refedge/refedge/internal/testenv"
)

// linksEnv is the partner API and the link builder page on a loopback fasthttp server,
// with partner authentication on real Redis.
type linksEnv struct {
	t    *testing.T
	base string
	auth *partnerapi.Auth
}

func newLinksEnv(t *testing.T) *linksEnv {
	t.Helper()
	rdb := testenv.Redis(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	auth, err := partnerapi.NewAuth(partnerapi.Config{Keys: signing.MustKeyring(testSecret), Redis: rdb, PublicURL: base})
	if err != nil {
		t.Fatal(err)
	}
	links, err := NewLinks(LinksConfig{MarketOrigin: testOrigin, Auth: auth, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	api := partnerapi.NewRouter(auth, log)
	links.Register(api)
	dashboard := func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/partner/login" {
			auth.HandleLogin(ctx)
			return
		}
		ctx.SetBodyString("dashboard")
	}
	// The same split tracker.Routes makes, with the wiring docs/partner-tools.md gives:
	// the partner app's shared assets, then the link builder, then the dashboard.
	ui, err := partnerui.NewHandler(auth, links.PartnerPages(dashboard), log)
	if err != nil {
		t.Fatal(err)
	}
	e := newTestEdge(t, memState(), &memQueue{})
	srv := &fasthttp.Server{Handler: e.Handler(Routes{API: api.Serve, Dashboard: ui.Serve})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return &linksEnv{t: t, base: base, auth: auth}
}

// post sends body to POST /api/v1/links with the given headers (name, value pairs).
func (e *linksEnv) post(body string, hdr ...string) (int, map[string]any) {
	e.t.Helper()
	req, err := http.NewRequestWithContext(e.t.Context(), http.MethodPost, e.base+"/api/v1/links", strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var v map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &v); err != nil {
		e.t.Fatalf("answer %d is not JSON: %s", resp.StatusCode, b)
	}
	return resp.StatusCode, v
}

// session returns the session cookie a login link sets.
func (e *linksEnv) session(partner string) string {
	e.t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(e.auth.LoginLink(partner))
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	for _, ck := range resp.Cookies() {
		if ck.Name == partnerapi.SessionCookie {
			return ck.Name + "=" + ck.Value
		}
	}
	e.t.Fatal("login link set no session")
	return ""
}

func TestLinksAPI(t *testing.T) {
	e := newLinksEnv(t)
	bearer := "Bearer " + e.auth.IssueToken("12345").Token

	code, v := e.post(`{"url": "https://Market.Example/categories/design?sort=new&ref=777#top", "sub": "post-9"}`, "Authorization", bearer)
	if code != 200 {
		t.Fatalf("%d %v", code, v)
	}
	var resp LinkResponse
	b, _ := json.Marshal(v)
	if err := json.Unmarshal(b, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.Link != "https://market.example/categories/design?sort=new&ref=12345&sub=post-9" {
		t.Fatalf("link %s", resp.Link)
	}
	if !strings.HasPrefix(resp.QRPNG, "data:image/png;base64,") || !strings.HasPrefix(resp.QRSVG, "<svg ") {
		t.Fatalf("QR codes: %.40s / %.40s", resp.QRPNG, resp.QRSVG)
	}
	if len(resp.Share) != len(ShareNetworks) || len(resp.ShareLinks) != len(ShareNetworks) {
		t.Fatalf("share: %v", resp.Share)
	}
	for _, n := range ShareNetworks {
		sl := resp.ShareLinks[n]
		if sl != resp.Link+"&src=share-"+n {
			t.Errorf("%s share link %s", n, sl)
		}
		checkOneRef(t, sl, "12345")
		if resp.Share[n] != ShareURL(n, sl) {
			t.Errorf("%s share URL %s", n, resp.Share[n])
		}
	}

	// Refusals: a clear 4xx with a message.
	f := func(body string, want int, msg string, hdr ...string) {
		t.Helper()
		if len(hdr) == 0 {
			hdr = []string{"Authorization", bearer}
		}
		code, v := e.post(body, hdr...)
		if code != want || !strings.Contains(v["error"].(string), msg) {
			t.Fatalf("%s: %d %v, want %d with %q", body, code, v, want, msg)
		}
	}
	f(`{"url": "https://market.example@evil.example/"}`, 422, "user name or password")
	f(`{"url": "javascript:alert(1)"}`, 422, "not a web page")
	f(`{"url": "//evil.example/"}`, 422, "//")
	f(`{"url": "https://evil.example/"}`, 422, "another site")
	f(`{"url": "https://market.example/", "sub": "a b"}`, 400, "sub:")
	f(`{"url": "https://market.example/", "src": "banner"}`, 400, "src:")
	f(`{"url": "https://market.example/", "partner": "other"}`, 400, "unknown field")
	f(`{"url": `, 400, "invalid JSON")
	f(`{"url": "https://market.example/"}`, 401, "token", "Authorization", "Bearer nope")
	f(`{"url": "`+strings.Repeat("x", maxLinkBody)+`"}`, 413, "too large")

	// The page's session may post only from refedge's own origin (CSRF).
	ck := e.session("12345")
	f(`{"url": "https://market.example/"}`, 403, "cross-origin", "Cookie", ck, "Origin", "https://evil.example")
	code, v = e.post(`{"url": "https://market.example/"}`, "Cookie", ck, "Origin", e.base)
	if code != 200 || v["link"] != "https://market.example/?ref=12345" {
		t.Fatalf("same-origin session post: %d %v", code, v)
	}
}

func TestLinksPage(t *testing.T) {
	e := newLinksEnv(t)
	get := func(path string, hdr ...string) (int, http.Header, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, e.base+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		_, _ = io.Copy(&buf, resp.Body)
		return resp.StatusCode, resp.Header, buf.String()
	}
	code, _, body := get("/partner/links")
	if code != 401 || !strings.Contains(body, "to sign in") || strings.Contains(body, "link-form") {
		t.Fatalf("without a session: %d %.300s", code, body)
	}
	code, h, body := get("/partner/links", "Cookie", e.session("p_9"))
	if code != 200 || !strings.Contains(body, `id="link-form"`) || !strings.Contains(body, `<span class="app-partner" id="app-partner">Partner p_9</span>`) {
		t.Fatalf("with a session: %d %.500s", code, body)
	}
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'nonce-") || strings.Contains(csp, "unsafe") {
		t.Fatalf("CSP %q", csp)
	}
	if code, _, body := get("/partner"); code != 200 || body != "dashboard" {
		t.Fatalf("/partner went to %d %q, want the dashboard", code, body)
	}
	if code, _, _ := get("/partner/linksx"); code != 200 {
		t.Fatalf("/partner/linksx: %d, want the dashboard's answer", code)
	}
	if code, h, body := get("/partner/links/static/links.js"); code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/javascript") || !strings.Contains(body, "/api/v1/links") {
		t.Fatalf("script: %d %s", code, h.Get("Content-Type"))
	}
	if code, _, _ := get("/partner/links/static/nope.js"); code != 404 {
		t.Fatalf("unknown asset: %d", code)
	}
}

// A refused link is explained in the language the request asks for: the link builder
// page's (its cookie, or Accept-Language), English for an API client naming none.
func TestLinksAPIErrorsInTheRequestsLanguage(t *testing.T) {
	e := newLinksEnv(t)
	bearer := "Bearer " + e.auth.IssueToken("12345").Token
	body := `{"url": "https://user:pw@market.example/"}`
	code, v := e.post(body, "Authorization", bearer)
	if code != 422 || v["error"] != "url: only pages of https://market.example can be linked (a user name or password before @ in the address is not allowed)" {
		t.Fatalf("English: %d %v", code, v)
	}
	code, v = e.post(body, "Authorization", bearer, "Accept-Language", "ru-RU,ru;q=0.9")
	if code != 422 || v["error"] != "url: можно ссылаться только на страницы https://market.example (имя пользователя или пароль перед @ в адресе не допускаются)" {
		t.Fatalf("Russian: %d %v", code, v)
	}
	ck := e.session("12345")
	code, v = e.post(`{"url": "https://evil.example/"}`, "Cookie", ck+"; rfe_lang=ru", "Origin", e.base, "Accept-Language", "en")
	if code != 422 || v["error"] != "url: можно ссылаться только на страницы https://market.example (evil.example — другой сайт)" {
		t.Fatalf("the page's remembered Russian: %d %v", code, v)
	}
}
