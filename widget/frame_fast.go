package widget

import (
	"encoding/json"
	"errors"
	"html/template"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/internal/visitor"
)

// The embedded frame is rendered on every request, so its hot path does not run the
// template. The template still makes every byte: once per widget (and CacheTTL) it
// renders the frame's skeleton with sentinel values where the per-render ids go, and
// once per card it renders that card; a render then joins those pieces with the fresh
// render id, nonce, view token and card ids, which are base64url and digits only and
// need no escaping. TestFastFrameMatchesTemplate holds the two paths byte for byte.

// Sentinels are plain letters, so the template's escapers leave them as they are.
const (
	sentNonce  = "QzNONCEqz"
	sentRender = "QzRENDERqz"
	sentToken  = "QzTOKENqz"
	sentCard   = "QzCARDqz"
	pagesMark  = `<ul class="pg"></ul>`
	pageOpen   = `<ul class="pg">`
	pageClose  = `</ul>`
	cardOpen   = `<li class="c" data-c="`
)

type slot uint8

const (
	slotEnd slot = iota
	slotNonce
	slotRender
	slotToken
	slotPages
)

// piece is literal text followed by a slot.
type piece struct {
	lit  string
	slot slot
}

// skeleton is a widget's frame with its per-render parts left open.
type skeleton []piece

var errSkeleton = errors.New("frame template does not split at its sentinels")

// buildSkeleton renders r's frame with sentinels and one empty page, and cuts it there.
func (s *Service) buildSkeleton(r *resolved) (skeleton, error) {
	v := frameView{Lang: r.w.Language, Theme: r.w.Theme, Shape: "u", Tiny: r.lay.tiny, T: textsFor(r.w.Language),
		Nonce: sentNonce, RenderID: sentRender, Rotation: r.w.RotationSeconds, ViewURL: "/w/" + r.w.ID + "/view",
		Token: sentToken, Pages: [][]cardView{{}}, CSS: template.CSS(r.css), JS: frameScript}
	if r.lay.wide {
		v.Shape = "w"
	}
	var b strings.Builder
	if err := frameTmpl.Execute(&b, &v); err != nil {
		return nil, err
	}
	text := b.String()
	marks := []struct {
		s    string
		slot slot
	}{{sentNonce, slotNonce}, {sentRender, slotRender}, {sentToken, slotToken}, {pagesMark, slotPages}}
	var sk skeleton
	seen := map[slot]int{}
	for {
		at, which := -1, -1
		for i, m := range marks {
			if j := strings.Index(text, m.s); j >= 0 && (at < 0 || j < at) {
				at, which = j, i
			}
		}
		if at < 0 {
			sk = append(sk, piece{lit: text, slot: slotEnd})
			break
		}
		sk = append(sk, piece{lit: text[:at], slot: marks[which].slot})
		seen[marks[which].slot]++
		text = text[at+len(marks[which].s):]
	}
	if seen[slotNonce] != 2 || seen[slotRender] != 1 || seen[slotToken] != 1 || seen[slotPages] != 1 {
		return nil, errSkeleton
	}
	return sk, nil
}

// maxFragments bounds the cards one widget keeps rendered (its topic's active kworks
// and their versions); past it, cards are rendered per request.
const maxFragments = 4096

// fragments caches rendered cards of one resolved widget: the card's HTML after its
// card id, keyed by the card's content.
type fragments struct {
	m sync.Map // string -> string
	n atomic.Int32
}

// fragment returns card key's HTML after `data-c="{card id}`. c is the card, or nil
// to decode it from key (the card JSON of a random draw).
func (s *Service) fragment(r *resolved, key string, c *Card) (string, bool) {
	if f, ok := r.frags.m.Load(key); ok {
		return f.(string), true
	}
	var cd Card
	if c == nil {
		if json.Unmarshal([]byte(key), &cd) != nil || cd.ID == "" {
			return "", false
		}
		c = &cd
	}
	cv := s.cardViewOf(r, c, sentCard, false)
	var b strings.Builder
	if err := frameTmpl.ExecuteTemplate(&b, "card", &cv); err != nil {
		return "", false
	}
	f, ok := strings.CutPrefix(b.String(), cardOpen+sentCard)
	if !ok {
		return "", false
	}
	if r.frags.n.Add(1) <= maxFragments {
		r.frags.m.Store(key, f)
	}
	return f, true
}

// frameBuf is a render's working memory, pooled.
type frameBuf struct {
	out   []byte
	csp   []byte
	raws  []string
	cards []Card
	frags []string
	ids   renderIDs
}

var frameBufPool = sync.Pool{New: func() any {
	return &frameBuf{out: make([]byte, 0, 16<<10), csp: make([]byte, 0, 256), raws: make([]string, 0, MaxCards),
		cards: make([]Card, 0, MaxCards), frags: make([]string, 0, MaxCards)}
}}

// appendFrame appends the frame of r showing fragments frags.
func (s *Service) appendFrame(dst []byte, r *resolved, frags []string, ids *renderIDs, unix int64, refHost []byte) []byte {
	per := r.lay.cols * r.lay.rows
	for _, p := range r.sk {
		dst = append(dst, p.lit...)
		switch p.slot {
		case slotNonce:
			dst = append(dst, ids.nonce()...)
		case slotRender:
			dst = append(dst, ids.render()...)
		case slotToken:
			dst = appendViewToken(dst, s.cfg.Keys, r.w.ID, ids.render(), unix, refHost)
		case slotPages:
			for i, f := range frags {
				if i%per == 0 {
					dst = append(dst, pageOpen...)
				}
				dst = append(dst, cardOpen...)
				dst = append(dst, ids.render()...)
				dst = append(dst, '.')
				dst = strconv.AppendInt(dst, int64(i), 10)
				dst = append(dst, f...)
				if i%per == per-1 || i == len(frags)-1 {
					dst = append(dst, pageClose...)
				}
			}
		}
	}
	return dst
}

// appendCSP appends the frame's Content-Security-Policy for nonce.
func appendCSP(dst, nonce []byte, ancestors string) []byte {
	dst = append(dst, frameCSP...)
	dst = append(dst, "style-src 'nonce-"...)
	dst = append(dst, nonce...)
	dst = append(dst, "'; script-src 'nonce-"...)
	dst = append(dst, nonce...)
	dst = append(dst, "'; frame-ancestors "...)
	return append(dst, ancestors...)
}

// serveFastFrame renders an active widget's frame; it reports false when the frame
// must be rendered by the template instead (no cards, no skeleton).
func (s *Service) serveFastFrame(ctx *fasthttp.RequestCtx, r *resolved) (ok bool, err error) {
	fb := frameBufPool.Get().(*frameBuf)
	defer func() {
		fb.raws, fb.cards, fb.frags = clearStrings(fb.raws), fb.cards[:0], clearStrings(fb.frags)
		frameBufPool.Put(fb)
	}()
	w := &r.w
	if w.Category != "" {
		if fb.raws, err = s.catalog.drawRaw(bg, fb.raws[:0], w.Category, w.Cards); err != nil {
			return false, err
		}
		for _, raw := range fb.raws {
			if f, ok := s.fragment(r, raw, nil); ok {
				fb.frags = append(fb.frags, f)
			}
		}
	} else {
		if fb.cards, err = s.catalog.Pick(bg, fb.cards[:0], w.KworkIDs, w.Cards); err != nil {
			return false, err
		}
		for i := range fb.cards {
			c := &fb.cards[i]
			key := c.ID + "\x00" + c.Title + "\x00" + strconv.FormatInt(c.Price, 10) + c.Currency + "\x00" + c.Path +
				"\x00" + strconv.FormatFloat(c.Rating, 'g', -1, 64) + "\x00" + c.Image
			if f, ok := s.fragment(r, key, c); ok {
				fb.frags = append(fb.frags, f)
			}
		}
	}
	if len(fb.frags) == 0 || r.sk == nil {
		return false, nil
	}
	newRenderIDs(&fb.ids)
	fb.out = s.appendFrame(fb.out[:0], r, fb.frags, &fb.ids, s.Now().Unix(), visitor.RefererHost(ctx.Request.Header.Referer()))
	fb.csp = appendCSP(fb.csp[:0], fb.ids.nonce(), "*")
	h := &ctx.Response.Header
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
	h.SetBytesV("Content-Security-Policy", fb.csp)
	ctx.SetContentType("text/html; charset=utf-8")
	ctx.SetBody(fb.out)
	return true, nil
}

func clearStrings(s []string) []string {
	clear(s)
	return s[:0]
}
