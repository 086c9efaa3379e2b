package partnerapi

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/internal/signing"
	"github.com/refedge/refedge/internal/testenv"
)

func newAuth(t *testing.T) *Auth {
	t.Helper()
	a, err := NewAuth(Config{Keys: signing.MustKeyring("partnerapi-test-key-0123"), Redis: testenv.Redis(t), PublicURL: "https://r.example"})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func request(hdr ...string) *fasthttp.RequestCtx {
	ctx := &fasthttp.RequestCtx{}
	ctx.Request.SetRequestURI("https://r.example/api/v1/stats")
	for i := 0; i+1 < len(hdr); i += 2 {
		ctx.Request.Header.Set(hdr[i], hdr[i+1])
	}
	return ctx
}

func TestTokens(t *testing.T) {
	a := newAuth(t)
	tok := a.IssueToken("p1")
	p, err := a.Authenticate(request("Authorization", "Bearer "+tok.Token))
	if err != nil || p.PartnerID != "p1" || p.TokenID != tok.ID || p.ViaSession {
		t.Fatalf("valid token: %+v, %v", p, err)
	}
	f := func(name, header string) {
		t.Helper()
		if _, err := a.Authenticate(request("Authorization", header)); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("%s: %v, want ErrUnauthenticated", name, err)
		}
	}
	f("other partner", "Bearer "+strings.Replace(tok.Token, ".p1.", ".p2.", 1))
	f("truncated", "Bearer "+tok.Token[:len(tok.Token)-3])
	f("basic auth", "Basic "+tok.Token)
	f("other key", "Bearer "+mustAuth(t, "another-key-0123456789").IssueToken("p1").Token)
	link := a.LoginLink("p1")
	f("login link is not a token", "Bearer "+link[strings.Index(link, "t=")+2:])
	a.Now = func() time.Time { return time.Now().Add(400 * 24 * time.Hour) }
	f("expired", "Bearer "+tok.Token)
	a.Now = time.Now
	if err := a.Revoke(t.Context(), tok.ID); err != nil {
		t.Fatal(err)
	}
	f("revoked", "Bearer "+tok.Token)
}

func mustAuth(t *testing.T, key string) *Auth {
	a, err := NewAuth(Config{Keys: signing.MustKeyring(key), Redis: testenv.Redis(t), PublicURL: "https://r.example"})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestLoginLinkSession(t *testing.T) {
	a := newAuth(t)
	link := a.LoginLink("p1")
	ctx := &fasthttp.RequestCtx{}
	ctx.Request.SetRequestURI(link + "&next=//evil.example")
	a.HandleLogin(ctx)
	if ctx.Response.StatusCode() != 303 || string(ctx.Response.Header.Peek("Location")) != "/partner" {
		t.Fatalf("login: %d %q", ctx.Response.StatusCode(), ctx.Response.Header.Peek("Location"))
	}
	ck := fasthttp.AcquireCookie()
	ck.SetKey(SessionCookie)
	if !ctx.Response.Header.Cookie(ck) || ck.SameSite() != fasthttp.CookieSameSiteStrictMode || !ck.HTTPOnly() {
		t.Fatalf("session cookie %s", ck.String())
	}
	p, err := a.Authenticate(request("Cookie", SessionCookie+"="+string(ck.Value())))
	if err != nil || p.PartnerID != "p1" || !p.ViaSession {
		t.Fatalf("session: %+v %v", p, err)
	}
	// A session cookie is not a bearer token, and a stale link does not log in.
	if _, err := a.Authenticate(request("Authorization", "Bearer "+string(ck.Value()))); err == nil {
		t.Fatal("a session cookie worked as a bearer token")
	}
	a.Now = func() time.Time { return time.Now().Add(11 * time.Minute) }
	ctx2 := &fasthttp.RequestCtx{}
	ctx2.Request.SetRequestURI(link)
	a.HandleLogin(ctx2)
	if ctx2.Response.StatusCode() != 401 {
		t.Fatalf("expired link: %d", ctx2.Response.StatusCode())
	}
}

func TestRouterCSRF(t *testing.T) {
	a := newAuth(t)
	r := NewRouter(a, nil)
	called := 0
	r.Handle("POST", "/api/v1/widgets", func(ctx *fasthttp.RequestCtx, p Principal) { called++; ctx.SetStatusCode(201) })
	sess := credential{kind: kindSession, partner: "p1", id: newID(), expires: time.Now().Add(time.Hour)}
	cookie := SessionCookie + "=" + encode(a.cfg.Keys, sess)
	f := func(name string, want int, hdr ...string) {
		t.Helper()
		ctx := request(hdr...)
		ctx.Request.SetRequestURI("https://r.example/api/v1/widgets")
		ctx.Request.Header.SetMethod("POST")
		r.Serve(ctx)
		if ctx.Response.StatusCode() != want {
			t.Errorf("%s: %d, want %d", name, ctx.Response.StatusCode(), want)
		}
	}
	f("cross-origin with session", 403, "Cookie", cookie, "Origin", "https://evil.example")
	f("no origin, foreign referer", 403, "Cookie", cookie, "Referer", "https://r.example.evil.example/x")
	f("same origin", 201, "Cookie", cookie, "Origin", "https://r.example")
	f("bearer needs no origin", 201, "Authorization", "Bearer "+a.IssueToken("p1").Token)
	f("anonymous", 401)
	if called != 2 {
		t.Fatalf("handler ran %d times, want 2", called)
	}
}

// TestTokenListing: recorded tokens are listed by id, creation, expiry and last use,
// newest first, never with their values; a use shows up as last use; a revoked token is
// marked and refused from the next request on (no cache to wait for).
func TestTokenListing(t *testing.T) {
	a := newAuth(t)
	ctx := t.Context()
	now := time.Now().Truncate(time.Second)
	a.Now = func() time.Time { return now }
	old := a.IssueToken("p1")
	if err := a.RecordToken(ctx, old); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute)
	tok := a.IssueToken("p1")
	if err := a.RecordToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if err := a.RecordToken(ctx, a.IssueToken("p2")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(request("Authorization", "Bearer "+tok.Token)); err != nil {
		t.Fatal(err)
	}
	list, err := a.ListTokens(ctx, "p1")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != tok.ID || list[1].ID != old.ID || list[0].LastUsed == nil || !list[0].LastUsed.Equal(now) ||
		list[1].LastUsed != nil || !list[0].CreatedAt.Equal(now) || list[0].Revoked {
		t.Fatalf("list %+v", list)
	}
	b, _ := json.Marshal(list)
	if strings.Contains(string(b), tok.Token) || strings.Contains(string(b), old.Token) || strings.Contains(string(b), `"token"`) {
		t.Fatalf("the listing holds a token value: %s", b)
	}
	if a.TokenPartner(ctx, old.ID) != "p1" {
		t.Fatalf("partner of %s: %q", old.ID, a.TokenPartner(ctx, old.ID))
	}
	if err := a.Revoke(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(request("Authorization", "Bearer "+tok.Token)); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("revoked token: %v", err)
	}
	list, _ = a.ListTokens(ctx, "p1")
	if !list[0].Revoked || list[1].Revoked {
		t.Fatalf("after revoking %s: %+v", tok.ID, list)
	}
	now = now.Add(366 * 24 * time.Hour)
	if list, _ = a.ListTokens(ctx, "p1"); len(list) != 0 {
		t.Fatalf("expired tokens listed: %+v", list)
	}
}

// A bad login link is explained in the browser's language.
func TestLoginLinkInvalidInRussian(t *testing.T) {
	a := newAuth(t)
	ctx := &fasthttp.RequestCtx{}
	ctx.Request.SetRequestURI("https://r.example/partner/login?t=garbage")
	ctx.Request.Header.Set("Accept-Language", "ru-RU,ru;q=0.9,en;q=0.5")
	a.HandleLogin(ctx)
	if ctx.Response.StatusCode() != 401 || !strings.Contains(string(ctx.Response.Body()), "Ссылка для входа недействительна") ||
		string(ctx.Response.Header.Peek("Content-Language")) != "ru" {
		t.Fatalf("%d %q %s", ctx.Response.StatusCode(), ctx.Response.Header.Peek("Content-Language"), ctx.Response.Body())
	}
}
