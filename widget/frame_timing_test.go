package widget

import (
	"io"
	"net"
	"strconv"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/internal/partners"
)

// benchFixture is a widget of 6 cards on 728x90 drawing from 50 kworks, on real Redis.
func benchFixture(b *testing.B) (*fixture, Widget) {
	f := newFixture(b)
	f.partner(b, "bench-partner", partners.Active)
	for i := 0; i < 50; i++ {
		f.kwork(b, Kwork{ID: "k" + strconv.Itoa(i), Title: "Разработаю логотип и фирменный стиль № " + strconv.Itoa(i),
			Category: "design", Price: 150000, Currency: "RUB", Rating: 4.9})
	}
	return f, f.widget(b, "bench-partner", Spec{Category: "design", Size: "728x90", Cards: 6})
}

// BenchmarkFrameTemplate renders a frame from cards already drawn with html/template:
// the path previews and empty states take, and the reference for the fast path.
func BenchmarkFrameTemplate(b *testing.B) {
	f, w := benchFixture(b)
	r, err := f.svc.resolve(b.Context(), w.ID)
	if err != nil {
		b.Fatal(err)
	}
	cards, err := f.svc.catalog.Random(b.Context(), nil, "design", 6)
	if err != nil || len(cards) != 6 {
		b.Fatal(cards, err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			v := acquireView()
			f.svc.fill(v, r, cards, frameOptions{refHost: []byte("blog.example")})
			if err := frameTmpl.Execute(io.Discard, v); err != nil {
				b.Error(err)
			}
			releaseView(v)
		}
	})
}

// BenchmarkFrameAssemble is the served path's CPU work after the Redis draw: cached
// card fragments joined into the widget's skeleton with fresh ids and a signed token.
func BenchmarkFrameAssemble(b *testing.B) {
	f, w := benchFixture(b)
	r, err := f.svc.resolve(b.Context(), w.ID)
	if err != nil {
		b.Fatal(err)
	}
	raws, err := f.svc.catalog.drawRaw(b.Context(), nil, "design", 6)
	if err != nil || len(raws) != 6 {
		b.Fatal(raws, err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var ids renderIDs
		out := make([]byte, 0, 16<<10)
		frags := make([]string, 0, MaxCards)
		host := []byte("blog.example")
		for pb.Next() {
			frags = frags[:0]
			for _, raw := range raws {
				fr, _ := f.svc.fragment(r, raw, nil)
				frags = append(frags, fr)
			}
			newRenderIDs(&ids)
			out = f.svc.appendFrame(out[:0], r, frags, &ids, 1700000000, host)
		}
	})
}

// BenchmarkServeFrame is the whole /w/{id} handler: cached widget, one Redis round
// trip (Lua: SRANDMEMBER + HMGET), template, headers.
func BenchmarkServeFrame(b *testing.B) {
	f, w := benchFixture(b)
	h := f.svc.Handler()
	uri := "/w/" + w.ID
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var ctx fasthttp.RequestCtx
		var req fasthttp.Request
		req.SetRequestURI(uri)
		req.Header.Set("Referer", "https://blog.example/post")
		addr := &net.TCPAddr{IP: net.IPv4(203, 0, 113, 1)}
		for pb.Next() {
			ctx.Init(&req, addr, nil)
			h(&ctx)
			if ctx.Response.StatusCode() != 200 {
				b.Errorf("status %d", ctx.Response.StatusCode())
			}
			ctx.Response.Reset()
		}
	})
}

// BenchmarkBareHandler is the floor: a fasthttp handler that writes a fixed body.
func BenchmarkBareHandler(b *testing.B) {
	body := []byte("<!doctype html><p>bare</p>")
	h := bareHandler(body)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var ctx fasthttp.RequestCtx
		var req fasthttp.Request
		req.SetRequestURI("/bare")
		for pb.Next() {
			ctx.Init(&req, nil, nil)
			h(&ctx)
			ctx.Response.Reset()
		}
	})
}

func bareHandler(body []byte) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("text/html; charset=utf-8")
		ctx.SetBody(body)
	}
}

func BenchmarkParsePath(b *testing.B) {
	p := []byte("/w/t/k-123/104x76.jpg")
	b.ReportAllocs()
	for b.Loop() {
		if parsePath(p).route != routeThumb {
			b.Fatal("bad parse")
		}
	}
}

func BenchmarkViewToken(b *testing.B) {
	f, w := benchFixture(b)
	kr := f.svc.cfg.Keys
	var ids renderIDs
	newRenderIDs(&ids)
	host := []byte("blog.example")
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendViewToken(buf[:0], kr, w.ID, ids.render(), 1700000000, host)
		if _, err := parseViewToken(kr, w.ID, buf); err != nil {
			b.Fatal(err)
		}
	}
}
