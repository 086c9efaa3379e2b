package banners

import (
	"bytes"
	"image"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

// benchService is a warmed service with the built-in creatives.
func benchService(b *testing.B) (*Service, *entry, int) {
	s := newService(b, testConfig(b), nil)
	b.ResetTimer()
	return s, s.snap.Load().byID["services"], sizeIndex(300, 250)
}

// BenchmarkServeCached is the banner path on a RequestCtx: parse, look up, headers, body.
func BenchmarkServeCached(b *testing.B) {
	s, e, _ := benchService(b)
	uri := "/b/services/300x250.jpg?v=" + e.version
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var req fasthttp.Request
		var ctx fasthttp.RequestCtx
		ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(198, 51, 100, 1), Port: 1}, nil)
		for pb.Next() {
			ctx.Request.Reset()
			ctx.Response.Reset()
			ctx.Request.SetRequestURI(uri)
			s.ServeHTTP(&ctx)
		}
	})
}

// BenchmarkServeBare writes the same bytes from a handler that does nothing else.
func BenchmarkServeBare(b *testing.B) {
	_, e, si := benchService(b)
	body := e.out[si].Load().body
	uri := "/b/services/300x250.jpg?v=" + e.version
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var req fasthttp.Request
		var ctx fasthttp.RequestCtx
		ctx.Init(&req, nil, nil)
		for pb.Next() {
			ctx.Request.Reset()
			ctx.Response.Reset()
			ctx.Request.SetRequestURI(uri)
			bare(&ctx, body)
		}
	})
}

func bare(ctx *fasthttp.RequestCtx, body []byte) {
	ctx.Response.Header.SetContentTypeBytes(valImageJPEG)
	ctx.Response.SetBodyRaw(body)
}

// BenchmarkInmemory compares the two over fasthttp's in-memory listener: a real
// server and client, HTTP parsing and writing included, no kernel sockets.
func BenchmarkInmemory(b *testing.B) {
	s, e, si := benchService(b)
	body := e.out[si].Load().body
	uri := "http://refedge.test/b/services/300x250.jpg?v=" + e.version
	for _, bc := range []struct {
		name string
		h    fasthttp.RequestHandler
	}{
		{"bare", func(ctx *fasthttp.RequestCtx) { bare(ctx, body) }},
		{"banner", s.ServeHTTP},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ln := fasthttputil.NewInmemoryListener()
			srv := &fasthttp.Server{Handler: bc.h, NoDefaultServerHeader: true, NoDefaultContentType: true}
			go srv.Serve(ln)
			defer srv.Shutdown()
			c := &fasthttp.Client{Dial: func(string) (net.Conn, error) { return ln.Dial() }, MaxConnsPerHost: 64}
			b.ReportAllocs()
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
				defer fasthttp.ReleaseRequest(req)
				defer fasthttp.ReleaseResponse(resp)
				req.SetRequestURI(uri)
				for pb.Next() {
					if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 || len(resp.Body()) != len(body) {
						b.Errorf("%v %d", err, resp.StatusCode())
						return
					}
				}
			})
		})
	}
}

// BenchmarkColdRender renders all ten sizes from a 2000x2000 JPEG master, the way a
// new creative is warmed: one decode, ten renders. It reports milliseconds per creative.
func BenchmarkColdRender(b *testing.B) {
	master := encodeJPEG(b, testMaster(2000, 2000), 90)
	lim := limits{bytes: 50 << 20, pixels: 25_000_000, side: 10000}
	fr := DefaultFrame()
	// CPU time is reported besides wall time: on a shared machine it is the stable figure.
	b.Run("decode+10sizes", func(b *testing.B) {
		var total, decode time.Duration
		cpu0 := cpuTime()
		for b.Loop() {
			start := time.Now()
			img, err := decodeMaster(master, lim)
			if err != nil {
				b.Fatal(err)
			}
			decode += time.Since(start)
			renderAll(b, img, &fr)
			total += time.Since(start)
		}
		n := float64(b.N)
		b.ReportMetric(float64(total.Microseconds())/1000/n, "wall-ms/creative")
		b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/n, "cpu-ms/creative")
		b.ReportMetric(float64(decode.Microseconds())/1000/n, "wall-ms/decode")
	})
	// A cold request that finds nothing warmed: decode and render one size.
	b.Run("decode+1size", func(b *testing.B) {
		for b.Loop() {
			img, err := decodeMaster(master, lim)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := render(img, &fr, Size{300, 250}, 85, 0.5); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func renderAll(b *testing.B, img image.Image, fr *Frame) {
	for _, sz := range Sizes {
		body, err := render(img, fr, sz, 85, 0.5)
		if err != nil || !bytes.HasPrefix(body, []byte{0xff, 0xd8}) {
			b.Fatal(err)
		}
	}
}
