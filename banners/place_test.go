package banners

import (
	"math"
	"testing"
)

func TestPlace(t *testing.T) {
	f := func(mw, mh float64, fr Frame, aspect float64, want window) {
		t.Helper()
		got := place(mw, mh, &fr, aspect)
		const eps = 1e-6
		if math.Abs(got.x0-want.x0) > eps || math.Abs(got.y0-want.y0) > eps || math.Abs(got.x1-want.x1) > eps || math.Abs(got.y1-want.y1) > eps {
			t.Fatalf("place(%v x %v, %+v, %v) = %+v, want %+v", mw, mh, fr, aspect, got, want)
		}
	}
	centre := Frame{Focal: [2]float64{0.5, 0.5}, Safe: [4]float64{0.25, 0.25, 0.75, 0.75}}
	// Same aspect: the whole master.
	f(1000, 1000, centre, 1, window{0, 0, 1000, 1000})
	// Wider banner: crop top and bottom around the centre; the safe box still fits.
	f(1000, 1000, centre, 2, window{0, 250, 1000, 750})
	// Taller banner: crop the sides.
	f(1000, 1000, centre, 0.5, window{250, 0, 750, 1000})
	// Focal point near an edge: the window stops at the edge.
	left := Frame{Focal: [2]float64{0.1, 0.5}, Safe: [4]float64{0, 0.4, 0.2, 0.6}}
	f(1000, 1000, left, 2, window{0, 250, 1000, 750})
	f(1000, 1000, left, 0.5, window{0, 0, 500, 1000})
	// The focal point would cut the safe box: the window moves to contain it.
	off := Frame{Focal: [2]float64{0.1, 0.5}, Safe: [4]float64{0.2, 0.25, 0.7, 0.75}}
	f(1000, 1000, off, 0.5, window{200, 0, 700, 1000})
	// Too wide to crop without cutting the safe box: the smallest window of the
	// banner's aspect that contains it, the master centred and padded on both sides.
	wide := Frame{Focal: [2]float64{0.5, 0.5}, Safe: [4]float64{0.05, 0.05, 0.95, 0.95}}
	f(1000, 1000, wide, 8, window{-3100, 50, 4100, 950})
	f(400, 1000, wide, 8, window{-3400, 50, 3800, 950})
	f(1000, 100, wide, 0.2, window{50, -2200, 950, 2300})
	// A narrow safe box on a wide master: cropped sideways to it, padded above and below.
	f(1000, 100, Frame{Focal: [2]float64{0.5, 0.5}, Safe: [4]float64{0.4, 0.05, 0.6, 0.95}}, 0.2, window{400, -450, 600, 550})
	// Within the default 5% margin a crop is enough: 728x90 (8.09) from an 8:1 master.
	f(1600, 200, wide, 728.0/90, window{0, 100 - 1600*90/728.0/2, 1600, 100 + 1600*90/728.0/2})
}

func TestPickMaster(t *testing.T) {
	ms := []*Master{{Name: "wide", W: 800, H: 100}, {Name: "tall", W: 100, H: 500}, {Name: "square", W: 500, H: 500}, {Name: "square-small", W: 100, H: 100}}
	pick := pickMaster(ms)
	f := func(s Size, want string) {
		t.Helper()
		if got := ms[pick[sizeIndex(s.W, s.H)]].Name; got != want {
			t.Fatalf("size %v: master %s, want %s", s, got, want)
		}
	}
	f(Size{728, 90}, "wide")
	f(Size{468, 60}, "wide")
	f(Size{120, 600}, "tall")
	f(Size{160, 600}, "tall")
	f(Size{300, 250}, "square")
	f(Size{100, 100}, "square") // tie on aspect: the larger master
	f(Size{240, 400}, "square") // log distance: 0.51 to square, 1.1 to tall
}
