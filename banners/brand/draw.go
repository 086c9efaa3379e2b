package brand

import (
	"image"
	"image/color"
	"image/draw"
	"math"
	"strings"
	"sync"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

var (
	boldOnce sync.Once
	bold     *opentype.Font
)

func boldFont() *opentype.Font {
	boldOnce.Do(func() {
		f, err := opentype.Parse(gobold.TTF)
		if err != nil {
			panic("brand: cannot parse the embedded Go Bold font: " + err.Error())
		}
		bold = f
	})
	return bold
}

func face(size float64) font.Face {
	f, err := opentype.NewFace(boldFont(), &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		panic("brand: cannot make a face: " + err.Error())
	}
	return f
}

func fill(dst *image.RGBA, r image.Rectangle, c color.RGBA) {
	draw.Draw(dst, r, image.NewUniform(c), image.Point{}, draw.Src)
}

// roundRect fills r with corners of radius rad.
func roundRect(dst *image.RGBA, r image.Rectangle, rad float64, c color.RGBA) {
	cx, cy := float64(r.Min.X+r.Max.X)/2, float64(r.Min.Y+r.Max.Y)/2
	hw, hh := float64(r.Dx())/2-rad, float64(r.Dy())/2-rad
	shape(dst, r, c, func(x, y float64) float64 {
		qx, qy := math.Abs(x-cx)-hw, math.Abs(y-cy)-hh
		return math.Hypot(math.Max(qx, 0), math.Max(qy, 0)) + math.Min(math.Max(qx, qy), 0) - rad
	})
}

// circle fills the disc of radius rad around (cx, cy), clipped to dst.
func circle(dst *image.RGBA, cx, cy, rad float64, c color.RGBA) {
	r := image.Rect(int(cx-rad)-1, int(cy-rad)-1, int(cx+rad)+2, int(cy+rad)+2)
	shape(dst, r, c, func(x, y float64) float64 { return math.Hypot(x-cx, y-cy) - rad })
}

// shape fills the pixels of r inside a shape given by its signed distance (negative
// inside), anti-aliased over the one-pixel band around the edge.
func shape(dst *image.RGBA, r image.Rectangle, c color.RGBA, dist func(x, y float64) float64) {
	r = r.Intersect(dst.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			d := dist(float64(x)+0.5, float64(y)+0.5)
			switch {
			case d >= 0.5:
			case d <= -0.5:
				blend(dst, x, y, c, 255)
			default:
				blend(dst, x, y, c, int((0.5-d)*255))
			}
		}
	}
}

func blend(dst *image.RGBA, x, y int, c color.RGBA, a int) {
	i := dst.PixOffset(x, y)
	p := dst.Pix[i : i+4 : i+4]
	p[0] = uint8((int(c.R)*a + int(p[0])*(255-a)) / 255)
	p[1] = uint8((int(c.G)*a + int(p[1])*(255-a)) / 255)
	p[2] = uint8((int(c.B)*a + int(p[2])*(255-a)) / 255)
	p[3] = 0xff
}

// align places text horizontally in its box.
type align int

const (
	left align = iota
	center
)

// text sets s in box at the largest size not above maxSize that fits in at most
// maxLines lines, wrapping at spaces, and centres the block vertically. It returns the
// size used.
func text(dst *image.RGBA, box image.Rectangle, s string, maxSize float64, maxLines int, a align, c color.RGBA) float64 {
	size, lines, f := fitText(s, box.Dx(), box.Dy(), maxSize, maxLines)
	m := f.Metrics()
	lineH := (m.Ascent + m.Descent).Ceil()
	total := lineH * len(lines)
	y := box.Min.Y + (box.Dy()-total)/2 + m.Ascent.Ceil()
	d := &font.Drawer{Dst: dst, Src: image.NewUniform(c), Face: f}
	for _, ln := range lines {
		x := box.Min.X
		if a == center {
			x += (box.Dx() - font.MeasureString(f, ln).Ceil()) / 2
		}
		d.Dot = fixed.P(x, y)
		d.DrawString(ln)
		y += lineH
	}
	return size
}

// fitText returns the largest size (stepping down 4% at a time from maxSize) at which
// s wraps into at most maxLines lines no wider than w and no taller than h in total.
func fitText(s string, w, h int, maxSize float64, maxLines int) (float64, []string, font.Face) {
	words := strings.Fields(s)
	size := maxSize
	for {
		f := face(size)
		lines := wrap(words, f, w)
		m := f.Metrics()
		if len(lines) <= maxLines && (m.Ascent+m.Descent).Ceil()*len(lines) <= h && widest(lines, f) <= w || size < 6 {
			return size, lines, f
		}
		size *= 0.96
	}
}

func wrap(words []string, f font.Face, w int) []string {
	var lines []string
	cur := ""
	for _, wd := range words {
		try := wd
		if cur != "" {
			try = cur + " " + wd
		}
		if cur != "" && font.MeasureString(f, try).Ceil() > w {
			lines = append(lines, cur)
			cur = wd
			continue
		}
		cur = try
	}
	if cur != "" {
		lines = append(lines, cur)
	}
	return lines
}

func widest(lines []string, f font.Face) int {
	m := 0
	for _, ln := range lines {
		m = max(m, font.MeasureString(f, ln).Ceil())
	}
	return m
}
