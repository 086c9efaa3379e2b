// Package brand generates refedge's default creative set: master artwork drawn from
// the brand's elements (colours, a logo mark, the wordmark, a headline and a call to
// action set in Go Bold from golang.org/x/image), so a fresh install has banners.
//
// One master cannot carry a readable message to every program size: 728x90 is 8:1,
// 120x600 is 1:5, and at 88x31 or 100x100 a headline would be a few pixels tall. So
// each creative is drawn once per aspect class — wide, button, skyscraper, portrait,
// rectangle, square — at two to four times the largest size of that class. The banner
// renderer picks, for each size, the master closest in aspect ratio and scales it like
// any uploaded master; each layout keeps its message inside the Safe rectangle it
// declares, so the renderer's crop never reaches it. The small classes drop the
// headline and keep what stays legible: the mark and the wordmark.
//
// Drawing is deterministic: the same Version and Creative give the same pixels, so a
// Fingerprint identifies a master without drawing it.
package brand

import (
	"crypto/sha256"
	"encoding/binary"
	"image"
	"image/color"
)

// Version changes whenever drawing changes, so cached renders of the old art expire.
const Version = "brand-1"

// Palette is a creative's colour set.
type Palette struct {
	Background, Accent, Text, Button, ButtonText, Mark, MarkText color.RGBA
}

// Creative is one default campaign: the same brand elements in every layout.
type Creative struct {
	// ID is the creative id in banner URLs.
	ID string
	// Alt is the image's alternative text in embed codes.
	Alt string
	// Name is the wordmark, Headline the message, CTA the button label.
	Name, Headline, CTA string
	Palette
}

// Layout is an aspect class: its master size and the rectangle (fractions of the
// master) that holds the message.
type Layout struct {
	Name  string
	W, H  int
	Safe  [4]float64 // x0, y0, x1, y1
	Focal [2]float64
	draw  func(dst *image.RGBA, c *Creative)
}

// Brand colours.
var (
	green = color.RGBA{0x1f, 0x9d, 0x55, 0xff}
	ink   = color.RGBA{0x1b, 0x26, 0x33, 0xff}
	amber = color.RGBA{0xff, 0xb3, 0x1f, 0xff}
	white = color.RGBA{0xff, 0xff, 0xff, 0xff}
)

// Creatives returns the default set.
func Creatives() []Creative {
	return []Creative{{
		ID: "services", Alt: "kwork: freelance services for every task",
		Name: "kwork", Headline: "Freelance services for every task", CTA: "Find a pro",
		Palette: Palette{Background: green, Accent: color.RGBA{0x2b, 0xb0, 0x66, 0xff}, Text: white,
			Button: amber, ButtonText: ink, Mark: white, MarkText: green},
	}, {
		ID: "sellers", Alt: "kwork: turn your skills into kworks",
		Name: "kwork", Headline: "Turn your skills into kworks", CTA: "Start selling",
		Palette: Palette{Background: ink, Accent: color.RGBA{0x26, 0x34, 0x44, 0xff}, Text: white,
			Button: green, ButtonText: white, Mark: green, MarkText: white},
	}}
}

// Layouts returns the aspect classes every creative is drawn in.
func Layouts() []Layout {
	return []Layout{
		// 468x60 (7.8:1) and 728x90 (8.1:1).
		{Name: "wide", W: 1456, H: 182, Safe: [4]float64{0.035, 0.08, 0.965, 0.92}, Focal: [2]float64{0.5, 0.5}, draw: drawWide},
		// 88x31 exactly.
		{Name: "button", W: 352, H: 124, Safe: [4]float64{0.03, 0.06, 0.97, 0.94}, Focal: [2]float64{0.5, 0.5}, draw: drawButton},
		// 120x600 (1:5) and 160x600 (1:3.75).
		{Name: "skyscraper", W: 414, H: 1800, Safe: [4]float64{0.08, 0.075, 0.92, 0.925}, Focal: [2]float64{0.5, 0.5}, draw: drawTall},
		// 200x400 (1:2) and 240x400 (1:1.67).
		{Name: "portrait", W: 660, H: 1200, Safe: [4]float64{0.06, 0.05, 0.94, 0.95}, Focal: [2]float64{0.5, 0.5}, draw: drawTall},
		// 300x250 and 336x280 (6:5).
		{Name: "rectangle", W: 672, H: 560, Safe: [4]float64{0.05, 0.05, 0.95, 0.95}, Focal: [2]float64{0.5, 0.5}, draw: drawRect},
		// 100x100.
		{Name: "square", W: 400, H: 400, Safe: [4]float64{0.06, 0.06, 0.94, 0.94}, Focal: [2]float64{0.5, 0.5}, draw: drawSquare},
	}
}

// Draw renders c in layout l.
func Draw(c *Creative, l *Layout) *image.RGBA {
	dst := image.NewRGBA(image.Rect(0, 0, l.W, l.H))
	l.draw(dst, c)
	return dst
}

// Fingerprint identifies the pixels Draw(c, l) returns without drawing them.
func Fingerprint(c *Creative, l *Layout) [32]byte {
	h := sha256.New()
	for _, s := range []string{Version, c.ID, c.Name, c.Headline, c.CTA, l.Name} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	var b [8]byte
	for _, v := range []int{l.W, l.H} {
		binary.LittleEndian.PutUint64(b[:], uint64(v))
		h.Write(b[:])
	}
	for _, col := range []color.RGBA{c.Background, c.Accent, c.Text, c.Button, c.ButtonText, c.Mark, c.MarkText} {
		h.Write([]byte{col.R, col.G, col.B, col.A})
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}
