package banners

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"math"

	"github.com/disintegration/imaging"
)

// job is one size being rendered from one decoded master.
type job struct {
	src     image.Image
	frame   *Frame
	size    Size
	quality int
	sharpen float64

	bg      color.RGBA
	win     window
	visible image.Rectangle // part of src inside the window
	dest    image.Rectangle // where visible lands on the banner
	scaled  image.Image
	canvas  *image.RGBA
	out     bytes.Buffer
}

// step is one stage of rendering.
type step struct {
	name string
	run  func(*job) error
}

// renderSteps turn a decoded master into a banner's JPEG bytes.
var renderSteps = []step{
	{"background", background},
	{"place", placeStep},
	{"scale", scale},
	{"sharpen", sharpen},
	{"compose", compose},
	{"encode", encode},
}

// render runs the steps for one size and returns the JPEG.
func render(src image.Image, f *Frame, s Size, quality int, sharpenSigma float64) ([]byte, error) {
	j := &job{src: src, frame: f, size: s, quality: quality, sharpen: sharpenSigma}
	for _, st := range renderSteps {
		if err := st.run(j); err != nil {
			return nil, fmt.Errorf("cannot render %s: %s: %w", s, st.name, err)
		}
	}
	return j.out.Bytes(), nil
}

// background picks the padding colour: the frame's, or the average of the master's
// outermost pixels, so padding continues the artwork's edge.
func background(j *job) error {
	if j.frame.Background != "" {
		c, err := parseColor(j.frame.Background)
		j.bg = c
		return err
	}
	b := j.src.Bounds()
	var r, g, bl, n uint64
	add := func(x, y int) {
		cr, cg, cb, _ := j.src.At(x, y).RGBA()
		r, g, bl, n = r+uint64(cr), g+uint64(cg), bl+uint64(cb), n+1
	}
	stepX, stepY := max(1, b.Dx()/64), max(1, b.Dy()/64)
	for x := b.Min.X; x < b.Max.X; x += stepX {
		add(x, b.Min.Y)
		add(x, b.Max.Y-1)
	}
	for y := b.Min.Y; y < b.Max.Y; y += stepY {
		add(b.Min.X, y)
		add(b.Max.X-1, y)
	}
	j.bg = color.RGBA{uint8(r / n >> 8), uint8(g / n >> 8), uint8(bl / n >> 8), 0xff}
	return nil
}

func placeStep(j *job) error {
	b := j.src.Bounds()
	mw, mh := float64(b.Dx()), float64(b.Dy())
	j.win = place(mw, mh, j.frame, float64(j.size.W)/float64(j.size.H))
	w := j.win
	// The visible part of the master, in whole pixels, and where it lands.
	vx0, vy0 := max(w.x0, 0), max(w.y0, 0)
	vx1, vy1 := min(w.x1, mw), min(w.y1, mh)
	j.visible = image.Rect(int(math.Round(vx0)), int(math.Round(vy0)), int(math.Round(vx1)), int(math.Round(vy1))).Add(b.Min)
	sx := float64(j.size.W) / (w.x1 - w.x0)
	sy := float64(j.size.H) / (w.y1 - w.y0)
	j.dest = image.Rect(
		int(math.Round((vx0-w.x0)*sx)), int(math.Round((vy0-w.y0)*sy)),
		int(math.Round((vx1-w.x0)*sx)), int(math.Round((vy1-w.y0)*sy)),
	).Intersect(image.Rect(0, 0, j.size.W, j.size.H))
	if j.visible.Empty() || j.dest.Empty() {
		return fmt.Errorf("window %v leaves nothing of a %dx%d master", w, b.Dx(), b.Dy())
	}
	return nil
}

type subImager interface {
	SubImage(image.Rectangle) image.Image
}

// scale resizes the visible part with Lanczos. The decoded types all cut without
// copying; anything else is cropped first.
func scale(j *job) error {
	var part image.Image
	if si, ok := j.src.(subImager); ok {
		part = si.SubImage(j.visible)
	} else {
		part = imaging.Crop(j.src, j.visible)
	}
	dw, dh := j.dest.Dx(), j.dest.Dy()
	// Lanczos reads about six source pixels per output pixel and per unit of downscale
	// on each axis, so its cost grows with the factor. Past 4x, a box pre-shrink to
	// twice the target does most of the reduction cheaply; Lanczos then finishes it.
	if b := part.Bounds(); b.Dx() >= 4*dw && b.Dy() >= 4*dh {
		part = imaging.Resize(part, 2*dw, 2*dh, imaging.Box)
	}
	j.scaled = imaging.Resize(part, dw, dh, imaging.Lanczos)
	return nil
}

// sharpen restores the edge contrast a downscale softens; upscales are left alone.
func sharpen(j *job) error {
	if j.sharpen > 0 && j.dest.Dx() < j.visible.Dx() {
		j.scaled = imaging.Sharpen(j.scaled, j.sharpen)
	}
	return nil
}

// compose draws the scaled part over the padding colour: the banner is opaque and
// exactly W x H whatever the master's alpha or aspect.
func compose(j *job) error {
	j.canvas = image.NewRGBA(image.Rect(0, 0, j.size.W, j.size.H))
	draw.Draw(j.canvas, j.canvas.Bounds(), image.NewUniform(j.bg), image.Point{}, draw.Src)
	draw.Draw(j.canvas, j.dest, j.scaled, j.scaled.Bounds().Min, draw.Over)
	return nil
}

func encode(j *job) error {
	j.out.Grow(j.size.W * j.size.H / 4)
	return jpeg.Encode(&j.out, j.canvas, &jpeg.Options{Quality: j.quality})
}
