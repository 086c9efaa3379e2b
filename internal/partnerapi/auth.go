// Package partnerapi authenticates partners and routes the partner API (/api/v1/) and
// the partner pages (/partner, /w/builder) on the public listener.
//
// Credentials are signed with REFEDGE_SECRET's keyring and carry their partner id, so
// every handler receives a Principal and scopes what it reads to Principal.PartnerID;
// there is no way to name another partner. API tokens are issued through the admin
// listener and revocable by id (revocations live in Redis). The marketplace generates a
// short-lived login link for the dashboard (also through the admin listener); opening it
// sets a session cookie. Cookie-authenticated requests that change state must come from
// refedge's own origin (CSRF).
package partnerapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/internal/i18n"
	"github.com/refedge/refedge/internal/localpath"
	"github.com/refedge/refedge/internal/partners"
	"github.com/refedge/refedge/internal/refcookie"
	"github.com/refedge/refedge/internal/signing"
)

// SessionCookie is the dashboard session cookie.
const SessionCookie = "rfe_ps"

// Config configures partner authentication. Zero durations take the documented defaults.
type Config struct {
	// Keys signs and verifies every credential.
	Keys *signing.Keyring
	// Redis keeps token revocations.
	Redis redis.UniversalClient
	// PublicURL is refedge's public origin; login links point at it and cookie-authenticated
	// writes must come from it.
	PublicURL string
	// TokenTTL is an API token's lifetime; 0 means 365 days.
	TokenTTL time.Duration
	// LoginLinkTTL is a login link's lifetime; 0 means 10 minutes.
	LoginLinkTTL time.Duration
	// SessionTTL is a dashboard session's lifetime; 0 means 12 hours.
	SessionTTL time.Duration
	// Partners, when set, learns the browser (rfe_vid) a partner logs in with, so the
	// tracker can refuse that browser's clicks as self-referrals (program rule 2).
	Partners *partners.Registry
}

// Auth issues and checks partner credentials.
type Auth struct {
	cfg Config
	// Now returns the current time; tests replace it.
	Now  func() time.Time
	used lastUse
}

// NewAuth validates cfg.
func NewAuth(cfg Config) (*Auth, error) {
	if cfg.Keys == nil || cfg.Redis == nil || cfg.PublicURL == "" {
		return nil, errors.New("partnerapi: Keys, Redis and PublicURL are required")
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = 365 * 24 * time.Hour
	}
	if cfg.LoginLinkTTL <= 0 {
		cfg.LoginLinkTTL = 10 * time.Minute
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	return &Auth{cfg: cfg, Now: time.Now}, nil
}

// Principal is an authenticated partner.
type Principal struct {
	PartnerID string
	// ViaSession is set for dashboard sessions (cookie), clear for bearer tokens.
	ViaSession bool
	// TokenID names the API token used, for audit.
	TokenID string
}

// Token is a newly issued API token.
type Token struct {
	ID        string    `json:"id"`
	PartnerID string    `json:"partner_id"`
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// IssueToken returns a new API token for partner.
func (a *Auth) IssueToken(partner string) Token {
	c := credential{kind: kindAPIToken, partner: partner, id: newID(), expires: a.Now().Add(a.cfg.TokenTTL).Truncate(time.Second)}
	return Token{ID: c.id, PartnerID: partner, Token: encode(a.cfg.Keys, c), ExpiresAt: c.expires.UTC()}
}

func revokedKey(id string) string { return "rfe:token:revoked:" + id }

// Revoke makes token id unusable until it would have expired anyway.
func (a *Auth) Revoke(ctx context.Context, id string) error {
	if !isHex(id) {
		return errMalformed
	}
	if err := a.cfg.Redis.Set(ctx, revokedKey(id), 1, a.cfg.TokenTTL).Err(); err != nil {
		return fmt.Errorf("cannot revoke token %s: %w", id, err)
	}
	return nil
}

// LoginLink returns a signed one-click dashboard login URL for partner.
func (a *Auth) LoginLink(partner string) string {
	c := credential{kind: kindLoginLink, partner: partner, id: newID(), expires: a.Now().Add(a.cfg.LoginLinkTTL)}
	return a.cfg.PublicURL + "/partner/login?t=" + url.QueryEscape(encode(a.cfg.Keys, c))
}

// ErrUnauthenticated is returned when no valid credential was presented.
var ErrUnauthenticated = errors.New("unauthenticated")

// Authenticate returns the partner behind ctx's bearer token or session cookie.
func (a *Auth) Authenticate(ctx *fasthttp.RequestCtx) (Principal, error) {
	now := a.Now()
	if h := ctx.Request.Header.Peek("Authorization"); len(h) > 0 {
		tok, ok := bytes.CutPrefix(h, []byte("Bearer "))
		if !ok {
			return Principal{}, ErrUnauthenticated
		}
		c, err := decode(a.cfg.Keys, string(bytes.TrimSpace(tok)), kindAPIToken, now)
		if err != nil {
			return Principal{}, ErrUnauthenticated
		}
		// Not ctx itself: a fasthttp RequestCtx's Done is the server's, not the request's.
		rctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		n, err := a.cfg.Redis.Exists(rctx, revokedKey(c.id)).Result()
		if err != nil {
			return Principal{}, fmt.Errorf("cannot check token revocation: %w", err)
		}
		if n > 0 {
			return Principal{}, ErrUnauthenticated
		}
		a.touch(c.id, now)
		return Principal{PartnerID: c.partner, TokenID: c.id}, nil
	}
	if v := ctx.Request.Header.Cookie(SessionCookie); len(v) > 0 {
		c, err := decode(a.cfg.Keys, string(v), kindSession, now)
		if err != nil {
			return Principal{}, ErrUnauthenticated
		}
		return Principal{PartnerID: c.partner, ViaSession: true}, nil
	}
	return Principal{}, ErrUnauthenticated
}

// HandleLogin exchanges a login link for a session cookie and redirects to next (a
// partner page: /partner..., /w/builder, /b/materials) or /partner.
func (a *Auth) HandleLogin(ctx *fasthttp.RequestCtx) {
	c, err := decode(a.cfg.Keys, string(ctx.QueryArgs().Peek("t")), kindLoginLink, a.Now())
	if err != nil {
		c := i18n.FromRequest(ctx)
		ctx.Response.Header.Set("Cache-Control", "no-store")
		ctx.Response.Header.Set("Content-Language", c.Lang())
		ctx.Response.Header.Set("Vary", "Cookie, Accept-Language")
		ctx.SetContentType("text/plain; charset=utf-8")
		ctx.SetStatusCode(fasthttp.StatusUnauthorized)
		ctx.SetBodyString(c.T("login.invalid") + "\n")
		return
	}
	if vid := ctx.Request.Header.Cookie(refcookie.VisitorName); a.cfg.Partners != nil && len(vid) == 22 && refcookie.ValidPartnerID(vid) {
		rctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := a.cfg.Partners.AddVisitor(rctx, c.partner, string(vid)); err != nil {
			slog.Warn("cannot record the partner's own browser", "partner", c.partner, "err", err)
		}
	}
	s := credential{kind: kindSession, partner: c.partner, id: newID(), expires: a.Now().Add(a.cfg.SessionTTL)}
	ck := fasthttp.AcquireCookie()
	defer fasthttp.ReleaseCookie(ck)
	ck.SetKey(SessionCookie)
	ck.SetValue(encode(a.cfg.Keys, s))
	ck.SetPath("/")
	ck.SetMaxAge(int(a.cfg.SessionTTL / time.Second))
	ck.SetHTTPOnly(true)
	ck.SetSecure(true)
	ck.SetSameSite(fasthttp.CookieSameSiteStrictMode)
	ctx.Response.Header.SetCookie(ck)
	ctx.Response.Header.Set("Cache-Control", "no-store")
	next := string(ctx.QueryArgs().Peek("next"))
	if !localPagePath(next) {
		next = "/partner"
	}
	ctx.Response.Header.Set("Location", next)
	ctx.SetStatusCode(fasthttp.StatusSeeOther)
}

// localPagePath accepts only refedge's own partner pages as a post-login target.
func localPagePath(p string) bool {
	return (p == "/partner" || strings.HasPrefix(p, "/partner/") || p == "/w/builder" || p == "/b/materials") && localpath.Plain(p)
}

// SameOrigin reports whether a cookie-authenticated state-changing request comes from
// refedge's own pages: its Origin (or, lacking it, Referer) must be PublicURL.
func (a *Auth) SameOrigin(ctx *fasthttp.RequestCtx) bool {
	if o := ctx.Request.Header.Peek("Origin"); len(o) > 0 {
		return string(o) == a.cfg.PublicURL
	}
	ref := ctx.Request.Header.Referer()
	return len(ref) > len(a.cfg.PublicURL) && string(ref[:len(a.cfg.PublicURL)]) == a.cfg.PublicURL && ref[len(a.cfg.PublicURL)] == '/'
}
