package banners

// window is a rectangle in master pixel coordinates; it may extend past the master's
// edges, where the banner is padded.
type window struct{ x0, y0, x1, y1 float64 }

// place chooses the part of a mw x mh master that becomes a banner of aspect w/h.
//
// Fill first: the largest window of the banner's aspect inside the master, centred on
// the focal point as far as the edges allow. When that window can hold the safe
// rectangle, it is moved just enough to contain it, and the banner is a pure crop.
// Otherwise the banner's aspect is too far from the master's to crop without losing
// the message, and the window becomes the smallest one of the banner's aspect that
// contains the safe rectangle; what lies beyond the master's edges is padding.
func place(mw, mh float64, f *Frame, aspect float64) window {
	sx0, sy0, sx1, sy1 := f.Safe[0]*mw, f.Safe[1]*mh, f.Safe[2]*mw, f.Safe[3]*mh
	fx, fy := f.Focal[0]*mw, f.Focal[1]*mh
	w, h := mw, mw/aspect
	if h > mh {
		w, h = mh*aspect, mh
	}
	if w < sx1-sx0 || h < sy1-sy0 {
		// Cannot crop: the window grows to the safe rectangle along its tighter axis.
		sw, sh := sx1-sx0, sy1-sy0
		if sw/sh > aspect {
			w, h = sw, sw/aspect
		} else {
			w, h = sh*aspect, sh
		}
	}
	x := axis(mw, w, fx, sx0, sx1)
	y := axis(mh, h, fy, sy0, sy1)
	return window{x, y, x + w, y + h}
}

// axis positions a window of length win along a master of length total: centred on
// focal, but containing [s0, s1] and, when it fits, inside [0, total]. A window longer
// than the master is centred on it, padding both sides equally.
func axis(total, win, focal, s0, s1 float64) float64 {
	if win > total {
		return (total - win) / 2
	}
	lo, hi := max(s1-win, 0), min(s0, total-win)
	return min(max(focal-win/2, lo), hi)
}
