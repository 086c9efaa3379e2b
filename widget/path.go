package widget

import (
	"bytes"
	"strconv"
)

// route is what a /w/ path asks for.
type route uint8

const (
	routeNone    route = iota
	routeLoader        // /w/{id}.js
	routeFrame         // /w/{id}
	routeView          // /w/{id}/view
	routeThumb         // /w/t/{kwork}/{W}x{H}.jpg
	routeBuilder       // /w/builder
	routePreview       // /w/preview
)

// target is a parsed /w/ path. id is a widget id, or a kwork id for thumbnails.
type target struct {
	route route
	id    string
	w, h  int
}

// parsePath reads a /w/ request path. Widget ids are exactly what newWidgetID makes;
// kwork ids are [0-9A-Za-z_-]{1,64}; thumbnail sides are multiples of 4 within
// thumbMin..thumbMax. Anything else is routeNone.
func parsePath(p []byte) target {
	rest, ok := bytes.CutPrefix(p, []byte("/w/"))
	if !ok {
		return target{}
	}
	switch string(rest) {
	case "builder":
		return target{route: routeBuilder}
	case "preview":
		return target{route: routePreview}
	}
	if t, ok := bytes.CutPrefix(rest, []byte("t/")); ok {
		return parseThumbPath(t)
	}
	if id, ok := bytes.CutSuffix(rest, []byte(".js")); ok {
		if validWidgetID(string(id)) {
			return target{route: routeLoader, id: string(id)}
		}
		return target{}
	}
	if id, ok := bytes.CutSuffix(rest, []byte("/view")); ok {
		if validWidgetID(string(id)) {
			return target{route: routeView, id: string(id)}
		}
		return target{}
	}
	if validWidgetID(string(rest)) {
		return target{route: routeFrame, id: string(rest)}
	}
	return target{}
}

// parseThumbPath reads "{kwork}/{W}x{H}.jpg".
func parseThumbPath(p []byte) target {
	i := bytes.IndexByte(p, '/')
	if i < 0 || !validKworkID(string(p[:i])) {
		return target{}
	}
	size, ok := bytes.CutSuffix(p[i+1:], []byte(".jpg"))
	if !ok {
		return target{}
	}
	ws, hs, ok := bytes.Cut(size, []byte("x"))
	if !ok || !digits(string(ws)) || !digits(string(hs)) {
		return target{}
	}
	w, _ := strconv.Atoi(string(ws))
	h, _ := strconv.Atoi(string(hs))
	if !thumbSide(w) || !thumbSide(h) {
		return target{}
	}
	return target{route: routeThumb, id: string(p[:i]), w: w, h: h}
}

func thumbSide(v int) bool { return v >= thumbMin && v <= thumbMax && v%thumbAlign == 0 }
