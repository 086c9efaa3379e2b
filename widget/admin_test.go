package widget

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/refedge/refedge/internal/admin/admintest"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

func adminServer(t *testing.T, f *fixture) *httptest.Server {
	a := admintest.New(quietLog())
	f.svc.RegisterAdmin(a)
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return srv
}

func adminDo(t *testing.T, srv *httptest.Server, method, path, ctype string, body []byte) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(admintest.AsAdmin(req))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

func pngBytes(w, h int) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetNRGBA(x, y, color.NRGBA{uint8(x * 255 / w), uint8(y * 255 / h), 128, uint8(255 - x*128/w)})
		}
	}
	var b bytes.Buffer
	_ = png.Encode(&b, img)
	return b.Bytes()
}

func TestAdminKworks(t *testing.T) {
	f := newFixture(t)
	srv := adminServer(t, f)
	put := func(id, body string) (int, map[string]any) {
		return adminDo(t, srv, "PUT", "/admin/v1/kworks/"+id, "application/json", []byte(body))
	}
	code, k := put("42", `{"title":"Logo","category":"design","price":150000,"currency":"rub","url":"https://market.example/kwork/42","image":"https://cdn.example/1.png","seller_id":7,"rating":4.9}`)
	if code != 200 || k["status"] != "active" || k["currency"] != "RUB" || k["image_url"] != "https://cdn.example/1.png" || k["seller_id"] != "7" {
		t.Fatalf("PUT = %d %v", code, k)
	}
	if code, k := adminDo(t, srv, "GET", "/admin/v1/kworks/42", "", nil); code != 200 || k["title"] != "Logo" {
		t.Fatalf("GET = %d %v", code, k)
	}
	for _, body := range []string{
		`{"title":"x","category":"d","currency":"USD","url":"https://evil.example/kwork/1"}`,
		`{"title":"x","category":"d","currency":"USD","url":"javascript:alert(1)"}`,
		`{"title":"x","category":"d","currency":"USD","url":"https://market.example.evil.com/"}`,
		`{"title":"x","category":"d","currency":"USD","url":"https://market.example/1","extra":1}`,
		`{"title":"x","category":"d","currency":"USD","url":"https://market.example/1","status":"deleted"}`,
	} {
		if code, _ := put("43", body); code != 400 {
			t.Fatalf("PUT %s = %d, want 400", body, code)
		}
	}
	if code, _ := adminDo(t, srv, "GET", "/admin/v1/kworks/43", "", nil); code != 404 {
		t.Fatalf("a rejected kwork was stored: %d", code)
	}
	if code, _ := put("42", `{"title":"Logo","category":"design","currency":"RUB","url":"https://market.example/kwork/42","status":"removed"}`); code != 200 {
		t.Fatal("remove failed")
	}
	if cs, _ := f.svc.Catalog().Random(t.Context(), nil, "design", 5); len(cs) != 0 {
		t.Fatalf("a removed kwork is still drawn: %v", cs)
	}
}

func TestAdminImageAndThumbnails(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Images.MaxBytes = 400 << 10; c.Images.MaxPixels = 1_500_000 })
	srv := adminServer(t, f)
	f.kwork(t, Kwork{ID: "42", Title: "Logo", Category: "design"})
	f.kwork(t, Kwork{ID: "43", Title: "No image", Category: "design"})

	img := func(id string, body []byte) (int, map[string]any) {
		return adminDo(t, srv, "PUT", "/admin/v1/kworks/"+id+"/image", "image/png", body)
	}
	if code, _ := img("42", []byte("GIF89a not really")); code != 415 {
		t.Fatalf("non-image = %d, want 415", code)
	}
	if code, _ := img("42", []byte("<svg xmlns='http://www.w3.org/2000/svg'/>")); code != 415 {
		t.Fatalf("svg = %d, want 415", code)
	}
	if code, _ := img("42", pngBytes(1300, 1200)); code != 422 && code != 413 {
		t.Fatalf("too many pixels = %d, want 422 (or 413)", code)
	}
	if code, _ := img("42", bytes.Repeat([]byte{1}, 500<<10)); code != 413 {
		t.Fatalf("too large = %d, want 413", code)
	}
	if code, _ := img("nope", pngBytes(10, 10)); code != 404 {
		t.Fatalf("unknown kwork = %d, want 404", code)
	}
	code, out := img("42", pngBytes(800, 600))
	ver, _ := out["image"].(string)
	if code != 200 || !validVersion([]byte(ver)) || ver == "0" {
		t.Fatalf("upload = %d %v", code, out)
	}
	// The stored copy is normalised: JPEG, at most StoredSide.
	_, stored, err := f.svc.Catalog().Image(t.Context(), "42")
	if err != nil {
		t.Fatal(err)
	}
	if c, format, err := image.DecodeConfig(bytes.NewReader(stored)); err != nil || format != "jpeg" || c.Width != 640 || c.Height != 480 {
		t.Fatalf("stored copy: %v %s %dx%d", err, format, c.Width, c.Height)
	}
	// The card now names the image version, so frames ask for it.
	cs, _ := f.svc.Catalog().Random(t.Context(), nil, "design", 5)
	for _, c := range cs {
		if c.ID == "42" && c.Image != ver {
			t.Fatalf("card image = %q, want %q", c.Image, ver)
		}
	}

	thumb := func(path string) (int, string, image.Config) {
		t.Helper()
		resp := do(f.svc.Handler(), "GET", path, nil, nil)
		var c image.Config
		if resp.StatusCode() == 200 {
			var err error
			if c, err = jpeg.DecodeConfig(bytes.NewReader(resp.Body())); err != nil {
				t.Fatalf("GET %s: not a JPEG: %v", path, err)
			}
		}
		return resp.StatusCode(), string(resp.Header.Peek("Cache-Control")), c
	}
	for _, size := range [][2]int{{104, 76}, {288, 184}, {64, 48}, {960, 16}} {
		path := fmt.Sprintf("/w/t/42/%dx%d.jpg?v=%s", size[0], size[1], ver)
		code, cc, c := thumb(path)
		if code != 200 || c.Width != size[0] || c.Height != size[1] || cc != "public, max-age=31536000, immutable" {
			t.Fatalf("GET %s = %d %q %dx%d", path, code, cc, c.Width, c.Height)
		}
		// Cached: the second answer is the same bytes.
		a := do(f.svc.Handler(), "GET", path, nil, nil).Body()
		b := do(f.svc.Handler(), "GET", path, nil, nil).Body()
		if !bytes.Equal(a, b) {
			t.Fatal("cached thumbnail differs")
		}
	}
	if code, cc, c := thumb("/w/t/42/104x76.jpg?v=000000000000"); code != 200 || cc != "public, max-age=300" || c.Width != 104 {
		t.Fatalf("stale version = %d %q", code, cc)
	}
	if code, cc, c := thumb("/w/t/43/104x76.jpg?v=0"); code != 200 || cc != "public, max-age=31536000, immutable" || c.Width != 104 || c.Height != 76 {
		t.Fatalf("placeholder = %d %q %dx%d", code, cc, c.Width, c.Height)
	}
	if code, _, _ := thumb("/w/t/unknown/104x76.jpg?v=0"); code != 404 {
		t.Fatalf("unknown kwork thumbnail = %d", code)
	}
}

// TestThumbnailGolden pins the resizer's output for a fixed source: dimensions and
// content hashes in testdata/thumbs.golden (go test -run Golden -update rewrites it).
func TestThumbnailGolden(t *testing.T) {
	src, err := os.ReadFile("testdata/source.png")
	if err != nil {
		t.Fatal(err)
	}
	norm, ver, err := normalizeImage(src, NewDefaultConfig().Images)
	if err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	fmt.Fprintf(&got, "stored %s %d\n", ver, len(norm))
	for _, size := range [][2]int{{104, 76}, {288, 184}, {148, 108}, {64, 48}} {
		b, err := renderThumb(norm, size[0], size[1])
		if err != nil {
			t.Fatal(err)
		}
		c, err := jpeg.DecodeConfig(bytes.NewReader(b))
		if err != nil || c.Width != size[0] || c.Height != size[1] {
			t.Fatalf("%dx%d: %v %dx%d", size[0], size[1], err, c.Width, c.Height)
		}
		sum := sha256.Sum256(b)
		fmt.Fprintf(&got, "%dx%d %s\n", c.Width, c.Height, hex.EncodeToString(sum[:8]))
	}
	if *update {
		if err := os.WriteFile("testdata/thumbs.golden", []byte(got.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("testdata/thumbs.golden")
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != string(want) {
		t.Fatalf("thumbnails changed:\n got:\n%s\nwant:\n%s", got.String(), want)
	}
}
