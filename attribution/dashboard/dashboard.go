package dashboard

// The partner dashboard at /partner: an HTML page rendered with html/template from the
// same Stats and Referrals the API returns, with charts drawn client-side in plain SVG by
// web/dashboard.js (embedded, no CDN). It is a partner app page: the shared frame
// (internal/partnerui) and the words, numbers, money and verdict texts of the request's
// language (internal/i18n). A session comes from a signed login link (/partner/login,
// partnerapi.Auth.HandleLogin); every figure is the session partner's.

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"html/template"
	"log/slog"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/attribution/analytics"
	"github.com/refedge/refedge/internal/partnerapi"
	"github.com/refedge/refedge/internal/partnerui"
	"github.com/refedge/refedge/internal/webasset"
)

//go:embed web/dashboard.html web/signin.html web/dashboard.js web/dashboard.css
var Assets embed.FS

// Config configures the dashboard.
type Config struct {
	// Analytics computes the figures (required).
	Analytics *analytics.Analytics
	// Auth checks sessions and handles /partner/login (required).
	Auth *partnerapi.Auth
	// Logger receives failures; nil means slog.Default().
	Logger *slog.Logger
	// ReferralRows is how many referrals the page lists; 0 means 50 (the rest via CSV).
	ReferralRows int
	// Top is how many rows each breakdown table shows; 0 means 20.
	Top int
}

// Dashboard serves /partner, /partner/login, /partner/logout and /partner/static/.
type Dashboard struct {
	cfg    Config
	page   *template.Template
	signin *template.Template
	static *webasset.Set
	log    *slog.Logger
}

// New parses the embedded templates.
func New(cfg Config) (*Dashboard, error) {
	if cfg.Analytics == nil || cfg.Auth == nil {
		return nil, errors.New("dashboard: Analytics and Auth are required")
	}
	if cfg.ReferralRows <= 0 {
		cfg.ReferralRows = 50
	}
	if cfg.Top <= 0 {
		cfg.Top = 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	d := &Dashboard{cfg: cfg, log: cfg.Logger}
	var err error
	if d.page, err = partnerui.Parse(Assets, "web/dashboard.html"); err != nil {
		return nil, err
	}
	d.page = d.page.Lookup("dashboard.html")
	if d.signin, err = partnerui.Parse(Assets, "web/signin.html"); err != nil {
		return nil, err
	}
	d.signin = d.signin.Lookup("signin.html")
	if d.static, err = webasset.New("/partner/static/", 24*time.Hour,
		webasset.File{FS: Assets, Path: "web/dashboard.js"}, webasset.File{FS: Assets, Path: "web/dashboard.css"}); err != nil {
		return nil, err
	}
	return d, nil
}

// Handler serves every /partner path; give it to tracker.Routes.Dashboard.
func (d *Dashboard) Handler(ctx *fasthttp.RequestCtx) {
	path := string(ctx.Path())
	method := string(ctx.Method())
	get := method == fasthttp.MethodGet || method == fasthttp.MethodHead
	switch {
	case path == "/partner/login" && get:
		d.cfg.Auth.HandleLogin(ctx)
	case path == "/partner/logout" && method == fasthttp.MethodPost:
		d.logout(ctx)
	case len(path) > len("/partner/static/") && path[:len("/partner/static/")] == "/partner/static/" && get:
		d.static.ServeFast(ctx, path[len("/partner/static/"):])
	case (path == "/partner" || path == "/partner/") && get:
		d.dashboard(ctx)
	case path == "/partner" || path == "/partner/" || path == "/partner/login" || path == "/partner/logout":
		ctx.Response.Header.Set("Allow", "GET, HEAD")
		ctx.Error("method not allowed", fasthttp.StatusMethodNotAllowed)
	default:
		ctx.Error("not found", fasthttp.StatusNotFound)
	}
}

// securityHeaders sets a strict CSP whose only script allowance is this response's
// nonce (the partner app's headers).
func securityHeaders(ctx *fasthttp.RequestCtx, nonce string) {
	partnerui.SetHeaders(ctx, nonce, "", "")
}

// logout clears the session cookie. The request must come from refedge's own page.
func (d *Dashboard) logout(ctx *fasthttp.RequestCtx) {
	if !d.cfg.Auth.SameOrigin(ctx) {
		ctx.Error("cross-origin request refused", fasthttp.StatusForbidden)
		return
	}
	ck := fasthttp.AcquireCookie()
	defer fasthttp.ReleaseCookie(ck)
	ck.SetKey(partnerapi.SessionCookie)
	ck.SetPath("/")
	ck.SetHTTPOnly(true)
	ck.SetSecure(true)
	ck.SetSameSite(fasthttp.CookieSameSiteStrictMode)
	ck.SetExpire(fasthttp.CookieExpireDelete)
	ctx.Response.Header.SetCookie(ck)
	d.render(ctx, d.signin, fasthttp.StatusOK, signinPage{UI: partnerui.New(ctx, partnerui.PageDashboard, ""), SignedOut: true})
}

// signinPage is the dashboard's page without figures: signed out, or a message.
type signinPage struct {
	UI        partnerui.UI
	SignedOut bool
	Message   string
}

// message renders the sign-in page with the catalogue's text of key.
func (d *Dashboard) message(ctx *fasthttp.RequestCtx, code int, partner, key string) {
	ui := partnerui.New(ctx, partnerui.PageDashboard, partner)
	d.render(ctx, d.signin, code, signinPage{UI: ui, Message: ui.T(key)})
}

func (d *Dashboard) dashboard(ctx *fasthttp.RequestCtx) {
	p, err := d.cfg.Auth.Authenticate(ctx)
	if err != nil {
		if !errors.Is(err, partnerapi.ErrUnauthenticated) {
			d.log.Warn("dashboard authentication failed", "err", err)
			d.message(ctx, fasthttp.StatusServiceUnavailable, "", "common.signin_unavailable")
			return
		}
		d.render(ctx, d.signin, fasthttp.StatusUnauthorized, signinPage{UI: partnerui.New(ctx, partnerui.PageDashboard, "")})
		return
	}
	an := d.cfg.Analytics
	release, err := an.Acquire()
	if err != nil {
		ctx.Response.Header.Set("Retry-After", "1")
		d.message(ctx, fasthttp.StatusTooManyRequests, p.PartnerID, "dash.busy")
		return
	}
	defer release()
	start := time.Now()
	defer func() { analytics.RequestSeconds.WithLabelValues("dashboard").Observe(time.Since(start).Seconds()) }()

	get := func(k string) string { return string(ctx.QueryArgs().Peek(k)) }
	view := &dashView{UI: partnerui.New(ctx, partnerui.PageDashboard, p.PartnerID), Script: d.static.URL("dashboard.js"), Style: d.static.URL("dashboard.css")}
	r, err := an.ParseRange(get)
	if err != nil {
		view.Error = view.UI.T("dash.bad_range", "error", analytics.LocalizeErr(err, view.UI.Catalogue))
		r, _ = an.ParseRange(func(string) string { return "" })
	}
	// Not derived from the RequestCtx: its Done races with Server.Shutdown (fasthttp),
	// and QueryTimeout bounds the request anyway.
	qctx, cancel := context.WithTimeout(context.Background(), an.Cfg.QueryTimeout)
	defer cancel()
	var st *analytics.Stats
	var refs *analytics.Referrals
	err = analytics.Parallel(qctx,
		func(ctx context.Context) (err error) {
			st, err = an.Stats(ctx, p.PartnerID, analytics.StatsQuery{Range: r, Top: d.cfg.Top})
			return err
		},
		func(ctx context.Context) (err error) {
			refs, err = an.Referrals(ctx, p.PartnerID, analytics.ReferralsQuery{Limit: d.cfg.ReferralRows})
			return err
		},
	)
	if err != nil {
		d.log.Error("dashboard queries failed", "partner", p.PartnerID, "err", err)
		code, key := fasthttp.StatusServiceUnavailable, "dash.unavailable"
		if errors.Is(err, context.DeadlineExceeded) || analytics.IsCHTimeout(err) {
			code, key = fasthttp.StatusGatewayTimeout, "dash.too_slow"
		}
		d.message(ctx, code, p.PartnerID, key)
		return
	}
	view.fill(r, get, st, refs)
	d.render(ctx, d.page, fasthttp.StatusOK, view)
}

func (d *Dashboard) render(ctx *fasthttp.RequestCtx, t *template.Template, code int, data any) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		d.log.Error("dashboard template failed", "err", err)
		ctx.Error("internal error", fasthttp.StatusInternalServerError)
		return
	}
	nonce := ""
	switch v := data.(type) {
	case *dashView:
		nonce = v.UI.Nonce
	case signinPage:
		nonce = v.UI.Nonce
	}
	securityHeaders(ctx, nonce)
	ctx.SetStatusCode(code)
	ctx.SetBody(buf.Bytes())
}
