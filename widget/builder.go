package widget

import (
	"errors"
	"html/template"
	"net/url"

	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/internal/partnerapi"
)

var builderTmpl = template.Must(template.ParseFS(templateFS, "templates/builder.html"))

type builderView struct {
	Nonce, Partner         string
	Categories             []CategoryCount
	Sizes                  []string
	Widgets                []Widget
	MinW, MaxW, MinH, MaxH int
}

const loginNeeded = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign in — refedge</title></head>
<body><main><h1>Please sign in</h1><p>The widget builder is for partners. Open the login link from the partner program page of the marketplace: it signs you in and brings you back here.</p></main></body></html>
`

// serveBuilder answers /w/builder, the partner's widget builder (session cookie).
func (s *Service) serveBuilder(ctx *fasthttp.RequestCtx) {
	h := &ctx.Response.Header
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	ctx.SetContentType("text/html; charset=utf-8")
	p, err := s.cfg.Auth.Authenticate(ctx)
	if err != nil {
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		if errors.Is(err, partnerapi.ErrUnauthenticated) {
			ctx.SetStatusCode(fasthttp.StatusUnauthorized)
			ctx.SetBodyString(loginNeeded)
			return
		}
		s.cfg.Log.Warn("widget builder: authentication failed", "err", err)
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		ctx.SetBodyString("<!doctype html><title>Unavailable</title><p>The builder is temporarily unavailable. Please try again in a minute.</p>\n")
		return
	}
	v := builderView{Partner: p.PartnerID, Sizes: ProgramSizes,
		MinW: s.cfg.Sizes.MinWidth, MaxW: s.cfg.Sizes.MaxWidth, MinH: s.cfg.Sizes.MinHeight, MaxH: s.cfg.Sizes.MaxHeight}
	_, v.Nonce = newIDs()
	if v.Categories, err = s.catalog.Categories(ctx); err == nil {
		v.Widgets, err = s.store.List(ctx, p.PartnerID)
	}
	if err != nil {
		s.cfg.Log.Warn("widget builder: cannot read catalog or widgets", "partner", p.PartnerID, "err", err)
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		ctx.SetBodyString("<!doctype html><title>Unavailable</title><p>The builder is temporarily unavailable. Please try again in a minute.</p>\n")
		return
	}
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+v.Nonce+"'; style-src 'nonce-"+v.Nonce+
		"'; img-src 'self'; connect-src 'self'; frame-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	if err := builderTmpl.Execute(ctx, &v); err != nil {
		s.cfg.Log.Error("widget builder: template failed", "err", err)
	}
}

// servePreview answers /w/preview?{spec}: the builder's live preview, rendered for the
// signed-in partner from an unsaved spec. Its links carry no ref and it sends no view
// beacon, so previewing never counts as traffic.
func (s *Service) servePreview(ctx *fasthttp.RequestCtx) {
	p, err := s.cfg.Auth.Authenticate(ctx)
	if err != nil {
		s.serveEmpty(ctx, fasthttp.StatusUnauthorized, "en", "Sign in to preview widgets.", "'self'")
		return
	}
	q, _ := url.ParseQuery(string(ctx.QueryArgs().QueryString()))
	spec, err := specFromQuery(q, s.limits())
	if err != nil {
		s.serveEmpty(ctx, fasthttp.StatusOK, "en", err.Error(), "'self'")
		return
	}
	r := &resolved{found: true, partnerActive: true}
	s.prepare(r, Widget{ID: "preview", PartnerID: p.PartnerID, Spec: spec})
	v := acquireView()
	defer releaseView(v)
	if v.pick, err = s.pick(bg, v.pick[:0], &r.w); err != nil {
		s.serveEmpty(ctx, fasthttp.StatusServiceUnavailable, "en", textsFor(spec.Language).Empty, "'self'")
		return
	}
	s.fill(v, r, v.pick, frameOptions{preview: true})
	setFrameHeaders(ctx, v.Nonce, "'self'")
	_ = frameTmpl.Execute(ctx, v)
}
