package banners

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"
	"strings"
)

// Frame tells the renderer what must stay visible when a master is cut to a size.
// Coordinates are fractions of the master's width and height.
type Frame struct {
	// Focal is the point each size is centred on as far as Safe and the master's edges
	// allow. Default (0.5, 0.5).
	Focal [2]float64 `json:"focal"`
	// Safe is the rectangle (x0, y0, x1, y1) holding the message: no size crops into
	// it; where a size's aspect cannot hold it uncropped, the size is padded with
	// Background instead. Default: the master inset by 5% on each side.
	Safe [4]float64 `json:"safe"`
	// Background pads sizes that cannot be filled, "#rrggbb". Default: the average
	// colour of the master's outermost pixels.
	Background string `json:"background,omitempty"`
}

// DefaultFrame is the frame of a master uploaded without one.
func DefaultFrame() Frame {
	return Frame{Focal: [2]float64{0.5, 0.5}, Safe: [4]float64{0.05, 0.05, 0.95, 0.95}}
}

// Validate reports a frame outside the unit square, an empty safe rectangle or a bad
// colour.
func (f *Frame) Validate() error {
	var errs []error
	in := func(v float64) bool { return v >= 0 && v <= 1 && !math.IsNaN(v) }
	if !in(f.Focal[0]) || !in(f.Focal[1]) {
		errs = append(errs, fmt.Errorf("focal point %v: want fractions in [0, 1]", f.Focal))
	}
	s := f.Safe
	if !in(s[0]) || !in(s[1]) || !in(s[2]) || !in(s[3]) || s[0] >= s[2] || s[1] >= s[3] {
		errs = append(errs, fmt.Errorf("safe rectangle %v: want x0 < x1 and y0 < y1, fractions in [0, 1]", f.Safe))
	}
	if f.Background != "" {
		if _, err := parseColor(f.Background); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func parseColor(s string) (color.RGBA, error) {
	var c color.RGBA
	b, err := hex.DecodeString(strings.TrimPrefix(s, "#"))
	if err != nil || len(b) != 3 || !strings.HasPrefix(s, "#") {
		return c, fmt.Errorf("background %q: want #rrggbb", s)
	}
	return color.RGBA{b[0], b[1], b[2], 0xff}, nil
}

// Master is one piece of artwork of a creative. A creative may have several, drawn for
// different aspect ratios; each size is rendered from the one closest to its own.
type Master struct {
	// Name tells masters of a creative apart ("master", "wide", "tall").
	Name string
	// W and H are the master's dimensions.
	W, H int
	Frame
	// Hash identifies the master's pixels: a hash of its file, or of its generator's
	// inputs.
	Hash [32]byte
	// open returns the decoded artwork; called only when a size must be rendered.
	open func() (image.Image, error)
}

// Creative is a campaign's artwork: one banner per program size.
type Creative struct {
	// ID names the creative in URLs: [a-z0-9_-]{1,48}.
	ID string
	// Alt is the alternative text of its images in embed codes.
	Alt string
	// Masters are its artwork, at least one.
	Masters []*Master
	// Origin says where it came from: "builtin", "folder" or "upload".
	Origin string
}

// renderVersion changes whenever rendering changes, so disk caches of old output expire.
const renderVersion = "render-1"

// version returns the creative's version: a hash of everything that decides its
// pixels (masters, frames, quality, sharpening and the renderer itself).
func (c *Creative) version(quality int, sharpen float64) string {
	h := sha256.New()
	var b [8]byte
	put := func(v uint64) { binary.LittleEndian.PutUint64(b[:], v); h.Write(b[:]) }
	h.Write([]byte(renderVersion))
	put(uint64(quality))
	put(math.Float64bits(sharpen))
	for _, m := range c.Masters {
		h.Write([]byte(m.Name))
		h.Write([]byte{0})
		h.Write(m.Hash[:])
		for _, v := range m.Focal {
			put(math.Float64bits(v))
		}
		for _, v := range m.Safe {
			put(math.Float64bits(v))
		}
		h.Write([]byte(m.Background))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:6])
}

// pickMaster returns, for each size, the index of the master closest to it in aspect
// ratio (log scale, so 2:1 and 1:2 are equally far from 1:1); ties go to the larger.
func pickMaster(ms []*Master) (out [numSizes]int) {
	for si, s := range Sizes {
		want := math.Log(float64(s.W) / float64(s.H))
		best, bestD := 0, math.Inf(1)
		for i, m := range ms {
			d := math.Abs(math.Log(float64(m.W)/float64(m.H)) - want)
			if d < bestD-1e-9 || math.Abs(d-bestD) <= 1e-9 && m.W*m.H > ms[best].W*ms[best].H {
				best, bestD = i, d
			}
		}
		out[si] = best
	}
	return out
}
