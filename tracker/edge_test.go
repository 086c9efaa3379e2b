package tracker

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/internal/refcookie"
	"github.com/refedge/refedge/internal/signing"
	"github.com/refedge/refedge/internal/visitor"
)

const testSecret = "test-secret-0123456789"

// memQueue keeps enqueued clicks for inspection.
type memQueue struct {
	mu     sync.Mutex
	clicks []*event.Click
}

func (q *memQueue) Enqueue(c *event.Click) error {
	q.mu.Lock()
	q.clicks = append(q.clicks, c)
	q.mu.Unlock()
	return nil
}

// discardQueue releases every click at once, for benchmarks.
type discardQueue struct{}

func (discardQueue) Enqueue(c *event.Click) error { event.ReleaseClick(c); return nil }

type failingState struct{}

func (failingState) Lookup(context.Context, *StateQuery, *State) error {
	return errors.New("connection refused")
}

func newTestEdge(t testing.TB, st StateStore, q ClickQueue) *Edge {
	t.Helper()
	// The test peer (203.0.113.9) plays the front proxy, so X-Forwarded-Proto counts.
	e, err := NewEdge(Config{Origin: testOrigin, Keys: signing.MustKeyring(testSecret), CookieDomain: "market.example",
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("203.0.113.9/32")}}, st, q, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func memState() *MemoryState {
	st := &MemoryState{}
	st.SetPartner("12345", PartnerActive)
	st.SetPartner("666", PartnerBlocked)
	st.SetPartner("777", PartnerUnconfirmed)
	return st
}

// browserHeaders are what desktop Chromium sends for a link the user clicked.
var browserHeaders = []string{
	"User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36",
	"Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
	"Accept-Language", "en-US,en;q=0.9",
	"Sec-CH-UA", `"Chromium";v="156", "Not.A/Brand";v="99", "Google Chrome";v="156"`,
	"Sec-Fetch-Dest", "document",
	"Sec-Fetch-Mode", "navigate",
	"Sec-Fetch-Site", "cross-site",
	"Sec-Fetch-User", "?1",
	"Referer", "https://blog.example/post",
}

// do runs one request through the edge's public handler with browserHeaders, changed
// by hdr (name, value pairs; an empty value removes the header).
func do(e *Edge, uri string, hdr ...string) *fasthttp.Response {
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	req.SetRequestURI(uri)
	req.Header.SetMethod("GET")
	for _, list := range [][]string{browserHeaders, hdr} {
		for i := 0; i+1 < len(list); i += 2 {
			if list[i+1] == "" {
				req.Header.Del(list[i])
			} else {
				req.Header.Set(list[i], list[i+1])
			}
		}
	}
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(203, 0, 113, 9), Port: 4444}, nil)
	e.Handler(Routes{})(&ctx)
	resp := &fasthttp.Response{}
	ctx.Response.CopyTo(resp)
	return resp
}

func cookie(resp *fasthttp.Response, name string) string {
	ck := fasthttp.AcquireCookie()
	defer fasthttp.ReleaseCookie(ck)
	ck.SetKey(name)
	if !resp.Header.Cookie(ck) {
		return ""
	}
	return string(ck.Value())
}

func TestValidClick(t *testing.T) {
	q := &memQueue{}
	e := newTestEdge(t, memState(), q)
	resp := do(e, "http://r.example/categories/design?x=1&ref=12345&src=banner&cr=468x60&sub=spring")
	if resp.StatusCode() != 302 {
		t.Fatalf("status %d, want 302", resp.StatusCode())
	}
	if loc := string(resp.Header.Peek("Location")); loc != testOrigin+"/categories/design?x=1" {
		t.Fatalf("Location %q", loc)
	}
	if cc := string(resp.Header.Peek("Cache-Control")); cc != "no-store" {
		t.Fatalf("Cache-Control %q", cc)
	}
	ref := cookie(resp, refcookie.Name)
	r, err := refcookie.Decode([]byte(ref), signing.MustKeyring(testSecret))
	if err != nil || string(r.Partner) != "12345" || string(r.Source) != "banner" {
		t.Fatalf("rfe_ref %q: %+v, %v", ref, r, err)
	}
	if vid := cookie(resp, refcookie.VisitorName); !visitor.ValidID([]byte(vid)) {
		t.Fatalf("rfe_vid %q", vid)
	}
	raw := string(resp.Header.Peek("Set-Cookie"))
	for _, attr := range []string{"secure", "HttpOnly", "SameSite=Lax", "domain=market.example"} {
		if !strings.Contains(raw, attr) {
			t.Errorf("cookie %q lacks %s", raw, attr)
		}
	}
	if len(q.clicks) != 1 {
		t.Fatalf("%d clicks queued, want 1", len(q.clicks))
	}
	c := q.clicks[0]
	if c.Verdict != event.Valid || c.Partner() != "12345" || c.Source() != "banner" || c.Creative() != "468x60" ||
		c.SubID() != "spring" || string(r.ClickID) != string(c.ID[:]) || c.Path() != "/categories/design" || c.Query() != "x=1" {
		t.Fatalf("queued click: verdict %s partner %q source %q creative %q sub %q id %s path %q query %q",
			c.Verdict, c.Partner(), c.Source(), c.Creative(), c.SubID(), c.ID[:], c.Path(), c.Query())
	}
}

func TestInvalidPartnersGetNoAttribution(t *testing.T) {
	f := func(ref string, want event.Verdict) {
		t.Helper()
		q := &memQueue{}
		resp := do(newTestEdge(t, memState(), q), "http://r.example/x?ref="+ref)
		if resp.StatusCode() != 302 || cookie(resp, refcookie.Name) != "" {
			t.Fatalf("ref=%s: status %d, rfe_ref %q", ref, resp.StatusCode(), cookie(resp, refcookie.Name))
		}
		if len(q.clicks) != 1 || q.clicks[0].Verdict != want {
			t.Fatalf("ref=%s: queued %d clicks, verdict %v, want %v", ref, len(q.clicks), q.clicks[0].Verdict, want)
		}
	}
	f("999", event.UnknownPartner)
	f("666", event.BlockedPartner)
	f("777", event.UnconfirmedPartner)
	f("", event.UnknownPartner)
	f("bad%20id", event.UnknownPartner)
	f(strings.Repeat("a", 65), event.UnknownPartner)
}

func TestVisitorIDKept(t *testing.T) {
	q := &memQueue{}
	resp := do(newTestEdge(t, memState(), q), "http://r.example/?ref=12345", "Cookie", "rfe_vid=AAAAAAAAAAAAAAAAAAAAAA")
	if cookie(resp, refcookie.VisitorName) != "" {
		t.Fatal("a well-formed rfe_vid was replaced")
	}
	if q.clicks[0].VisitorID() != "AAAAAAAAAAAAAAAAAAAAAA" {
		t.Fatalf("visitor id %q", q.clicks[0].VisitorID())
	}
	resp = do(newTestEdge(t, memState(), q), "http://r.example/?ref=12345", "Cookie", "rfe_vid=<script>")
	if !visitor.ValidID([]byte(cookie(resp, refcookie.VisitorName))) {
		t.Fatal("a malformed rfe_vid was not replaced")
	}
}

func TestRedisDownStillRedirects(t *testing.T) {
	q := &memQueue{}
	resp := do(newTestEdge(t, failingState{}, q), "http://r.example/k?ref=12345")
	if resp.StatusCode() != 302 || string(resp.Header.Peek("Location")) != testOrigin+"/k" {
		t.Fatalf("status %d, Location %q", resp.StatusCode(), resp.Header.Peek("Location"))
	}
	if c := q.clicks[0]; c.Verdict != event.Valid || !c.HasReason("degraded:redis") {
		t.Fatalf("verdict %v reasons %v", c.Verdict, c.Reasons())
	}
}

func TestPassThrough(t *testing.T) {
	q := &memQueue{}
	resp := do(newTestEdge(t, memState(), q), "http://r.example/a/b?c=d")
	if resp.StatusCode() != 302 || string(resp.Header.Peek("Location")) != testOrigin+"/a/b?c=d" || len(q.clicks) != 0 {
		t.Fatalf("status %d Location %q clicks %d", resp.StatusCode(), resp.Header.Peek("Location"), len(q.clicks))
	}
}

func TestClickMethods(t *testing.T) {
	q := &memQueue{}
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	req.SetRequestURI("http://r.example/?ref=12345")
	req.Header.SetMethod("POST")
	ctx.Init(&req, nil, nil)
	newTestEdge(t, memState(), q).Handler(Routes{})(&ctx)
	if ctx.Response.StatusCode() != 405 || len(q.clicks) != 0 {
		t.Fatalf("POST click: status %d, %d clicks", ctx.Response.StatusCode(), len(q.clicks))
	}
}

func FuzzClick(f *testing.F) {
	f.Add("/x", "ref=12345&src=banner", "rfe_vid=AAAAAAAAAAAAAAAAAAAAAA; rfe_ref=v1.a.b.1.c.d", "https://a.example/")
	f.Add("//evil", "ref=%00&sub=\xff", "rfe_vid=", "ftp://")
	e := newTestEdge(f, memState(), discardQueue{})
	f.Fuzz(func(t *testing.T, path, query, cookieHdr, referer string) {
		var ctx fasthttp.RequestCtx
		var req fasthttp.Request
		req.Header.SetRequestURI(path + "?" + query)
		req.Header.SetHost("r.example")
		req.Header.Set("Cookie", cookieHdr)
		req.Header.Set("Referer", referer)
		ctx.Init(&req, nil, nil)
		e.HandleClick(&ctx)
		if ctx.Response.StatusCode() != 302 {
			t.Fatalf("status %d", ctx.Response.StatusCode())
		}
		if loc := string(ctx.Response.Header.Peek("Location")); !strings.HasPrefix(loc, testOrigin+"/") {
			t.Fatalf("Location %q", loc)
		}
	})
}
