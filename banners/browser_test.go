package banners

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/internal/testenv"
)

type imgInfo struct {
	Src           string `json:"src"`
	Complete      bool   `json:"complete"`
	NaturalWidth  int    `json:"naturalWidth"`
	NaturalHeight int    `json:"naturalHeight"`
	Width         int    `json:"width"`
	Height        int    `json:"height"`
}

const collectImages = `new Promise(resolve => {
	const imgs = [...document.images];
	const done = () => imgs.every(i => i.complete);
	const report = () => resolve(imgs.map(i => ({src: i.currentSrc, complete: i.complete,
		naturalWidth: i.naturalWidth, naturalHeight: i.naturalHeight,
		width: +i.getAttribute("width"), height: +i.getAttribute("height")})));
	if (done()) return report();
	imgs.forEach(i => i.addEventListener("load", () => done() && report()));
	imgs.forEach(i => i.addEventListener("error", () => done() && report()));
})`

// TestMaterialsInChromium: headless Chromium opens the materials page, and a partner's
// page made of the embed codes on another origin; every banner loads at its size.
func TestMaterialsInChromium(t *testing.T) {
	browser := testenv.Chromium(t)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.PublicURL = "http://" + ln.Addr().String()
	s := newService(t, cfg, nil)
	srv := &fasthttp.Server{Handler: s.ServeHTTP}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })

	// The partner's blog: another origin, made only of the embed codes.
	blogLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var page strings.Builder
	page.WriteString("<!doctype html><title>blog</title>")
	for _, c := range s.Materials("p-9") {
		for _, b := range c.Banners {
			page.WriteString("<p>" + b.HTML + "</p>")
		}
	}
	blog := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("text/html; charset=utf-8")
		ctx.SetBodyString(page.String())
	}}
	go blog.Serve(blogLn)
	t.Cleanup(func() { blog.Shutdown() })

	want := len(s.snap.Load().ordered) * len(Sizes)
	for _, url := range []string{
		cfg.PublicURL + "/b/materials?ref=p-9",
		"http://" + blogLn.Addr().String() + "/post",
	} {
		ctx, cancel := context.WithTimeout(browser, 30*time.Second)
		err := chromedp.Do(ctx, chromedp.Navigate(url))
		var imgs []imgInfo
		if err == nil {
			imgs, err = chromedp.Run(ctx, chromedp.Evaluate[[]imgInfo](collectImages, chromedp.EvalAwaitPromise))
		}
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		if len(imgs) != want {
			t.Fatalf("%s: %d images, want %d", url, len(imgs), want)
		}
		for _, im := range imgs {
			if !im.Complete || im.NaturalWidth != im.Width || im.NaturalHeight != im.Height || im.Width == 0 {
				t.Fatalf("%s: image %s loaded as %dx%d, want %dx%d", url, im.Src, im.NaturalWidth, im.NaturalHeight, im.Width, im.Height)
			}
		}
		t.Logf("%s: %d banners, each at its size", url, len(imgs))
	}
}
