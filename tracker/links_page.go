package tracker

// The link builder page at /partner/links: html/template, a script and a style sheet
// embedded from web/, a strict CSP whose only script allowance is the response's nonce.
// The page posts to POST /api/v1/links with a same-origin fetch; the partner API's CSRF
// check compares the request's Origin with refedge's public URL.

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/internal/partnerapi"
	"github.com/refedge/refedge/internal/webasset"
)

//go:embed web/links.html web/links.js web/links.css
var linksFS embed.FS

// LinksPagePath is the link builder page; its assets live under LinksPagePath + "/static/".
const LinksPagePath = "/partner/links"

type linksPage struct {
	tmpl   *template.Template
	assets *webasset.Set
}

func newLinksPage() (*linksPage, error) {
	t, err := template.ParseFS(linksFS, "web/links.html")
	if err != nil {
		return nil, err
	}
	p := &linksPage{tmpl: t}
	if p.assets, err = webasset.New(LinksPagePath+"/static/", 24*time.Hour,
		webasset.File{FS: linksFS, Path: "web/links.js"}, webasset.File{FS: linksFS, Path: "web/links.css"}); err != nil {
		return nil, err
	}
	return p, nil
}

// linksView is the page's template data.
type linksView struct {
	Nonce    string
	Partner  string
	Origin   string
	Script   string
	Style    string
	Networks []linksNetwork
	// Message replaces the form when the partner is not signed in.
	Message string
}

type linksNetwork struct{ ID, Label string }

// networkLabels are the networks' names as their users write them.
var networkLabels = map[string]string{"vk": "VK", "telegram": "Telegram", "whatsapp": "WhatsApp", "x": "X",
	"facebook": "Facebook", "email": "Email"}

// PartnerPages serves /partner/links and its assets and hands every other path to next
// (the dashboard); give the result to tracker.Routes.Dashboard.
func (l *Links) PartnerPages(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		path := string(ctx.Path())
		if path != LinksPagePath && !strings.HasPrefix(path, LinksPagePath+"/") {
			if next == nil {
				ctx.Error("not found", fasthttp.StatusNotFound)
				return
			}
			next(ctx)
			return
		}
		if !ctx.IsGet() && !ctx.IsHead() {
			ctx.Response.Header.Set("Allow", "GET, HEAD")
			ctx.Error("method not allowed", fasthttp.StatusMethodNotAllowed)
			return
		}
		switch {
		case path == LinksPagePath:
			l.servePage(ctx)
		case strings.HasPrefix(path, LinksPagePath+"/static/"):
			l.page.assets.ServeFast(ctx, path[len(LinksPagePath+"/static/"):])
		default:
			ctx.Error("not found", fasthttp.StatusNotFound)
		}
	}
}

func (l *Links) servePage(ctx *fasthttp.RequestCtx) {
	v := &linksView{Nonce: linksNonce(), Origin: l.market.String(),
		Script: l.page.assets.URL("links.js"), Style: l.page.assets.URL("links.css")}
	for _, n := range ShareNetworks {
		v.Networks = append(v.Networks, linksNetwork{ID: n, Label: networkLabels[n]})
	}
	code := fasthttp.StatusOK
	if l.cfg.Auth == nil {
		code, v.Message = fasthttp.StatusServiceUnavailable, "The link builder is not configured."
	} else if p, err := l.cfg.Auth.Authenticate(ctx); err == nil {
		v.Partner = p.PartnerID
	} else if errors.Is(err, partnerapi.ErrUnauthenticated) {
		code, v.Message = fasthttp.StatusUnauthorized, "Open the partner program page on the marketplace to sign in, then come back to this page."
	} else {
		l.log.Warn("link builder authentication failed", "err", err)
		code, v.Message = fasthttp.StatusServiceUnavailable, "Sign-in is temporarily unavailable. Try again in a minute."
	}
	var buf bytes.Buffer
	if err := l.page.tmpl.Execute(&buf, v); err != nil {
		l.log.Error("link builder template failed", "err", err)
		ctx.Error("internal error", fasthttp.StatusInternalServerError)
		return
	}
	h := &ctx.Response.Header
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+v.Nonce+"'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	h.Set("Vary", "Cookie, Authorization")
	ctx.SetContentType("text/html; charset=utf-8")
	ctx.SetStatusCode(code)
	ctx.SetBody(buf.Bytes())
}

func linksNonce() string {
	var b [18]byte
	_, _ = rand.Read(b[:])
	return base64.RawStdEncoding.EncodeToString(b[:])
}
