//go:build !race

package banners

import (
	"net"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestServeDoesNotAllocate: serving a cached banner — 200, 304, and with ref= handing
// off an impression — allocates nothing.
func TestServeDoesNotAllocate(t *testing.T) {
	s := newService(t, testConfig(t), nil)
	e := s.snap.Load().byID["services"]
	etag := string(e.out[sizeIndex(300, 250)].Load().etag)
	// The impression hand-off without a worker: run returns each record to the pool
	// itself, as the worker does, so only the request path is measured.
	s.imp = &impressions{cfg: &s.cfg, in: make(chan *impressionRec, 1)}
	defer func() { s.imp = nil }()

	f := func(uri string, headers ...string) {
		t.Helper()
		var req fasthttp.Request
		var ctx fasthttp.RequestCtx
		ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(198, 51, 100, 1), Port: 1}, nil)
		run := func() {
			ctx.Request.Reset()
			ctx.Response.Reset()
			ctx.Request.SetRequestURI(uri)
			ctx.Request.Header.SetUserAgent("Mozilla/5.0 test")
			for i := 0; i+1 < len(headers); i += 2 {
				ctx.Request.Header.Set(headers[i], headers[i+1])
			}
			s.ServeHTTP(&ctx)
			select {
			case r := <-s.imp.in:
				recPool.Put(r)
			default:
			}
		}
		run()
		if c := ctx.Response.StatusCode(); c != 200 && c != 304 && c != 404 {
			t.Fatalf("%s: status %d", uri, c)
		}
		if n := testing.AllocsPerRun(1000, run); n != 0 {
			t.Fatalf("%s %v: %v allocations per request, want 0", uri, headers, n)
		}
	}
	f("/b/services/300x250.jpg?v=" + e.version)
	f("/b/services/300x250.jpg")
	f("/b/services/300x250.jpg?v="+e.version, "If-None-Match", etag)
	f("/b/services/300x250.jpg?v="+e.version+"&ref=partner-1", "Referer", "https://blog.example/", "Cookie", "rfe_vid=AAAAAAAAAAAAAAAAAAAAAA")
	f("/b/services/301x250.jpg")
}
