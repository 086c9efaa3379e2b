package widget

import (
	"net/url"
	"strings"
	"testing"

	"github.com/refedge/refedge/internal/signing"
)

// FuzzParseSpec: any body either fails or yields a spec every renderer can use.
func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{
		`{"category":"design"}`,
		`{"kwork_ids":["1","2"],"size":"88x31","theme":"dark","accent":"#ABCDEF","cards":12,"rotation_seconds":60,"language":"ru"}`,
		`{"category":"x","size":"1200x60"}`, `{"category":"x","size":"99999x1"}`, `{"category":"{x}"}`,
		`{"category":"x","accent":"#12345"}`, `{"category":"x"}{"category":"y"}`, `[]`, `null`, `{"cards":1e9}`,
		`{"category":"x","name":"\u202e\ud83c\udfa8"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		s, err := parseSpec(body, testLimits)
		if err != nil {
			return
		}
		if (s.Category == "") == (len(s.KworkIDs) == 0) || s.Category != "" && !validCategory(s.Category) {
			t.Fatalf("topic not exactly one valid choice: %+v", s)
		}
		if s.w <= 0 || s.h <= 0 || s.Size != itoa(s.w)+"x"+itoa(s.h) {
			t.Fatalf("size %q parsed as %dx%d", s.Size, s.w, s.h)
		}
		if !validColor(s.Accent) || s.Cards < 1 || s.Cards > MaxCards || s.RotationSeconds < 1 || s.RotationSeconds > MaxRotation ||
			(s.Theme != "light" && s.Theme != "dark") || (s.Language != "en" && s.Language != "ru") {
			t.Fatalf("accepted an out-of-range spec: %+v", s)
		}
		l := computeLayout(s.w, s.h, s.Cards)
		if l.cols < 1 || l.rows < 1 || (l.thumbW > 0 && (!thumbSide(l.thumbW) || !thumbSide(l.thumbH))) {
			t.Fatalf("layout %+v for %+v", l, s)
		}
		// What the builder's preview sends must parse the same way.
		q := url.Values{"size": {s.Size}, "theme": {s.Theme}, "accent": {s.Accent}, "cards": {itoa(s.Cards)},
			"rotation_seconds": {itoa(s.RotationSeconds)}, "language": {s.Language}}
		if s.Category != "" {
			q.Set("category", s.Category)
		} else {
			q.Set("kwork_ids", strings.Join(s.KworkIDs, ","))
		}
		if p, err := specFromQuery(q, testLimits); err != nil || p.w != s.w || p.Cards != s.Cards {
			t.Fatalf("query form of %+v: %+v, %v", s, p, err)
		}
	})
}

// FuzzParsePath: a parsed path names only what the renderers accept, and prints back
// to itself.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"/w/builder", "/w/preview", "/w/abcdefghij01", "/w/abcdefghij01.js", "/w/abcdefghij01/view",
		"/w/t/k-1/104x76.jpg", "/w/t/k/0x0.jpg", "/w/../x", "/w/t//1x1.jpg", "/w/t/a/960x960.jpg", "/w/%2e%2e/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		tg := parsePath([]byte(p))
		var back string
		switch tg.route {
		case routeNone:
			return
		case routeBuilder:
			back = "/w/builder"
		case routePreview:
			back = "/w/preview"
		case routeFrame:
			back = "/w/" + tg.id
		case routeLoader:
			back = "/w/" + tg.id + ".js"
		case routeView:
			back = "/w/" + tg.id + "/view"
		case routeThumb:
			if !validKworkID(tg.id) || !thumbSide(tg.w) || !thumbSide(tg.h) {
				t.Fatalf("thumbnail target %+v", tg)
			}
			back = "/w/t/" + tg.id + "/" + itoa(tg.w) + "x" + itoa(tg.h) + ".jpg"
		}
		if tg.route != routeThumb && tg.route != routeBuilder && tg.route != routePreview && !validWidgetID(tg.id) {
			t.Fatalf("widget target %+v", tg)
		}
		if back != p {
			t.Fatalf("parsePath(%q) = %+v, which prints as %q", p, tg, back)
		}
	})
}

// FuzzViewToken: only tokens this process signed for this widget verify.
func FuzzViewToken(f *testing.F) {
	kr := signing.MustKeyring(testSecret)
	good := appendViewToken(nil, kr, "abcdefghij01", []byte(strings.Repeat("r", 22)), 1700000000, []byte("blog.example"))
	f.Add(good)
	f.Add([]byte("x.1.aGk.sig"))
	f.Add([]byte(strings.Repeat("a", 22) + ".1..AAAAAAAAAAAAAAAAAAAAAA"))
	f.Fuzz(func(t *testing.T, tok []byte) {
		vt, err := parseViewToken(kr, "abcdefghij01", tok)
		if err != nil {
			return
		}
		again := appendViewToken(nil, kr, "abcdefghij01", []byte(vt.render), vt.at.Unix(), []byte(vt.host))
		if string(again) != string(tok) {
			t.Fatalf("accepted %q, which is not the token of its own fields (%q)", tok, again)
		}
	})
}

// FuzzMarketPath: an accepted kwork URL always yields a plain path on the origin.
func FuzzMarketPath(f *testing.F) {
	for _, s := range []string{"https://market.example/kwork/1", "https://market.example//evil", "https://market.example@evil/",
		"https://market.example/a?ref=1&x=2#f", "https://market.example/%2F%2Fevil", "https://market.example/\\evil"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := marketPath(raw, testMarket)
		if err != nil {
			return
		}
		if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\#\r\n\t ") {
			t.Fatalf("marketPath(%q) = %q", raw, p)
		}
		u, err := url.Parse(testMarket + p)
		if err != nil || u.Host != "market.example" || u.Scheme != "https" || u.User != nil {
			t.Fatalf("link %q leaves the origin: %v", testMarket+p, err)
		}
		for k := range u.Query() {
			if k == "ref" || k == "src" || k == "cr" || k == "sub" {
				t.Fatalf("link %q keeps refedge's parameter %s", p, k)
			}
		}
	})
}
