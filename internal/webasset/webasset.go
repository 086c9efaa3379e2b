// Package webasset serves the small static files (scripts, style sheets) embedded with
// refedge's HTML pages: loaded once from an embed.FS, addressed by a versioned URL
// (?v=<content hash>) and answered with a strong ETag, 304 on If-None-Match, nosniff.
// The partner dashboard, the link builder and the operator review all use it.
package webasset

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

type asset struct {
	body        []byte
	contentType string
	etag        string // quoted, 16 hex digits of SHA-256
}

// Set is a fixed set of assets served under one URL prefix.
type Set struct {
	prefix       string
	cacheControl string
	m            map[string]asset
}

var contentTypes = map[string]string{
	".js":  "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
}

// File names one asset: Name is served under the set's prefix, read from FS at Path.
type File struct {
	FS   fs.FS
	Path string
}

// New loads files, keyed by their base names, to be served under prefix (e.g.
// "/partner/static/"); maxAge is their Cache-Control max-age.
func New(prefix string, maxAge time.Duration, files ...File) (*Set, error) {
	s := &Set{prefix: prefix, m: make(map[string]asset, len(files)),
		cacheControl: "public, max-age=" + strconv.Itoa(int(maxAge/time.Second))}
	for _, f := range files {
		b, err := fs.ReadFile(f.FS, f.Path)
		if err != nil {
			return nil, err
		}
		ct, ok := contentTypes[path.Ext(f.Path)]
		if !ok {
			return nil, fmt.Errorf("webasset: no content type for %s", f.Path)
		}
		sum := sha256.Sum256(b)
		s.m[path.Base(f.Path)] = asset{body: b, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	}
	return s, nil
}

// URL returns the versioned URL of name; a changed file gets a new URL.
func (s *Set) URL(name string) string {
	return s.prefix + name + "?v=" + s.m[name].etag[1:17]
}

// ServeFast answers a fasthttp request for name.
func (s *Set) ServeFast(ctx *fasthttp.RequestCtx, name string) {
	a, ok := s.m[name]
	if !ok {
		ctx.Error("not found", fasthttp.StatusNotFound)
		return
	}
	ctx.Response.Header.Set("ETag", a.etag)
	ctx.Response.Header.Set("Cache-Control", s.cacheControl)
	ctx.Response.Header.Set("X-Content-Type-Options", "nosniff")
	if string(ctx.Request.Header.Peek("If-None-Match")) == a.etag {
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		return
	}
	ctx.SetContentType(a.contentType)
	ctx.SetBody(a.body)
}

// ServeHTTP answers a net/http request for name.
func (s *Set) ServeHTTP(w http.ResponseWriter, req *http.Request, name string) {
	a, ok := s.m[name]
	if !ok {
		http.NotFound(w, req)
		return
	}
	w.Header().Set("ETag", a.etag)
	w.Header().Set("Cache-Control", s.cacheControl)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if req.Header.Get("If-None-Match") == a.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", a.contentType)
	_, _ = w.Write(a.body)
}
