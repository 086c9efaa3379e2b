package banners

import (
	"fmt"
	"image"
	"image/color"

	"github.com/refedge/refedge/banners/brand"
)

// builtinCreatives returns the generated default set. Masters are drawn only when a
// size must be rendered; their hash is the generator's fingerprint, so a warm disk
// cache serves them without drawing.
func builtinCreatives() []*Creative {
	var out []*Creative
	for _, bc := range brand.Creatives() {
		c := &Creative{ID: bc.ID, Alt: bc.Alt, Origin: "builtin"}
		for _, l := range brand.Layouts() {
			m := &Master{
				Name:  l.Name,
				W:     l.W,
				H:     l.H,
				Frame: Frame{Focal: l.Focal, Safe: l.Safe, Background: hexColor(bc.Background)},
				Hash:  brand.Fingerprint(&bc, &l),
			}
			m.open = func() (image.Image, error) { return brand.Draw(&bc, &l), nil }
			c.Masters = append(c.Masters, m)
		}
		out = append(out, c)
	}
	return out
}

func hexColor(c color.RGBA) string { return fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B) }
