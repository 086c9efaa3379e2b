package partnerui

import (
	"net/url"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/internal/i18n"
	"github.com/refedge/refedge/internal/partnerapi"
	"github.com/refedge/refedge/internal/signing"
	"github.com/refedge/refedge/internal/testenv"
)

const origin = "https://r.example"

func newHandler(t *testing.T) (*Handler, *partnerapi.Auth) {
	t.Helper()
	a, err := partnerapi.NewAuth(partnerapi.Config{Keys: signing.MustKeyring("partnerui-test-key-0123"), Redis: testenv.Redis(t), PublicURL: origin})
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHandler(a, func(ctx *fasthttp.RequestCtx) { ctx.SetStatusCode(299) }, nil)
	if err != nil {
		t.Fatal(err)
	}
	return h, a
}

// session signs partner in through a login link and returns the session cookie value.
func session(t *testing.T, a *partnerapi.Auth, partner string) string {
	t.Helper()
	u, err := url.Parse(a.LoginLink(partner))
	if err != nil {
		t.Fatal(err)
	}
	ctx := &fasthttp.RequestCtx{}
	ctx.Request.SetRequestURI(u.RequestURI())
	a.HandleLogin(ctx)
	ck := fasthttp.AcquireCookie()
	defer fasthttp.ReleaseCookie(ck)
	ck.SetKey(partnerapi.SessionCookie)
	if !ctx.Response.Header.Cookie(ck) {
		t.Fatalf("login: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	return string(ck.Value())
}

type req struct {
	method, uri, cookie, origin, lang, body, bearer string
}

func (h *Handler) do(r req) *fasthttp.RequestCtx {
	ctx := &fasthttp.RequestCtx{}
	if r.method == "" {
		r.method = fasthttp.MethodGet
	}
	ctx.Request.Header.SetMethod(r.method)
	ctx.Request.SetRequestURI(r.uri)
	if r.cookie != "" {
		ctx.Request.Header.SetCookie(partnerapi.SessionCookie, r.cookie)
	}
	if r.origin != "" {
		ctx.Request.Header.Set("Origin", r.origin)
	}
	if r.lang != "" {
		ctx.Request.Header.Set("Accept-Language", r.lang)
	}
	if r.bearer != "" {
		ctx.Request.Header.Set("Authorization", "Bearer "+r.bearer)
	}
	if r.body != "" {
		ctx.Request.Header.SetContentType("application/x-www-form-urlencoded")
		ctx.Request.SetBodyString(r.body)
	}
	h.Serve(ctx)
	return ctx
}

func TestTokensPageSelfService(t *testing.T) {
	h, a := newHandler(t)
	run := "tp-" + testenv.KeyPrefix(t)[5:11]
	p1ID := run + "-1"
	p1, p2 := session(t, a, p1ID), session(t, a, run+"-2")

	ctx := h.do(req{uri: TokensPath, lang: "ru-RU,ru;q=0.9"})
	if ctx.Response.StatusCode() != fasthttp.StatusUnauthorized || !strings.Contains(string(ctx.Response.Body()), i18n.For("ru").T("common.signin_needed")) {
		t.Fatalf("signed out: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}

	ctx = h.do(req{uri: TokensPath, cookie: p1})
	if ctx.Response.StatusCode() != 200 || !strings.Contains(string(ctx.Response.Body()), `id="no-tokens"`) {
		t.Fatalf("empty list: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	if csp := string(ctx.Response.Header.Peek("Content-Security-Policy")); !strings.Contains(csp, "script-src 'nonce-") || strings.Contains(csp, "unsafe") {
		t.Errorf("CSP %q", csp)
	}

	// A form posted from another site (or with no Origin or Referer) changes nothing.
	for _, o := range []string{"", "https://evil.example"} {
		ctx = h.do(req{method: "POST", uri: TokensPath, cookie: p1, origin: o})
		if ctx.Response.StatusCode() != fasthttp.StatusForbidden {
			t.Fatalf("POST from %q: %d", o, ctx.Response.StatusCode())
		}
	}
	if toks, _ := a.ListTokens(t.Context(), p1ID); len(toks) != 0 {
		t.Fatalf("a refused POST created %d tokens", len(toks))
	}

	ctx = h.do(req{method: "POST", uri: TokensPath, cookie: p1, origin: origin})
	body := string(ctx.Response.Body())
	if ctx.Response.StatusCode() != fasthttp.StatusCreated {
		t.Fatalf("create: %d %s", ctx.Response.StatusCode(), body)
	}
	toks, err := a.ListTokens(t.Context(), p1ID)
	if err != nil || len(toks) != 1 {
		t.Fatalf("after create: %v %v", toks, err)
	}
	id := toks[0].ID
	value := between(body, `data-token-id="`+id+`">`, "</textarea>")
	if value == "" {
		t.Fatalf("the new token's value is not on the page:\n%s", body)
	}
	if p, err := a.Authenticate(bearer(value)); err != nil || p.PartnerID != p1ID {
		t.Fatalf("the new token authenticates as %+v, %v", p, err)
	}

	// The list shows the id, never the value again.
	ctx = h.do(req{uri: TokensPath, cookie: p1})
	if body := string(ctx.Response.Body()); !strings.Contains(body, id) || strings.Contains(body, value) {
		t.Fatalf("list: id shown %v, value shown %v", strings.Contains(body, id), strings.Contains(body, value))
	}
	// Tokens are managed in the browser only: a token cannot mint a token.
	if ctx = h.do(req{method: "POST", uri: TokensPath, bearer: value, origin: origin}); ctx.Response.StatusCode() != fasthttp.StatusUnauthorized {
		t.Fatalf("bearer POST: %d", ctx.Response.StatusCode())
	}
	// Another partner cannot see or revoke p1's token.
	ctx = h.do(req{uri: TokensPath, cookie: p2})
	if strings.Contains(string(ctx.Response.Body()), id) {
		t.Fatal("p2 sees p1's token")
	}
	ctx = h.do(req{method: "POST", uri: TokensPath + "/revoke", cookie: p2, origin: origin, body: "id=" + id})
	if ctx.Response.StatusCode() != fasthttp.StatusNotFound {
		t.Fatalf("p2 revokes p1's token: %d", ctx.Response.StatusCode())
	}
	if _, err := a.Authenticate(bearer(value)); err != nil {
		t.Fatalf("p2's attempt revoked the token: %v", err)
	}
	// p1 revokes it from another site: refused; from the page: done.
	if ctx = h.do(req{method: "POST", uri: TokensPath + "/revoke", cookie: p1, origin: "https://evil.example", body: "id=" + id}); ctx.Response.StatusCode() != fasthttp.StatusForbidden {
		t.Fatalf("cross-site revoke: %d", ctx.Response.StatusCode())
	}
	ctx = h.do(req{method: "POST", uri: TokensPath + "/revoke", cookie: p1, origin: origin, body: "id=" + id, lang: "ru"})
	if ctx.Response.StatusCode() != 200 || !strings.Contains(string(ctx.Response.Body()), i18n.For("ru").T("tokens.done_revoked", "id", id)) {
		t.Fatalf("revoke: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	if _, err := a.Authenticate(bearer(value)); err == nil {
		t.Fatal("a revoked token still authenticates")
	}
}

func TestTokensPageLimit(t *testing.T) {
	h, a := newHandler(t)
	id := "tl-" + testenv.KeyPrefix(t)[5:11]
	s := session(t, a, id)
	for i := 0; i < MaxTokens; i++ {
		if ctx := h.do(req{method: "POST", uri: TokensPath, cookie: s, origin: origin}); ctx.Response.StatusCode() != fasthttp.StatusCreated {
			t.Fatalf("token %d: %d", i, ctx.Response.StatusCode())
		}
	}
	if ctx := h.do(req{method: "POST", uri: TokensPath, cookie: s, origin: origin}); ctx.Response.StatusCode() != fasthttp.StatusConflict {
		t.Fatalf("token over the limit: %d", ctx.Response.StatusCode())
	}
}

func TestLanguageSwitch(t *testing.T) {
	h, _ := newHandler(t)
	for _, tc := range []struct{ uri, location string }{
		{LangPath + "?to=ru&next=" + url.QueryEscape("/partner/links"), "/partner/links"},
		{LangPath + "?to=en&next=" + url.QueryEscape("/b/materials?ref=p1"), "/b/materials?ref=p1"},
		{LangPath + "?to=ru&next=" + url.QueryEscape("/w/builder"), "/w/builder"},
		{LangPath + "?to=ru&next=" + url.QueryEscape("//evil.example/partner"), "/partner"},
		{LangPath + "?to=ru&next=" + url.QueryEscape("https://evil.example/"), "/partner"},
		{LangPath + "?to=ru&next=" + url.QueryEscape("/admin/v1/x"), "/partner"},
		{LangPath + "?to=ru", "/partner"},
	} {
		ctx := h.do(req{uri: tc.uri})
		if ctx.Response.StatusCode() != fasthttp.StatusSeeOther || string(ctx.Response.Header.Peek("Location")) != tc.location {
			t.Errorf("%s: %d → %q, want %q", tc.uri, ctx.Response.StatusCode(), ctx.Response.Header.Peek("Location"), tc.location)
		}
		if !strings.Contains(string(ctx.Response.Header.PeekCookie(i18n.Cookie)), i18n.Cookie+"=") {
			t.Errorf("%s: no language cookie", tc.uri)
		}
	}
	if ctx := h.do(req{uri: LangPath + "?to=de"}); ctx.Response.StatusCode() != fasthttp.StatusBadRequest {
		t.Errorf("unsupported language: %d", ctx.Response.StatusCode())
	}
	if ctx := h.do(req{uri: StaticPrefix + "partner.css"}); ctx.Response.StatusCode() != 200 {
		t.Errorf("style sheet: %d", ctx.Response.StatusCode())
	}
	if ctx := h.do(req{uri: "/partner/other"}); ctx.Response.StatusCode() != 299 {
		t.Errorf("other paths go to next: %d", ctx.Response.StatusCode())
	}
}

func bearer(tok string) *fasthttp.RequestCtx {
	ctx := &fasthttp.RequestCtx{}
	ctx.Request.SetRequestURI(origin + "/api/v1/stats")
	ctx.Request.Header.Set("Authorization", "Bearer "+tok)
	return ctx
}

func between(s, a, b string) string {
	i := strings.Index(s, a)
	if i < 0 {
		return ""
	}
	s = s[i+len(a):]
	j := strings.Index(s, b)
	if j < 0 {
		return ""
	}
	return s[:j]
}

// The language switch carries the dashboard's period and, signed out, the materials
// page's ref back to the page; nothing else from the URL is echoed.
func TestSwitchKeepsOnlyThePagesOwnQuery(t *testing.T) {
	for _, tc := range []struct{ uri, partner, want string }{
		{"/partner?range=7d&interval=day&ref=other&x=<b>", "p1", "/partner?range=7d&interval=day"},
		{"/b/materials?ref=p9", "", "/b/materials?ref=p9"},
		{"/b/materials?ref=p9", "p1", "/b/materials"},
	} {
		ctx := &fasthttp.RequestCtx{}
		ctx.Request.SetRequestURI(tc.uri)
		ui := New(ctx, PageDashboard, tc.partner)
		if got := ui.Switch()[1].Href; got != LangPath+"?to=ru&next="+url.QueryEscape(tc.want) {
			t.Errorf("%s (partner %q): switch %s, want next=%s", tc.uri, tc.partner, got, tc.want)
		}
	}
}
