package webasset

import (
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/valyala/fasthttp"
)

func testSet(t *testing.T) *Set {
	t.Helper()
	fsys := fstest.MapFS{"web/a.js": {Data: []byte("alert(1)")}, "web/b.css": {Data: []byte("body{}")}}
	s, err := New("/p/static/", time.Hour, File{fsys, "web/a.js"}, File{fsys, "web/b.css"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestServe(t *testing.T) {
	s := testSet(t)
	url := s.URL("a.js")
	if !strings.HasPrefix(url, "/p/static/a.js?v=") || len(url) != len("/p/static/a.js?v=")+16 {
		t.Fatalf("URL %q", url)
	}
	var ctx fasthttp.RequestCtx
	s.ServeFast(&ctx, "a.js")
	etag := string(ctx.Response.Header.Peek("ETag"))
	if ctx.Response.StatusCode() != 200 || string(ctx.Response.Body()) != "alert(1)" ||
		!strings.HasPrefix(string(ctx.Response.Header.ContentType()), "text/javascript") || !strings.Contains(url, etag[1:17]) {
		t.Fatalf("fasthttp: %d %q %q", ctx.Response.StatusCode(), ctx.Response.Body(), etag)
	}
	var ctx2 fasthttp.RequestCtx
	ctx2.Request.Header.Set("If-None-Match", etag)
	s.ServeFast(&ctx2, "a.js")
	if ctx2.Response.StatusCode() != 304 || len(ctx2.Response.Body()) != 0 {
		t.Fatalf("If-None-Match: %d", ctx2.Response.StatusCode())
	}
	var ctx3 fasthttp.RequestCtx
	s.ServeFast(&ctx3, "missing.js")
	if ctx3.Response.StatusCode() != 404 {
		t.Fatalf("unknown asset: %d", ctx3.Response.StatusCode())
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest("GET", "/p/static/b.css", nil), "b.css")
	if w.Code != 200 || w.Body.String() != "body{}" || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/css") ||
		w.Header().Get("Cache-Control") != "public, max-age=3600" || w.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("net/http: %d %v", w.Code, w.Header())
	}
	r := httptest.NewRequest("GET", "/p/static/b.css", nil)
	r.Header.Set("If-None-Match", w.Header().Get("ETag"))
	w = httptest.NewRecorder()
	s.ServeHTTP(w, r, "b.css")
	if w.Code != 304 {
		t.Fatalf("net/http If-None-Match: %d", w.Code)
	}
}

func TestUnknownType(t *testing.T) {
	if _, err := New("/x/", time.Hour, File{fstest.MapFS{"a.exe": {Data: []byte("x")}}, "a.exe"}); err == nil {
		t.Fatal("an asset without a known content type was accepted")
	}
}
