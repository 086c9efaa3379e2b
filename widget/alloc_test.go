//go:build !race

package widget

import (
	"testing"

	"github.com/refedge/refedge/internal/partners"
)

// The frame's hot path, once the draw is back from Redis, allocates nothing: cached
// card fragments, pooled buffers, ids drawn into an array.
func TestFrameAssembleAllocs(t *testing.T) {
	f := newFixture(t)
	f.partner(t, "p-alloc", partners.Active)
	f.kwork(t, Kwork{ID: "a1", Title: "One", Category: "design"})
	f.kwork(t, Kwork{ID: "a2", Title: "Two", Category: "design"})
	w := f.widget(t, "p-alloc", Spec{Category: "design", Size: "728x90"})
	r, err := f.svc.resolve(t.Context(), w.ID)
	if err != nil {
		t.Fatal(err)
	}
	raws, _ := f.svc.catalog.drawRaw(t.Context(), nil, "design", 6)
	out := make([]byte, 0, 16<<10)
	frags := make([]string, 0, MaxCards)
	host := []byte("blog.example")
	var ids renderIDs
	n := testing.AllocsPerRun(200, func() {
		frags = frags[:0]
		for _, raw := range raws {
			fr, _ := f.svc.fragment(r, raw, nil)
			frags = append(frags, fr)
		}
		newRenderIDs(&ids)
		out = f.svc.appendFrame(out[:0], r, frags, &ids, 1700000000, host)
		out = appendCSP(out[:0], ids.nonce(), "*")
	})
	if n != 0 {
		t.Fatalf("frame assembly: %v allocations per render, want 0", n)
	}
}

func TestViewTokenAllocs(t *testing.T) {
	f := newFixture(t)
	var ids renderIDs
	newRenderIDs(&ids)
	buf := make([]byte, 0, 256)
	host := []byte("blog.example")
	if n := testing.AllocsPerRun(200, func() {
		buf = appendViewToken(buf[:0], f.svc.cfg.Keys, "abcdefghij01", ids.render(), 1700000000, host)
	}); n != 0 {
		t.Fatalf("appendViewToken: %v allocations, want 0", n)
	}
}

func TestParsePathAllocs(t *testing.T) {
	p := []byte("/w/t/k-1/104x76.jpg")
	if n := testing.AllocsPerRun(200, func() { parsePath(p) }); n > 1 {
		t.Fatalf("parsePath: %v allocations, want at most 1 (the id string)", n)
	}
}
