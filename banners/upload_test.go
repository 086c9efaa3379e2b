package banners

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/refedge/refedge/internal/admin"
	"github.com/refedge/refedge/internal/admin/admintest"
)

func adminFor(s *Service) *admin.Server {
	a := admintest.New(slog.New(slog.DiscardHandler))
	s.RegisterAdmin(a)
	return a
}

func put(a http.Handler, uri string, body io.Reader, length int64) *httptest.ResponseRecorder {
	req := admintest.Request("PUT", uri, body)
	req.ContentLength = length
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, req)
	return rec
}

// pngHeader returns a PNG signature and IHDR chunk declaring w x h RGBA pixels, and
// the start of an IDAT chunk: what a decompression bomb looks like to a header reader.
func pngHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		crc := crc32.NewIEEE()
		crc.Write([]byte(typ))
		crc.Write(data)
		b.WriteString(typ)
		b.Write(data)
		binary.Write(&b, binary.BigEndian, crc.Sum32())
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 6 // 8-bit RGBA
	chunk("IHDR", ihdr)
	chunk("IDAT", []byte{0x78, 0x9c, 0x62, 0x00})
	return b.Bytes()
}

// allocated returns the bytes the process allocated while f ran.
func allocated(f func()) uint64 {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// countingReader serves n bytes of filler after prefix and counts what was read.
type countingReader struct {
	prefix []byte
	left   int64
	read   atomic.Int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	if len(r.prefix) > 0 {
		n := copy(p, r.prefix)
		r.prefix = r.prefix[n:]
		r.read.Add(int64(n))
		return n, nil
	}
	if r.left <= 0 {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), r.left))
	clear(p[:n])
	r.left -= int64(n)
	r.read.Add(int64(n))
	return n, nil
}

// TestHostileUploads: each hostile master is refused with a clear 4xx, without the
// process allocating anything like what the input claims.
func TestHostileUploads(t *testing.T) {
	cfg := testConfig(t)
	cfg.Builtin = false
	cfg.MaxUploadBytes = 4 << 20
	s := newService(t, cfg, nil)
	a := adminFor(s)

	valid := encodeJPEG(t, testMaster(800, 600), 90)
	const mb = 1 << 20
	f := func(name string, body func() (io.Reader, int64), wantStatus int, wantMsg string, maxAlloc uint64) {
		t.Helper()
		r, n := body()
		var rec *httptest.ResponseRecorder
		got := allocated(func() { rec = put(a, "/admin/v1/creatives/hostile", r, n) })
		if rec.Code != wantStatus {
			t.Fatalf("%s: status %d, want %d: %s", name, rec.Code, wantStatus, rec.Body)
		}
		if !strings.Contains(rec.Body.String(), wantMsg) {
			t.Fatalf("%s: body %s does not say %q", name, rec.Body, wantMsg)
		}
		if got > maxAlloc {
			t.Fatalf("%s: allocated %d bytes, want at most %d", name, got, maxAlloc)
		}
		t.Logf("%s: %d %s, allocated %d KiB", name, rec.Code, strings.TrimSpace(rec.Body.String()), got>>10)
	}

	// A 30000x30000 RGBA PNG would need 3.4 GiB decoded; its header is refused first.
	bomb := pngHeader(30000, 30000)
	f("30000x30000 PNG header", func() (io.Reader, int64) { return bytes.NewReader(bomb), int64(len(bomb)) },
		http.StatusUnprocessableEntity, "30000x30000", 1*mb)
	// The same with a body that goes on for the whole limit: still judged on the header.
	f("30000x30000 PNG, streamed", func() (io.Reader, int64) { return &countingReader{prefix: bomb, left: 3 * mb}, -1 },
		http.StatusUnprocessableEntity, "30000x30000", 1*mb)
	// Truncated JPEG: the header is fine, the pixels end early.
	f("truncated JPEG", func() (io.Reader, int64) { return bytes.NewReader(valid[:len(valid)/2]), int64(len(valid) / 2) },
		http.StatusBadRequest, "truncated", 6*mb)
	// GIF: not on the allow-list, whatever it claims.
	var g bytes.Buffer
	if err := gif.Encode(&g, image.NewPaletted(image.Rect(0, 0, 300, 250), color.Palette{color.Black, color.White}), nil); err != nil {
		t.Fatal(err)
	}
	f("GIF", func() (io.Reader, int64) { return bytes.NewReader(g.Bytes()), int64(g.Len()) },
		http.StatusUnsupportedMediaType, "GIF is not accepted", 1*mb)
	// 50 MB declared: refused before a byte of the body is read.
	declared := &countingReader{prefix: valid[:600], left: 50*mb - 600}
	f("50 MB upload, declared", func() (io.Reader, int64) { return declared, 50 * mb },
		http.StatusRequestEntityTooLarge, "limit", 1*mb)
	if n := declared.read.Load(); n != 0 {
		t.Fatalf("read %d bytes of a body declared too large", n)
	}
	// 50 MB chunked, starting like a valid JPEG: read only up to the limit.
	streamed := &countingReader{prefix: valid[:600], left: 50*mb - 600}
	f("50 MB upload, chunked", func() (io.Reader, int64) { return streamed, -1 },
		http.StatusRequestEntityTooLarge, "limit", uint64(2*cfg.MaxUploadBytes))
	if n := streamed.read.Load(); n > cfg.MaxUploadBytes+64<<10 {
		t.Fatalf("read %d bytes of a 50 MB body with a %d-byte limit", n, cfg.MaxUploadBytes)
	}
	// Odds and ends.
	f("empty", func() (io.Reader, int64) { return strings.NewReader(""), 0 }, http.StatusBadRequest, "empty body", 1*mb)
	f("HTML", func() (io.Reader, int64) { return strings.NewReader("<svg/onload=alert(1)>"), 21 }, http.StatusUnsupportedMediaType, "unsupported", 1*mb)
	f("URL", func() (io.Reader, int64) { return strings.NewReader("https://evil.example/x.png"), 26 }, http.StatusUnsupportedMediaType, "unsupported", 1*mb)
	zero := pngHeader(0, 10)
	f("0x10 PNG", func() (io.Reader, int64) { return bytes.NewReader(zero), int64(len(zero)) }, http.StatusBadRequest, "corrupt", 1*mb)

	if s.snap.Load().byID["hostile"] != nil {
		t.Fatal("a refused upload created the creative")
	}
	if r := request(s, "GET", "/b/hostile/300x250.jpg"); r.StatusCode() != 404 {
		t.Fatalf("refused creative serves %d", r.StatusCode())
	}
}

func TestUploadLifecycle(t *testing.T) {
	cfg := testConfig(t)
	cfg.Builtin = true
	cfg.CacheDir = builtinCache(t)
	s := newService(t, cfg, nil)
	a := adminFor(s)

	bad := func(uri string, want int) {
		t.Helper()
		if rec := put(a, uri, bytes.NewReader(encodeJPEG(t, testMaster(64, 64), 80)), -1); rec.Code != want {
			t.Fatalf("PUT %s: %d, want %d: %s", uri, rec.Code, want, rec.Body)
		}
	}
	bad("/admin/v1/creatives/Bad.Id", 400)
	bad("/admin/v1/creatives/ok?fx=2", 400)
	bad("/admin/v1/creatives/ok?safe=0.5,0.5,0.4,0.9", 400)
	bad("/admin/v1/creatives/ok?bg=red", 400)
	bad("/admin/v1/creatives/ok/masters/Wide!", 400)

	// One landscape master: every size, each exactly its size.
	master := encodeJPEG(t, testMaster(600, 400), 90)
	rec := put(a, "/admin/v1/creatives/spring?fx=0.5&fy=0.5&safe=0.2,0.3,0.8,0.7&alt=Spring%20sale", bytes.NewReader(master), int64(len(master)))
	if rec.Code != http.StatusCreated {
		t.Fatalf("upload: %d %s", rec.Code, rec.Body)
	}
	var info creativeInfo
	if err := json.Unmarshal(rec.Body.Bytes(), &info); err != nil {
		t.Fatal(err)
	}
	if info.ID != "spring" || info.Alt != "Spring sale" || len(info.Banners) != len(Sizes) || info.Version == "" {
		t.Fatalf("upload answered %+v", info)
	}
	checkSizes := func(id string) {
		t.Helper()
		for _, sz := range Sizes {
			r := request(s, "GET", "/b/"+id+"/"+sz.String()+".jpg")
			img, err := jpeg.Decode(bytes.NewReader(r.Body()))
			if r.StatusCode() != 200 || err != nil || img.Bounds().Dx() != sz.W || img.Bounds().Dy() != sz.H {
				t.Fatalf("%s %v: status %d err %v", id, sz, r.StatusCode(), err)
			}
		}
	}
	checkSizes("spring")

	// A second, tall master: the portrait sizes move to it, and the version changes.
	tall := encodeJPEG(t, testMaster(150, 600), 90)
	rec = put(a, "/admin/v1/creatives/spring/masters/tall", bytes.NewReader(tall), int64(len(tall)))
	if rec.Code != http.StatusOK {
		t.Fatalf("second master: %d %s", rec.Code, rec.Body)
	}
	var info2 creativeInfo
	json.Unmarshal(rec.Body.Bytes(), &info2)
	if info2.Version == info.Version || len(info2.Masters) != 2 || info2.Alt != "Spring sale" {
		t.Fatalf("after a second master: %+v", info2)
	}
	for i, b := range info2.Banners {
		want := "master"
		if Sizes[i].W < Sizes[i].H { // 120x600 ... 240x400: nearer 1:4 than 3:2
			want = "tall"
		}
		if b.Master != want || b.Bytes == 0 {
			t.Fatalf("banner %+v: want master %s, rendered", b, want)
		}
	}
	checkSizes("spring")
	// The old version's URL still answers, with the current image and a short lifetime.
	if r := request(s, "GET", "/b/spring/300x250.jpg?v="+info.Version); r.StatusCode() != 200 || string(r.Header.Peek("Cache-Control")) != "public, max-age=3600" {
		t.Fatalf("old version URL: %d %q", r.StatusCode(), r.Header.Peek("Cache-Control"))
	}

	// A PNG with transparency replaces a built-in creative; deleting it brings the built-in back.
	builtinVersion := s.snap.Load().byID["services"].version
	png := encodePNG(t, image.NewNRGBA(image.Rect(0, 0, 300, 250)))
	rec = put(a, "/admin/v1/creatives/services?bg=%23ff0000", bytes.NewReader(png), int64(len(png)))
	if rec.Code != http.StatusOK {
		t.Fatalf("replace built-in: %d %s", rec.Code, rec.Body)
	}
	r := request(s, "GET", "/b/services/300x250.jpg")
	img, _ := jpeg.Decode(bytes.NewReader(r.Body()))
	if red, g, b, _ := img.At(150, 125).RGBA(); red>>8 < 200 || g>>8 > 60 || b>>8 > 60 {
		t.Fatalf("transparent master over bg=#ff0000 rendered rgb(%d,%d,%d)", red>>8, g>>8, b>>8)
	}
	del := func(id string, want int) {
		t.Helper()
		rec := httptest.NewRecorder()
		a.ServeHTTP(rec, admintest.Request("DELETE", "/admin/v1/creatives/"+id, nil))
		if rec.Code != want {
			t.Fatalf("DELETE %s: %d, want %d: %s", id, rec.Code, want, rec.Body)
		}
	}
	del("services", http.StatusNoContent)
	if e := s.snap.Load().byID["services"]; e == nil || e.c.Origin != "builtin" || e.version != builtinVersion {
		t.Fatal("deleting the replacement did not restore the built-in creative")
	}
	del("services", http.StatusConflict)
	del("nope", http.StatusNotFound)

	// List.
	lr := httptest.NewRecorder()
	a.ServeHTTP(lr, admintest.Request("GET", "/admin/v1/creatives", nil))
	if lr.Code != 200 || !strings.Contains(lr.Body.String(), `"id": "spring"`) {
		t.Fatalf("list: %d %s", lr.Code, lr.Body)
	}

	// Restart on the same folders: the uploads are there and nothing is rendered again.
	ctx := t.Context()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	before := promCounter(t, cacheLoaded)
	renders := promHistogramCount(t)
	s2 := newService(t, cfg, nil)
	e := s2.snap.Load().byID["spring"]
	if e == nil || e.version != info2.Version || e.c.Origin != "folder" || e.c.Alt != "Spring sale" {
		t.Fatalf("after restart: %+v", e)
	}
	if got := promCounter(t, cacheLoaded) - before; got < float64(2*len(Sizes)) {
		t.Fatalf("after restart %v banners came from the disk cache, want every size of spring and the built-ins", got)
	}
	if got := promHistogramCount(t) - renders; got != 0 {
		t.Fatalf("after restart %d banners were rendered again", got)
	}
	del2 := httptest.NewRecorder()
	adminFor(s2).ServeHTTP(del2, admintest.Request("DELETE", "/admin/v1/creatives/spring", nil))
	if del2.Code != 204 || request(s2, "GET", "/b/spring/300x250.jpg").StatusCode() != 404 {
		t.Fatalf("delete after restart: %d", del2.Code)
	}
}

// An upload answers with the creative it installed, even when a DELETE of the same
// creative lands between the install and the answer (found by the hostile-input suite:
// the answer looked the creative up again and described nil).
func TestUploadRacingDelete(t *testing.T) {
	cfg := testConfig(t)
	s := newService(t, cfg, nil)
	a := adminFor(s)
	master := encodeJPEG(t, testMaster(600, 400), 90)
	for i := 0; i < 20; i++ {
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := admintest.Request("DELETE", "/admin/v1/creatives/race", nil)
			a.ServeHTTP(httptest.NewRecorder(), req)
		}()
		rec := put(a, "/admin/v1/creatives/race", bytes.NewReader(master), int64(len(master)))
		wg.Wait()
		if rec.Code != http.StatusCreated && rec.Code != http.StatusOK {
			t.Fatalf("upload %d: %d %s", i, rec.Code, rec.Body)
		}
		var info creativeInfo
		if err := json.Unmarshal(rec.Body.Bytes(), &info); err != nil || info.ID != "race" || len(info.Banners) != len(Sizes) {
			t.Fatalf("upload %d answered %s (%v)", i, rec.Body, err)
		}
	}
}
