package tracker

import (
	"net"
	"testing"

	"github.com/valyala/fasthttp"
)

func benchRequest(uri string) *fasthttp.Request {
	var req fasthttp.Request
	req.SetRequestURI(uri)
	req.Header.Set("User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36")
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	req.Header.Set("Accept-Language", "en-US,en;q=0.9")
	req.Header.Set("Referer", "https://blog.example/post")
	req.Header.Set("Sec-Fetch-Dest", "document")
	req.Header.Set("Sec-Fetch-Mode", "navigate")
	req.Header.Set("Sec-Fetch-User", "?1")
	return &req
}

// BenchmarkClick measures the whole click handler in memory: classification, cookie
// signing, redirect building, event fill; the state store is in-process.
func BenchmarkClick(b *testing.B) {
	e := newTestEdge(b, memState(), discardQueue{})
	h := e.Handler(Routes{})
	req := benchRequest("http://r.example/categories/design?x=1&ref=12345&src=banner&cr=468x60")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var ctx fasthttp.RequestCtx
		ctx.Init(req, &net.TCPAddr{IP: net.IPv4(203, 0, 113, 9), Port: 4444}, nil)
		for pb.Next() {
			ctx.Response.Reset()
			h(&ctx)
		}
	})
}

// BenchmarkBare302 is the baseline: a fasthttp handler that answers 302 with a cookie.
func BenchmarkBare302(b *testing.B) {
	h := Bare302Handler("https://market.example/")
	req := benchRequest("http://r.example/categories/design?x=1&ref=12345")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var ctx fasthttp.RequestCtx
		ctx.Init(req, nil, nil)
		for pb.Next() {
			ctx.Response.Reset()
			h(&ctx)
		}
	})
}
