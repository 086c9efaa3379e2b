package banners

import (
	"github.com/valyala/fasthttp"
)

// Header names and values, built once: the serving path only copies bytes.
var (
	hdrETag         = []byte("Etag") // fasthttp's normalised form, so Peek("ETag") finds it
	hdrCacheControl = []byte("Cache-Control")
	hdrNosniff      = []byte("X-Content-Type-Options")
	hdrCORP         = []byte("Cross-Origin-Resource-Policy")
	hdrIfNoneMatch  = []byte("If-None-Match")
	hdrAllow        = []byte("Allow")
	valNosniff      = []byte("nosniff")
	valCrossOrigin  = []byte("cross-origin")
	valImageJPEG    = []byte("image/jpeg")
	valTextPlain    = []byte("text/plain; charset=utf-8")
	valNoStore      = []byte("no-store")
	valShortRetry   = []byte("public, max-age=60")
	valGetHead      = []byte("GET, HEAD")
	argV            = []byte("v")
	argRef          = []byte("ref")
	bodyNotFound    = []byte("not found\n")
	bodyUnavailable = []byte("banner temporarily unavailable\n")
	bodyMethod      = []byte("method not allowed\n")
)

// ServeHTTP handles every /b/ path on the public listener (tracker.Routes.Banners):
// GET /b/{creative}/{W}x{H}.jpg and GET /b/materials.
//
// A banner is served from memory with precomputed headers and does not allocate.
// Caching: with the creative's current ?v= the URL is immutable for a year; without it
// (or with an old v) it may be cached for UnversionedMaxAge. A load with ?ref= counts
// an impression, so it is private (no shared cache may answer for refedge and swallow
// the count) and cached by the browser only for the dedup window. The impression is
// handed off without waiting; the image never waits on it.
func (s *Service) ServeHTTP(ctx *fasthttp.RequestCtx) {
	if !ctx.IsGet() && !ctx.IsHead() {
		ctx.Response.Header.SetCanonical(hdrAllow, valGetHead)
		plain(ctx, fasthttp.StatusMethodNotAllowed, bodyMethod)
		return
	}
	path := ctx.Path()
	cr, si, ok := parsePath(path)
	if !ok {
		if string(path) == "/b/materials" {
			s.serveMaterials(ctx)
			return
		}
		s.notFound(ctx)
		return
	}
	e := s.snap.Load().byID[string(cr)]
	if e == nil {
		s.notFound(ctx)
		return
	}
	r := e.out[si].Load()
	if r == nil {
		var err error
		if r, err = s.banner(e, si); err != nil {
			servedError.Inc()
			s.log.Error("cannot render banner", "creative", e.c.ID, "size", Sizes[si].String(), "err", err)
			ctx.Response.Header.Set("Retry-After", "60")
			plain(ctx, fasthttp.StatusServiceUnavailable, bodyUnavailable)
			return
		}
	}
	args := ctx.QueryArgs()
	ref := args.PeekBytes(argRef)
	h := &ctx.Response.Header
	switch {
	case len(ref) > 0:
		h.SetCanonical(hdrCacheControl, s.ccRef)
	case string(args.PeekBytes(argV)) == e.version:
		h.SetCanonical(hdrCacheControl, s.ccImmutable)
	default:
		h.SetCanonical(hdrCacheControl, s.ccShort)
	}
	h.SetCanonical(hdrETag, r.etag)
	h.SetCanonical(hdrNosniff, valNosniff)
	h.SetCanonical(hdrCORP, valCrossOrigin)
	if inm := ctx.Request.Header.PeekBytes(hdrIfNoneMatch); len(inm) > 0 && etagMatch(inm, r.etag) {
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		servedNotModified.Inc()
	} else {
		h.SetContentTypeBytes(valImageJPEG)
		ctx.Response.SetBodyRaw(r.body)
		servedOK.Inc()
	}
	if len(ref) > 0 && s.imp != nil {
		s.imp.take(ctx, ref, e, si)
	}
}

func (s *Service) notFound(ctx *fasthttp.RequestCtx) {
	servedNotFound.Inc()
	ctx.Response.Header.SetCanonical(hdrCacheControl, valShortRetry)
	plain(ctx, fasthttp.StatusNotFound, bodyNotFound)
}

func plain(ctx *fasthttp.RequestCtx, code int, body []byte) {
	ctx.Response.Header.SetContentTypeBytes(valTextPlain)
	ctx.Response.Header.SetCanonical(hdrNosniff, valNosniff)
	ctx.SetStatusCode(code)
	ctx.Response.SetBodyRaw(body)
}
