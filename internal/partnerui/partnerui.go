// Package partnerui is the partner app's shared frame: one header (the program's name,
// the partner, sign-out, the language switch) and one navigation reaching every partner
// page, a style sheet and a small script, used by the dashboard, the link builder, the
// widget builder, the banner materials and the API tokens page. Its Handler serves the
// shared assets, the language switch and the API tokens page.
//
// A page parses its own template with Parse (which adds the "partner-head",
// "partner-header" and "partner-script" templates) and puts a UI in its data; text comes
// from the i18n catalogue of the request's language, {{.UI.T "key"}}.
package partnerui

import (
	"crypto/rand"
	"embed"
	"encoding/base64"
	"html/template"
	"io/fs"
	"net/url"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/internal/i18n"
	"github.com/refedge/refedge/internal/localpath"
	"github.com/refedge/refedge/internal/webasset"
)

//go:embed web/layout.html web/partner.css web/partner.js web/tokens.html
var webFS embed.FS

// StaticPrefix is where the shared style sheet and script are served.
const StaticPrefix = "/partner/ui/"

// LangPath switches the language: GET LangPath?to=ru&next=/partner/links remembers the
// choice in a cookie and goes back to next.
const LangPath = "/partner/lang"

// The partner pages, in navigation order.
const (
	DashboardPath = "/partner"
	LinksPath     = "/partner/links"
	WidgetsPath   = "/w/builder"
	MaterialsPath = "/b/materials"
	ReferralsPath = "/partner#referrals"
	TokensPath    = "/partner/tokens"
)

// Page ids name a page in the navigation (UI.Active).
const (
	PageDashboard = "dashboard"
	PageLinks     = "links"
	PageWidgets   = "widgets"
	PageMaterials = "materials"
	PageReferrals = "referrals"
	PageTokens    = "tokens"
)

// NavItem is one navigation entry.
type NavItem struct {
	ID, Href, Label string
	Current         bool
}

var nav = []struct{ id, href, key string }{
	{PageDashboard, DashboardPath, "nav.dashboard"},
	{PageLinks, LinksPath, "nav.links"},
	{PageWidgets, WidgetsPath, "nav.widgets"},
	{PageMaterials, MaterialsPath, "nav.materials"},
	{PageReferrals, ReferralsPath, "nav.referrals"},
	{PageTokens, TokensPath, "nav.tokens"},
}

// Pages are the partner pages' paths, in navigation order (without the referrals
// section of the dashboard).
func Pages() []string {
	return []string{DashboardPath, LinksPath, WidgetsPath, MaterialsPath, TokensPath}
}

var assets = func() *webasset.Set {
	s, err := webasset.New(StaticPrefix, 24*time.Hour, webasset.File{FS: webFS, Path: "web/partner.css"},
		webasset.File{FS: webFS, Path: "web/partner.js"})
	if err != nil {
		panic(err)
	}
	return s
}()

// UI is the shared frame's data. Its catalogue's methods (T, N, Number, Money, Verdict,
// Reason) are the page's words.
type UI struct {
	*i18n.Catalogue
	// Partner is the signed-in partner, "" when signed out.
	Partner string
	// Active is the current page's id (PageLinks, ...).
	Active string
	// Nonce is the response's CSP nonce, for the shared script.
	Nonce string
	// here is the current page's path and query, where the language switch returns.
	here string
}

// New returns the frame of a request for page active, in the request's language.
// partner is the signed-in partner or "".
func New(ctx *fasthttp.RequestCtx, active, partner string) UI {
	here := string(ctx.Path())
	if q := ctx.QueryArgs(); q.Len() > 0 {
		q2 := fasthttp.AcquireArgs()
		defer fasthttp.ReleaseArgs(q2)
		q.VisitAll(func(k, v []byte) {
			if keepOnSwitch(string(k), partner) {
				q2.AddBytesKV(k, v)
			}
		})
		if q2.Len() > 0 {
			here += "?" + q2.String()
		}
	}
	return UI{Catalogue: i18n.FromRequest(ctx), Partner: partner, Active: active, Nonce: NewNonce(), here: here}
}

// keepOnSwitch says which query parameters the language switch carries back to the
// page: the dashboard's period, and the partner id of the materials page signed out.
// Nothing else is echoed into the page (a signed-in partner's page never repeats
// another partner's id from its URL).
func keepOnSwitch(key, partner string) bool {
	switch key {
	case "range", "from", "to", "interval":
		return true
	case "ref":
		return partner == ""
	}
	return false
}

// NewNonce returns a fresh CSP nonce.
func NewNonce() string {
	var b [18]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Style and Script are the shared assets' versioned URLs.
func (u UI) Style() string  { return assets.URL("partner.css") }
func (u UI) Script() string { return assets.URL("partner.js") }

// Nav is the navigation with the current page marked.
func (u UI) Nav() []NavItem {
	out := make([]NavItem, len(nav))
	for i, n := range nav {
		out[i] = NavItem{ID: n.id, Href: n.href, Label: u.T(n.key), Current: n.id == u.Active}
	}
	return out
}

// LangLink is one entry of the language switch.
type LangLink struct {
	Lang, Label, Href string
	Current           bool
}

var langLabels = map[string]string{"en": "English", "ru": "Русский"}

// Switch is the language switch: a link per language back to the current page.
func (u UI) Switch() []LangLink {
	out := make([]LangLink, 0, len(i18n.Languages))
	for _, l := range i18n.Languages {
		out = append(out, LangLink{Lang: l, Label: langLabels[l], Current: l == u.Lang(),
			Href: LangPath + "?to=" + l + "&next=" + url.QueryEscape(u.here)})
	}
	return out
}

// JSMessages returns the texts of the keys under prefixes for a page's script, to be
// put in a <script type="application/json"> (html/template escapes it).
func (u UI) JSMessages(prefixes ...string) map[string]any { return u.Messages(prefixes...) }

// Parse parses a page's templates from fsys together with the shared frame's.
func Parse(fsys fs.FS, patterns ...string) (*template.Template, error) {
	t, err := template.ParseFS(webFS, "web/layout.html")
	if err != nil {
		return nil, err
	}
	return t.ParseFS(fsys, patterns...)
}

// MustParse is Parse that panics, for package-level templates.
func MustParse(fsys fs.FS, patterns ...string) *template.Template {
	t, err := Parse(fsys, patterns...)
	if err != nil {
		panic(err)
	}
	return t
}

// SetHeaders sets a partner page's headers: CSP allowing scripts with nonce and the
// shared style sheet (plus styleSrc and imgSrc sources when not empty), no caching,
// and Vary on what picks the partner and the language.
func SetHeaders(ctx *fasthttp.RequestCtx, nonce, styleSrc, imgSrc string) {
	h := &ctx.Response.Header
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+nonce+"'; style-src 'self'"+prefixSpace(styleSrc)+
		"; img-src 'self' data:"+prefixSpace(imgSrc)+"; connect-src 'self'; frame-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	h.Set("Vary", "Cookie, Authorization, Accept-Language")
	h.Set("Content-Language", string(i18n.FromRequest(ctx).Lang()))
	ctx.SetContentType("text/html; charset=utf-8")
}

func prefixSpace(s string) string {
	if s == "" {
		return ""
	}
	return " " + s
}

// returnPath accepts a language switch's next: one of the partner pages, with a query.
func returnPath(p string) bool {
	if !localpath.Plain(p) {
		return false
	}
	path, _, _ := strings.Cut(p, "?")
	path, _, _ = strings.Cut(path, "#")
	return path == DashboardPath || strings.HasPrefix(path, DashboardPath+"/") || path == WidgetsPath || path == MaterialsPath
}
