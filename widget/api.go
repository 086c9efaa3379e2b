package widget

import (
	"errors"
	"html"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/internal/partnerapi"
)

// widgetJSON is a widget as the partner API returns it.
type widgetJSON struct {
	Widget
	EmbedScript string `json:"embed_script"`
	EmbedIframe string `json:"embed_iframe"`
	PreviewURL  string `json:"preview_url"`
}

func (s *Service) describe(w Widget) widgetJSON {
	return widgetJSON{Widget: w, EmbedScript: s.embedScript(w.ID), EmbedIframe: s.embedIframe(&w),
		PreviewURL: s.publicURL + "/w/" + w.ID}
}

// embedScript is the recommended embed code: the loader inserts the frame.
func (s *Service) embedScript(id string) string {
	return `<script async src="` + html.EscapeString(s.publicURL+"/w/"+id+".js") + `"></script>`
}

// embedIframe is the embed code for sites that cannot run scripts: the same frame,
// rotation and view counting off without JS, a static set of cards instead.
func (s *Service) embedIframe(w *Widget) string {
	var b strings.Builder
	b.WriteString(`<iframe src="`)
	b.WriteString(html.EscapeString(s.publicURL + "/w/" + w.ID))
	b.WriteString(`" width="`)
	b.WriteString(strings.Split(w.Size, "x")[0])
	b.WriteString(`" height="`)
	b.WriteString(strings.Split(w.Size, "x")[1])
	b.WriteString(`" title="`)
	b.WriteString(html.EscapeString(textsFor(w.Language).Title))
	b.WriteString(`" loading="lazy" sandbox="` + sandbox + `" scrolling="no" style="border:0;overflow:hidden;max-width:100%"></iframe>`)
	return b.String()
}

// RegisterAPI adds the widget endpoints to the partner API router. Every handler acts
// on the authenticated partner's widgets only; another partner's id is a 404.
//
//	POST   /api/v1/widgets        create -> {id, ..., embed_script, embed_iframe}
//	GET    /api/v1/widgets        list   -> {widgets: [...]}
//	GET    /api/v1/widgets/{id}
//	PUT    /api/v1/widgets/{id}   replace the spec
//	DELETE /api/v1/widgets/{id}
func (s *Service) RegisterAPI(r *partnerapi.Router) {
	r.Handle(fasthttp.MethodPost, "/api/v1/widgets", s.apiCreate)
	r.Handle(fasthttp.MethodGet, "/api/v1/widgets", s.apiList)
	r.Handle(fasthttp.MethodGet, "/api/v1/widgets/", s.apiGet)
	r.Handle(fasthttp.MethodPut, "/api/v1/widgets/", s.apiUpdate)
	r.Handle(fasthttp.MethodDelete, "/api/v1/widgets/", s.apiDelete)
}

func (s *Service) apiCreate(ctx *fasthttp.RequestCtx, p partnerapi.Principal) {
	spec, err := parseSpec(ctx.PostBody(), s.limits())
	if err != nil {
		specRefused(ctx, err)
		return
	}
	w, err := s.store.Create(ctx, p.PartnerID, spec, s.cfg.MaxWidgetsPerPartner)
	switch {
	case errors.Is(err, ErrTooManyWidgets):
		partnerapi.Error(ctx, fasthttp.StatusConflict, "widget limit reached; delete one first")
		return
	case err != nil:
		s.cfg.Log.Warn("widget API: cannot create", "partner", p.PartnerID, "err", err)
		partnerapi.Error(ctx, fasthttp.StatusServiceUnavailable, "cannot store the widget now; try again")
		return
	}
	ctx.Response.Header.Set("Location", "/api/v1/widgets/"+w.ID)
	partnerapi.WriteJSON(ctx, fasthttp.StatusCreated, s.describe(w))
}

func (s *Service) apiList(ctx *fasthttp.RequestCtx, p partnerapi.Principal) {
	ws, err := s.store.List(ctx, p.PartnerID)
	if err != nil {
		s.cfg.Log.Warn("widget API: cannot list", "partner", p.PartnerID, "err", err)
		partnerapi.Error(ctx, fasthttp.StatusServiceUnavailable, "cannot read widgets now; try again")
		return
	}
	out := make([]widgetJSON, len(ws))
	for i, w := range ws {
		out[i] = s.describe(w)
	}
	partnerapi.WriteJSON(ctx, fasthttp.StatusOK, map[string]any{"widgets": out})
}

// apiID returns the {id} of /api/v1/widgets/{id}, or "" after answering 404.
func apiID(ctx *fasthttp.RequestCtx) string {
	id := strings.TrimPrefix(string(ctx.Path()), "/api/v1/widgets/")
	if !validWidgetID(id) {
		partnerapi.Error(ctx, fasthttp.StatusNotFound, "widget not found")
		return ""
	}
	return id
}

// specRefused answers 400 for a refused spec: the English text in "error", as every API
// error, and each problem's catalogue key and arguments in "problems", which the builder
// gives in its reader's language.
func specRefused(ctx *fasthttp.RequestCtx, err error) {
	type problem struct {
		Key  string         `json:"key"`
		Args map[string]any `json:"args,omitempty"`
	}
	ps := SpecProblems(err)
	out := make([]problem, len(ps))
	for i, p := range ps {
		out[i] = problem{Key: p.Key, Args: p.Args}
	}
	ctx.Response.Header.Set("Cache-Control", "no-store")
	partnerapi.WriteJSON(ctx, fasthttp.StatusBadRequest, map[string]any{"error": err.Error(), "problems": out})
}

func (s *Service) apiError(ctx *fasthttp.RequestCtx, p partnerapi.Principal, err error) {
	if errors.Is(err, ErrWidgetNotFound) {
		partnerapi.Error(ctx, fasthttp.StatusNotFound, "widget not found")
		return
	}
	s.cfg.Log.Warn("widget API: store failed", "partner", p.PartnerID, "err", err)
	partnerapi.Error(ctx, fasthttp.StatusServiceUnavailable, "cannot reach the widget store now; try again")
}

func (s *Service) apiGet(ctx *fasthttp.RequestCtx, p partnerapi.Principal) {
	id := apiID(ctx)
	if id == "" {
		return
	}
	w, err := s.store.GetFor(ctx, p.PartnerID, id)
	if err != nil {
		s.apiError(ctx, p, err)
		return
	}
	partnerapi.WriteJSON(ctx, fasthttp.StatusOK, s.describe(w))
}

func (s *Service) apiUpdate(ctx *fasthttp.RequestCtx, p partnerapi.Principal) {
	id := apiID(ctx)
	if id == "" {
		return
	}
	spec, err := parseSpec(ctx.PostBody(), s.limits())
	if err != nil {
		specRefused(ctx, err)
		return
	}
	w, err := s.store.Update(ctx, p.PartnerID, id, spec)
	if err != nil {
		s.apiError(ctx, p, err)
		return
	}
	s.cache.drop(id)
	partnerapi.WriteJSON(ctx, fasthttp.StatusOK, s.describe(w))
}

func (s *Service) apiDelete(ctx *fasthttp.RequestCtx, p partnerapi.Principal) {
	id := apiID(ctx)
	if id == "" {
		return
	}
	if err := s.store.Delete(ctx, p.PartnerID, id); err != nil {
		s.apiError(ctx, p, err)
		return
	}
	s.cache.drop(id)
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}
