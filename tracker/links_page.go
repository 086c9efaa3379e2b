package tracker

// The link builder page at /partner/links: html/template in the partner app's frame
// (internal/partnerui) with the words of the request's language (internal/i18n), a
// script and a style sheet embedded from web/, a strict CSP whose only script allowance
// is the response's nonce.
// The page posts to POST /api/v1/links with a same-origin fetch; the partner API's CSRF
// check compares the request's Origin with refedge's public URL.

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/internal/partnerapi"
	"github.com/refedge/refedge/internal/partnerui"
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
	t, err := partnerui.Parse(linksFS, "web/links.html")
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
	UI       partnerui.UI
	Origin   string
	Script   string
	Style    string
	Networks []linksNetwork
	// Message replaces the form when the partner is not signed in.
	Message string
}

type linksNetwork struct{ ID, Label string }

// networkLabels are the networks' names as their users write them; the others are
// catalogue keys ("links.network.<id>").
var networkLabels = map[string]string{"vk": "VK", "telegram": "Telegram", "whatsapp": "WhatsApp", "x": "X",
	"facebook": "Facebook"}

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
	v := &linksView{Origin: l.market.String(), Script: l.page.assets.URL("links.js"), Style: l.page.assets.URL("links.css")}
	code := fasthttp.StatusOK
	partner, msgKey := "", ""
	if l.cfg.Auth == nil {
		code, msgKey = fasthttp.StatusServiceUnavailable, "links.not_configured"
	} else if p, err := l.cfg.Auth.Authenticate(ctx); err == nil {
		partner = p.PartnerID
	} else if errors.Is(err, partnerapi.ErrUnauthenticated) {
		code, msgKey = fasthttp.StatusUnauthorized, "common.signin_needed"
	} else {
		l.log.Warn("link builder authentication failed", "err", err)
		code, msgKey = fasthttp.StatusServiceUnavailable, "common.signin_unavailable"
	}
	v.UI = partnerui.New(ctx, partnerui.PageLinks, partner)
	if msgKey != "" {
		v.Message = v.UI.T(msgKey)
	}
	for _, n := range ShareNetworks {
		label, ok := networkLabels[n]
		if !ok {
			label = v.UI.T("links.network." + n)
		}
		v.Networks = append(v.Networks, linksNetwork{ID: n, Label: label})
	}
	var buf bytes.Buffer
	if err := l.page.tmpl.ExecuteTemplate(&buf, "links.html", v); err != nil {
		l.log.Error("link builder template failed", "err", err)
		ctx.Error("internal error", fasthttp.StatusInternalServerError)
		return
	}
	partnerui.SetHeaders(ctx, v.UI.Nonce, "", "")
	ctx.SetStatusCode(code)
	ctx.SetBody(buf.Bytes())
}
