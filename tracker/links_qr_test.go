package tracker

import (
	"bytes"
	"encoding/base64"
	"image"
	"image/color"
	"image/png"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/makiuchi-d/gozxing"
	gzqr "github.com/makiuchi-d/gozxing/qrcode"
)

// decodeQR reads the QR code in img with an independent decoder (gozxing, a port of
// ZXing).
func decodeQR(t *testing.T, img image.Image) string {
	t.Helper()
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := gzqr.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true})
	if err != nil {
		t.Fatalf("QR code does not decode: %v", err)
	}
	return res.GetText()
}

var svgRun = regexp.MustCompile(`M(\d+) (\d+)h(\d+)v1h-(\d+)z`)

// rasterSVG draws the SVG's runs at 4 px per module, as a viewer would.
func rasterSVG(t *testing.T, svg string) image.Image {
	t.Helper()
	vb := regexp.MustCompile(`viewBox="0 0 (\d+) (\d+)"`).FindStringSubmatch(svg)
	if vb == nil || vb[1] != vb[2] {
		t.Fatalf("SVG without a square viewBox: %.200s", svg)
	}
	side, _ := strconv.Atoi(vb[1])
	const px = 4
	img := image.NewGray(image.Rect(0, 0, side*px, side*px))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	runs := svgRun.FindAllStringSubmatch(svg, -1)
	if len(runs) == 0 {
		t.Fatal("SVG has no dark modules")
	}
	for _, r := range runs {
		x, _ := strconv.Atoi(r[1])
		y, _ := strconv.Atoi(r[2])
		n, _ := strconv.Atoi(r[3])
		for yy := y * px; yy < (y+1)*px; yy++ {
			for xx := x * px; xx < (x+n)*px; xx++ {
				img.SetGray(xx, yy, color.Gray{})
			}
		}
	}
	return img
}

// Acceptance 2: the PNG and the SVG QR codes decode to exactly the link, short and long.
func TestQRCodeDecodesToLink(t *testing.T) {
	l := newTestLinks(t, "")
	long := "https://market.example/search?" + strings.Repeat("q=%D0%BB%D0%BE%D0%B3%D0%BE&", 50) + "z=1"
	for _, raw := range []string{"https://market.example/categories/design?sort=new", long} {
		resp, err := l.Create("12345", LinkRequest{URL: raw, Sub: "flyer-7", Src: "qr"})
		if err != nil {
			t.Fatal(err)
		}
		b64, ok := strings.CutPrefix(resp.QRPNG, "data:image/png;base64,")
		if !ok {
			t.Fatalf("qr_png is not a PNG data URL: %.40s", resp.QRPNG)
		}
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		if got := decodeQR(t, img); got != resp.Link {
			t.Fatalf("PNG decodes to\n%s\nwant\n%s", got, resp.Link)
		}
		if got := decodeQR(t, rasterSVG(t, resp.QRSVG)); got != resp.Link {
			t.Fatalf("SVG decodes to\n%s\nwant\n%s", got, resp.Link)
		}
		if !strings.HasSuffix(resp.Link, "&sub=flyer-7&src=qr") {
			t.Fatalf("link %s", resp.Link)
		}
		t.Logf("link of %d bytes: PNG %d bytes, SVG %d bytes", len(resp.Link), len(raw), len(resp.QRSVG))
	}
}

// The quiet zone is there and modules are whole pixels.
func TestQRGeometry(t *testing.T) {
	m, err := encodeQR("https://market.example/?ref=1")
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.png(8)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	side := (m.size + 2*qrQuietZone) * 8
	if img.Bounds().Dx() != side || img.Bounds().Dy() != side {
		t.Fatalf("PNG %v, want %dx%d", img.Bounds(), side, side)
	}
	for i := 0; i < qrQuietZone*8; i++ {
		for j := 0; j < side; j++ {
			for _, p := range [][2]int{{i, j}, {j, i}, {side - 1 - i, j}, {j, side - 1 - i}} {
				if r, _, _, _ := img.At(p[0], p[1]).RGBA(); r != 0xffff {
					t.Fatalf("dark pixel at %v in the quiet zone", p)
				}
			}
		}
	}
	// Finder pattern: the top-left module of the symbol is dark.
	if r, _, _, _ := img.At(qrQuietZone*8, qrQuietZone*8).RGBA(); r != 0 {
		t.Fatal("finder pattern missing")
	}
}

func BenchmarkLinkCreate(b *testing.B) {
	l := newTestLinks(b, "")
	req := LinkRequest{URL: "https://market.example/categories/design?sort=new", Sub: "post-1"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Create("12345", req); err != nil {
			b.Fatal(err)
		}
	}
}
