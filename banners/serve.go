package banners

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// Header names and values, built once: the serving path only copies bytes.
var (
	hdrETag         = []byte("Etag") // fasthttp's normalised form, so Peek("ETag") finds it
	hdrCacheControl = []byte("Cache-Control")
	hdrNosniff      = []byte("X-Content-Type-Options")
	hdrCORP         = []byte("Cross-Origin-Resource-Policy")
	hdrIfNoneMatch  = []byte("If-None-Match") // canonical: looked up without normalising
	hdrAllow        = []byte("Allow")
	valNosniff      = []byte("nosniff")
	valCrossOrigin  = []byte("cross-origin")
	valImageJPEG    = []byte("image/jpeg")
	valTextPlain    = []byte("text/plain; charset=utf-8")
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
	path, query, raw := splitRequestURI(ctx)
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
	var ref, v []byte
	if raw {
		ref, v = queryArg(query, "ref"), queryArg(query, "v")
	} else {
		ref, v = ctx.QueryArgs().PeekBytes(argRef), ctx.QueryArgs().PeekBytes(argV)
	}
	h := &ctx.Response.Header
	switch {
	case len(ref) > 0:
		h.SetCanonical(hdrCacheControl, s.ccRef)
	case string(v) == e.version:
		h.SetCanonical(hdrCacheControl, s.ccImmutable)
	default:
		h.SetCanonical(hdrCacheControl, s.ccShort)
	}
	h.SetCanonical(hdrETag, r.etag)
	h.SetCanonical(hdrNosniff, valNosniff)
	h.SetCanonical(hdrCORP, valCrossOrigin)
	if inm := ctx.Request.Header.PeekCanonical(hdrIfNoneMatch); len(inm) > 0 && etagMatch(inm, r.etag) {
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

// splitRequestURI returns the path and query of the request. An origin-form request
// line ("/b/...?...", what browsers and proxies send) is split as it came, without
// fasthttp's URI parsing and normalisation: banner URLs have one canonical spelling
// and anything else is a 404. Other forms fall back to the parsed URI (raw == false).
func splitRequestURI(ctx *fasthttp.RequestCtx) (path, query []byte, raw bool) {
	uri := ctx.Request.Header.RequestURI()
	if len(uri) == 0 || uri[0] != '/' {
		return ctx.Path(), ctx.URI().QueryString(), false
	}
	for i, c := range uri {
		if c == '?' {
			return uri[:i], uri[i+1:], true
		}
	}
	return uri, nil, true
}

// queryArg returns the raw value of the first name= in an undecoded query. Banner
// parameters are plain tokens (version hashes, partner ids), so a percent-encoded
// value simply does not match.
func queryArg(query []byte, name string) []byte {
	for len(query) > 0 {
		pair := query
		if i := bytes.IndexByte(query, '&'); i >= 0 {
			pair, query = query[:i], query[i+1:]
		} else {
			query = nil
		}
		if len(pair) > len(name) && pair[len(name)] == '=' && string(pair[:len(name)]) == name {
			return pair[len(name)+1:]
		}
	}
	return nil
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
