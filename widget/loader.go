package widget

import (
	"encoding/json"
	"hash/fnv"
	"strconv"

	"github.com/valyala/fasthttp"
)

// loaderVersion changes whenever the loader's code changes; it is part of every ETag.
const loaderVersion = "1"

// sandbox is the frame's sandbox: scripts for rotation and the view beacon, popups for
// the target=_blank links, and popups that escape the sandbox so the marketplace page
// opens as a normal page. No allow-same-origin, no allow-top-navigation.
const sandbox = "allow-scripts allow-popups allow-popups-to-escape-sandbox"

// buildLoader returns /w/{id}.js: it inserts the widget's sandboxed, lazily loaded
// iframe right after its own <script> element.
func buildLoader(frameURL string, w *Widget) []byte {
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) } // HTML-safe JS strings
	b := make([]byte, 0, 768)
	b = append(b, "/*refedge widget v"+loaderVersion+"*/(function(d){var s=d.currentScript,f=d.createElement(\"iframe\");f.src="...)
	b = append(b, q(frameURL)...)
	b = append(b, ";f.width="...)
	b = strconv.AppendInt(b, int64(w.w), 10)
	b = append(b, ";f.height="...)
	b = strconv.AppendInt(b, int64(w.h), 10)
	b = append(b, ";f.title="...)
	b = append(b, q(textsFor(w.Language).Title)...)
	b = append(b, ";f.loading=\"lazy\";f.setAttribute(\"sandbox\","...)
	b = append(b, q(sandbox)...)
	b = append(b, ");f.setAttribute(\"scrolling\",\"no\");f.style.cssText=\"border:0;overflow:hidden;max-width:100%;vertical-align:top\";"...)
	b = append(b, "if(!s||!s.parentNode){var a=d.querySelectorAll(\"script[src*='/w/"+w.ID+".js']\");s=a[a.length-1]}"...)
	b = append(b, "if(s&&s.parentNode)s.parentNode.insertBefore(f,s.nextSibling)})(document);\n"...)
	return b
}

// loaderETag names the loader's content: its code version and a hash of its bytes.
func loaderETag(loader []byte) string {
	h := fnv.New64a()
	h.Write(loader)
	return `"` + loaderVersion + "-" + strconv.FormatUint(h.Sum64(), 36) + `"`
}

// serveLoader answers /w/{id}.js. It is cacheable for a few minutes (edits show up
// within that) and revalidates cheaply with its ETag.
func (s *Service) serveLoader(ctx *fasthttp.RequestCtx, id string) {
	h := &ctx.Response.Header
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	r, err := s.resolve(bg, id)
	if err != nil {
		s.cfg.Log.Warn("widget loader: cannot read widget", "widget", id, "err", err)
		h.Set("Cache-Control", "no-store")
		ctx.SetContentType("text/javascript; charset=utf-8")
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		ctx.SetBodyString("/* refedge widget temporarily unavailable */\n")
		return
	}
	if !r.found {
		h.Set("Cache-Control", "public, max-age=60")
		ctx.SetContentType("text/javascript; charset=utf-8")
		ctx.SetStatusCode(fasthttp.StatusNotFound)
		ctx.SetBodyString("/* refedge widget not found */\n")
		return
	}
	h.Set("Cache-Control", "public, max-age=300, stale-while-revalidate=3600")
	h.Set("ETag", r.etag)
	if string(ctx.Request.Header.Peek("If-None-Match")) == r.etag {
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		return
	}
	ctx.SetContentType("text/javascript; charset=utf-8")
	ctx.SetBody(r.loader)
}
