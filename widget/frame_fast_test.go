package widget

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/refedge/refedge/internal/partners"
)

// TestFastFrameMatchesTemplate holds the pre-rendered path to the template, byte for
// byte, for every program size, both languages and themes, hostile titles included.
func TestFastFrameMatchesTemplate(t *testing.T) {
	f := newFixture(t)
	f.partner(t, "p-eq", partners.Active)
	titles := []string{"Logo", `<script>alert(1)</script>`, `"><img src=x onerror=alert(1)>`, "مرحبا 🎨", "a & b ' c"}
	for i := 0; i < 12; i++ {
		f.kwork(t, Kwork{ID: "e" + strconv.Itoa(i), Title: titles[i%len(titles)], Category: "eq", Price: int64(i * 12345),
			Currency: []string{"USD", "RUB", "EUR"}[i%3], Rating: float64(i%6) * 0.9,
			URL: testMarket + "/kwork/e" + strconv.Itoa(i) + "?q=" + strconv.Itoa(i)})
	}
	var ids renderIDs
	newRenderIDs(&ids)
	host := []byte("blog.example:8080")
	for i, size := range append([]string{"1200x1200", "400x300"}, ProgramSizes...) {
		spec := Spec{Category: "eq", Size: size, Cards: 1 + i%MaxCards, Theme: []string{"light", "dark"}[i%2], Language: []string{"en", "ru"}[i%2],
			Accent: "#A1B2C3", RotationSeconds: 1 + i}
		w := f.widget(t, "p-eq", spec)
		r, err := f.svc.resolve(t.Context(), w.ID)
		if err != nil || r.sk == nil {
			t.Fatalf("%s: resolve = %v, skeleton %v", size, err, r.sk)
		}
		raws, err := f.svc.catalog.drawRaw(t.Context(), nil, "eq", w.Cards)
		if err != nil || len(raws) != w.Cards {
			t.Fatalf("%s: drew %d, %v", size, len(raws), err)
		}
		var frags []string
		var cards []Card
		for _, raw := range raws {
			fr, ok := f.svc.fragment(r, raw, nil)
			if !ok {
				t.Fatalf("no fragment for %s", raw)
			}
			frags = append(frags, fr)
		}
		cards, _ = decodeCards(raws)
		fast := f.svc.appendFrame(nil, r, frags, &ids, 1700000000, host)
		v := acquireView()
		f.svc.fill(v, r, cards, frameOptions{render: string(ids.render()), nonce: string(ids.nonce()), unix: 1700000000, refHost: host})
		var slow bytes.Buffer
		if err := frameTmpl.Execute(&slow, v); err != nil {
			t.Fatal(err)
		}
		releaseView(v)
		if !bytes.Equal(fast, slow.Bytes()) {
			t.Fatalf("%s: the pre-rendered frame differs from the template's:\nfast: %s\nslow: %s", size, fast, slow.Bytes())
		}
		// Look for the whole sentinels: random render ids and nonces may contain "Qz".
		for _, sent := range []string{sentNonce, sentRender, sentToken, sentCard} {
			if strings.Contains(string(fast), sent) {
				t.Fatalf("%s: the sentinel %s leaked", size, sent)
			}
		}
		// The fragments are cached: a second render reuses them.
		if _, ok := r.frags.m.Load(raws[0]); !ok {
			t.Fatalf("%s: fragment not cached", size)
		}
	}
}

func decodeCards(raws []string) ([]Card, error) {
	var out []Card
	for _, raw := range raws {
		var c Card
		if err := json.Unmarshal([]byte(raw), &c); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}
