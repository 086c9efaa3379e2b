package widget

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"html/template"
	"strconv"
	"strings"
	"sync"

	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/internal/visitor"
)

//go:embed templates
var templateFS embed.FS

var (
	frameTmpl = template.Must(template.ParseFS(templateFS, "templates/frame.html"))
	// The stylesheet and script are static; newlines are dropped to keep the frame
	// small (every line of them ends a rule or a statement).
	frameStyle  = minify("templates/frame.css")
	frameScript = template.JS(minify("templates/frame.js"))
)

func minify(name string) string {
	b, err := templateFS.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return strings.ReplaceAll(string(b), "\n", "")
}

// frameCSS is the full stylesheet of a widget: the static rules plus its accent colour
// and grid. accent is a validated #rrggbb.
func frameCSS(accent string, l layout) string {
	return frameStyle + ":root{--ac:" + accent + "}.pg{grid-template-columns:repeat(" +
		strconv.Itoa(l.cols) + ",1fr);grid-template-rows:repeat(" + strconv.Itoa(l.rows) + ",1fr)}"
}

// cardView is one card as the template sees it.
type cardView struct {
	CardID, KworkID, Link, Thumb      string
	Title, Price, Rating, RatingLabel string
	TW, TH                            int
}

// frameView is the template's data.
type frameView struct {
	Lang, Theme, Shape string
	Tiny               bool
	T                  texts
	Nonce, RenderID    string
	Rotation           int
	ViewURL, Token     string
	Empty              string
	Pages              [][]cardView
	CSS                template.CSS
	JS                 template.JS

	cards []cardView
	pick  []Card
}

var viewPool = sync.Pool{New: func() any {
	return &frameView{cards: make([]cardView, 0, MaxCards), pick: make([]Card, 0, MaxCards)}
}}

func acquireView() *frameView { return viewPool.Get().(*frameView) }

func releaseView(v *frameView) {
	*v = frameView{cards: v.cards[:0], pick: v.pick[:0], Pages: v.Pages[:0]}
	viewPool.Put(v)
}

// renderIDs are a render id and a CSP nonce: 22 base64url characters (132 random bits)
// each, in one array so that drawing them does not allocate.
type renderIDs [44]byte

func (r *renderIDs) render() []byte { return r[:22] }
func (r *renderIDs) nonce() []byte  { return r[22:] }

func newRenderIDs(dst *renderIDs) {
	var b [33]byte
	_, _ = rand.Read(b[:])
	base64.RawURLEncoding.Encode(dst[:], b[:])
}

// newIDs returns a fresh render id and CSP nonce as strings.
func newIDs() (render, nonce string) {
	var ids renderIDs
	newRenderIDs(&ids)
	s := string(ids[:])
	return s[:22], s[22:]
}

// frameOptions say how a render differs from the normal embedded frame.
type frameOptions struct {
	// preview: the builder's preview (plain marketplace links, no view beacon).
	preview bool
	// refHost is the embedding page's host (from the frame request's Referer).
	refHost []byte
	// render and nonce, when set, are used instead of fresh ones (tests).
	render, nonce string
	// unix is the render time; 0 means s.Now().
	unix int64
}

// fill sets up v to render cards for widget r with the template.
func (s *Service) fill(v *frameView, r *resolved, cards []Card, opt frameOptions) {
	w := &r.w
	v.Lang, v.Theme, v.T = w.Language, w.Theme, textsFor(w.Language)
	v.Shape = "u"
	if r.lay.wide {
		v.Shape = "w"
	}
	v.Tiny, v.Rotation = r.lay.tiny, w.RotationSeconds
	v.RenderID, v.Nonce = opt.render, opt.nonce
	if v.RenderID == "" {
		v.RenderID, v.Nonce = newIDs()
	}
	v.CSS, v.JS = template.CSS(r.css), frameScript
	if len(cards) == 0 {
		v.Empty = v.T.Empty
		return
	}
	if !opt.preview {
		unix := opt.unix
		if unix == 0 {
			unix = s.Now().Unix()
		}
		v.ViewURL = "/w/" + w.ID + "/view"
		v.Token = string(appendViewToken(nil, s.cfg.Keys, w.ID, []byte(v.RenderID), unix, opt.refHost))
	}
	for i := range cards {
		v.cards = append(v.cards, s.cardViewOf(r, &cards[i], v.RenderID+"."+strconv.Itoa(i), opt.preview))
	}
	per := r.lay.cols * r.lay.rows
	for i := 0; i < len(v.cards); i += per {
		v.Pages = append(v.Pages, v.cards[i:min(i+per, len(v.cards))])
	}
}

// cardViewOf is card c of widget r as the template shows it.
func (s *Service) cardViewOf(r *resolved, c *Card, cardID string, preview bool) cardView {
	w := &r.w
	cv := cardView{CardID: cardID, KworkID: c.ID, Title: c.Title, Price: formatPrice(c.Price, c.Currency, w.Language),
		Rating: formatRating(c.Rating, w.Language), RatingLabel: textsFor(w.Language).Rating}
	if preview {
		cv.Link = s.cfg.MarketOrigin + c.Path
	} else {
		cv.Link = s.link(c.Path, r.linkSuffix)
	}
	if r.lay.thumbW > 0 {
		img := c.Image
		if img == "" {
			img = "0"
		}
		cv.Thumb = "/w/t/" + c.ID + "/" + strconv.Itoa(r.lay.thumbW) + "x" + strconv.Itoa(r.lay.thumbH) + ".jpg?v=" + img
		cv.TW, cv.TH = r.lay.thumbW, r.lay.thumbH
	}
	return cv
}

// link is {LinkBase}{path}?ref={partner}&src=widget&cr={widget} (docs/widget.md): the click goes through refedge's tracker and lands on the kwork.
func (s *Service) link(path, suffix string) string {
	sep := "?"
	if strings.IndexByte(path, '?') >= 0 {
		sep = "&"
	}
	return s.linkBase + path + sep + suffix
}

const frameCSP = "default-src 'none'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; "

func setFrameHeaders(ctx *fasthttp.RequestCtx, nonce, ancestors string) {
	h := &ctx.Response.Header
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
	h.Set("Content-Security-Policy", frameCSP+"style-src 'nonce-"+nonce+"'; script-src 'nonce-"+nonce+"'; frame-ancestors "+ancestors)
	ctx.SetContentType("text/html; charset=utf-8")
}

// serveFrame renders /w/{id}: N random kworks of the widget's topic. Whatever goes
// wrong, the visitor gets a small, clean frame: unknown widget 404, inactive partner
// or empty topic 200, a Redis outage 503 — all with an empty-state page, never a 500.
func (s *Service) serveFrame(ctx *fasthttp.RequestCtx, id string) {
	r, err := s.resolve(bg, id)
	if err != nil {
		s.cfg.Log.Warn("widget frame: cannot read widget", "widget", id, "err", err)
		frameError.Inc()
		s.serveEmpty(ctx, fasthttp.StatusServiceUnavailable, "en", textsFor("en").Empty, "*")
		return
	}
	if !r.found {
		frameNotFound.Inc()
		s.serveEmpty(ctx, fasthttp.StatusNotFound, "en", textsFor("en").NotFound, "*")
		return
	}
	if r.partnerActive && r.sk != nil {
		ok, err := s.serveFastFrame(ctx, r)
		switch {
		case err != nil:
			s.cfg.Log.Warn("widget frame: cannot draw kworks", "widget", id, "err", err)
			frameError.Inc()
			s.serveEmpty(ctx, fasthttp.StatusServiceUnavailable, r.w.Language, textsFor(r.w.Language).Empty, "*")
			return
		case ok:
			frameOK.Inc()
			return
		}
		// Nothing to show: the template renders the widget's empty state below.
	}
	v := acquireView()
	defer releaseView(v)
	if r.partnerActive && r.sk == nil {
		v.pick, err = s.pick(bg, v.pick[:0], &r.w)
		if err != nil {
			s.cfg.Log.Warn("widget frame: cannot draw kworks", "widget", id, "err", err)
			frameError.Inc()
			s.serveEmpty(ctx, fasthttp.StatusServiceUnavailable, r.w.Language, textsFor(r.w.Language).Empty, "*")
			return
		}
	}
	s.fill(v, r, v.pick, frameOptions{refHost: visitor.RefererHost(ctx.Request.Header.Referer())})
	if v.Empty != "" {
		frameEmpty.Inc()
	} else {
		frameOK.Inc()
	}
	setFrameHeaders(ctx, v.Nonce, "*")
	if err := frameTmpl.Execute(ctx, v); err != nil {
		s.cfg.Log.Error("widget frame: template failed", "widget", id, "err", err)
	}
}

func (s *Service) pick(ctx context.Context, dst []Card, w *Widget) ([]Card, error) {
	if w.Category != "" {
		return s.catalog.Random(ctx, dst, w.Category, w.Cards)
	}
	return s.catalog.Pick(ctx, dst, w.KworkIDs, w.Cards)
}

// serveEmpty answers an empty-state frame with code: msg in language lang, embeddable
// by ancestors (a CSP frame-ancestors source list).
func (s *Service) serveEmpty(ctx *fasthttp.RequestCtx, code int, lang, msg, ancestors string) {
	v := acquireView()
	defer releaseView(v)
	v.Lang, v.Theme, v.Shape, v.T, v.Empty = lang, "light", "u", textsFor(lang), msg
	v.RenderID, v.Nonce = newIDs()
	v.CSS = template.CSS(frameCSS(DefaultAccent, layout{cols: 1, rows: 1}))
	setFrameHeaders(ctx, v.Nonce, ancestors)
	ctx.SetStatusCode(code)
	_ = frameTmpl.Execute(ctx, v)
}
