package brand

import (
	"bytes"
	"image"
	"testing"
)

// TestDrawDeterministic: the fingerprint stands for the pixels, so equal inputs must
// draw equal pixels, and any input that changes pixels must change the fingerprint.
func TestDrawDeterministic(t *testing.T) {
	cs := Creatives()
	ls := Layouts()
	seen := map[[32]byte]string{}
	for i := range cs {
		for j := range ls {
			c, l := &cs[i], &ls[j]
			a, b := Draw(c, l), Draw(c, l)
			if !bytes.Equal(a.Pix, b.Pix) {
				t.Fatalf("%s/%s: two draws differ", c.ID, l.Name)
			}
			if a.Bounds() != image.Rect(0, 0, l.W, l.H) {
				t.Fatalf("%s/%s: %v", c.ID, l.Name, a.Bounds())
			}
			fp := Fingerprint(c, l)
			if prev, dup := seen[fp]; dup {
				t.Fatalf("%s/%s has the fingerprint of %s", c.ID, l.Name, prev)
			}
			seen[fp] = c.ID + "/" + l.Name
		}
	}
	c := cs[0]
	before := Fingerprint(&c, &ls[0])
	c.Headline += "!"
	if Fingerprint(&c, &ls[0]) == before {
		t.Fatal("a new headline kept the fingerprint")
	}
}

// TestMessageInsideSafe: outside the safe rectangle a layout paints only background
// and accent, so cropping there never cuts the mark, the words or the button.
func TestMessageInsideSafe(t *testing.T) {
	for _, c := range Creatives() {
		for _, l := range Layouts() {
			img := Draw(&c, &l)
			safe := image.Rect(int(l.Safe[0]*float64(l.W)), int(l.Safe[1]*float64(l.H)), int(l.Safe[2]*float64(l.W))+1, int(l.Safe[3]*float64(l.H))+1)
			for y := 0; y < l.H; y++ {
				for x := 0; x < l.W; x++ {
					if (image.Point{x, y}).In(safe) {
						continue
					}
					p := img.RGBAAt(x, y)
					if p != c.Background && p != c.Accent && !between(p, c.Background, c.Accent) {
						t.Fatalf("%s/%s: pixel (%d,%d) = %v outside the safe rectangle %v", c.ID, l.Name, x, y, p, safe)
					}
				}
			}
		}
	}
}

// between accepts the anti-aliased edge of the accent disc.
func between(p, a, b interface{ RGBA() (r, g, b, a uint32) }) bool {
	pr, pg, pb, _ := p.RGBA()
	ar, ag, ab, _ := a.RGBA()
	br, bg, bb, _ := b.RGBA()
	in := func(v, x, y uint32) bool { return v+256 >= min(x, y) && v <= max(x, y)+256 }
	return in(pr, ar, br) && in(pg, ag, bg) && in(pb, ab, bb)
}
