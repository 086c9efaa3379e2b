package widget

// layout is how a widget of a given size arranges its cards: pages of cols x rows
// cards, one page visible at a time, each card showing a thumbnail beside (wide) or
// above (tall) its text, or text only when tiny.
type layout struct {
	cols, rows     int
	cardW, cardH   int
	wide, tiny     bool
	thumbW, thumbH int // 0 when the card has no thumbnail
}

const (
	cardPad    = 6  // padding inside a card, px
	cardText   = 54 // height reserved for title, price and rating under a thumbnail
	thumbMin   = 16
	thumbMax   = 960
	thumbAlign = 4 // thumbnail sides are multiples of 4, so few distinct sizes exist
)

// computeLayout arranges up to cards cards in a w x h frame.
func computeLayout(w, h, cards int) layout {
	var l layout
	switch {
	case w >= 2*h: // leaderboards and banners: one row
		l.rows = 1
		l.cols = max(1, w/max(2*h, 200))
	case h >= 2*w: // skyscrapers: one column
		l.cols = 1
		l.rows = max(1, h/max(w*3/4+60, 140))
	default: // boxes: a grid of roughly 280x240 cards
		l.cols = max(1, w/280)
		l.rows = max(1, h/240)
	}
	for l.cols*l.rows > cards && (l.cols > 1 || l.rows > 1) {
		// Fewer cards than cells: shrink the grid along its longer side.
		if l.cols >= l.rows {
			l.cols--
		} else {
			l.rows--
		}
	}
	l.cardW, l.cardH = w/l.cols, h/l.rows
	l.wide = l.cardW*10 >= l.cardH*18
	l.tiny = l.cardH < 48 || l.cardW < 80
	switch {
	case l.tiny:
	case l.wide:
		th := l.cardH - 2*cardPad
		l.thumbH, l.thumbW = th, min(th*4/3, l.cardW/2)
	default:
		tw := l.cardW - 2*cardPad
		l.thumbW, l.thumbH = tw, min(tw*3/4, l.cardH-2*cardPad-cardText)
	}
	l.thumbW, l.thumbH = alignThumb(l.thumbW), alignThumb(l.thumbH)
	if l.thumbW == 0 || l.thumbH == 0 {
		l.thumbW, l.thumbH = 0, 0
	}
	return l
}

func alignThumb(v int) int {
	v -= v % thumbAlign
	if v < thumbMin {
		return 0
	}
	return min(v, thumbMax)
}
