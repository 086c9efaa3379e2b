package banners

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math/bits"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/disintegration/imaging"
)

var update = flag.Bool("update", false, "rewrite testdata/phash.json (perceptual hash and mean colour per banner) from the current renders")

// dHash is a 64-bit difference hash: the image reduced to 9x8 grey levels, one bit per
// horizontal neighbour pair. Encoder noise flips few bits; a cropped message, a wrong
// layout or a broken resize flips many.
func dHash(img image.Image) uint64 {
	g := imaging.Resize(imaging.Grayscale(img), 9, 8, imaging.Box)
	var h uint64
	for y := 0; y < 8; y++ {
		for x := 0; x < 8; x++ {
			if g.Pix[g.PixOffset(x, y)] > g.Pix[g.PixOffset(x+1, y)] {
				h |= 1 << (y*8 + x)
			}
		}
	}
	return h
}

// meanColour is the image's average colour, the part of its look dHash ignores.
func meanColour(img image.Image) [3]int {
	var sum [3]int
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			sum[0], sum[1], sum[2] = sum[0]+int(r>>8), sum[1]+int(g>>8), sum[2]+int(bl>>8)
		}
	}
	n := b.Dx() * b.Dy()
	return [3]int{sum[0] / n, sum[1] / n, sum[2] / n}
}

// Tolerances against the golden values: enough for another JPEG encoder or resampling
// rounding (a few bits, a few levels), below what tells two creatives or two layouts
// apart (9 or more bits; the built-in creatives' colours differ by over 100 levels).
const (
	hashTolerance   = 6
	colourTolerance = 12
)

// TestBuiltinBannersGolden renders every size of every built-in creative: each must
// decode as a JPEG of exactly its size and match its golden perceptual hash.
func TestBuiltinBannersGolden(t *testing.T) {
	// The shared cache is empty when the test binary starts, so these are this run's renders.
	s := newService(t, testConfig(t), nil)
	golden := map[string]string{}
	path := filepath.Join("testdata", "phash.json")
	if !*update {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./banners -run Golden -update to create it)", err)
		}
		if err := json.Unmarshal(b, &golden); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]string{}
	sn := s.snap.Load()
	if len(sn.ordered) < 2 {
		t.Fatalf("want the built-in set (2 creatives), have %d", len(sn.ordered))
	}
	for _, e := range sn.ordered {
		for si, sz := range Sizes {
			name := e.c.ID + "/" + sz.String()
			r := e.out[si].Load()
			if r == nil {
				t.Errorf("%s: not rendered", name)
				continue
			}
			img, err := jpeg.Decode(bytes.NewReader(r.body))
			if err != nil {
				t.Errorf("%s: not a JPEG: %v", name, err)
				continue
			}
			if b := img.Bounds(); b.Dx() != sz.W || b.Dy() != sz.H {
				t.Errorf("%s: decoded %dx%d", name, b.Dx(), b.Dy())
			}
			h, mc := dHash(img), meanColour(img)
			got[name] = fmt.Sprintf("%016x #%02x%02x%02x", h, mc[0], mc[1], mc[2])
			if *update {
				continue
			}
			want, ok := golden[name]
			var wh uint64
			var wc [3]int
			if n, _ := fmt.Sscanf(want, "%x #%02x%02x%02x", &wh, &wc[0], &wc[1], &wc[2]); !ok || n != 4 {
				t.Errorf("%s: no golden value (run with -update)", name)
				continue
			}
			if d := bits.OnesCount64(wh ^ h); d > hashTolerance {
				t.Errorf("%s: perceptual hash %016x is %d bits from golden %s (tolerance %d)", name, h, d, want, hashTolerance)
			}
			for c := range 3 {
				if d := mc[c] - wc[c]; d > colourTolerance || d < -colourTolerance {
					t.Errorf("%s: mean colour %v, golden %s (tolerance %d per channel)", name, mc, want, colourTolerance)
					break
				}
			}
		}
	}
	if *update {
		keys := make([]string, 0, len(got))
		for k := range got {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var buf bytes.Buffer
		buf.WriteString("{\n")
		for i, k := range keys {
			sep := ","
			if i == len(keys)-1 {
				sep = ""
			}
			fmt.Fprintf(&buf, "  %q: %q%s\n", k, got[k], sep)
		}
		buf.WriteString("}\n")
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %d hashes to %s", len(keys), path)
	}
}

// TestSafeRectangleNeverCropped renders a master whose safe rectangle is outlined in
// red into every size, with focal points that pull the window away from it: the
// outline's four sides must survive in every banner.
func TestSafeRectangleNeverCropped(t *testing.T) {
	const W, H = 300, 210
	safe := [4]float64{0.3, 0.35, 0.7, 0.65}
	src := image.NewRGBA(image.Rect(0, 0, W, H))
	for i := range src.Pix {
		src.Pix[i] = 0xff
	}
	red := color.RGBA{220, 0, 0, 255}
	x0, y0, x1, y1 := int(safe[0]*W), int(safe[1]*H), int(safe[2]*W), int(safe[3]*H)
	const line = 12
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			if x < x0+line || x >= x1-line || y < y0+line || y >= y1-line {
				src.SetRGBA(x, y, red)
			}
		}
	}
	for _, focal := range [][2]float64{{0.5, 0.5}, {1, 0}} {
		fr := Frame{Focal: focal, Safe: safe, Background: "#ffffff"}
		for _, sz := range Sizes {
			body, err := render(src, &fr, sz, 90, 0.5)
			if err != nil {
				t.Fatal(err)
			}
			img, err := jpeg.Decode(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if b := img.Bounds(); b.Dx() != sz.W || b.Dy() != sz.H {
				t.Fatalf("%v: decoded %dx%d", sz, b.Dx(), b.Dy())
			}
			// Where the outline's sides land, from the same window the renderer used.
			w := place(W, H, &fr, float64(sz.W)/float64(sz.H))
			sx, sy := float64(sz.W)/(w.x1-w.x0), float64(sz.H)/(w.y1-w.y0)
			mid := func(mx, my float64) (int, int) { return int((mx - w.x0) * sx), int((my - w.y0) * sy) }
			cx, cy := float64(x0+x1)/2, float64(y0+y1)/2
			for _, p := range [][2]float64{{float64(x0) + line/2, cy}, {float64(x1) - line/2, cy}, {cx, float64(y0) + line/2}, {cx, float64(y1) - line/2}} {
				px, py := mid(p[0], p[1])
				r, g, b, _ := img.At(px, py).RGBA()
				if r>>8 < 150 || g>>8 > 90 || b>>8 > 90 {
					t.Errorf("focal %v size %v: outline point (%d,%d) is rgb(%d,%d,%d), want red: the safe rectangle was cut", focal, sz, px, py, r>>8, g>>8, b>>8)
				}
			}
		}
	}
}
