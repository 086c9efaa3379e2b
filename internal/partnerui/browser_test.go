package partnerui

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/internal/i18n"
	"github.com/refedge/refedge/internal/partnerapi"
	"github.com/refedge/refedge/internal/signing"
	"github.com/refedge/refedge/internal/testenv"
)

// A partner in real headless Chromium creates an API token from the tokens page (the
// browser's own form post passes the origin check), sees its value once, finds it in
// the list without its value, and revokes it; the page is in Russian after the header's
// switch, with the count in the right plural form.
func TestTokensPageInChromium(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	auth, err := partnerapi.NewAuth(partnerapi.Config{Keys: signing.MustKeyring("partnerui-browser-key-0123"), Redis: testenv.Redis(t), PublicURL: base})
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHandler(auth, func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/partner/login" {
			auth.HandleLogin(ctx)
			return
		}
		ctx.Error("not found", fasthttp.StatusNotFound)
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: h.Serve}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	partner := "tb-" + testenv.KeyPrefix(t)[5:11]

	browser := testenv.Chromium(t)
	console := testenv.CollectConsole(t, browser)
	ctx, cancel := context.WithTimeout(browser, 60*time.Second)
	defer cancel()
	run := func(a ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, a...); err != nil {
			t.Fatal(err)
		}
	}
	eval := func(js string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	link := auth.LoginLink(partner)
	run(chromedp.Navigate(link+"&next="+TokensPath), chromedp.WaitVisible("#create-form"))
	run(chromedp.Click(`a[data-lang="ru"]`), chromedp.WaitVisible(`html[lang="ru"] #create-form`))
	ru := i18n.For("ru")
	if got := eval(`document.getElementById("active-count").textContent`); got != ru.N("count.tokens", 0) {
		t.Errorf("count %q, want %q", got, ru.N("count.tokens", 0))
	}

	run(chromedp.Click("#create-token"), chromedp.WaitVisible("#new-token"))
	value := eval(`document.getElementById("new-token").value`)
	id := eval(`document.getElementById("new-token").dataset.tokenId`)
	if p, err := auth.Authenticate(bearer(value)); err != nil || p.PartnerID != partner {
		t.Fatalf("the token shown authenticates as %+v, %v", p, err)
	}
	if got := eval(`document.getElementById("active-count").textContent`); got != "1 действующий токен" {
		t.Errorf("count %q, want 1 действующий токен", got)
	}
	// Shown once: the list, reloaded, has the id and not the value.
	run(chromedp.Navigate(base+TokensPath), chromedp.WaitVisible("#tokens"))
	if body := eval(`document.body.innerHTML`); !strings.Contains(body, id) || strings.Contains(body, value) {
		t.Fatalf("after reload: id listed %v, value shown %v", strings.Contains(body, id), strings.Contains(body, value))
	}
	run(chromedp.Click(`tr[data-id="`+id+`"] button.revoke`), chromedp.WaitVisible("#notice"))
	if got := eval(`document.getElementById("notice").textContent`); got != ru.T("tokens.done_revoked", "id", id) {
		t.Errorf("notice %q", got)
	}
	if _, err := auth.Authenticate(bearer(value)); err == nil {
		t.Fatal("the revoked token still authenticates")
	}
	for _, m := range console.Messages() {
		if strings.Contains(m, "rror") || strings.Contains(m, "exception") || strings.Contains(m, "Content Security Policy") {
			t.Errorf("browser console: %s", m)
		}
	}
}
