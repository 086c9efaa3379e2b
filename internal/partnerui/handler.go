package partnerui

import (
	"bytes"
	"context"
	"errors"
	"html/template"
	"log/slog"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/internal/i18n"
	"github.com/refedge/refedge/internal/partnerapi"
)

// MaxTokens is how many unrevoked API tokens a partner may hold at once.
const MaxTokens = 10

// Handler serves the shared assets, the language switch and the API tokens page, and
// hands every other path to next (the other /partner pages).
type Handler struct {
	auth   *partnerapi.Auth
	next   fasthttp.RequestHandler
	log    *slog.Logger
	tokens *template.Template
}

// NewHandler returns the handler; auth authenticates the tokens page and issues tokens.
func NewHandler(auth *partnerapi.Auth, next fasthttp.RequestHandler, log *slog.Logger) (*Handler, error) {
	if auth == nil {
		return nil, errors.New("partnerui: Auth is required")
	}
	if log == nil {
		log = slog.Default()
	}
	t, err := Parse(webFS, "web/tokens.html")
	if err != nil {
		return nil, err
	}
	return &Handler{auth: auth, next: next, log: log, tokens: t}, nil
}

// Serve dispatches ctx; give it to tracker.Routes.Dashboard.
func (h *Handler) Serve(ctx *fasthttp.RequestCtx) {
	path := string(ctx.Path())
	get := ctx.IsGet() || ctx.IsHead()
	switch {
	case strings.HasPrefix(path, StaticPrefix):
		if !get {
			methodNotAllowed(ctx, "GET, HEAD")
			return
		}
		assets.ServeFast(ctx, path[len(StaticPrefix):])
	case path == LangPath:
		if !get {
			methodNotAllowed(ctx, "GET, HEAD")
			return
		}
		switchLanguage(ctx)
	case path == TokensPath:
		switch {
		case get:
			h.tokensPage(ctx, fasthttp.StatusOK, "", "", nil)
		case ctx.IsPost():
			h.createToken(ctx)
		default:
			methodNotAllowed(ctx, "GET, HEAD, POST")
		}
	case path == TokensPath+"/revoke":
		if !ctx.IsPost() {
			methodNotAllowed(ctx, "POST")
			return
		}
		h.revokeToken(ctx)
	case h.next != nil:
		h.next(ctx)
	default:
		ctx.Error("not found", fasthttp.StatusNotFound)
	}
}

func methodNotAllowed(ctx *fasthttp.RequestCtx, allow string) {
	ctx.Response.Header.Set("Allow", allow)
	ctx.Error("method not allowed", fasthttp.StatusMethodNotAllowed)
}

// switchLanguage remembers ?to= and goes back to ?next= (a partner page) or the
// dashboard. A language choice changes nothing but the words shown, so a plain link
// may set it.
func switchLanguage(ctx *fasthttp.RequestCtx) {
	to := string(ctx.QueryArgs().Peek("to"))
	if !i18n.Supported(to) {
		ctx.Error("unsupported language", fasthttp.StatusBadRequest)
		return
	}
	i18n.Remember(ctx, to)
	next := string(ctx.QueryArgs().Peek("next"))
	if !returnPath(next) {
		next = DashboardPath
	}
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.Response.Header.Set("Location", next)
	ctx.SetStatusCode(fasthttp.StatusSeeOther)
}

// tokensView is the API tokens page's data.
type tokensView struct {
	UI UI
	// Message replaces the page when the partner is not signed in.
	Message string
	// Created is a token just issued: its value is shown in this answer only.
	Created *partnerapi.Token
	Notice  string
	Error   string
	Tokens  []partnerapi.TokenInfo
	Active  int
}

// tokensPage renders the list with status (when signed in) and a notice, an error or
// a token just created.
func (h *Handler) tokensPage(ctx *fasthttp.RequestCtx, status int, notice, errMsg string, created *partnerapi.Token) {
	p, code, msgKey := h.principal(ctx)
	v := &tokensView{UI: New(ctx, PageTokens, p.PartnerID), Notice: notice, Error: errMsg, Created: created}
	if msgKey != "" {
		v.Message = v.UI.T(msgKey)
		h.render(ctx, code, v)
		return
	}
	rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	toks, err := h.auth.ListTokens(rctx, p.PartnerID)
	if err != nil {
		h.log.Warn("cannot list a partner's API tokens", "partner", p.PartnerID, "err", err)
		v.Message = v.UI.T("tokens.unavailable")
		h.render(ctx, fasthttp.StatusServiceUnavailable, v)
		return
	}
	v.Tokens = toks
	for _, t := range toks {
		if !t.Revoked {
			v.Active++
		}
	}
	h.render(ctx, status, v)
}

// principal is the signed-in partner of a tokens page request. Only a session (the
// partner in the browser) manages tokens: a token cannot mint or revoke tokens. On
// failure it returns the status and the catalogue key of the message to show.
func (h *Handler) principal(ctx *fasthttp.RequestCtx) (partnerapi.Principal, int, string) {
	p, err := h.auth.Authenticate(ctx)
	switch {
	case err == nil && p.ViaSession:
		return p, 0, ""
	case err == nil || errors.Is(err, partnerapi.ErrUnauthenticated):
		return partnerapi.Principal{}, fasthttp.StatusUnauthorized, "common.signin_needed"
	default:
		h.log.Warn("tokens page authentication failed", "err", err)
		return partnerapi.Principal{}, fasthttp.StatusServiceUnavailable, "common.signin_unavailable"
	}
}

// writable checks a state-changing request: a session, from refedge's own pages (the
// same Origin check as every cookie-authenticated write). It answers and returns false
// when the request is refused.
func (h *Handler) writable(ctx *fasthttp.RequestCtx) (partnerapi.Principal, bool) {
	p, code, msgKey := h.principal(ctx)
	if msgKey != "" {
		ui := New(ctx, PageTokens, "")
		h.render(ctx, code, &tokensView{UI: ui, Message: ui.T(msgKey)})
		return p, false
	}
	if !h.auth.SameOrigin(ctx) {
		ui := New(ctx, PageTokens, p.PartnerID)
		h.render(ctx, fasthttp.StatusForbidden, &tokensView{UI: ui, Message: ui.T("tokens.cross_origin")})
		return p, false
	}
	return p, true
}

func (h *Handler) createToken(ctx *fasthttp.RequestCtx) {
	p, ok := h.writable(ctx)
	if !ok {
		return
	}
	c := i18n.FromRequest(ctx)
	rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	toks, err := h.auth.ListTokens(rctx, p.PartnerID)
	if err != nil {
		h.log.Warn("cannot list a partner's API tokens", "partner", p.PartnerID, "err", err)
		h.tokensPage(ctx, fasthttp.StatusServiceUnavailable, "", c.T("tokens.unavailable"), nil)
		return
	}
	active := 0
	for _, t := range toks {
		if !t.Revoked {
			active++
		}
	}
	if active >= MaxTokens {
		h.tokensPage(ctx, fasthttp.StatusConflict, "", c.T("tokens.too_many", "max", MaxTokens), nil)
		return
	}
	tok := h.auth.IssueToken(p.PartnerID)
	if err := h.auth.RecordToken(rctx, tok); err != nil {
		// Not handed out: the partner could neither see nor revoke it.
		h.log.Warn("cannot record a partner's API token", "partner", p.PartnerID, "err", err)
		h.tokensPage(ctx, fasthttp.StatusServiceUnavailable, "", c.T("tokens.unavailable"), nil)
		return
	}
	h.log.Info("partner created an API token", "partner", p.PartnerID, "token_id", tok.ID)
	h.tokensPage(ctx, fasthttp.StatusCreated, "", "", &tok)
}

func (h *Handler) revokeToken(ctx *fasthttp.RequestCtx) {
	p, ok := h.writable(ctx)
	if !ok {
		return
	}
	c := i18n.FromRequest(ctx)
	id := string(ctx.PostArgs().Peek("id"))
	rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	// Another partner's token, or none at all, reads the same: no such token.
	if id == "" || h.auth.TokenPartner(rctx, id) != p.PartnerID {
		h.tokensPage(ctx, fasthttp.StatusNotFound, "", c.T("tokens.not_found"), nil)
		return
	}
	if err := h.auth.Revoke(rctx, id); err != nil {
		h.log.Warn("cannot revoke a partner's API token", "partner", p.PartnerID, "token_id", id, "err", err)
		h.tokensPage(ctx, fasthttp.StatusServiceUnavailable, "", c.T("tokens.unavailable"), nil)
		return
	}
	h.log.Info("partner revoked an API token", "partner", p.PartnerID, "token_id", id)
	h.tokensPage(ctx, fasthttp.StatusOK, c.T("tokens.done_revoked", "id", id), "", nil)
}

func (h *Handler) render(ctx *fasthttp.RequestCtx, code int, v *tokensView) {
	var buf bytes.Buffer
	if err := h.tokens.ExecuteTemplate(&buf, "tokens.html", v); err != nil {
		h.log.Error("tokens page template failed", "err", err)
		ctx.Error("internal error", fasthttp.StatusInternalServerError)
		return
	}
	SetHeaders(ctx, v.UI.Nonce, "", "")
	ctx.SetStatusCode(code)
	ctx.SetBody(buf.Bytes())
}
