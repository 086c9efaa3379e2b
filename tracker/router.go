package tracker

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// Routes are the handlers of refedge's own paths on the public listener. A nil handler
// answers 404.
type Routes struct {
	Widget    fasthttp.RequestHandler // /w/...
	Banners   fasthttp.RequestHandler // /b/...
	Beacon    fasthttp.RequestHandler // /v and /v.js
	API       fasthttp.RequestHandler // /api/v1/...
	Dashboard fasthttp.RequestHandler // /partner...
}

// Handler returns the public listener's handler: refedge's own paths first, then any
// request carrying ref= is a click, and anything else is sent to the origin unchanged.
func (e *Edge) Handler(r Routes) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		p := ctx.Path()
		switch {
		case bytes.HasPrefix(p, []byte("/w/")):
			serve(ctx, r.Widget)
		case bytes.HasPrefix(p, []byte("/b/")):
			serve(ctx, r.Banners)
		case string(p) == "/v" || string(p) == "/v.js":
			serve(ctx, r.Beacon)
		case bytes.HasPrefix(p, []byte("/api/v1/")):
			serve(ctx, r.API)
		case string(p) == "/partner" || bytes.HasPrefix(p, []byte("/partner/")):
			serve(ctx, r.Dashboard)
		case ctx.QueryArgs().Has("ref"):
			e.HandleClick(ctx)
		default:
			e.HandlePassThrough(ctx)
		}
	}
}

func serve(ctx *fasthttp.RequestCtx, h fasthttp.RequestHandler) {
	if h == nil {
		ctx.Error("not found", fasthttp.StatusNotFound)
		return
	}
	h(ctx)
}
