package banners

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/attribution/event"
)

// sharedCache is one disk cache for the tests that use the built-in creatives
// unchanged, so only the first of them renders.
var sharedCache string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "banners-test-cache-")
	if err != nil {
		panic(err)
	}
	sharedCache = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	testPublic = "http://refedge.test"
	testMarket = "https://market.example"
)

func testConfig(t testing.TB) Config {
	c := NewDefaultConfig()
	c.PublicURL = testPublic
	c.LinkBase = testMarket
	c.MasterDir = t.TempDir()
	c.CacheDir = sharedCache
	c.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	return c
}

var builtinOnce sync.Once

// builtinCache returns a private disk cache holding every built-in banner, copied from
// the shared one: for tests that change or delete creatives, without re-rendering the
// built-in set (slow under the race detector).
func builtinCache(t *testing.T) string {
	t.Helper()
	builtinOnce.Do(func() {
		cfg := testConfig(t)
		cfg.MasterDir = ""
		s, err := New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		s.WaitWarm(context.Background())
		s.Close(context.Background())
	})
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(sharedCache)); err != nil {
		t.Fatal(err)
	}
	return dir
}

// newService starts a service and waits until every size is rendered.
func newService(t testing.TB, cfg Config, q event.ImpressionQueue) *Service {
	t.Helper()
	s, err := New(cfg, q)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.WaitWarm(ctx); err != nil {
		t.Fatalf("WaitWarm: %v", err)
	}
	return s
}

// request runs one request through s and returns a copy of the response.
func request(s *Service, method, uri string, headers ...string) *fasthttp.Response {
	var req fasthttp.Request
	req.Header.SetMethod(method)
	req.SetRequestURI(uri)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(203, 0, 113, 7), Port: 40000}, nil)
	s.ServeHTTP(&ctx)
	resp := &fasthttp.Response{}
	ctx.Response.CopyTo(resp)
	return resp
}

// testMaster draws a size x size-ish photo-like master: gradients, shapes and noise, so
// the JPEG codec has real work to do.
func testMaster(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(1, 2))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			n := uint8(r.IntN(24))
			i := img.PixOffset(x, y)
			img.Pix[i] = uint8(x*200/w) + n
			img.Pix[i+1] = uint8(y*200/h) + n
			img.Pix[i+2] = uint8((x+y)*100/(w+h)) + 80
			img.Pix[i+3] = 0xff
		}
	}
	// A dark box in the middle: the "message".
	for y := h * 2 / 5; y < h*3/5; y++ {
		for x := w / 4; x < w*3/4; x++ {
			img.Set(x, y, color.RGBA{20, 20, 40, 255})
		}
	}
	return img
}

func encodeJPEG(t testing.TB, img image.Image, q int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: q}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
