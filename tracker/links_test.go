package tracker

import (
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/internal/refcookie"
	"github.com/refedge/refedge/internal/signing"
)

func newTestLinks(t testing.TB, base string) *Links {
	t.Helper()
	l, err := NewLinks(LinksConfig{MarketOrigin: testOrigin, LinkBase: base})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// Acceptance 1: a URL off the marketplace origin is refused with a 4xx and a message
// that says why.
func TestLinkRefusesOtherOrigins(t *testing.T) {
	l := newTestLinks(t, "")
	f := func(raw string, status int, why string) {
		t.Helper()
		link, err := l.Build("12345", raw, "", "")
		var le *LinkError
		if !errors.As(err, &le) {
			t.Fatalf("%q: built %q (err %v), want a refusal", raw, link, err)
		}
		if le.Status != status || !strings.HasPrefix(le.Msg, "url: ") || !strings.Contains(le.Msg, why) {
			t.Fatalf("%q: %d %q, want %d containing %q", raw, le.Status, le.Msg, status, why)
		}
	}
	f("", 400, "paste the address")
	f("   ", 400, "paste the address")
	f("https://evil.example/categories", 422, "evil.example is another site")
	f("HTTPS://EVIL.EXAMPLE/", 422, "evil.example is another site")
	f("https://market.example.evil.example/", 422, "another site")
	f("https://evil.example/?next=https://market.example/", 422, "another site")
	f("https://market.example./", 422, "another site")
	f("javascript:alert(document.cookie)", 422, "javascript: address")
	f("JavaScript://market.example/%0aalert(1)", 422, "the address starts with javascript://")
	f("data:text/html,<script>alert(1)</script>", 422, "data: address")
	f("//evil.example/x", 422, "starting with //")
	f("//market.example/x", 422, "starting with //")
	f("/categories/design", 422, "paste the full address")
	f("market.example/categories", 422, "paste the full address")
	f("https:/market.example/categories", 422, "paste the full address")
	f("http://market.example/", 422, "starts with http://")
	f("ftp://market.example/", 422, "starts with ftp://")
	f("https://market.example@evil.example/", 422, "user name or password")
	f("https://market.example:secret@evil.example/", 422, "user name or password")
	f("https://user@market.example/", 422, "user name or password")
	f("https://evil.example#@market.example/", 422, "another site")
	f("https://evil.example?@market.example/", 422, "another site")
	f(`https://market.example\@evil.example/`, 422, "backslash")
	f(`https:\\evil.example\`, 422, "backslash")
	f("https://market.example:8443/", 422, "port 8443 is not the marketplace's")
	f("https://market.example:/", 422, "port after the host name must be a number")
	f("https://market.example:44x/", 422, "must be a number")
	f("https://mаrket.example/", 422, "look-alike") // Cyrillic а
	f("https://ｍarket.example/", 422, "look-alike") // fullwidth m, which browsers map to m
	f("https://xn--mrket-3ve.example/", 422, "another site")
	f("https://market%2Eexample/", 422, "look-alike or encoded")
	f("https://market.example%2Eevil.example/", 422, "look-alike or encoded")
	f("https://[::1]/", 422, "another site")
	f("https://127.0.0.1/", 422, "another site")
	f("https://market.example/\tx", 422, "control")
	f("https://market.example /x", 422, "spaces")
	f("https://market.example\n/x", 422, "line breaks")
	f("https://market.example/\r\nSet-Cookie:x", 422, "line breaks")
	f("https://market.example/\u202ex", 422, "invisible")
	f("https://market.example/\u200bx", 422, "invisible")
	f("https://market.example/"+strings.Repeat("a", 2100), 422, "longer than 2048")
}

// Acceptance 1: a good URL keeps its path and query (normalised), loses refedge's own
// parameters and its fragment, and gains exactly one ref.
func TestLinkNormalises(t *testing.T) {
	l := newTestLinks(t, "")
	f := func(raw, sub, src, want string) {
		t.Helper()
		got, err := l.Build("12345", raw, sub, src)
		if err != nil {
			t.Fatalf("%q: %v", raw, err)
		}
		if got != want {
			t.Fatalf("%q:\n got %s\nwant %s", raw, got, want)
		}
		checkOneRef(t, got, "12345")
	}
	f("https://market.example/categories/design?sort=new&page=2", "", "",
		"https://market.example/categories/design?sort=new&page=2&ref=12345")
	f("  HTTPS://Market.EXAMPLE:443/Categories/Design?x=1#reviews  ", "", "",
		"https://market.example/Categories/Design?x=1&ref=12345")
	f("https://market.example:0443/", "", "", "https://market.example/?ref=12345")
	f("https://market.example", "", "", "https://market.example/?ref=12345")
	f("https://market.example?", "", "", "https://market.example/?ref=12345")
	f("https://market.example/?ref=999&REF=1&%72ef=2&Src=banner&cr=x&sub=old&q=1", "spring-1", "",
		"https://market.example/?q=1&ref=12345&sub=spring-1")
	f("https://market.example/kwork/1?ref=999", "", "share-vk", "https://market.example/kwork/1?ref=12345&src=share-vk")
	f("https://market.example/kwork/1", "a.b~c_d", "qr", "https://market.example/kwork/1?ref=12345&sub=a.b~c_d&src=qr")
	f("https://market.example/kwork/1", "", "link", "https://market.example/kwork/1?ref=12345")
	f("https://market.example/search?query=логотип&x=<b>", "", "",
		"https://market.example/search?query=%D0%BB%D0%BE%D0%B3%D0%BE%D1%82%D0%B8%D0%BF&x=%3Cb%3E&ref=12345")
	f("https://market.example/a%2Fb/%zz?x=%26&y=%", "", "", "https://market.example/a%2Fb/%25zz?x=%26&y=%25&ref=12345")
	f("https://market.example//evil.example/x", "", "", "https://market.example/evil.example/x?ref=12345")
	f("https://market.example/\"onmouseover=x", "", "", "https://market.example/%22onmouseover=x?ref=12345")
	f("https://market.example/#/spa?ref=1", "", "", "https://market.example/?ref=12345")
	f("https://market.example/search?q=logo design", "", "", "https://market.example/search?q=logo%20design&ref=12345")
}

// checkOneRef parses link the way the click handler does (fasthttp's query args) and as
// net/url does, and wants exactly one ref, equal to partner.
func checkOneRef(t *testing.T, link, partner string) {
	t.Helper()
	var uri fasthttp.URI
	if err := uri.Parse(nil, []byte(link)); err != nil {
		t.Fatalf("%s: %v", link, err)
	}
	refs := uri.QueryArgs().PeekMulti("ref")
	if len(refs) != 1 || string(refs[0]) != partner {
		t.Fatalf("%s: ref values %q, want exactly [%s]", link, refs, partner)
	}
	u, err := url.Parse(link)
	if err != nil {
		t.Fatalf("%s: %v", link, err)
	}
	if v := u.Query()["ref"]; len(v) != 1 || v[0] != partner {
		t.Fatalf("%s: net/url sees ref %q", link, v)
	}
	if u.Fragment != "" || u.User != nil {
		t.Fatalf("%s: fragment or userinfo", link)
	}
}

func TestLinkFieldsValidated(t *testing.T) {
	l := newTestLinks(t, "")
	f := func(partner, sub, src, why string) {
		t.Helper()
		_, err := l.Build(partner, "https://market.example/", sub, src)
		var le *LinkError
		if !errors.As(err, &le) || le.Status != 400 || !strings.Contains(le.Msg, why) {
			t.Fatalf("partner %q sub %q src %q: %v, want 400 with %q", partner, sub, src, err, why)
		}
	}
	f("12345", "a b", "", "sub:")
	f("12345", "a&ref=1", "", "sub:")
	f("12345", strings.Repeat("s", 65), "", "sub:")
	f("12345", "<script>", "", "sub:")
	f("12345", "", "banner", "src:")
	f("12345", "", "share-myspace", "src:")
	f("12345", "", "share-vk&ref=2", "src:")
	f("a b", "", "", "partner:")
	f("", "", "", "partner:")
}

// LinkBase: links point at the configured base (refedge's own URL in development), and
// the origin check still names the marketplace.
func TestLinkBase(t *testing.T) {
	l := newTestLinks(t, "http://127.0.0.1:8080")
	got, err := l.Build("p-1", "https://market.example/c?x=1", "", "")
	if err != nil || got != "http://127.0.0.1:8080/c?x=1&ref=p-1" {
		t.Fatalf("got %q, %v", got, err)
	}
	if _, err := l.Build("p-1", "http://127.0.0.1:8080/c", "", ""); err == nil {
		t.Fatal("a URL on LinkBase that is not the marketplace was accepted")
	}
	f := func(cfg LinksConfig, env map[string]string, want string) {
		t.Helper()
		err := cfg.LoadEnv(func(k string) string { return env[k] })
		if err == nil {
			_, err = NewLinks(cfg)
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%+v %v: %v, want an error naming %s", cfg, env, err, want)
		}
	}
	f(LinksConfig{}, nil, "REFEDGE_MARKET_ORIGIN")
	f(LinksConfig{MarketOrigin: "https://market.example/path"}, nil, "REFEDGE_MARKET_ORIGIN")
	f(LinksConfig{MarketOrigin: testOrigin}, map[string]string{EnvLinkBase: "javascript:x"}, EnvLinkBase)
	f(LinksConfig{MarketOrigin: testOrigin}, map[string]string{EnvLinkBase: "https://u@r.example"}, EnvLinkBase)
	f(LinksConfig{MarketOrigin: testOrigin, LinkBase: "https://r.example/x"}, nil, EnvLinkBase)
}

// A built link, clicked, is a valid click whose redirect lands on the page the partner
// pasted (normalised), with the sub-id recorded: link building and the redirect share
// the escaping rules.
func TestLinkClickRoundTrip(t *testing.T) {
	l := newTestLinks(t, "")
	q := &memQueue{}
	e := newTestEdge(t, memState(), q)
	f := func(raw, sub, landing string) {
		t.Helper()
		link, err := l.Build("12345", raw, sub, "")
		if err != nil {
			t.Fatal(err)
		}
		q.clicks = q.clicks[:0]
		resp := do(e, link)
		if resp.StatusCode() != 302 || string(resp.Header.Peek("Location")) != landing {
			t.Fatalf("%s: %d to %q, want 302 to %q", link, resp.StatusCode(), resp.Header.Peek("Location"), landing)
		}
		if len(q.clicks) != 1 || q.clicks[0].Partner() != "12345" || q.clicks[0].SubID() != sub {
			t.Fatalf("%s: queued %d clicks", link, len(q.clicks))
		}
	}
	f("https://market.example/categories/design?sort=new", "", "https://market.example/categories/design?sort=new")
	f("https://Market.Example/kwork/7?ref=1&q=%D0%BB#top", "post-3", "https://market.example/kwork/7?q=%D0%BB")
	f("https://market.example", "", "https://market.example/")
	f("https://market.example/a%2Fb?x=<y>", "", "https://market.example/a%2Fb?x=%3Cy%3E")
}

func TestLinkSource(t *testing.T) {
	kr := signing.MustKeyring(testSecret)
	for _, n := range append(slices.Clone(ShareNetworks), "qr") {
		src := SourceSharePrefix + n
		if n == "qr" {
			src = SourceQR
		}
		if !LinkSource([]byte(src)) {
			t.Errorf("%s not a link source", src)
		}
		// The source travels in rfe_ref to the ledger: it must survive the cookie.
		ck := refcookie.Append(nil, kr, []byte("12345"), []byte("c1"), time.Unix(1e9, 0), []byte(src))
		if r, err := refcookie.Decode(ck, kr); err != nil || string(r.Source) != src {
			t.Errorf("%s in rfe_ref: %q, %v", src, r.Source, err)
		}
		if n == "qr" {
			continue
		}
		if ShareURL(n, "https://market.example/?ref=1") == "" {
			t.Errorf("no share URL for %s", n)
		}
	}
	for _, s := range []string{"", "link", "widget", "banner", "share-", "share-myspace", "QR"} {
		if LinkSource([]byte(s)) {
			t.Errorf("%q accepted as a link source", s)
		}
	}
	src := []byte("share-telegram")
	if n := testing.AllocsPerRun(100, func() { LinkSource(src) }); n != 0 {
		t.Errorf("LinkSource allocates %v times", n)
	}
}

func TestShareURLs(t *testing.T) {
	link := "https://market.example/c?x=1&ref=12345&src=share-vk"
	f := func(network, want string) {
		t.Helper()
		if got := ShareURL(network, link); got != want {
			t.Fatalf("%s:\n got %s\nwant %s", network, got, want)
		}
	}
	enc := "https%3A%2F%2Fmarket.example%2Fc%3Fx%3D1%26ref%3D12345%26src%3Dshare-vk"
	f("vk", "https://vk.com/share.php?url="+enc)
	f("telegram", "https://t.me/share/url?url="+enc)
	f("whatsapp", "https://wa.me/?text="+enc)
	f("x", "https://x.com/intent/tweet?url="+enc)
	f("facebook", "https://www.facebook.com/sharer/sharer.php?u="+enc)
	f("email", "mailto:?body="+enc)
	f("myspace", "")
}

// FuzzLink: whatever is pasted, a built link names LinkBase, carries exactly one ref,
// and its click redirects to the marketplace origin.
func FuzzLink(f *testing.F) {
	for _, s := range []string{
		"https://market.example/categories?x=1", "https://market.example@evil.example", "//evil.example",
		"javascript:alert(1)", "https://market.example/%2e%2e/?ref=1&ref=2", "https://market.example:443//\\evil",
		"https://market.example/?%72%65%66=1", "https://market.example/?ref", "https://MARKET.example/#?ref=1",
	} {
		f.Add(s, "", "")
	}
	l, err := NewLinks(LinksConfig{MarketOrigin: testOrigin})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw, sub, src string) {
		link, err := l.Build("12345", raw, sub, src)
		if err != nil {
			var le *LinkError
			if !errors.As(err, &le) || le.Status < 400 || le.Status > 499 || le.Msg == "" {
				t.Fatalf("%q: error %v is not a 4xx with a message", raw, err)
			}
			return
		}
		if !strings.HasPrefix(link, testOrigin+"/") {
			t.Fatalf("%q: link %q leaves the origin", raw, link)
		}
		checkOneRef(t, link, "12345")
		var uri fasthttp.URI
		_ = uri.Parse(nil, []byte(link))
		loc := appendLocation(nil, testOrigin, uri.PathOriginal(), uri.QueryString())
		if !strings.HasPrefix(string(loc), testOrigin+"/") {
			t.Fatalf("%q: redirect %q leaves the origin", raw, loc)
		}
	})
}
