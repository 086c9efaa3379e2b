package brand

import (
	"image"
)

// Every layout keeps its mark, words and button inside the Safe rectangle it declares
// in Layouts; only the background decoration runs to the edges.

// backdrop paints the background and the accent disc that gives the set its shape.
func backdrop(dst *image.RGBA, c *Creative) {
	b := dst.Bounds()
	fill(dst, b, c.Background)
	w, h := float64(b.Dx()), float64(b.Dy())
	circle(dst, w*0.92, h*0.08, 0.55*max(w, h)*min(w, h)/max(w, h)+0.25*min(w, h), c.Accent)
}

// mark is the logo: a rounded square with the wordmark's initial.
func mark(dst *image.RGBA, r image.Rectangle, c *Creative) {
	roundRect(dst, r, float64(r.Dx())*0.22, c.Mark)
	initial := c.Name[:1]
	text(dst, r.Inset(r.Dx()/6), initial, float64(r.Dy())*0.95, 1, center, c.MarkText)
}

func button(dst *image.RGBA, r image.Rectangle, c *Creative) {
	roundRect(dst, r, float64(r.Dy())*0.5, c.Button)
	text(dst, r.Inset(r.Dy()/5), c.CTA, float64(r.Dy())*0.55, 1, center, c.ButtonText)
}

// safeBox is the layout's safe rectangle in pixels.
func safeBox(dst *image.RGBA, safe [4]float64) image.Rectangle {
	w, h := float64(dst.Bounds().Dx()), float64(dst.Bounds().Dy())
	return image.Rect(int(safe[0]*w+0.5), int(safe[1]*h+0.5), int(safe[2]*w), int(safe[3]*h))
}

func layoutSafe(name string) [4]float64 {
	for _, l := range Layouts() {
		if l.Name == name {
			return l.Safe
		}
	}
	panic("brand: unknown layout " + name)
}

// drawWide: mark, headline, button in one row.
func drawWide(dst *image.RGBA, c *Creative) {
	backdrop(dst, c)
	s := safeBox(dst, layoutSafe("wide"))
	side := s.Dy()
	mark(dst, image.Rect(s.Min.X, s.Min.Y, s.Min.X+side, s.Max.Y), c)
	bw := s.Dx() * 22 / 100
	bh := s.Dy() * 62 / 100
	by := s.Min.Y + (s.Dy()-bh)/2
	button(dst, image.Rect(s.Max.X-bw, by, s.Max.X, by+bh), c)
	gap := side / 4
	text(dst, image.Rect(s.Min.X+side+gap, s.Min.Y, s.Max.X-bw-gap, s.Max.Y), c.Headline, float64(s.Dy())*0.5, 2, left, c.Text)
}

// drawButton: mark and wordmark, nothing else survives 88x31.
func drawButton(dst *image.RGBA, c *Creative) {
	fill(dst, dst.Bounds(), c.Background)
	s := safeBox(dst, layoutSafe("button"))
	side := s.Dy()
	mark(dst, image.Rect(s.Min.X, s.Min.Y, s.Min.X+side, s.Max.Y), c)
	text(dst, image.Rect(s.Min.X+side+side/6, s.Min.Y, s.Max.X, s.Max.Y), c.Name, float64(s.Dy())*0.9, 1, center, c.Text)
}

// drawTall: mark and wordmark on top, the headline large in the middle, the button
// at the bottom. Serves both the skyscraper and the portrait class.
func drawTall(dst *image.RGBA, c *Creative) {
	backdrop(dst, c)
	name := "portrait"
	if dst.Bounds().Dy() > 2*dst.Bounds().Dx()+dst.Bounds().Dx()/2 {
		name = "skyscraper"
	}
	s := safeBox(dst, layoutSafe(name))
	w := s.Dx()
	side := w / 2
	if name == "portrait" {
		side = w / 3
	}
	mx := s.Min.X + (w-side)/2
	mark(dst, image.Rect(mx, s.Min.Y, mx+side, s.Min.Y+side), c)
	y := s.Min.Y + side + side/8
	nameH := side * 2 / 5
	text(dst, image.Rect(s.Min.X, y, s.Max.X, y+nameH), c.Name, float64(nameH), 1, center, c.Text)
	bh := w / 4
	if name == "skyscraper" {
		bh = w * 2 / 5
	}
	button(dst, image.Rect(s.Min.X, s.Max.Y-bh, s.Max.X, s.Max.Y), c)
	top := y + nameH + side/4
	bottom := s.Max.Y - bh - side/4
	text(dst, image.Rect(s.Min.X, top, s.Max.X, bottom), c.Headline, float64(w)*0.22, 6, center, c.Text)
}

// drawRect: mark and wordmark in a row, headline below, button at the bottom.
func drawRect(dst *image.RGBA, c *Creative) {
	backdrop(dst, c)
	s := safeBox(dst, layoutSafe("rectangle"))
	side := s.Dy() / 5
	mark(dst, image.Rect(s.Min.X, s.Min.Y, s.Min.X+side, s.Min.Y+side), c)
	text(dst, image.Rect(s.Min.X+side+side/4, s.Min.Y, s.Max.X, s.Min.Y+side), c.Name, float64(side)*0.8, 1, left, c.Text)
	bh := s.Dy() / 5
	bw := s.Dx() / 2
	button(dst, image.Rect(s.Min.X, s.Max.Y-bh, s.Min.X+bw, s.Max.Y), c)
	text(dst, image.Rect(s.Min.X, s.Min.Y+side+side/3, s.Max.X, s.Max.Y-bh-side/3), c.Headline, float64(s.Dy())*0.2, 3, left, c.Text)
}

// drawSquare: the mark large and the wordmark under it; 100x100 holds no sentence.
func drawSquare(dst *image.RGBA, c *Creative) {
	backdrop(dst, c)
	s := safeBox(dst, layoutSafe("square"))
	side := s.Dy() * 55 / 100
	mx := s.Min.X + (s.Dx()-side)/2
	mark(dst, image.Rect(mx, s.Min.Y, mx+side, s.Min.Y+side), c)
	text(dst, image.Rect(s.Min.X, s.Min.Y+side+s.Dy()/20, s.Max.X, s.Max.Y), c.Name, float64(s.Dy())*0.4, 1, center, c.Text)
}
