package banners

import (
	"encoding/json"
	"image"
	"log/slog"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/internal/partnerapi"
	"github.com/refedge/refedge/internal/signing"
	"github.com/refedge/refedge/internal/testenv"
)

func TestMaterialsCodes(t *testing.T) {
	s := newService(t, testConfig(t), nil)
	ms := s.Materials("p-42")
	if len(ms) != 2 {
		t.Fatalf("%d creatives, want the 2 built-in ones", len(ms))
	}
	for _, c := range ms {
		if len(c.Banners) != len(Sizes) {
			t.Fatalf("%s: %d banners", c.ID, len(c.Banners))
		}
	}
	b := ms[0].Banners[0] // sellers 468x60
	v := ms[0].Version
	f := func(got, want string) {
		t.Helper()
		if got != want {
			t.Fatalf("got  %s\nwant %s", got, want)
		}
	}
	f(b.Link, "https://market.example/?ref=p-42&src=banner&cr=sellers-468x60")
	f(b.ImageURL, "http://refedge.test/b/sellers/468x60.jpg?v="+v+"&ref=p-42")
	f(b.PreviewURL, "http://refedge.test/b/sellers/468x60.jpg?v="+v)
	f(b.HTML, `<a href="https://market.example/?ref=p-42&amp;src=banner&amp;cr=sellers-468x60" rel="sponsored">`+
		`<img src="http://refedge.test/b/sellers/468x60.jpg?v=`+v+`&amp;ref=p-42" width="468" height="60" alt="kwork: turn your skills into kworks"></a>`)
}

// TestMaterialsPageEscapes: whatever an operator typed as alt text, and whatever a
// visitor put in ref=, reaches the page only as text.
func TestMaterialsPageEscapes(t *testing.T) {
	cfg := testConfig(t)
	cfg.CacheDir = builtinCache(t)
	s := newService(t, cfg, nil)
	evil := `"><script>alert(1)</script><img src=x onerror=alert(2)>`
	m := &Master{Name: "master", W: 300, H: 250, Frame: DefaultFrame(), Hash: [32]byte{7}}
	m.open = func() (image.Image, error) { return testMaster(300, 250), nil }
	s.warm(s.install(&Creative{ID: "evil", Alt: evil, Masters: []*Master{m}}))

	page := func(uri string, wantStatus int) string {
		t.Helper()
		r := request(s, "GET", uri)
		if r.StatusCode() != wantStatus {
			t.Fatalf("GET %s: %d, want %d", uri, r.StatusCode(), wantStatus)
		}
		if ct := string(r.Header.ContentType()); ct != "text/html; charset=utf-8" {
			t.Fatalf("Content-Type %q", ct)
		}
		csp := string(r.Header.Peek("Content-Security-Policy"))
		body := string(r.Body())
		if !strings.Contains(csp, "script-src 'nonce-") || !strings.Contains(body, `<script nonce="`+between(csp, "'nonce-", "'")+`">`) {
			t.Fatalf("CSP %q does not match the page's script nonce", csp)
		}
		return body
	}
	body := page("/b/materials?ref=p-1", 200)
	if strings.Contains(body, "<script>alert") || strings.Contains(body, "onerror=alert(2)>") {
		t.Fatal("alt text reached the page as markup")
	}
	// The embed code is shown as text (double-escaped inside the textarea).
	if !strings.Contains(body, "alt=&#34;&amp;#34;&amp;gt;&amp;lt;script&amp;gt;alert(1)") {
		t.Fatalf("embed code with the hostile alt is not escaped as expected:\n%s", snippet(body, "evil-468x60"))
	}
	if n := strings.Count(body, "<textarea"); n != 3*len(Sizes) {
		t.Fatalf("%d embed codes on the page, want %d", n, 3*len(Sizes))
	}
	if n := strings.Count(body, `<img src="/b/`); n != 3*len(Sizes) {
		t.Fatalf("%d previews, want %d", n, 3*len(Sizes))
	}
	// Previews do not count impressions; embed codes do.
	if strings.Contains(body, `<img src="/b/services/468x60.jpg?v=`+s.snap.Load().byID["services"].version+`&amp;ref`) {
		t.Fatal("a preview carries ref=")
	}

	bad := page("/b/materials?ref=%3Cscript%3Ealert(1)%3C/script%3E", 400)
	if strings.Contains(bad, "<script>alert") || strings.Contains(bad, "<textarea") {
		t.Fatal("an invalid ref was echoed or got codes")
	}
	if empty := page("/b/materials", 200); strings.Contains(empty, "<textarea") || !strings.Contains(empty, `name="ref"`) {
		t.Fatal("without ref the page should ask for the partner id")
	}
}

func between(s, a, b string) string {
	_, after, _ := strings.Cut(s, a)
	v, _, _ := strings.Cut(after, b)
	return v
}

func snippet(s, near string) string {
	i := strings.Index(s, near)
	if i < 0 {
		return s[:min(len(s), 400)]
	}
	return s[max(0, i-300):min(len(s), i+300)]
}

// TestPartnerAPIBanners goes through the partner API router with a real token.
func TestPartnerAPIBanners(t *testing.T) {
	s := newService(t, testConfig(t), nil)
	keys := signing.MustKeyring("banners-api-test-secret-0123456789")
	auth, err := partnerapi.NewAuth(partnerapi.Config{Keys: keys, Redis: testenv.Redis(t), PublicURL: testPublic})
	if err != nil {
		t.Fatal(err)
	}
	router := partnerapi.NewRouter(auth, slog.New(slog.DiscardHandler))
	s.RegisterAPI(router)
	tok := auth.IssueToken("p-77").Token

	call := func(accept, token string) *fasthttp.Response {
		var req fasthttp.Request
		req.SetRequestURI("/api/v1/banners")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		var ctx fasthttp.RequestCtx
		ctx.Init(&req, nil, nil)
		router.Serve(&ctx)
		resp := &fasthttp.Response{}
		ctx.Response.CopyTo(resp)
		return resp
	}
	if r := call("", ""); r.StatusCode() != 401 {
		t.Fatalf("without a token: %d", r.StatusCode())
	}
	r := call("", tok)
	if r.StatusCode() != 200 {
		t.Fatalf("GET /api/v1/banners: %d %s", r.StatusCode(), r.Body())
	}
	var out struct {
		PartnerID    string              `json:"partner_id"`
		MaterialsURL string              `json:"materials_url"`
		Creatives    []CreativeMaterials `json:"creatives"`
	}
	if err := json.Unmarshal(r.Body(), &out); err != nil {
		t.Fatal(err)
	}
	if out.PartnerID != "p-77" || out.MaterialsURL != testPublic+"/b/materials?ref=p-77" || len(out.Creatives) != 2 || len(out.Creatives[1].Banners) != len(Sizes) {
		t.Fatalf("answer %+v", out)
	}
	for _, c := range out.Creatives {
		for _, b := range c.Banners {
			if !strings.Contains(b.Link, "ref=p-77&") || !strings.HasSuffix(b.ImageURL, "&ref=p-77") || !strings.Contains(b.HTML, "ref=p-77") {
				t.Fatalf("banner %+v is not p-77's", b)
			}
		}
	}
	csv := call("text/csv", tok)
	if lines := strings.Count(string(csv.Body()), "\n"); csv.StatusCode() != 200 || lines != 1+2*len(Sizes) {
		t.Fatalf("CSV: %d, %d lines", csv.StatusCode(), lines)
	}
}

// TestMaterialsPageSignedIn: a signed-in partner gets their own codes with no id to
// type (whatever ?ref= says), in the partner app's frame and the request's language;
// signed out, ?ref= still works.
func TestMaterialsPageSignedIn(t *testing.T) {
	cfg := testConfig(t)
	auth, err := partnerapi.NewAuth(partnerapi.Config{Keys: signing.MustKeyring("banners-test-key-0123456"), Redis: testenv.Redis(t), PublicURL: cfg.PublicURL})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Auth = auth
	s := newService(t, cfg, nil)
	var login fasthttp.RequestCtx
	login.Request.SetRequestURI(auth.LoginLink("p-own")[len(cfg.PublicURL):])
	auth.HandleLogin(&login)
	ck := fasthttp.AcquireCookie()
	defer fasthttp.ReleaseCookie(ck)
	ck.SetKey(partnerapi.SessionCookie)
	if !login.Response.Header.Cookie(ck) {
		t.Fatal("no session cookie")
	}
	cookie := partnerapi.SessionCookie + "=" + string(ck.Value())

	r := request(s, "GET", "/b/materials?ref=p-other", "Cookie", cookie, "Accept-Language", "ru-RU,ru;q=0.9")
	body := string(r.Body())
	if r.StatusCode() != 200 || !strings.Contains(body, "ref=p-own") || strings.Contains(body, "ref=p-other&amp;src") || strings.Contains(body, `name="ref"`) {
		t.Fatalf("signed in: %d, own codes %v, other's %v, id form %v", r.StatusCode(),
			strings.Contains(body, "ref=p-own"), strings.Contains(body, "ref=p-other&amp;src"), strings.Contains(body, `name="ref"`))
	}
	for _, want := range []string{`<html lang="ru">`, "Копировать код", `id="nav-materials" aria-current="page"`, `id="app-signout"`} {
		if !strings.Contains(body, want) {
			t.Errorf("signed-in page lacks %q", want)
		}
	}
	r = request(s, "GET", "/b/materials?ref=p-9")
	if body := string(r.Body()); r.StatusCode() != 200 || !strings.Contains(body, "ref=p-9") || !strings.Contains(body, `<html lang="en">`) || strings.Contains(body, `id="app-signout"`) {
		t.Fatalf("signed out with ref: %d", r.StatusCode())
	}
}
