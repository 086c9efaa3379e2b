package banners

import (
	"bytes"
	"image"
	"image/jpeg"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/valyala/fasthttp"
)

func TestServeBanner(t *testing.T) {
	s := newService(t, testConfig(t), nil)
	e := s.snap.Load().byID["services"]
	if e == nil {
		t.Fatal("built-in creative services is missing")
	}
	for _, sz := range Sizes {
		resp := request(s, "GET", "/b/services/"+sz.String()+".jpg?v="+e.version)
		if resp.StatusCode() != 200 {
			t.Fatalf("%v: status %d", sz, resp.StatusCode())
		}
		if ct := string(resp.Header.ContentType()); ct != "image/jpeg" {
			t.Fatalf("%v: Content-Type %q", sz, ct)
		}
		img, err := jpeg.Decode(bytes.NewReader(resp.Body()))
		if err != nil {
			t.Fatalf("%v: %v", sz, err)
		}
		if b := img.Bounds(); b.Dx() != sz.W || b.Dy() != sz.H {
			t.Fatalf("%v: served %dx%d", sz, b.Dx(), b.Dy())
		}
	}

	f := func(uri string, headers []string, wantStatus int, wantCC string) *fasthttp.Response {
		t.Helper()
		resp := request(s, "GET", uri, headers...)
		if resp.StatusCode() != wantStatus {
			t.Fatalf("GET %s %v: status %d, want %d", uri, headers, resp.StatusCode(), wantStatus)
		}
		if cc := string(resp.Header.Peek("Cache-Control")); wantCC != "" && cc != wantCC {
			t.Fatalf("GET %s: Cache-Control %q, want %q", uri, cc, wantCC)
		}
		return resp
	}
	v := e.version
	immutable := "public, max-age=31536000, immutable"
	// Versioned: immutable. Unversioned or an old version: revalidate after an hour.
	r := f("/b/services/300x250.jpg?v="+v, nil, 200, immutable)
	etag := string(r.Header.Peek("ETag"))
	if len(etag) < 10 || etag[0] != '"' || etag[len(etag)-1] != '"' {
		t.Fatalf("ETag %q is not a strong entity tag", etag)
	}
	if string(r.Header.Peek("X-Content-Type-Options")) != "nosniff" || string(r.Header.Peek("Cross-Origin-Resource-Policy")) != "cross-origin" {
		t.Fatalf("missing nosniff or CORP: %s", r.Header.String())
	}
	f("/b/services/300x250.jpg", nil, 200, "public, max-age=3600")
	f("/b/services/300x250.jpg?v=0000", nil, 200, "public, max-age=3600")
	// Impression-counting loads are private, cached for the dedup window.
	f("/b/services/300x250.jpg?v="+v+"&ref=p1", nil, 200, "private, max-age=3600")

	// Conditional requests.
	nm := f("/b/services/300x250.jpg?v="+v, []string{"If-None-Match", etag}, 304, immutable)
	if len(nm.Body()) != 0 || string(nm.Header.Peek("ETag")) != etag {
		t.Fatalf("304 carries a body (%d bytes) or lost its ETag %q", len(nm.Body()), nm.Header.Peek("ETag"))
	}
	f("/b/services/300x250.jpg", []string{"If-None-Match", `"other", W/` + etag}, 304, "")
	f("/b/services/300x250.jpg", []string{"If-None-Match", `"other"`}, 200, "")
	// Another size has another tag.
	if other := string(f("/b/services/336x280.jpg", nil, 200, "").Header.Peek("ETag")); other == etag {
		t.Fatal("two sizes share an ETag")
	}

	// Not the program's: 404, and nothing is rendered for it.
	for _, uri := range []string{
		"/b/services/301x250.jpg", "/b/services/250x300.jpg", "/b/services/1920x1080.jpg",
		"/b/nope/300x250.jpg", "/b/services/300x250.png", "/b/services", "/b/", "/b/services/300x250.jpg/",
	} {
		f(uri, nil, 404, "")
	}

	// HEAD has the headers and no body; other methods are refused.
	var req fasthttp.Request
	req.Header.SetMethod("POST")
	req.SetRequestURI("/b/services/300x250.jpg")
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, nil, nil)
	s.ServeHTTP(&ctx)
	if ctx.Response.StatusCode() != 405 {
		t.Fatalf("POST: status %d", ctx.Response.StatusCode())
	}
}

// TestColdSizeRendersOnce: concurrent requests for a size nobody rendered yet share
// one render (and one decode of the master).
func TestColdSizeRendersOnce(t *testing.T) {
	cfg := testConfig(t)
	cfg.Builtin, cfg.CacheDir = false, ""
	s := newService(t, cfg, nil)
	const n = 16
	var opens atomic.Int32
	var started sync.WaitGroup
	started.Add(n)
	gate := make(chan struct{})
	src := testMaster(800, 600)
	m := &Master{Name: "master", W: 800, H: 600, Frame: DefaultFrame(), Hash: [32]byte{1}}
	m.open = func() (image.Image, error) {
		opens.Add(1)
		<-gate
		return src, nil
	}
	s.install(&Creative{ID: "cold", Alt: "cold", Masters: []*Master{m}})

	var wg sync.WaitGroup
	bodies := make([][]byte, n)
	for i := range n {
		wg.Go(func() {
			started.Done()
			resp := request(s, "GET", "/b/cold/300x250.jpg")
			if resp.StatusCode() != 200 {
				t.Errorf("status %d", resp.StatusCode())
			}
			bodies[i] = resp.Body()
		})
	}
	started.Wait()
	close(gate)
	wg.Wait()
	if got := opens.Load(); got != 1 {
		t.Fatalf("master opened %d times for one cold size, want 1", got)
	}
	for i := 1; i < n; i++ {
		if !bytes.Equal(bodies[i], bodies[0]) {
			t.Fatal("concurrent requests got different bytes")
		}
	}
	// Cached now: no further opens.
	request(s, "GET", "/b/cold/300x250.jpg")
	if opens.Load() != 1 {
		t.Fatal("a cached size was rendered again")
	}
}

func TestServeHead(t *testing.T) {
	s := newService(t, testConfig(t), nil)
	var req fasthttp.Request
	req.Header.SetMethod("HEAD")
	req.SetRequestURI("/b/sellers/88x31.jpg")
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, nil, nil)
	s.ServeHTTP(&ctx)
	if ctx.Response.StatusCode() != 200 || !strings.HasPrefix(string(ctx.Response.Header.Peek("ETag")), `"`) {
		t.Fatalf("HEAD: %d %s", ctx.Response.StatusCode(), ctx.Response.Header.String())
	}
}
