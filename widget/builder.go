package widget

import (
	"errors"
	"net/url"

	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/internal/i18n"
	"github.com/refedge/refedge/internal/partnerapi"
	"github.com/refedge/refedge/internal/partnerui"
)

// The builder is a partner app page: the shared frame (internal/partnerui) and the
// words of the request's language.
var builderTmpl = partnerui.MustParse(templateFS, "templates/builder.html")

type builderView struct {
	UI partnerui.UI
	// Message replaces the builder when it cannot be shown (signed out, unavailable).
	Message                string
	Categories             []CategoryCount
	Sizes                  []string
	Widgets                []Widget
	MinW, MaxW, MinH, MaxH int
}

// serveBuilder answers /w/builder, the partner's widget builder (session cookie).
func (s *Service) serveBuilder(ctx *fasthttp.RequestCtx) {
	p, err := s.cfg.Auth.Authenticate(ctx)
	if err != nil {
		v := builderView{UI: partnerui.New(ctx, partnerui.PageWidgets, "")}
		if errors.Is(err, partnerapi.ErrUnauthenticated) {
			v.Message = v.UI.T("builder.signin")
			s.renderBuilder(ctx, fasthttp.StatusUnauthorized, &v)
			return
		}
		s.cfg.Log.Warn("widget builder: authentication failed", "err", err)
		v.Message = v.UI.T("builder.unavailable")
		s.renderBuilder(ctx, fasthttp.StatusServiceUnavailable, &v)
		return
	}
	v := builderView{UI: partnerui.New(ctx, partnerui.PageWidgets, p.PartnerID), Sizes: ProgramSizes,
		MinW: s.cfg.Sizes.MinWidth, MaxW: s.cfg.Sizes.MaxWidth, MinH: s.cfg.Sizes.MinHeight, MaxH: s.cfg.Sizes.MaxHeight}
	if v.Categories, err = s.catalog.Categories(ctx); err == nil {
		v.Widgets, err = s.store.List(ctx, p.PartnerID)
	}
	if err != nil {
		s.cfg.Log.Warn("widget builder: cannot read catalog or widgets", "partner", p.PartnerID, "err", err)
		v = builderView{UI: v.UI, Message: v.UI.T("builder.unavailable")}
		s.renderBuilder(ctx, fasthttp.StatusServiceUnavailable, &v)
		return
	}
	s.renderBuilder(ctx, fasthttp.StatusOK, &v)
}

func (s *Service) renderBuilder(ctx *fasthttp.RequestCtx, code int, v *builderView) {
	partnerui.SetHeaders(ctx, v.UI.Nonce, "'nonce-"+v.UI.Nonce+"'", "")
	ctx.SetStatusCode(code)
	if err := builderTmpl.ExecuteTemplate(ctx, "builder.html", v); err != nil {
		s.cfg.Log.Error("widget builder: template failed", "err", err)
	}
}

// servePreview answers /w/preview?{spec}: the builder's live preview, rendered for the
// signed-in partner from an unsaved spec. Its links carry no ref and it sends no view
// beacon, so previewing never counts as traffic.
func (s *Service) servePreview(ctx *fasthttp.RequestCtx) {
	// The builder's own messages are in the partner's language (the widget's texts in
	// the widget's).
	c := i18n.FromRequest(ctx)
	p, err := s.cfg.Auth.Authenticate(ctx)
	if err != nil {
		s.serveEmpty(ctx, fasthttp.StatusUnauthorized, c.Lang(), c.T("builder.preview_signin"), "'self'")
		return
	}
	q, _ := url.ParseQuery(string(ctx.QueryArgs().QueryString()))
	spec, err := specFromQuery(q, s.limits())
	if err != nil {
		s.serveEmpty(ctx, fasthttp.StatusOK, c.Lang(), c.T("builder.preview_invalid"), "'self'")
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
